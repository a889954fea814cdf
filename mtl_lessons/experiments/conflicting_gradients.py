"""Conflicting gradients: two 2-D gradients at an angle (equal-weight sum, PCGrad, MGDA) behind
chapter 5's angle slider, and the comparison of six weighting methods, each with its learning rate
chosen on validation, over seeds (Kurin et al. 2022; Xin et al. 2022)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mtl_lessons.data import make_competing_tasks
from mtl_lessons.experiments.learned_weights import LABELS, make_strategy
from mtl_lessons.gradients import mgda, pcgrad
from mtl_lessons.metrics import per_task_mse
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.train import PROGRESS_DELAY_S, ModelStack, fit_many
from mtl_lessons.widgets import SweepExplorer

DEFAULT_ANGLES = tuple(range(0, 181, 15))
ALL_METHODS = ("equal", "uncertainty", "gradnorm", "dwa", "pcgrad", "mgda")


@dataclass(frozen=True)
class Claims:
    """Chapter 5's thresholds, used by the notebook and by tests/test_conflicting_gradients.py."""

    equal_inner_rtol: float = 1e-5  # interior MGDA: g_1·d = g_2·d up to this relative difference
    max_gain_in_sd: float = 1.0  # no method beats tuned equal weighting by more than 1 seed sd (test loss)
    mgda_gain_below: float = 0.0  # MGDA's mean test loss is above tuned equal weighting's (its gain is < 0 sd)


CLAIMS = Claims()


def two_gradients(angle_deg: float, ratio: float = 0.5) -> torch.Tensor:
    """g_1 = (1, 0) and g_2 = ratio * (cos a, sin a), as a (2, 2) float64 matrix."""
    a = np.deg2rad(angle_deg)
    return torch.tensor([[1.0, 0.0], [ratio * np.cos(a), ratio * np.sin(a)]], dtype=torch.float64)


@cached
def angle_sweep(angles=DEFAULT_ANGLES, *, ratio: float = 0.5) -> Sweep:
    """The three directions for every angle (no training): sum, pcgrad, mgda, each (2,)."""
    sweep = Sweep({"angle": tuple(angles)}, (0,))
    rows = {"grads": [], "sum": [], "pcgrad": [], "mgda": []}
    for a in angles:
        g = two_gradients(a, ratio)
        rows["grads"].append(g.numpy())
        rows["sum"].append(g.sum(0).numpy())
        rows["pcgrad"].append(pcgrad(g).numpy())
        rows["mgda"].append(mgda(g).numpy())
    for name, values in rows.items():
        sweep.add(name, np.stack(values)[:, None])
    return sweep


def angle_explorer(sweep: Sweep, *, value: int = 120) -> SweepExplorer:
    """Slider over the angle between g_1 and g_2: the gradients and the three combined directions."""
    sweep.require(knobs=("angle",), results=("grads", "sum", "pcgrad", "mgda"), by="angle_explorer")
    def draw(axes, point):
        ax = axes[0]
        g = sweep.at("grads", **point)[0]
        for vec, color, label, ls in ((g[0], "0.3", "$g_1$", "-"), (g[1], "0.6", "$g_2$", "-"),
                                      (sweep.at("sum", **point)[0], PALETTE[0], "sum $g_1+g_2$", "-"),
                                      (sweep.at("pcgrad", **point)[0], PALETTE[1], "PCGrad", "--"),
                                      (sweep.at("mgda", **point)[0], PALETTE[2], "MGDA (min-norm)", "-")):
            if np.linalg.norm(vec) > 1e-9:
                ax.annotate("", xy=vec, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, lw=2, ls=ls))
                ax.plot([], [], color=color, ls=ls, lw=2, label=label)
            else:  # a zero direction has no arrow: a dot at the origin
                ax.plot([0], [0], "o", color=color, ms=6, label=f"{label} = 0")
        ax.plot(*g.T, color="0.8", lw=1, label="convex hull of $g_1, g_2$")
        ax.set(xlim=(-1, 1.6), ylim=(-0.3, 1.3), aspect="equal", title=f"angle {point['angle']}°, |g₂| = ½|g₁|")
        ax.figure.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="outside lower left", ncols=3)  # never on an arrow
        ax2 = axes[1]
        for name, color, label, ls in (("sum", PALETTE[0], "sum $g_1+g_2$", "-"), ("pcgrad", PALETTE[1], "PCGrad", "--"),
                                       ("mgda", PALETTE[2], "MGDA", "-")):
            d = sweep.results[name][:, 0]
            ax2.plot(sweep.knobs["angle"], np.linalg.norm(d, axis=1), color=color, ls=ls, marker=".", label=label)
        ax2.axvline(point["angle"], color="0.5", lw=1)
        ax2.set(xlabel="angle between $g_1$ and $g_2$ (degrees)", ylabel="length of the step",
                title="Step length against the angle")
        ax2.legend(fontsize=7, loc="upper right")

    return SweepExplorer(sweep, draw, knobs=["angle"], value={"angle": value}, ncols=2, figsize=(10, 3.8),
                         descriptions={"angle": "angle (degrees)"})


def method_comparison(methods=ALL_METHODS, lrs=(0.03, 0.1, 0.3), seeds=range(5), *, hidden: int = 2,
                      steps: int = 400, progress: bool = True) -> dict:
    """Train every method at every learning rate and seed on the competing tasks (Adam), one fit_many per
    method with a learning rate per model; choose each method's rate on validation (mean over seeds of
    L_1 + L_2), and report test MSE per task at that rate only.

    Returns {method: {"lr": chosen, "val": (lrs, seeds), "test": (seeds, 2)}}.
    """
    seeds, lrs = tuple(seeds), tuple(float(v) for v in lrs)
    data = [make_competing_tasks(seed=s) for s in seeds]
    def stacked(name):
        return torch.stack([getattr(d, name) for d in data] * len(lrs))
    x, y = stacked("x_train"), stacked("y_train")
    per_model_lr = [lr for lr in lrs for _ in seeds]
    out = {}
    # one bar over the methods: each method's training alone is too short for a bar of its own
    for method in tqdm(methods, desc=f"{len(methods)} methods x {len(lrs)} rates x {len(seeds)} seeds",
                       delay=PROGRESS_DELAY_S, leave=False, disable=not progress):
        stack = ModelStack.from_factory(lambda: MultiTaskNet(1, hidden, 1, 2, sharing_depth=1), seeds * len(lrs))
        fit_many(stack, x, y, optimizer="adam", lr=per_model_lr, steps=steps, strategy=make_strategy(method),
                 progress=False)
        with torch.no_grad():
            val = per_task_mse(stack(stacked("x_val")), stacked("y_val")).sum(-1).reshape(len(lrs), len(seeds))
            test = per_task_mse(stack(stacked("x_test")), stacked("y_test")).reshape(len(lrs), len(seeds), 2)
        best = int(val.mean(1).argmin())
        out[method] = {"lr": lrs[best], "val": val.numpy(), "test": test[best].numpy()}  # test: the chosen rate only
    return out


def gains_in_sd(results: dict, baseline: str = "equal") -> dict:
    """Each method's gain over the baseline: (baseline's mean test L_1+L_2 - the method's) / baseline's seed sd."""
    base = results[baseline]["test"].sum(-1)
    return {m: float((base.mean() - r["test"].sum(-1).mean()) / base.std()) for m, r in results.items()}
