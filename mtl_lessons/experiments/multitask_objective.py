"""Shared trunk vs independent networks as the number of points per task grows
(Caruana 1997): the grid behind chapter 1's data-per-task slider."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtl_lessons._checks import check_int, check_ints, check_keywords, check_lrs, check_settings
from mtl_lessons.data import make_sinusoid_tasks, stacked
from mtl_lessons.metrics import choose_on_validation, per_task_mse
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE, plot_fits_at, plot_seed_band
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit_many, pad_tasks
from mtl_lessons.widgets import SweepExplorer, grid_value

MODELS = {"independent": 0, "shared": None}  # name -> sharing depth (None: the whole trunk)
TUNED_LRS = (0.003, 0.01, 0.03)  # the learning rates each architecture chooses from, per seed and task, on validation


@dataclass(frozen=True)
class DataSizeClaims:
    """Chapter 1's claim thresholds, in one place: the notebook asserts them and tests/test_multitask_objective.py
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


@dataclass(frozen=True)
class DataSize:
    """Chapter 1's grid (data_size_sweep): one field per knob; tanh MultiTaskNet, full-batch Adam."""

    n_per_task: tuple[int, ...] = (4, 6, 8, 16, 32, 64)  # the slider: training points per task
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # every grid point is trained once per seed
    n_tasks: int = 8  # sinusoid tasks (make_sinusoid_tasks)
    hidden: int = 16  # width of every hidden layer
    n_layers: int = 2  # hidden layers; the shared trunk shares them all, independent networks none
    steps: int = 600  # full-batch Adam steps per model
    lr: float = 1e-2  # Adam's learning rate, the same for every model
    noise: float = 0.1  # sd of the noise on the training targets
    relatedness: float = 1.0  # 1: every task mixes the same two features; 0: each its own sinusoid
    n_grid: int = 120  # x values the fits are drawn at


@dataclass(frozen=True)
class TunedComparison:
    """The tuned comparison's settings (tuned_comparison): each architecture at its best rate and step."""

    n_per_task: tuple[int, ...] = (4, 8, 64)  # training points per task
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    lrs: tuple[float, ...] = TUNED_LRS  # the rates each architecture chooses from, per seed and task
    max_steps: int = 2000  # full-batch Adam steps per model; the stopping step is chosen among the records
    record_every: int = 50  # validation and test MSE are recorded every this many steps (and at step 0)
    n_tasks: int = 8
    hidden: int = 16
    n_layers: int = 2
    noise: float = 0.1
    relatedness: float = 1.0
    n_val: int = 50  # validation points per task: what the choice is made on


def _train_both(cfg, runs, x, y, mask, *, progress: bool, **fit_kwargs):
    """Train MODELS' two architectures, one model per run (a {..., "seed": s} dict), all in one vectorised
    fit_many each; yields (name, trained ModelStack, history)."""
    for name, depth in MODELS.items():
        depth = cfg.n_layers if depth is None else depth
        stack = ModelStack.from_factory(lambda: MultiTaskNet(1, cfg.hidden, cfg.n_layers, cfg.n_tasks,
                                                             sharing_depth=depth), [r["seed"] for r in runs])
        history = fit_many(stack, (x, y, mask), optimizer="adam",
                           progress=progress and f"{name} networks, {len(runs)} at once", **fit_kwargs)
        yield name, stack, history


@cached
def data_size_sweep(n_per_task=DataSize.n_per_task, seeds=DataSize.seeds, *, progress: bool = True,
                    **settings) -> Sweep:
    """Train independent networks (k=0) and a shared trunk (k=L) for every (n_per_task, seed).

    settings: any other field of DataSize (n_tasks=..., steps=..., ...). Each architecture is one vectorised
    run over the whole grid; tasks with fewer points are padded and masked by sample weights. Results per
    grid point and seed: test_mse_<model> (mean over tasks), fit_<model> (n_tasks, n_grid), and the data.
    """
    cfg = DataSize(check_ints("n_per_task", n_per_task, low=1), check_ints("seeds", seeds, low=0),
                   **check_settings(DataSize, settings, by="data_size_sweep"))
    check_keywords(n_tasks=cfg.n_tasks, hidden=cfg.hidden, n_layers=cfg.n_layers, steps=cfg.steps, lr=cfg.lr,
                   noise=cfg.noise, relatedness=cfg.relatedness, n_grid=cfg.n_grid, progress=progress)
    sweep = Sweep({"n_per_task": cfg.n_per_task}, cfg.seeds)
    runs = sweep.runs()
    tasks = [make_sinusoid_tasks(cfg.n_tasks, r["n_per_task"], relatedness=cfg.relatedness, noise=cfg.noise,
                                 seed=r["seed"]) for r in runs]
    x, y, mask = pad_tasks([list(d.x_train) for d in tasks], [list(d.y_train) for d in tasks])
    x_test, y_test = stacked(tasks, "x_test", "y_test")
    x_grid = torch.linspace(-5, 5, cfg.n_grid)
    for name, stack, _ in _train_both(cfg, runs, x, y, mask, lr=cfg.lr, steps=cfg.steps, progress=progress):
        with torch.no_grad():
            sweep.fill(f"test_mse_{name}", per_task_mse(stack(x_test), y_test).mean(-1))  # mean over tasks
            sweep.fill(f"fit_{name}", stack(x_grid[None, :, None].expand(len(runs), -1, -1))[..., 0])
    sweep.fill("x_train", np.where(mask.numpy() > 0, x[..., 0].numpy(), np.nan))  # padding: nan
    sweep.fill("y_train", np.where(mask.numpy() > 0, y[..., 0].numpy(), np.nan))
    truth = np.stack([d.true_function(x_grid).numpy() for d in tasks[:len(cfg.seeds)]])  # the same at every n
    sweep.meta.update(x_grid=x_grid.numpy(), truth=truth, noise=cfg.noise)  # truth: (n_seeds, n_tasks, n_grid)
    return sweep


@cached
def tuned_comparison(n_per_task=TunedComparison.n_per_task, seeds=TunedComparison.seeds, *,
                     progress: bool = True, **settings) -> Sweep:
    """Each architecture at its best: its learning rate and stopping step chosen on validation, per seed
    and per task (as Caruana 1997 picks the stopping point per task, for the multi-task net too).

    settings: any other field of TunedComparison. For every (n_per_task, rate, seed) and architecture one
    model is trained for up to `max_steps` full-batch Adam steps (one vectorised run per architecture);
    every `record_every` steps (and at step 0) each task's validation and test MSE are recorded. Per seed,
    architecture and task the (rate, step) with the lowest validation MSE of that task is chosen (the first,
    on ties), and only its test MSE is reported: a task's error is that of its own network (independent) or
    of the shared trunk with its head as they were at that task's chosen step (shared).
    Results (n_per_task, seeds): test_mse_<model> (mean over tasks, each at its choice); (..., n_tasks):
    val_mse_<model> (at the choice), lr_<model>, step_<model>; (..., n_tasks, rates, records): val_curve_<model>.
    """
    cfg = TunedComparison(check_ints("n_per_task", n_per_task, low=1), check_ints("seeds", seeds, low=0),
                          **check_settings(TunedComparison, settings, by="tuned_comparison"))
    lrs, max_steps = check_lrs(cfg.lrs), check_int("max_steps", cfg.max_steps, low=1)
    record_every = check_int("record_every", cfg.record_every, low=1, high=max_steps)
    check_int("n_val", cfg.n_val, low=1)
    check_keywords(n_tasks=cfg.n_tasks, hidden=cfg.hidden, n_layers=cfg.n_layers, noise=cfg.noise,
                   relatedness=cfg.relatedness, progress=progress)
    sweep = Sweep({"n_per_task": cfg.n_per_task}, cfg.seeds)
    grid = Sweep({"n_per_task": cfg.n_per_task, "lr": lrs}, cfg.seeds)  # every rate is trained; the choice is after
    runs = grid.runs()
    tasks = [make_sinusoid_tasks(cfg.n_tasks, r["n_per_task"], n_val=cfg.n_val, relatedness=cfg.relatedness,
                                 noise=cfg.noise, seed=r["seed"]) for r in runs]
    x, y, mask = pad_tasks([list(d.x_train) for d in tasks], [list(d.y_train) for d in tasks])
    x_val, y_val, x_test, y_test = stacked(tasks, "x_val", "y_val", "x_test", "y_test")

    def record(stack):  # (2, models, n_tasks): validation and test MSE of every task
        return torch.stack([per_task_mse(stack(x_val), y_val), per_task_mse(stack(x_test), y_test)])

    for name, _, history in _train_both(cfg, runs, x, y, mask, lr=[r["lr"] for r in runs], steps=max_steps,
                                       record=(record, record_every), progress=progress):
        grid.fill(name, np.moveaxis(history.records, 2, 0))  # (sizes, rates, seeds, records, val/test, tasks)
        val, test = grid.results[name][..., 0, :], grid.results[name][..., 1, :]
        (rate, when), best_val, best_test = choose_on_validation(val, test, axes=(1, 3))  # (sizes, seeds, tasks)
        sweep.add(f"test_mse_{name}", best_test.mean(-1))
        sweep.add(f"val_mse_{name}", best_val)
        sweep.add(f"lr_{name}", np.asarray(lrs)[rate])
        sweep.add(f"step_{name}", history.record_steps[when])
        sweep.add(f"val_curve_{name}", val.transpose(0, 2, 4, 1, 3))  # (sizes, seeds, tasks, rates, records)
    sweep.meta.update(lrs=lrs, max_steps=max_steps, noise=cfg.noise)
    return sweep


def data_size_explorer(sweep: Sweep, *, tasks=None, value: int | None = None) -> SweepExplorer:
    """Slider over points per task: left, three tasks' fits for the first seed; right, test MSE vs n.

    tasks=None shows the first three (or all, if fewer); value=None starts at 8 points, or the grid's nearest.
    """
    Sweep.require(sweep, knobs=["n_per_task"], by="data_size_explorer", meta=["x_grid", "truth"],
                  results=["x_train", "y_train", "fit_shared", "fit_independent", "test_mse_shared"])
    n_tasks = sweep.results["fit_shared"].shape[-2]
    tasks = tuple(range(min(3, n_tasks))) if tasks is None else check_ints("tasks", tasks, low=0, high=n_tasks - 1)
    value = grid_value(sweep, "n_per_task", 8) if value is None else value
    labels = {"shared": "shared trunk", "independent": "independent networks"}

    def draw(axes, point):
        ax_fit, ax_mse = axes
        plot_fits_at(sweep, point, ("fit_shared", "fit_independent"), labels=("shared trunk", "independent"),
                     truth=sweep.meta["truth"][0], tasks=tasks, ax=ax_fit)
        ax_fit.set(title=f"{point['n_per_task']} points per task (seed {sweep.seeds[0]}, {len(tasks)} of the tasks)",
                   xlabel="x", ylabel="y", ylim=(-3.2, 3.2))
        for (name, label), color in zip(labels.items(), PALETTE):
            values, mse = sweep.curve(f"test_mse_{name}", "n_per_task")
            plot_seed_band(values, mse, ax=ax_mse, color=color, highlight=point["n_per_task"], label=label)
        noise = sweep.meta.get("noise")
        if noise:  # the level below which both fit the true functions to within the training noise
            ax_mse.axhline(noise ** 2, color="grey", ls="--", lw=1, label=f"noise variance σ² = {noise ** 2:g}")
        ax_mse.set(xscale="log", yscale="log", xticks=values, xticklabels=[str(v) for v in values],
                   xlabel="training points per task (log scale)", ylabel="held-out MSE (mean over tasks)",
                   title=f"Held-out error, mean ± sd over {len(sweep.seeds)} seeds")
        ax_mse.minorticks_off()
        ax_mse.legend(fontsize=8)

    return SweepExplorer(sweep, draw, knobs=["n_per_task"], value={"n_per_task": value},
                         descriptions={"n_per_task": "points per task"})
