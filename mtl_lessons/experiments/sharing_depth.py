"""How many layers to share: held-out error against the sharing depth k for related and
unrelated tasks and little or much data (Ruder 2017, section 3; cf. Yosinski et al. 2014), the grid
behind chapter 2's sharing-depth slider, and the same sweep on the two-digit overlay."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mtl_lessons._checks import check_floats, check_int, check_ints, check_keywords, check_lrs, check_settings
from mtl_lessons.data import make_digit_overlay, make_sinusoid_tasks, stacked
from mtl_lessons.experiments.multitask_objective import TUNED_LRS  # chapter 1's rate grid: each depth chooses from it
from mtl_lessons.metrics import choose_on_validation, cut, per_task_accuracy, per_task_mse
from mtl_lessons.models import MultiTaskNet, sharing_parameter_count
from mtl_lessons.plots import PALETTE, plot_fits_at, plot_seed_band
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit_many, pad_tasks
from mtl_lessons.widgets import SweepExplorer, grid_value


@dataclass(frozen=True)
class SharingDepthClaims:
    """Chapter 2's claim thresholds, in one place: the notebook asserts them and tests/test_sharing_depth.py
    re-checks them on other seeds. MSE ratios are of means over seeds, worse / better. All are at a fixed
    budget of 600 full-batch Adam steps; all but the *_tuned ones at lr 0.01 for every arm, the *_tuned ones
    with each depth at its own rate, chosen per seed on validation."""

    few_points: int = 8  # "little data" (points per task)
    many_points: int = 64  # "much data"
    # r=1, few points: the geometric mean over seeds of the per-seed ratio MSE(k=0) / MSE(k=L) is >= this
    # (a cut >= 9% on a typical seed; over SEED 0..19 it was 1.44-3.36, while the ratio of the means,
    # 1.24-3.71, and which depth had the lowest mean, k=L in 19 of 20 groups, vary too much to assert)
    min_geo_ratio_related: float = 1.1
    min_ratio_unrelated: float = 1.05  # r=0, many points, same width: MSE(k=L) / MSE(k=0) >= this (>= 5% higher)
    min_ratio_matched: float = 1.4  # r=0, many points: MSE(k=0) / MSE(k=L at matched_width) >= this
    hard_freq: float = 3.6  # related tasks' shared frequency in the similar-difficulty control (~ mean own frequency)
    # many points, width 8: [MSE(k=L)/MSE(k=0) for unrelated tasks] - [the same for related tasks of frequency
    # hard_freq] >= this: full sharing costs unrelated tasks more than similarly hard related ones
    min_penalty_gap: float = 0.2
    digit_hidden: int = 16  # overlay: the width of the equal-width comparison
    min_digit_gap: float = 0.015  # overlay, equal width: accuracy(k=0) - accuracy(k=L) >= this
    max_digit_matched_share: float = 0.6  # matched parameters: the gap is <= this x the equal-width gap
    max_alpha_distance: float = 0.01  # soft sharing: spread at the largest alpha <= this x spread at alpha = 0
    # claims 1 and 2 again with each depth at its own rate (TUNED_LRS, chosen per seed on validation, 600 steps):
    min_geo_ratio_related_tuned: float = 1.4  # over SEED 0..19 the geometric mean was 1.81-3.11 (mean 2.44, sd 0.31)
    min_ratio_unrelated_tuned: float = 1.2  # over SEED 0..19 the ratio was 1.35-1.75 (mean 1.52, sd 0.11)

    @property
    def min_cut_related(self) -> float:
        return cut(self.min_geo_ratio_related)

    @property
    def min_cut_matched(self) -> float:
        return cut(self.min_ratio_matched)


CLAIMS = SharingDepthClaims()


def matched_width(in_features: int, hidden: int, n_layers: int, n_tasks: int, out_features: int = 1) -> int:
    """The width of a fully shared network (k = n_layers) whose parameter count is closest to that of
    the independent networks (k = 0) of width `hidden`: the control for "sharing or just fewer parameters?"."""
    def count(width, k):
        return sharing_parameter_count(in_features, width, n_layers, n_tasks, out_features, sharing_depth=k)

    target, width = count(hidden, 0), hidden
    while count(width + 1, n_layers) <= target:
        width += 1
    return min((width, width + 1), key=lambda h: abs(count(h, n_layers) - target))


def _check_depths(depths, n_layers: int) -> tuple[int, ...]:
    """All depths 0..n_layers if None, else distinct ints in that range (numpy ints accepted)."""
    return tuple(range(n_layers + 1)) if depths is None else check_ints("depths", depths, low=0, high=n_layers,
                                                                         distinct=True)


@dataclass(frozen=True)
class SharingDepth:
    """Chapter 2's grid (sharing_depth_sweep): one field per knob; tanh MultiTaskNet, full-batch Adam."""

    relatedness: tuple[float, ...] = (0.0, 0.5, 1.0)  # the slider: 1 two shared features, 0 a sinusoid per task
    n_per_task: tuple[int, ...] = (8, 64)  # the slider: training points per task
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # every grid point is trained once per seed
    depths: tuple[int, ...] | None = None  # the sharing depths k trained (None: every k = 0..n_layers)
    n_tasks: int = 8  # sinusoid tasks (make_sinusoid_tasks)
    hidden: int = 8  # width of every hidden layer
    n_layers: int = 2  # hidden layers of each task's path
    steps: int = 600  # a fixed budget of full-batch Adam steps per model
    lr: float | tuple[float, ...] = 1e-2  # one rate for every model, or several (e.g. TUNED_LRS): each model
    #                                      is trained at each, and the one best on validation is kept
    noise: float = 0.1  # sd of the noise on the training and validation targets
    n_val: int = 50  # validation points per task: for choosing k (or a rate), never for reporting
    n_grid: int = 120  # x values the fits are drawn at
    shared_freq: float = 1.0  # the shared features' frequency (make_sinusoid_tasks)


@cached
def sharing_depth_sweep(relatedness=SharingDepth.relatedness, n_per_task=SharingDepth.n_per_task,
                        seeds=SharingDepth.seeds, *, progress: bool = True, **settings) -> Sweep:
    """Train MultiTaskNet (tanh, Adam, full batch) with every sharing depth k = 0..n_layers on the sinusoid family.

    settings: any other field of SharingDepth. Knobs: sharing_depth, relatedness, n_per_task; one vectorised
    run per depth covers every (relatedness, n_per_task, seed). Results: test_mse, val_mse and train_mse
    (mean over tasks; validation is for choosing k, test for reporting, training for seeing whether a model
    fits its own data within the fixed budget of `steps`), test_mse_tasks (n_tasks,), fit (n_tasks, n_grid),
    truth (n_tasks, n_grid), x_train / y_train (padded with nan), lr (the rate each model was trained at);
    meta: x_grid and n_params (one count per depth). With several rates every result is that of the rate
    kept (each arm its own rate, chosen on validation per depth, grid point and seed).
    """
    cfg = SharingDepth(check_floats("relatedness", relatedness, low=0.0, high=1.0),
                       check_ints("n_per_task", n_per_task, low=1), check_ints("seeds", seeds, low=0),
                       **check_settings(SharingDepth, settings, by="sharing_depth_sweep"))
    n_layers = check_keywords(n_layers=cfg.n_layers, n_tasks=cfg.n_tasks, hidden=cfg.hidden, steps=cfg.steps,
                              noise=cfg.noise, n_grid=cfg.n_grid, progress=progress)["n_layers"]
    several = isinstance(cfg.lr, (tuple, list, np.ndarray))
    lr = check_lrs(cfg.lr, name="lr") if several else check_keywords(lr=cfg.lr)["lr"]
    check_int("n_val", cfg.n_val, low=1)
    depths = _check_depths(cfg.depths, n_layers)
    sweep = Sweep({"sharing_depth": depths, "relatedness": cfg.relatedness, "n_per_task": cfg.n_per_task}, cfg.seeds)
    runs = sweep.runs(without="sharing_depth")  # the data: the same at every depth
    tasks = [make_sinusoid_tasks(cfg.n_tasks, r["n_per_task"], n_val=cfg.n_val, relatedness=r["relatedness"],
                                 noise=cfg.noise, shared_freq=cfg.shared_freq, seed=r["seed"]) for r in runs]
    x, y, mask = pad_tasks([list(d.x_train) for d in tasks], [list(d.y_train) for d in tasks])  # padded, masked
    data = (x, y, mask, *stacked(tasks, "x_val", "y_val", "x_test", "y_test"))
    x_grid = torch.linspace(-5, 5, cfg.n_grid)
    flat = [_train_depth(cfg, k, lr, [r["seed"] for r in runs], data, x_grid, progress) for k in depths]
    for name in flat[0]:
        sweep.fill(name, np.concatenate([results[name] for results in flat]))
    for name, v in (("x_train", x), ("y_train", y)):  # padding: nan
        sweep.fill(name, np.where(mask.numpy() > 0, v[..., 0].numpy(), np.nan), repeated_along="sharing_depth")
    sweep.fill("truth", np.stack([d.true_function(x_grid).numpy() for d in tasks]), repeated_along="sharing_depth")
    sweep.meta.update(x_grid=x_grid.numpy(), hidden=cfg.hidden, n_layers=n_layers, n_tasks=cfg.n_tasks,
                      shared_freq=cfg.shared_freq, lrs=lr if several else (lr,),
                      n_params=[sharing_parameter_count(1, cfg.hidden, n_layers, cfg.n_tasks, sharing_depth=k)
                                for k in depths])
    return sweep


def _train_depth(cfg: SharingDepth, k: int, lr, seeds, data, x_grid, progress) -> dict[str, np.ndarray]:
    """Every run at sharing depth k, one model per (rate, run) in one vectorised fit_many (with several rates
    the data repeat for every rate, the rate outermost). Per run the rate with the lowest validation MSE is
    kept (the first on ties); returns each result flat, one row per run."""
    lrs = lr if isinstance(lr, tuple) else (lr,)
    grid = Sweep({"lr": lrs}, seeds)  # one model per (rate, run); the choice of rate is made after
    runs = grid.runs()
    x, y, mask, x_val, y_val, x_test, y_test = (t.repeat(len(lrs), *[1] * (t.dim() - 1)) for t in data)
    stack = ModelStack.from_factory(
        lambda: MultiTaskNet(1, cfg.hidden, cfg.n_layers, cfg.n_tasks, sharing_depth=k), [r["seed"] for r in runs])
    fit_many(stack, (x, y, mask), optimizer="adam", steps=cfg.steps,
             lr=[r["lr"] for r in runs] if isinstance(lr, tuple) else lr,
             progress=progress and f"sharing depth {k}: {len(stack)} models at once")
    with torch.no_grad():
        per_task = per_task_mse(stack(x_test), y_test)  # (models, n_tasks)
        sq = ((stack(x) - y) ** 2).flatten(3).mean(-1) * mask  # padding zeroed
        grid.fill("test_mse", per_task.mean(-1))
        grid.fill("val_mse", per_task_mse(stack(x_val), y_val).mean(-1))
        grid.fill("train_mse", (sq.sum(-1) / mask.sum(-1)).mean(-1))
        grid.fill("test_mse_tasks", per_task)
        grid.fill("fit", stack(x_grid[None, :, None].expand(len(stack), -1, -1))[..., 0])  # (models, n_tasks, n_grid)
    grid.fill("lr", [r["lr"] for r in runs])
    _, _, *chosen = choose_on_validation(grid.results["val_mse"], *grid.results.values(), axes=(0,))
    return dict(zip(grid.results, chosen))


def sharing_depth_explorer(sweep: Sweep, *, tasks=None, value: dict | None = None) -> SweepExplorer:
    """Sliders over k, relatedness and points per task: three tasks' fits (first seed),
    held-out MSE against k (mean ± sd over seeds), and the parameter count against k."""
    Sweep.require(sweep, knobs=["sharing_depth", "relatedness", "n_per_task"], by="sharing_depth_explorer",
                  results=["x_train", "y_train", "fit", "truth", "test_mse"], meta=["x_grid", "n_params", "n_tasks"])
    n_tasks = sweep.results["fit"].shape[-2]
    tasks = tuple(range(min(3, n_tasks))) if tasks is None else check_ints("tasks", tasks, low=0, high=n_tasks - 1)
    value = {"sharing_depth": sweep.knobs["sharing_depth"][-1], "relatedness": grid_value(sweep, "relatedness", 1.0),
             "n_per_task": grid_value(sweep, "n_per_task", 8), **(value or {})}

    def draw(axes, point):
        ax_fit, ax_mse, ax_par = axes
        k, r, n = point["sharing_depth"], point["relatedness"], point["n_per_task"]
        plot_fits_at(sweep, point, ("fit",), labels=(f"k = {k}",), tasks=tasks, ax=ax_fit)
        ax_fit.set(title=f"k = {k}, relatedness {r:g}, {n} points per task\n"
                         f"({len(tasks)} of {sweep.meta['n_tasks']} tasks, seed {sweep.seeds[0]})",
                   xlabel="x", ylabel="y", ylim=(-4, 4))
        _plot_mse_against_depth(ax_mse, sweep, point)
        _plot_parameter_counts(ax_par, sweep, k)

    return SweepExplorer(sweep, draw, knobs=["sharing_depth", "relatedness", "n_per_task"], value=value,
                         ncols=3, figsize=(13, 3.8),
                         descriptions={"sharing_depth": "sharing depth k", "n_per_task": "points per task"})


def _plot_mse_against_depth(ax, sweep: Sweep, point: dict) -> None:
    """Held-out MSE against k for every relatedness: the current one in bold with its band, the others dotted."""
    depths = np.array(sweep.knobs["sharing_depth"])
    for j, other in enumerate(sweep.knobs["relatedness"]):
        _, mse = sweep.curve("test_mse", "sharing_depth", relatedness=other, n_per_task=point["n_per_task"])
        if other == point["relatedness"]:
            plot_seed_band(depths, mse, ax=ax, color=PALETTE[j], highlight=point["sharing_depth"],
                           label=f"relatedness {other:g} (mean ± sd)")
        else:
            ax.plot(depths, mse.mean(1), color=PALETTE[j], ls=":", marker="o", ms=3, alpha=0.7,
                    label=f"relatedness {other:g} (mean)")
    ax.set(yscale="log", xticks=depths, xlabel="sharing depth k (shared hidden layers)",
           ylabel="held-out MSE (mean over tasks, log)",
           title=f"Held-out error vs k, {point['n_per_task']} points per task, {len(sweep.seeds)} seeds")
    ax.legend(fontsize=7)


def _plot_parameter_counts(ax, sweep: Sweep, k: int) -> None:
    """The parameter count of every sharing depth, depth k highlighted."""
    depths, n_params = np.array(sweep.knobs["sharing_depth"]), np.array(sweep.meta["n_params"])
    ax.bar(depths, n_params, color=[PALETTE[1] if d == k else PALETTE[5] for d in depths])
    for d, p in zip(depths, n_params):
        ax.text(d, p, str(p), ha="center", va="bottom", fontsize=8)
    ax.set(xticks=depths, xlabel="sharing depth k (shared hidden layers)", ylabel="parameters (count)",
           ylim=(0, 1.15 * n_params.max()),
           title=f"Parameters, {sweep.meta['n_tasks']} tasks, width {sweep.meta['hidden']}")


@cached
def digit_overlay_sweep(hidden=(16, 64), seeds=range(5), *, n_train: int = 200, n_test: int = 500,
                        shift: int = 4, n_layers: int = 2, steps: int = 250, lr: float = 1e-2, depths=None,
                        progress: bool = True) -> Sweep:
    """Left and right digit of the overlay canvas, one MultiTaskNet (relu, Adam, full batch) per sharing depth and width.

    Knobs: sharing_depth (default all 0..n_layers, or `depths`), hidden. Results: test_accuracy and
    val_accuracy, (2,) per task; meta: n_params {(k, hidden): count}, image_shape.
    """
    hidden, seeds = check_ints("hidden", hidden, low=1, distinct=True), check_ints("seeds", seeds, low=0)
    n_layers = check_keywords(n_layers=n_layers, n_train=n_train, n_test=n_test, shift=shift, steps=steps, lr=lr,
                              progress=progress)["n_layers"]
    sweep = Sweep({"sharing_depth": _check_depths(depths, n_layers), "hidden": hidden}, seeds)
    data = [make_digit_overlay(n_train, n_test, shift=shift, seed=s) for s in seeds]
    n_in = data[0].x_train.shape[1]

    def both_tasks(split):  # x (seeds, 2 tasks, n, in): one canvas, two tasks; labels y (seeds, 2, n)
        return (torch.stack([getattr(d, f"x_{split}").expand(2, -1, -1) for d in data]),
                torch.stack([getattr(d, f"y_{split}").T for d in data]))

    (x, y), (x_val, y_val), (x_test, y_test) = (both_tasks(split) for split in ("train", "val", "test"))
    accuracy, n_params = {"test_accuracy": [], "val_accuracy": []}, {}
    for point in sweep.points():  # one vectorised run over the seeds per grid point: runs() order
        k, h = point["sharing_depth"], point["hidden"]
        stack = ModelStack.from_factory(
            lambda: MultiTaskNet(n_in, h, n_layers, 2, 10, sharing_depth=k, activation="relu"), seeds)
        fit_many(stack, (x, y), loss="ce", optimizer="adam", lr=lr, steps=steps,
                 progress=progress and f"digits: width {h}, sharing depth {k}")
        with torch.no_grad():
            accuracy["test_accuracy"].append(per_task_accuracy(stack(x_test), y_test))
            accuracy["val_accuracy"].append(per_task_accuracy(stack(x_val), y_val))
        n_params[(k, h)] = sharing_parameter_count(n_in, h, n_layers, 2, 10, sharing_depth=k)
    for name, rows in accuracy.items():
        sweep.fill(name, torch.cat(rows).double())
    sweep.meta.update(n_params=n_params, image_shape=data[0].image_shape, n_train=n_train)
    return sweep
