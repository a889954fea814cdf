"""Shared trunk vs independent networks as the number of points per task grows
(Caruana 1997): the grid behind chapter 1's data-per-task slider."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtl_lessons._checks import check_floats, check_int, check_ints, check_keywords
from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.metrics import per_task_mse
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE, plot_seed_band, plot_task_fits
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.train import ModelStack, fit_many, pad_tasks
from mtl_lessons.widgets import SweepExplorer, grid_value

MODELS = {"independent": 0, "shared": None}  # name -> sharing depth (None: the whole trunk)


def cut(ratio: float) -> float:
    """The relative cut a ratio of errors means: worse / better = r  <=>  better is 1 - 1/r lower."""
    return 1.0 - 1.0 / ratio


@dataclass(frozen=True)
class DataSizeClaims:
    """Chapter 1's claim thresholds, in one place: the notebook asserts them and tests/test_claims.py
    re-checks them on other seeds. Ratios are independent / shared held-out MSE."""

    naive_average: float = 0.1  # one shared output: MSE to the tasks' average < this x MSE to either task
    heads_vs_naive: float = 0.2  # a head per task: MSE to each task < this x the single output's
    few_points: int = 8  # "little data" (points per task)
    many_points: int = 64  # "much data"
    min_share_few: float = 0.8  # with few_points the shared trunk has the lower held-out MSE in at least this
    #                             share of the seeds (4 of 5), paired seed by seed. (The ratio of the means over
    #                             5 seeds ranged 1.34-3.57 over SEED 0..19: too spread for a margin, so it is printed.)
    max_mse_many_over_noise: float = 1.0  # with many_points both MSEs < this x noise variance (both fit well)
    # each architecture its own rate (TUNED_LRS) and stopping step, chosen on validation per seed and per task
    # (tuned_comparison), few_points: the shared trunk lower in at least this share of the seeds, paired ...
    min_share_few_tuned: float = 0.8
    # ... and the ratio of the means over seeds, independent / shared, >= this (a cut >= 17%; over SEED 0..19
    # it was 1.48-2.87, and every single seed of 0..24 had a ratio above 1.31, so even the five worst together
    # clear it). 1.3 when one (rate, step) served all 8 tasks; per task the lowest group fell from 1.62 to 1.48.
    min_ratio_few_tuned: float = 1.2


CLAIMS = DataSizeClaims()


@cached
def data_size_sweep(n_per_task=(4, 6, 8, 16, 32, 64), seeds=range(5), *, n_tasks: int = 8,
                    hidden: int = 16, n_layers: int = 2, steps: int = 600, lr: float = 1e-2,
                    noise: float = 0.1, relatedness: float = 1.0, n_grid: int = 120,
                    progress: bool = True) -> Sweep:
    """Train independent networks (k=0) and a shared trunk (k=L) for every (n_per_task, seed):
    tanh MultiTaskNet, full-batch Adam.

    Each architecture is one vectorised run over the whole grid; tasks with fewer
    points are padded and masked by sample weights. Results per grid point and seed:
    test_mse_<model> (mean over tasks), fit_<model> (n_tasks, n_grid), and the data.
    """
    n_per_task, seeds = check_ints("n_per_task", n_per_task, low=1), check_ints("seeds", seeds, low=0)
    check_keywords(n_tasks=n_tasks, hidden=hidden, n_layers=n_layers, steps=steps, lr=lr, noise=noise,
                   relatedness=relatedness, n_grid=n_grid, progress=progress)
    sweep = Sweep({"n_per_task": n_per_task}, seeds)
    points = [(n, s) for n in n_per_task for s in seeds]
    tasks = [make_sinusoid_tasks(n_tasks, n, relatedness=relatedness, noise=noise, seed=s) for n, s in points]
    n_max = max(n_per_task)
    x, y, mask = pad_tasks([list(d.x_train) for d in tasks], [list(d.y_train) for d in tasks])
    x_test = torch.stack([d.x_test for d in tasks])
    y_test = torch.stack([d.y_test for d in tasks])
    x_grid = torch.linspace(-5, 5, n_grid)
    grid_shape = (len(n_per_task), len(seeds))

    for name, depth in MODELS.items():
        depth = n_layers if depth is None else depth
        stack = ModelStack.from_factory(
            lambda: MultiTaskNet(1, hidden, n_layers, n_tasks, sharing_depth=depth), [s for _, s in points])
        fit_many(stack, x, y, sample_weights=mask, optimizer="adam", lr=lr, steps=steps,
                 progress=progress, desc=f"{name} networks, {len(points)} at once")
        with torch.no_grad():
            mse = per_task_mse(stack(x_test), y_test).mean(-1)  # (points,)
            fits = stack(x_grid[None, :, None].expand(len(points), -1, -1))[..., 0]  # (points, n_tasks, n_grid)
        sweep.add(f"test_mse_{name}", mse.reshape(grid_shape).numpy())
        sweep.add(f"fit_{name}", fits.reshape(*grid_shape, n_tasks, n_grid).numpy())

    x_pad = np.where(mask.numpy() > 0, x[..., 0].numpy(), np.nan)
    y_pad = np.where(mask.numpy() > 0, y[..., 0].numpy(), np.nan)
    sweep.add("x_train", x_pad.reshape(*grid_shape, n_tasks, n_max))
    sweep.add("y_train", y_pad.reshape(*grid_shape, n_tasks, n_max))
    truth = np.stack([tasks[i].true_function(x_grid).numpy() for i in range(len(seeds))])  # n = first size
    sweep.meta.update(x_grid=x_grid.numpy(), truth=truth, noise=noise)  # truth: (n_seeds, n_tasks, n_grid)
    return sweep


TUNED_LRS = (0.003, 0.01, 0.03)  # the learning rates each architecture chooses from, per seed and task, on validation


@cached
def tuned_comparison(n_per_task=(4, 8, 64), seeds=range(5), *, lrs=TUNED_LRS, max_steps: int = 2000,
                     record_every: int = 50, n_tasks: int = 8, hidden: int = 16, n_layers: int = 2,
                     noise: float = 0.1, relatedness: float = 1.0, n_val: int = 50, progress: bool = True) -> Sweep:
    """Each architecture at its best: its learning rate and stopping step chosen on validation, per seed
    and per task (as Caruana 1997 picks the stopping point per task, for the multi-task net too).

    For every (n_per_task, rate, seed) and architecture one model is trained for up to `max_steps`
    full-batch Adam steps (one vectorised run per architecture); every `record_every` steps (and at
    step 0) each task's validation and test MSE are recorded. Per seed, architecture and task the
    (rate, step) with the lowest validation MSE of that task is chosen (the first, on ties), and only
    its test MSE is reported: a task's error is that of its own network (independent) or of the shared
    trunk with its head as they were at that task's chosen step (shared).
    Results (n_per_task, seeds): test_mse_<model> (mean over tasks, each at its choice); (n_per_task,
    seeds, n_tasks): val_mse_<model> (at the choice), lr_<model>, step_<model>; (n_per_task, seeds,
    n_tasks, rates, records): val_curve_<model>, every validation MSE recorded.
    """
    n_per_task, seeds = check_ints("n_per_task", n_per_task, low=1), check_ints("seeds", seeds, low=0)
    lrs = check_floats("lrs", lrs, low=0.0, low_open=True, distinct=True)
    max_steps = check_int("max_steps", max_steps, low=1)
    record_every = check_int("record_every", record_every, low=1, high=max_steps)
    n_val = check_int("n_val", n_val, low=1)
    check_keywords(n_tasks=n_tasks, hidden=hidden, n_layers=n_layers, noise=noise, relatedness=relatedness,
                   progress=progress)
    sweep = Sweep({"n_per_task": n_per_task}, seeds)
    tasks = {(n, s): make_sinusoid_tasks(n_tasks, n, n_val=n_val, relatedness=relatedness, noise=noise, seed=s)
             for n in n_per_task for s in seeds}
    points = [(n, lr, s) for n in n_per_task for lr in lrs for s in seeds]
    data = [tasks[n, s] for n, _, s in points]
    x, y, mask = pad_tasks([list(d.x_train) for d in data], [list(d.y_train) for d in data])
    x_val, y_val = torch.stack([d.x_val for d in data]), torch.stack([d.y_val for d in data])
    x_test, y_test = torch.stack([d.x_test for d in data]), torch.stack([d.y_test for d in data])

    def record(stack):  # (2, models, n_tasks): validation and test MSE of every task
        return torch.stack([per_task_mse(stack(x_val), y_val), per_task_mse(stack(x_test), y_test)])

    shape = (len(n_per_task), len(lrs), len(seeds), n_tasks)
    for name, depth in MODELS.items():
        depth = n_layers if depth is None else depth
        stack = ModelStack.from_factory(
            lambda: MultiTaskNet(1, hidden, n_layers, n_tasks, sharing_depth=depth), [s for *_, s in points])
        history = fit_many(stack, x, y, sample_weights=mask, optimizer="adam", lr=[lr for _, lr, _ in points],
                           steps=max_steps, record=record, record_every=record_every, progress=progress,
                           desc=f"{name} networks, {len(points)} at once, {len(lrs)} rates")
        records = history.records.reshape(-1, 2, *shape)  # (n_records, val/test, sizes, rates, seeds, tasks)
        curves = np.moveaxis(records, (0, 3), (-1, -2))  # (val/test, sizes, seeds, tasks, rates, n_records)
        val = curves[0].reshape(*curves.shape[1:4], -1)  # (sizes, seeds, tasks, rates x records)
        test = curves[1].reshape(val.shape)
        best = val.argmin(-1)  # (sizes, seeds, tasks): the choice, on validation only
        rate, when = np.unravel_index(best, (len(lrs), len(records)))
        sweep.add(f"test_mse_{name}", np.take_along_axis(test, best[..., None], -1)[..., 0].mean(-1))
        sweep.add(f"val_mse_{name}", np.take_along_axis(val, best[..., None], -1)[..., 0])
        sweep.add(f"lr_{name}", np.asarray(lrs)[rate])
        sweep.add(f"step_{name}", history.record_steps[when])
        sweep.add(f"val_curve_{name}", curves[0])
    sweep.meta.update(lrs=lrs, max_steps=max_steps, noise=noise)
    return sweep


def data_size_explorer(sweep: Sweep, *, tasks=None, value: int | None = None) -> SweepExplorer:
    """Slider over points per task: left, three tasks' fits for the first seed; right, test MSE vs n.

    tasks=None shows the first three (or all, if fewer); value=None starts at 8 points, or the grid's nearest.
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from data_size_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["n_per_task"], by="data_size_explorer", meta=["x_grid", "truth"],
                  results=["x_train", "y_train", "fit_shared", "fit_independent", "test_mse_shared"])
    n_tasks = sweep.results["fit_shared"].shape[-2]
    tasks = tuple(range(min(3, n_tasks))) if tasks is None else check_ints("tasks", tasks, low=0, high=n_tasks - 1)
    value = grid_value(sweep, "n_per_task", 8) if value is None else value

    def draw(axes, point):
        ax_fit, ax_mse = axes
        i = sweep.index(**point)[0]
        plot_task_fits(sweep.results["x_train"][i, 0], sweep.results["y_train"][i, 0], sweep.meta["x_grid"],
                       [sweep.results["fit_shared"][i, 0], sweep.results["fit_independent"][i, 0]],
                       truth=sweep.meta["truth"][0], tasks=tasks, labels=("shared trunk", "independent"),
                       ax=ax_fit)
        ax_fit.set(title=f"{point['n_per_task']} points per task (seed {sweep.seeds[0]}, {len(tasks)} of the tasks)",
                   xlabel="x", ylabel="y", ylim=(-3.2, 3.2))
        for name, color in (("shared", PALETTE[0]), ("independent", PALETTE[1])):
            values, mse = sweep.curve(f"test_mse_{name}", "n_per_task")
            plot_seed_band(values, mse, ax=ax_mse, color=color, highlight=point["n_per_task"],
                           label="shared trunk" if name == "shared" else "independent networks")
        noise = sweep.meta.get("noise")
        if noise:  # the level below which both fit the true functions to within the training noise
            ax_mse.axhline(noise ** 2, color="grey", ls="--", lw=1, label=f"noise variance σ² = {noise ** 2:g}")
        ax_mse.set(xscale="log", yscale="log", xticks=values, xticklabels=[str(v) for v in values],
                   xlabel="training points per task (log scale)",
                   ylabel="held-out MSE (mean over tasks)",
                   title=f"Held-out error, mean ± sd over {len(sweep.seeds)} seeds")
        ax_mse.minorticks_off()
        ax_mse.legend(fontsize=8)

    return SweepExplorer(sweep, draw, knobs=["n_per_task"], value={"n_per_task": value},
                         descriptions={"n_per_task": "points per task"})
