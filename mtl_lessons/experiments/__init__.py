"""The grids behind the course's sliders. Each module trains one grid up front
with `fit_many` (a progress bar shows) and returns a `Sweep`, and builds the
`SweepExplorer` that shows it. `SLIDERS` lists them for `make bench`:
notebook name -> (sweep function, explorer function), both called with their defaults (chapter 5's
grid is analytic: it trains nothing and shows no progress bar).
"""

from mtl_lessons.experiments.conflicting_gradients import angle_explorer, angle_sweep
from mtl_lessons.experiments.data_size import data_size_explorer, data_size_sweep
from mtl_lessons.experiments.finetuning import finetuning_explorer, finetuning_sweep
from mtl_lessons.experiments.learned_weights import learned_weights_explorer, learned_weights_sweep
from mtl_lessons.experiments.model_selection import penguin_cv_explorer, penguin_cv_sweep
from mtl_lessons.experiments.negative_transfer import negative_transfer_explorer, negative_transfer_sweep
from mtl_lessons.experiments.task_affinity import grouping_explorer, grouping_sweep
from mtl_lessons.experiments.sharing_depth import sharing_depth_explorer, sharing_depth_sweep
from mtl_lessons.experiments.task_weighting import task_weighting_explorer, task_weighting_sweep
from mtl_lessons.experiments.transfer_lambda import transfer_lambda_explorer, transfer_lambda_sweep
from mtl_lessons.experiments.transferability import transferability_explorer, transferability_sweep

SLIDERS = {
    "01_multitask_objective": (data_size_sweep, data_size_explorer),
    "02_sharing_depth": (sharing_depth_sweep, sharing_depth_explorer),
    "03_task_weighting": (task_weighting_sweep, task_weighting_explorer),
    "04_learning_weights": (learned_weights_sweep, learned_weights_explorer),
    "05_conflicting_gradients": (lambda progress=True: angle_sweep(), angle_explorer),
    "06_transfer_objective": (transfer_lambda_sweep, transfer_lambda_explorer),
    "07_transferability": (transferability_sweep, transferability_explorer),
    "08_finetuning_well": (finetuning_sweep, finetuning_explorer),
    "09_negative_transfer": (negative_transfer_sweep, negative_transfer_explorer),
    "10_model_selection": (penguin_cv_sweep, penguin_cv_explorer),
    "11_mtl_vs_transfer": (grouping_sweep, grouping_explorer),
}
