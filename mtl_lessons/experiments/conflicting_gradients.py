"""Conflicting gradients: two 2-D gradients at an angle (equal-weight sum, PCGrad, MGDA) behind
chapter 5's angle slider, and the comparison of six weighting methods, each with its learning rate
chosen on validation, over seeds (Kurin et al. 2022; Xin et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mtl_lessons._checks import MAX_STEPS, check_choice, check_floats, check_int, check_ints, check_lrs
from mtl_lessons.competing import train_competing
from mtl_lessons.gradients import mgda, pcgrad
from mtl_lessons.metrics import choose_on_validation
from mtl_lessons.plots import PALETTE
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.train import PROGRESS_DELAY_S
from mtl_lessons.weighting import METHOD_LABELS, FixedWeights, Strategy, make_strategy
from mtl_lessons.widgets import SweepExplorer

DEFAULT_ANGLES = tuple(range(0, 181, 15))
ALL_METHODS = ("equal", "uncertainty", "gradnorm", "dwa", "pcgrad", "mgda")
ON_FRONT = ("uncertainty", "gradnorm", "dwa", "pcgrad", "mgda")  # the methods claim beyond_front_max is about


@dataclass(frozen=True)
class Claims:
    """Chapter 5's thresholds, used by the notebook and by tests/test_conflicting_gradients.py."""

    equal_inner_rtol: float = 1e-5  # interior MGDA: g_1·d = g_2·d up to this relative difference (an identity)
    conflict_log10_min: float = 0.7  # equal weighting's worse task: held-out MSE >= 10^0.7 = 5x single-task
    #                                  training's, in every seed (the tasks conflict on one shared unit); in log10
    #                                  because the factor spreads multiplicatively (SEED 0-19: 16x to 170x)
    cosine_max: float = -0.7  # equal weighting's gradient cosine, mean over the second half of training, <= -0.7 in
    #                           every seed (at a stationary point of L_1 + L_2, g_1 = -g_2 on the shared parameters;
    #                           SEED 0-19, seeds 0-23: at most -0.84)
    beyond_front_max: float = 0.1  # no method (equal weighting aside: it is the front's λ = ½ arm) lies beyond the
    #                                front the λ runs trace by more than 0.1 log10 units (a factor 1.26 on both tasks)
    #                                in any seed (beyond_front, the front point chosen on validation, d on test;
    #                                SEED 0-19: at most 0.07 (SEED 17), mean 0.016, sd 0.019)


CLAIMS = Claims()


def two_gradients(angle_deg: float, ratio: float = 0.5) -> torch.Tensor:
    """g_1 = (1, 0) and g_2 = ratio * (cos a, sin a), as a (2, 2) float64 matrix."""
    a = np.deg2rad(angle_deg)
    return torch.tensor([[1.0, 0.0], [ratio * np.cos(a), ratio * np.sin(a)]], dtype=torch.float64)


@cached
def angle_sweep(angles=DEFAULT_ANGLES, *, ratio: float = 0.5) -> Sweep:
    """The three directions for every angle (no training): sum, pcgrad, mgda, each (2,)."""
    sweep = Sweep({"angle": tuple(angles)}, (0,))
    grads = [two_gradients(run["angle"], ratio) for run in sweep.runs()]
    for name, direction in (("grads", lambda g: g), ("sum", lambda g: g.sum(0)), ("pcgrad", pcgrad), ("mgda", mgda)):
        sweep.fill(name, np.stack([direction(g).numpy() for g in grads]))
    return sweep


ARROWS = {"sum": (PALETTE[0], "sum $g_1+g_2$", "-"), "pcgrad": (PALETTE[1], "PCGrad", "--"),
          "mgda": (PALETTE[2], "MGDA (min-norm)", "-")}  # result -> color, label, line style


def angle_explorer(sweep: Sweep, *, value: int = 120) -> SweepExplorer:
    """Slider over the angle between g_1 and g_2: the gradients and the three combined directions."""
    sweep.require(knobs=("angle",), results=("grads", *ARROWS), by="angle_explorer")

    def draw(axes, point):
        ax, ax2 = axes
        g = sweep.at("grads", **point)[0]
        arrows = [(g[0], "0.3", "$g_1$", "-"), (g[1], "0.6", "$g_2$", "-")]
        for vec, color, label, ls in arrows + [(sweep.at(name, **point)[0], *ARROWS[name]) for name in ARROWS]:
            if np.linalg.norm(vec) > 1e-9:
                ax.annotate("", xy=vec, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=2, ls=ls))
                ax.plot([], [], color=color, ls=ls, lw=2, label=label)
            else:  # a zero direction has no arrow: a dot at the origin
                ax.plot([0], [0], "o", color=color, ms=6, label=f"{label} = 0")
        ax.plot(*g.T, color="0.8", lw=1, label="convex hull of $g_1, g_2$")
        ax.set(xlim=(-1, 1.6), ylim=(-0.3, 1.3), aspect="equal", title=f"angle {point['angle']}°, |g₂| = ½|g₁|")
        ax.figure.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="outside lower left", ncols=3)  # never on an arrow
        for name, (color, label, ls) in ARROWS.items():
            ax2.plot(sweep.knobs["angle"], np.linalg.norm(sweep.results[name][:, 0], axis=1), color=color, ls=ls,
                     marker=".", label=label)
        ax2.axvline(point["angle"], color="0.5", lw=1)
        ax2.set(xlabel="angle between $g_1$ and $g_2$ (degrees)", ylabel="length of the step",
                title="Step length against the angle")
        ax2.legend(fontsize=7, loc="upper right")

    return SweepExplorer(sweep, draw, knobs=["angle"], value={"angle": value}, ncols=2, figsize=(10, 3.8),
                         descriptions={"angle": "angle (degrees)"})


# task 1's weight λ (task 2's: 1 - λ); 0.02 and 0.98: one task served, the other's head still trains (Adam);
# λ = 0 and 1 are single-task training, not part of the front a method is compared with (see interior)
FRONT_LAMBDAS = (0.0, 0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98, 1.0)
DEFAULT_LRS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # Adam rates, each arm chooses its own on validation


class _RecordCosine(Strategy):
    """Wraps a strategy and records, every `every` steps, the cosine of the two tasks' gradients on the
    shared parameters (from the Gramian the loop then computes: one backward pass per task)."""

    uses_gramian = True

    def __init__(self, inner: Strategy, every: int):
        self.inner, self.every = inner, every
        self.combines_gradients = inner.combines_gradients

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        self.inner.start(n_models, n_tasks)
        self.cosines, self._step = [], 0

    def parameters(self):
        return self.inner.parameters()

    def penalty(self):
        return self.inner.penalty()

    def weights(self, losses, gramian):
        if self._step % self.every == 0:
            norms = gramian.diagonal(dim1=-2, dim2=-1).clamp_min(1e-30).sqrt()  # (M, T)
            self.cosines.append((gramian[:, 0, 1] / (norms[:, 0] * norms[:, 1])).numpy())
        self._step += 1
        return self.inner.weights(losses, gramian if self.inner.uses_gramian else None)


def method_comparison(methods=ALL_METHODS, lrs=DEFAULT_LRS, seeds=range(5), *, lambdas=FRONT_LAMBDAS,
                      hidden: int = 1, steps: int = 400, every: int = 10, progress: bool = True) -> dict:
    """Every method, and fixed weights (λ, 1 - λ) for every λ (the front scalarisation traces; λ = 1
    and λ = 0 are single-task training), at every learning rate and seed on the competing tasks (Adam,
    one shared tanh unit: the tasks conflict). One fit_many per method with a rate per model (all the
    front's λs in one). Rates are then chosen on validation by `choose_rates`.

    Returns choose_rates(raw) for raw = {"lambdas", "lrs", "seeds", "steps": (checkpoints,),
    "front": {"val", "test": (λs, lrs, seeds, 2)}, method: {"val", "test": (lrs, seeds, 2),
    "cosine": (checkpoints, lrs, seeds)}}, with raw kept under "raw"; cosine: the two tasks' gradient
    cosine on the shared parameters during training.
    """
    seeds, lrs = check_ints("seeds", seeds, low=0, distinct=True), check_lrs(lrs)
    lambdas = check_floats("lambdas", lambdas, low=0.0, high=1.0, distinct=True)
    for m in methods:
        check_choice("methods", m, ALL_METHODS)
    steps, every = check_int("steps", steps, low=1, high=MAX_STEPS), check_int("every", every, low=1)
    raw = {"lambdas": lambdas, "lrs": lrs, "seeds": list(seeds), "steps": np.arange(0, steps, every)}
    # one bar over the runs: each run alone is too short for a bar of its own
    with tqdm(total=1 + len(methods), desc=f"front ({len(lambdas)} λs) + {len(methods)} methods x {len(lrs)} "
              f"rates x {len(seeds)} seeds", delay=PROGRESS_DELAY_S, leave=False, disable=not progress) as bar:
        front = Sweep({"lam": lambdas, "lr": lrs}, seeds)
        weights = FixedWeights(torch.tensor([[r["lam"], 1 - r["lam"]] for r in front.runs()]))
        raw["front"] = _trained(front, weights, hidden, steps).results
        bar.update()
        for method in methods:
            strategy = _RecordCosine(make_strategy(method), every)
            grid = _trained(Sweep({"lr": lrs}, seeds), strategy, hidden, steps)
            grid.fill("cosine", np.stack(strategy.cosines, -1))  # (lrs, seeds, checkpoints)
            raw[method] = {**grid.results, "cosine": np.moveaxis(grid.results["cosine"], -1, 0)}
            bar.update()
    return choose_rates(raw)


def _trained(grid: Sweep, strategy: Strategy, hidden: int, steps: int) -> Sweep:
    """The runs of `grid` trained on the competing tasks (Adam, each run at its rate); fills val and test MSE,
    each (*grid, 2)."""
    runs = grid.runs()
    _, mse = train_competing(runs, strategy, hidden=hidden, lr=[r["lr"] for r in runs], steps=steps)
    for split, values in mse.items():
        grid.fill(split, values)
    return grid


def choose_rates(raw: dict) -> dict:
    """Each rate chosen on validation, over all the seeds of `raw` (method_comparison's runs).

    Each λ of the front: the rate with the lowest mean validation loss of its own objective λ L_1 + (1 - λ) L_2.
    Each method: the rate whose validation point lies furthest beyond the validation front (mean over seeds
    of `beyond_front`), so no single score of the two losses picks it, except among rates tied on that mean
    (e.g. all at 0: on the front in every seed): there the lower mean log L_1 + log L_2 decides (a lexsort:
    two keys, so not choose_on_validation). Returns {"lambdas", "seeds", "steps", "raw", "front": {"lr": (λs,),
    "val", "test": (λs, seeds, 2)}, method: {"lr", "d_val": (lrs,), "val", "test": (seeds, 2), "cosine":
    (checkpoints, seeds)}}: val and test at the chosen rate only.
    """
    lambdas, lrs = raw["lambdas"], raw["lrs"]
    mix = np.array([[lam, 1 - lam] for lam in lambdas])[:, None, None, :]
    objective = (raw["front"]["val"] * mix).sum(-1).mean(-1)  # (λs, lrs)
    (best,), _, val, test = choose_on_validation(objective, raw["front"]["val"], raw["front"]["test"], axes=(1,))
    front = {"lambdas": lambdas, "lr": np.asarray(lrs)[best], "val": val, "test": test}
    inner = interior(lambdas)
    out = {"lambdas": lambdas, "seeds": raw["seeds"], "steps": raw["steps"], "raw": raw, "front": front}
    n = len(raw["seeds"])
    for method in [m for m in ALL_METHODS if m in raw]:
        val = raw[method]["val"]  # (lrs, seeds, 2)
        d_val = np.array([[beyond_front(val[r, s], front["val"][inner, s]) for s in range(n)] for r in range(len(lrs))])
        b = int(np.lexsort((np.log10(val).sum(-1).mean(1), -d_val.mean(1)))[0])
        out[method] = {"lr": lrs[b], "d_val": d_val.mean(1), "val": val[b], "test": raw[method]["test"][b],
                       "cosine": raw[method]["cosine"][:, b]}
    return out


def interior(lambdas) -> np.ndarray:
    """Indices of the λs strictly between 0 and 1: the front a method is compared with. λ = 0 and λ = 1
    are single-task training: under Adam the other task's head gets no gradient and stays untrained."""
    return np.array([i for i, lam in enumerate(lambdas) if 0 < lam < 1])


def beyond_front(point, front, front_val=None, point_val=None) -> float:
    """How far a point (L_1, L_2) lies beyond the front, in log10 units (0.1: a factor 10^0.1 = 1.26).

    front: (λs, 2), the points the fixed-weight runs reached (one seed), compared point by point (no
    interpolation between them), only those not dominated by another (judged on front_val, (λs, 2), the
    same runs on validation, when given). With diff = log10 f - log10 point for every front point f:
    d = max_f min_t diff > 0 when `point` is better on *both* tasks than some front point (by at least the
    factor 10^d: it lies beyond the front, Xin et al. 2022's test of a method);
    d = min_f max_t diff < 0 when some front point is better on both tasks than `point` (by 10^-d);
    d = 0 when neither: `point` is on the front, trading one task for the other like its points do.

    With point_val (the method's point on validation; front_val then required) the front point is chosen on
    validation, and `point` and `front` (test) are compared at that one point only: the f of the kept
    points with the largest min_t (log10 f_val - log10 point_val), the one the method beats by most on both
    tasks on validation (or comes nearest to beating). Then d = min_t diff if > 0, max_t diff if < 0, else 0,
    for that f alone: test decides nothing but the number reported.
    """
    p = np.log10(np.asarray(point, dtype=float))
    f = np.log10(np.asarray(front, dtype=float))
    if point_val is not None and front_val is None:
        raise ValueError("point_val needs front_val: the front point is chosen on validation, from both")
    j = f if front_val is None else np.log10(np.asarray(front_val, dtype=float))
    keep = [i for i in range(len(j)) if not any((j[m] <= j[i]).all() and (j[m] < j[i]).any() for m in range(len(j)))]
    if point_val is not None:  # one front point, chosen on validation
        chosen = keep[int(np.argmax((j[keep] - np.log10(np.asarray(point_val, dtype=float))).min(-1)))]
        keep = [chosen]
    diff = f[keep] - p
    beyond, inside = diff.min(-1).max(), diff.max(-1).min()
    return float(beyond) if beyond > 0 else float(inside) if inside < 0 else 0.0


def front_noise(front: dict) -> np.ndarray:
    """d of each λ run of the front against the other λ runs (leave one out), chosen as for a method: the
    front point on validation, d on test. front: choose_rates' "front"; returns (interior λs, seeds). A λ run
    is on the front by construction only up to noise: this is how far that noise carries it beyond the rest."""
    if not isinstance(front, dict) or not {"lambdas", "test", "val"} <= set(front):
        raise TypeError(f"front (a {type(front).__name__}) must be choose_rates' 'front': a dict with 'lambdas', 'test', 'val'")
    inner, test, val = interior(front["lambdas"]), np.asarray(front["test"]), np.asarray(front["val"])
    if len(inner) < 2:
        raise ValueError(f"front has λs {tuple(front['lambdas'])}: leaving one out needs at least 2 strictly between 0 and 1")
    if test.shape != val.shape or test.ndim != 3 or test.shape[::2] != (len(front["lambdas"]), 2):
        raise ValueError(f"front's test {test.shape} and val {val.shape} must both be (λs, seeds, 2) = "
                         f"({len(front['lambdas'])}, seeds, 2)")
    return np.array([[beyond_front(test[i, k], test[[j for j in inner if j != i], k],
                                   val[[j for j in inner if j != i], k], point_val=val[i, k])
                      for k in range(test.shape[1])] for i in inner])


def below_front_line(point, front) -> float:
    """How far `point` (L_1, L_2) lies below the front drawn as a line: the piecewise-linear curve (in log10
    L_1, log10 L_2) through the front's non-dominated points, sorted by L_1. Returns log10 L_2 on the line
    minus log10 L_2 of the point, at the point's L_1 (> 0: below the line, toward lower losses); nan where
    the point's L_1 lies outside the front's range. Unlike beyond_front it interpolates between the points."""
    f, p = _log_losses("front", front, ndim=2), _log_losses("point", point, ndim=1)
    f = f[[i for i in range(len(f)) if not any((f[m] <= f[i]).all() and (f[m] < f[i]).any() for m in range(len(f)))]]
    f = f[np.argsort(f[:, 0])]
    return float(np.interp(p[0], f[:, 0], f[:, 1]) - p[1]) if f[0, 0] <= p[0] <= f[-1, 0] else float("nan")


def _log_losses(name: str, losses, *, ndim: int) -> np.ndarray:
    """log10 of losses (L_1, L_2): one point (ndim 1, shape (2,)) or several (ndim 2, shape (n, 2))."""
    a = np.asarray(losses, dtype=float)
    if a.ndim != ndim or a.shape[-1] != 2 or a.size == 0:
        raise ValueError(f"{name} has shape {a.shape} but must be {'(2,): one point' if ndim == 1 else '(n, 2): n points'}"
                         f" (L_1, L_2)")
    if (a <= 0).any():
        raise ValueError(f"{name}={a.tolist()} must hold positive losses (they are compared in log10)")
    return np.log10(a)


def plot_front(results: dict, n_shown: int = 3):
    """Left: one panel per seed (the first n_shown): held-out L_1 against L_2 (log-log) of fixed weights
    (λ, 1 - λ), 0 < λ < 1, the front, single-task training (λ = 1, λ = 0), and each method's point.
    Right: each method's gradient cosine during training (mean over seeds, band: lowest to highest seed)."""
    import matplotlib.pyplot as plt

    methods = [m for m in ALL_METHODS if m in results]
    front = results["front"]["test"]  # (λs, seeds, 2)
    inner = interior(results["front"]["lambdas"])
    n_shown = min(n_shown, front.shape[1])
    fig, axes = plt.subplots(1, n_shown + 1, figsize=(3.6 * (n_shown + 1), 3.5), layout="constrained")
    markers = "osD^vP"
    for k, ax in enumerate(axes[:n_shown]):
        ax.plot(*front[inner, k].T, "-", color="0.6", lw=1, marker=".", label="fixed weights (λ, 1-λ), 0 < λ < 1")
        ax.plot(*front[-1, k], "*", color="0.2", ms=10, label="task 1 alone (λ = 1)")
        ax.plot(*front[0, k], "X", color="0.2", ms=8, label="task 2 alone (λ = 0)")
        for j, m in enumerate(methods):
            ax.plot(*results[m]["test"][k], markers[j], color=PALETTE[j], ms=7, mfc="none", mew=1.5,
                    label=METHOD_LABELS[m])
        ax.set(xscale="log", yscale="log", xlabel="held-out MSE, task 1", title=f"SEED {results['seeds'][k]}")
    axes[0].set_ylabel("held-out MSE, task 2")
    ax = axes[-1]
    for j, m in enumerate(methods):
        c = results[m]["cosine"]
        ax.plot(results["steps"], c.mean(1), color=PALETTE[j], label=METHOD_LABELS[m])
        ax.fill_between(results["steps"], c.min(1), c.max(1), color=PALETTE[j], alpha=0.12, lw=0)
    ax.axhline(0, color="0.5", ls=":", lw=1)
    ax.set(xlabel="step", ylabel="cos(g_1, g_2), shared parameters", ylim=(-1.05, 1.05),
           title="Gradient cosine during training")
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=7, loc="outside lower center", ncols=5)
    return fig
