"""How transferable are features at each depth (Yosinski, Clune, Bengio & Lipson 2014), at the
scale of 8x8 digits: the grid behind chapter 7's frozen-depth slider.

Task A is digits 0-4, task B digits 5-9 (both relabelled 0..4). A base network is trained on A
and one on B per seed; then, for every depth n = 1..L, a new network for B receives the first n
hidden layers of the A network (AnB) or of the B network (BnB), frozen, or fine-tuned with
everything else (AnB+, BnB+). Its upper layers and head start fresh. n = 0 copies nothing: all
four are the baseline, a network trained on B from scratch.
"""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons._checks import check_float, check_int, check_ints, check_keywords
from mtl_lessons.data import DigitsSplit, load_digits_split
from mtl_lessons.metrics import per_task_accuracy
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE, plot_seed_band
from mtl_lessons.train import ModelStack, Sweep, fit_many, pad_tasks, transfer_stack
from mtl_lessons.widgets import SweepExplorer, grid_value

CLASSES_A, CLASSES_B = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
VARIANTS = {  # result name -> (source network, frozen?, label, colour, line style)
    "acc_BnB": ("B", True, "BnB (frozen)", PALETTE[1], "--"),
    "acc_BnB+": ("B", False, "BnB+ (fine-tuned)", PALETTE[1], "-"),
    "acc_AnB": ("A", True, "AnB (frozen)", PALETTE[0], "--"),
    "acc_AnB+": ("A", False, "AnB+ (fine-tuned)", PALETTE[0], "-"),
}


def recovered_fraction(base: np.ndarray, frozen: np.ndarray, fine_tuned: np.ndarray) -> np.ndarray:
    """Share of the frozen-transfer loss that fine-tuning wins back, per depth:
    (mean AnB+ - mean AnB) / (mean base - mean AnB), means over the last axis (seeds)."""
    base, frozen, fine_tuned = (np.asarray(a, dtype=float) for a in (base, frozen, fine_tuned))
    if not base.shape == frozen.shape == fine_tuned.shape or base.ndim != 2:
        raise ValueError(f"base {base.shape}, frozen {frozen.shape} and fine_tuned {fine_tuned.shape} must "
                         "have one shape (n_depths, n_seeds)")
    loss = base.mean(-1) - frozen.mean(-1)
    if (loss <= 0).any():
        raise ValueError(f"frozen transfer loses nothing at some depth (base - frozen = {np.round(loss, 4)}); "
                         "the recovered fraction is defined only where it loses")
    return (fine_tuned.mean(-1) - frozen.mean(-1)) / loss


def _test_accuracy(stack: ModelStack, split: DigitsSplit) -> np.ndarray:
    with torch.no_grad():
        logits = stack(split.x_test.expand(len(stack), 1, -1, -1))
        return per_task_accuracy(logits, split.y_test.expand(len(stack), 1, -1))[:, 0].numpy()


def transferability_sweep(seeds=range(5), *, hidden: int = 32, n_layers: int = 4, steps: int = 150,
                          lr: float = 1e-2, progress: bool = True) -> Sweep:
    """B test accuracy of AnB, AnB+, BnB, BnB+ for every frozen depth n = 0..n_layers and seed.

    Results, each (n_layers + 1, n_seeds): acc_AnB, acc_AnB+, acc_BnB, acc_BnB+ (at n = 0 all equal
    the baseline) and acc_base_B (the baseline, repeated along n); meta: acc_base_A (n_seeds,).
    Adam, full batch: no task weights here, so Adam's per-parameter scaling hides nothing.
    """
    seeds = check_ints("seeds", seeds, low=0)
    n_layers = check_keywords(n_layers=n_layers)["n_layers"]
    check_keywords(hidden=hidden, progress=progress)
    check_int("steps", steps, low=1)
    check_float("lr", lr, low=0.0, low_open=True)
    depths = tuple(range(n_layers + 1))
    sweep = Sweep({"frozen_depth": depths}, seeds)
    split = {"A": load_digits_split(CLASSES_A, seed=0), "B": load_digits_split(CLASSES_B, seed=0)}
    n_seeds = len(seeds)
    adam = dict(loss="ce", optimizer="adam", lr=lr, steps=steps, progress=progress)

    def net():
        return MultiTaskNet(64, hidden, n_layers, 1, len(CLASSES_B), sharing_depth=n_layers)

    # the base networks: A and B for every seed, one stack (B is padded to A's size and masked)
    x, y, mask = pad_tasks([[split[name].x_train] for name in "AB" for _ in seeds],
                           [[split[name].y_train] for name in "AB" for _ in seeds])
    base = ModelStack.from_factory(net, seeds + seeds)  # rows 0..S-1 learn A, S..2S-1 learn B
    fit_many(base, x, y, sample_weights=mask, desc="base networks on A and on B", **adam)
    acc_base = _test_accuracy(base, split["B"])[n_seeds:]  # (n_seeds,) the B networks on B
    with torch.no_grad():
        acc_a = per_task_accuracy(base(split["A"].x_test.expand(2 * n_seeds, 1, -1, -1)),
                                  split["A"].y_test.expand(2 * n_seeds, 1, -1))[:n_seeds, 0].numpy()

    # the transferred networks: fine-tuned ones (nothing frozen) all in one stack; frozen ones one stack per n
    fresh = [20_000 + s for s in seeds]  # upper layers and head: not the base networks' init
    x_b = split["B"].x_train.expand(1, 1, -1, -1)
    y_b = split["B"].y_train.expand(1, 1, -1)
    results = {name: np.empty((len(depths), n_seeds)) for name in VARIANTS}
    for name in VARIANTS:
        results[name][0] = acc_base  # n = 0: nothing is copied, the network is the baseline
    source_rows = {"A": list(range(n_seeds)), "B": list(range(n_seeds, 2 * n_seeds))}
    tuned = [(d, name) for d in depths[1:] for name in VARIANTS if not VARIANTS[name][1]]
    models = []
    for d, name in tuned:
        stack = transfer_stack(base, net, d, source_index=source_rows[VARIANTS[name][0]], seeds=fresh, freeze=False)
        models += [stack.model(i) for i in range(n_seeds)]
    stack = ModelStack(models)
    fit_many(stack, x_b.expand(len(stack), -1, -1, -1), y_b.expand(len(stack), -1, -1),
             desc=f"fine-tuned transfers, {len(stack)} at once", **adam)
    acc = _test_accuracy(stack, split["B"]).reshape(len(tuned), n_seeds)
    for (d, name), row in zip(tuned, acc):
        results[name][d] = row
    for d in depths[1:]:
        frozen = [name for name in VARIANTS if VARIANTS[name][1]]
        rows = [i for name in frozen for i in source_rows[VARIANTS[name][0]]]
        stack = transfer_stack(base, net, d, source_index=rows, seeds=fresh * len(frozen), freeze=True)
        fit_many(stack, x_b.expand(len(stack), -1, -1, -1), y_b.expand(len(stack), -1, -1),
                 desc=f"frozen transfers, n = {d}", **adam)
        acc = _test_accuracy(stack, split["B"]).reshape(len(frozen), n_seeds)
        for name, row in zip(frozen, acc):
            results[name][d] = row
    for name, array in results.items():
        sweep.add(name, array)
    sweep.add("acc_base_B", np.broadcast_to(acc_base, (len(depths), n_seeds)).copy())
    sweep.meta.update(acc_base_A=acc_a, hidden=hidden, n_layers=n_layers, steps=steps, lr=lr)
    return sweep


def transferability_explorer(sweep: Sweep, *, value: int | None = None) -> SweepExplorer:
    """Slider over the frozen depth n: the four curves and the baseline vs n, and the accuracies at n.
    value=None starts at n = 2, or the grid's nearest."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from transferability_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["frozen_depth"], results=["acc_base_B", *VARIANTS], by="transferability_explorer")
    value = grid_value(sweep, "frozen_depth", 2) if value is None else value
    depths = np.array(sweep.knobs["frozen_depth"])
    lowest = min(sweep.results[name].mean(-1).min() for name in VARIANTS)
    ylim = (max(0.0, np.floor(lowest * 10 - 0.5) / 10), 1.01)

    def draw(axes, point):
        ax, ax_bar = axes
        n = point["frozen_depth"]
        base = sweep.results["acc_base_B"][0]
        ax.axhline(base.mean(), color="0.3", lw=1, ls=":", label="baseline B (from scratch)")
        ax.axhspan(base.mean() - base.std(), base.mean() + base.std(), color="0.5", alpha=0.15, lw=0)
        for name, (_, frozen, label, color, style) in VARIANTS.items():
            _, acc = sweep.curve(name, "frozen_depth")
            plot_seed_band(depths, acc, ax=ax, color=color, highlight=n, label=label,
                           marker="o" if frozen else "s")
            ax.lines[-2 if n is not None else -1].set_linestyle(style)
        ax.set(xticks=depths, ylim=ylim, xlabel="n, hidden layers copied from the first network",
               ylabel="test accuracy on B (digits 5–9)",
               title=f"Transfer by depth: mean ± sd over {len(sweep.seeds)} seeds")
        ax.legend(fontsize=7, loc="lower left")

        names = ["acc_base_B", *VARIANTS]
        labels = ["base B", *(VARIANTS[k][2].split(" ")[0] for k in VARIANTS)]
        colors = ["0.5", *(VARIANTS[k][3] for k in VARIANTS)]
        values = [sweep.at(name, frozen_depth=n) for name in names]
        bars = ax_bar.bar(labels, [v.mean() for v in values], yerr=[v.std() for v in values], color=colors,
                          capsize=3)
        for bar, name in zip(bars, names):
            if name in VARIANTS and VARIANTS[name][1]:
                bar.set_hatch("//")
                bar.set_facecolor("white")
                bar.set_edgecolor(VARIANTS[name][3])
        for bar, v in zip(bars, values):
            ax_bar.text(bar.get_x() + bar.get_width() / 2, ylim[0] + 0.01, f"{v.mean():.3f}", ha="center",
                        va="bottom", fontsize=8)
        ax_bar.set(ylim=ylim, ylabel="test accuracy on B", title=f"At n = {n}: mean ± sd over seeds")

    return SweepExplorer(sweep, draw, knobs=["frozen_depth"], value={"frozen_depth": value}, figsize=(11, 3.8),
                         descriptions={"frozen_depth": "frozen depth n"})
