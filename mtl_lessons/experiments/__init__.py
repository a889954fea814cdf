"""The grids behind the course's sliders. Each module trains one grid up front
with `fit_many` (a progress bar shows) and returns a `Sweep`, and builds the
`SweepExplorer` that shows it. `SLIDERS` lists them for `make bench`:
chapter slug (its notebook's name without the number, which also names this package's module) ->
(sweep function, explorer function), both called with their defaults (chapter 5's
grid is analytic: it trains nothing and shows no progress bar).
"""

from mtl_lessons.experiments.conflicting_gradients import angle_explorer, angle_sweep
from mtl_lessons.experiments.multitask_objective import data_size_explorer, data_size_sweep
from mtl_lessons.experiments.finetuning import finetuning_explorer, finetuning_sweep
from mtl_lessons.experiments.learned_weights import learned_weights_explorer, learned_weights_sweep
from mtl_lessons.experiments.model_selection import penguin_cv_explorer, penguin_cv_sweep
from mtl_lessons.experiments.negative_transfer import negative_transfer_explorer, negative_transfer_sweep
from mtl_lessons.experiments.mtl_vs_transfer import grouping_explorer, grouping_sweep
from mtl_lessons.experiments.sharing_depth import sharing_depth_explorer, sharing_depth_sweep
from mtl_lessons.experiments.task_weighting import task_weighting_explorer, task_weighting_sweep
from mtl_lessons.experiments.transfer_objective import transfer_lambda_explorer, transfer_lambda_sweep
from mtl_lessons.experiments.transferability import transferability_explorer, transferability_sweep

SLIDERS = {
    "multitask_objective": (data_size_sweep, data_size_explorer),
    "sharing_depth": (sharing_depth_sweep, sharing_depth_explorer),
    "task_weighting": (task_weighting_sweep, task_weighting_explorer),
    "learned_weights": (learned_weights_sweep, learned_weights_explorer),
    "conflicting_gradients": (lambda progress=True: angle_sweep(), angle_explorer),
    "transfer_objective": (transfer_lambda_sweep, transfer_lambda_explorer),
    "transferability": (transferability_sweep, transferability_explorer),
    "finetuning": (finetuning_sweep, finetuning_explorer),
    "negative_transfer": (negative_transfer_sweep, negative_transfer_explorer),
    "model_selection": (penguin_cv_sweep, penguin_cv_explorer),
    "mtl_vs_transfer": (grouping_sweep, grouping_explorer),
}
