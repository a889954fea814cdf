"""The joint transfer objective sum L_src + lam * sum L_tgt over a grid of lam and of target
labels, beside the two-phase baselines (target-only, pretrain -> fine-tune, pretrain -> frozen
features): the grid behind chapter 6's lam slider (Li et al. 2018 for the few-label setting).

The joint model is a 2-task MultiTaskNet (task 0 = source, task 1 = target) with the whole trunk
shared and one head per task, trained with SGD on weights (1, lam) / (1 + lam): dividing by
1 + lam only rescales the step, and keeps the step bounded at both ends of the grid.
"""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons._checks import check_float, check_floats, check_int, check_ints, check_keywords
from mtl_lessons.data import TransferDigits, load_transfer_digits
from mtl_lessons.metrics import per_task_accuracy
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE, plot_seed_band
from mtl_lessons.train import ModelStack, Sweep, fit_many, pad_tasks, transfer_stack
from mtl_lessons.widgets import SweepExplorer

LAMBDAS = (0.01, 0.03, 0.1, 0.3, 1.0, 10.0, 100.0)
N_TARGET = (10, 30, 100)
BASELINES = {  # result name -> legend label
    "acc_target_only": "target only (from scratch)",
    "acc_finetune": "pretrain → fine-tune",
    "acc_frozen": "pretrain → frozen trunk",
}


def joint_weights(lam: float) -> tuple[float, float]:
    """(1, lam) / (1 + lam): the joint objective's task weights with their sum fixed to 1."""
    check_float("lam", lam, low=0.0)
    return 1.0 / (1.0 + lam), lam / (1.0 + lam)


def _accuracy(stack: ModelStack, data: list[TransferDigits], task: int) -> torch.Tensor:
    """Target-domain test accuracy of head `task` of every model, (M,)."""
    x = torch.stack([d.x_test for d in data])[:, None].expand(-1, stack.base.n_tasks, -1, -1)
    y = torch.stack([d.y_test for d in data])[:, None].expand(-1, stack.base.n_tasks, -1)
    with torch.no_grad():
        return per_task_accuracy(stack(x), y)[:, task]


def transfer_lambda_sweep(lams=LAMBDAS, n_target=N_TARGET, seeds=range(5), *, n_source: int = 200,
                          noise: float = 0.3, hidden: int = 32, n_layers: int = 2, steps: int = 150,
                          lr: float = 1.0, progress: bool = True) -> Sweep:
    """Target test accuracy of the joint objective for every (lam, n_target, seed), and of the baselines.

    Results (each (n_lam, n_n_target, n_seeds); the baselines do not depend on lam and are repeated
    along it): acc_joint, acc_target_only, acc_finetune, acc_frozen, and acc_source_head (the joint
    model's source head on the target test set). Four vectorised runs: the joint grid, the
    pretraining (one network per seed), target-only + fine-tune, frozen trunk.
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    n_target, seeds = check_ints("n_target", n_target, low=10), check_ints("seeds", seeds, low=0)
    check_keywords(n_source=n_source, noise=noise, hidden=hidden, n_layers=n_layers, progress=progress)
    check_int("steps", steps, low=1)
    check_float("lr", lr, low=0.0, low_open=True)
    sweep = Sweep({"lam": lams, "n_target": n_target}, seeds)
    data = {(n, s): load_transfer_digits(n, n_source=n_source, noise=noise, seed=s) for n in n_target for s in seeds}
    n_classes = 10
    sgd = dict(loss="ce", optimizer="sgd", lr=lr, steps=steps, progress=progress)

    def net(n_tasks):
        return lambda: MultiTaskNet(64, hidden, n_layers, n_tasks, n_classes, sharing_depth=n_layers)

    # the joint objective: one model per (lam, n_target, seed); the target is padded to n_source and masked
    points = [(lam, n, s) for lam in lams for n in n_target for s in seeds]
    x, y, mask = pad_tasks([[data[n, s].x_source, data[n, s].x_target] for _, n, s in points],
                           [[data[n, s].y_source, data[n, s].y_target] for _, n, s in points])
    weights = torch.tensor([joint_weights(lam) for lam, _, _ in points])  # (M, 2)
    joint = ModelStack.from_factory(net(2), [s for *_, s in points])
    fit_many(joint, x, y, weights=weights, sample_weights=mask, desc=f"joint objective, {len(points)} models", **sgd)
    grid = (len(lams), len(n_target), len(seeds))
    point_data = [data[n, s] for _, n, s in points]
    sweep.add("acc_joint", _accuracy(joint, point_data, task=1).reshape(grid).numpy())
    sweep.add("acc_source_head", _accuracy(joint, point_data, task=0).reshape(grid).numpy())

    # phase 1: pretrain one network per seed on the source (the source does not depend on n_target)
    pre = ModelStack.from_factory(net(1), seeds)
    src = [data[n_target[0], s] for s in seeds]
    fit_many(pre, torch.stack([d.x_source for d in src])[:, None], torch.stack([d.y_source for d in src])[:, None],
             desc="pretraining on the source", **sgd)

    # phase 2: from scratch, fine-tuned and frozen, one model per (n_target, seed), target padded to max n
    pairs = [(n, s) for n in n_target for s in seeds]
    xt, yt, mt = pad_tasks([[data[p].x_target] for p in pairs], [[data[p].y_target] for p in pairs])
    head_seeds = [10_000 + s for _, s in pairs]  # fresh heads, not the pretrained network's init
    source_index = [seeds.index(s) for _, s in pairs]
    scratch = ModelStack.from_factory(net(1), head_seeds)
    finetune = transfer_stack(pre, net(1), n_layers, source_index=source_index, seeds=head_seeds, freeze=False)
    frozen = transfer_stack(pre, net(1), n_layers, source_index=source_index, seeds=head_seeds, freeze=True)
    # scratch and fine-tune have the same (empty) frozen set: train them as one stack
    both = ModelStack([*(scratch.model(i) for i in range(len(pairs))), *(finetune.model(i) for i in range(len(pairs)))])
    fit_many(both, xt.repeat(2, 1, 1, 1), yt.repeat(2, 1, 1), sample_weights=mt.repeat(2, 1, 1),
             desc="target only and fine-tuning", **sgd)
    fit_many(frozen, xt, yt, sample_weights=mt, desc="frozen trunk", **sgd)
    pair_data = [data[p] for p in pairs]
    acc_both = _accuracy(both, pair_data * 2, task=0)
    acc_frozen = _accuracy(frozen, pair_data, task=0)
    for name, acc in (("acc_target_only", acc_both[:len(pairs)]), ("acc_finetune", acc_both[len(pairs):]),
                      ("acc_frozen", acc_frozen)):
        sweep.add(name, np.broadcast_to(acc.reshape(1, len(n_target), len(seeds)).numpy(), grid).copy())
    sweep.meta.update(n_source=n_source, noise=noise, hidden=hidden, n_layers=n_layers, steps=steps, lr=lr)
    return sweep


def transfer_lambda_explorer(sweep: Sweep, *, value: dict | None = None) -> SweepExplorer:
    """Sliders over lam and n_target: left, accuracy vs lam beside the baselines; right, accuracy vs n_target."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from transfer_lambda_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["lam", "n_target"], results=["acc_joint", *BASELINES], by="transfer_lambda_explorer")
    value = {"lam": 1.0 if 1.0 in sweep.knobs["lam"] else sweep.knobs["lam"][0],
             "n_target": 30 if 30 in sweep.knobs["n_target"] else sweep.knobs["n_target"][0], **(value or {})}
    n_seeds = len(sweep.seeds)
    spans = [(a.mean(-1) - a.std(-1), a.mean(-1) + a.std(-1)) for a in
             (sweep.results[name] for name in ("acc_joint", *BASELINES))]
    ylim = (np.floor(min(lo.min() for lo, _ in spans) * 10 - 1.5) / 10,  # room below the data for the legends
            min(1.0, np.ceil(max(hi.max() for _, hi in spans) * 10 + 0.5) / 10))  # the same on every slider move

    def draw(axes, point):
        ax_lam, ax_n = axes
        lams, joint = sweep.curve("acc_joint", "lam", n_target=point["n_target"])
        for k, (name, label) in enumerate(BASELINES.items()):
            acc = sweep.at(name, **point)  # (n_seeds,)
            color = PALETTE[k + 1]
            ax_lam.axhline(acc.mean(), color=color, ls="--", lw=1.4, label=f"{label}")
            ax_lam.axhspan(acc.mean() - acc.std(), acc.mean() + acc.std(), color=color, alpha=0.12, lw=0)
        plot_seed_band(lams, joint, ax=ax_lam, color=PALETTE[0], highlight=point["lam"],
                       label="joint: L_src + λ L_tgt")
        ax_lam.set(xscale="log", xlabel="λ, the target's weight (log scale)", ylabel="target test accuracy",
                   ylim=ylim, title=f"{point['n_target']} target labels: mean ± sd over {n_seeds} seeds")
        ax_lam.legend(fontsize=7, loc="lower center", ncols=2)

        ns, joint_n = sweep.curve("acc_joint", "n_target", lam=point["lam"])
        plot_seed_band(ns, joint_n, ax=ax_n, color=PALETTE[0], highlight=point["n_target"],
                       label=f"joint, λ = {point['lam']:g}")
        for k, name in enumerate(BASELINES):
            _, acc = sweep.curve(name, "n_target", lam=point["lam"])
            plot_seed_band(ns, acc, ax=ax_n, color=PALETTE[k + 1], highlight=point["n_target"],
                           label=BASELINES[name], marker="s")
        ax_n.set(xscale="log", xticks=ns, xticklabels=[str(n) for n in ns], ylim=ylim,
                 xlabel="labelled target examples (log scale)", ylabel="target test accuracy",
                 title="Accuracy vs number of target labels")
        ax_n.minorticks_off()
        ax_n.legend(fontsize=7, loc="lower right")

    return SweepExplorer(sweep, draw, knobs=["lam", "n_target"], value=value, figsize=(11, 3.8),
                         descriptions={"lam": "λ (target weight)", "n_target": "target labels"})
