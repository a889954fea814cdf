"""mtl_lessons: the helper package of an interactive course on multi-task and transfer learning.

The package map, in dependency order (each module imports only those above it):

    data         seeded synthetic task families; digits splits, two-digit canvases, a shifted
                 target domain (all from sklearn's bundled digits, offline); every container
                 has train, validation and test splits; the Palmer penguins (species, sex,
                 body mass; the CSV inside the palmerpenguins wheel) and their cross-validation sets
    models       MultiTaskNet (hard sharing, any sharing_depth), copy_layers, freeze_layers,
                 the parameter count as a function of sharing depth
    objectives   per-task losses, the multi-task / transfer objectives, soft sharing, L2-SP
    metrics      per-task MSE, accuracy and macro F1, Δm, Pareto masks, the tuned choice on validation
    gradients    on a matrix of per-task gradients: cosines, PCGrad, MGDA
    weighting    strategies that choose the task weights each step (fixed, uncertainty, DWA,
                 GradNorm, PCGrad, MGDA), for fit / fit_many's `weights=`
    sweep        Sweep: results over a grid of knob values x seeds
    stack        ModelStack (M models as one batched model), transfer_stack, one-thread torch
    schedules    Rates (a rate per parameter and per step, for fit's lr); fine-tuning schedules as
                 rate scales per layer and step: discriminative rates, slanted triangular, gradual unfreezing
    train        fit (one model, the loop to read), fit_many (a ModelStack at once), pad_tasks;
                 fixed weights or a strategy, records every k steps (record)
    affinity     which tasks to train together: TAG's lookahead affinity, groupings chosen from it
    competing    chapters 4 and 5's competing tasks, every run trained by a weighting strategy at once
    transfer     what chapters 6, 8 and 9 share: the transfer setting, pretraining on the source,
                 target accuracy per split, the joint objective's weights and training
    plots        matplotlib figures; every plot_* takes ax=None and returns the Axes
    widgets      SweepExplorer: sliders over a precomputed Sweep
    claims       check_claim: a finding checked on its measured number, threshold shown
    experiments  the grids behind the course's sliders, one module per slider
    exercises    checkers with hints (check), predict-then-run judges (predict), solutions (reveal)

Notebooks import names from their modules (`from mtl_lessons.models import MultiTaskNet`);
the most used are re-exported here. Importing the package changes no global state.
"""

from mtl_lessons.data import (TaskSet, DigitsSplit, add_pixel_noise, load_digits_split, load_transfer_digits,
                              permute_pixels,
                              make_competing_tasks, make_digit_overlay, make_sinusoid_tasks, take_labels)
from mtl_lessons.models import (MultiTaskNet, TaskLinear, copy_layers, count_parameters, freeze_layers,
                                sharing_parameter_count)
from mtl_lessons.objectives import (joint_transfer_objective, l2_sp_penalty, multitask_objective,
                                    soft_sharing_penalty, task_losses)
from mtl_lessons.metrics import delta_m, pareto_mask, per_task_accuracy, per_task_mse
from mtl_lessons.gradients import cosine_matrix, mgda, mgda_weights, pcgrad
from mtl_lessons.weighting import (MGDA, DynamicWeightAverage, FixedWeights, GradNorm, PCGrad, Strategy,
                                   UncertaintyWeighting)
from mtl_lessons.sweep import Sweep
from mtl_lessons.stack import ModelStack, transfer_stack
from mtl_lessons.schedules import Rates
from mtl_lessons.train import History, fit, fit_many, pad_tasks
from mtl_lessons.plots import PALETTE, plot_front, plot_history, plot_seed_band, plot_task_fits
from mtl_lessons.widgets import SweepExplorer
from mtl_lessons.exercises import check, predict, reveal

__version__ = "0.1.0"

__all__ = [
    "TaskSet", "DigitsSplit", "add_pixel_noise", "load_digits_split", "load_transfer_digits", "permute_pixels",
    "make_competing_tasks", "make_digit_overlay", "make_sinusoid_tasks", "take_labels",
    "MultiTaskNet", "TaskLinear", "copy_layers", "count_parameters", "freeze_layers", "sharing_parameter_count",
    "joint_transfer_objective", "l2_sp_penalty", "multitask_objective", "soft_sharing_penalty", "task_losses",
    "delta_m", "pareto_mask", "per_task_accuracy", "per_task_mse",
    "cosine_matrix", "mgda", "mgda_weights", "pcgrad",
    "MGDA", "DynamicWeightAverage", "FixedWeights", "GradNorm", "PCGrad", "Strategy", "UncertaintyWeighting",
    "History", "ModelStack", "Rates", "Sweep", "fit", "fit_many", "pad_tasks", "transfer_stack",
    "PALETTE", "plot_front", "plot_history", "plot_seed_band", "plot_task_fits",
    "SweepExplorer", "check", "predict", "reveal",
]
