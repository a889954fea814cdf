"""The joint transfer objective L_src + lam * L_tgt (each a per-task mean over its own examples) over a
grid of lam and of target labels, beside the two-phase baselines and the unadapted source model: the grid behind
chapter 6's lam slider (pretraining against training from scratch with few labels: Kornblith et al.
2019, He et al. 2019).

The joint model is a 2-task MultiTaskNet (task 0 = source, task 1 = target) with the whole trunk
shared and one head per task, trained with SGD on weights (1, lam) / (1 + lam): dividing by
1 + lam only rescales the step. Each lam is trained twice, for the same budget of steps:
"fixed budget", one rate for everything, so the target head's step carries the factor
lam / (1 + lam); and "heads at their own rate", where each head's rate is divided by its task's
weight, so each head takes the step of its own loss at every lam (the trunk keeps the weighted
mix). The second comes close to the objective's limits at the ends of the grid (lam -> 0+: the
minimisers of L_tgt among those of L_src, the frozen-trunk baseline when pretraining found the
source's minimiser; lam -> inf: those of L_src among those of L_tgt, target-only training); the first
shows what a fixed budget of steps adds to them.

Whether pretraining helps is asked with every arm at its own rate: tuned_rates_sweep trains target-only
training, the four fine-tuning variants and the joint objective (one rate) at every rate of RATES, and
tuned_choice picks each arm's rate (and variant, or lam) on validation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import NullLocator
from tqdm.auto import tqdm

from mtl_lessons._checks import check_float, check_floats, check_int, check_ints, check_keywords, check_sequence
from mtl_lessons.data import TransferDigits, load_transfer_digits
from mtl_lessons.metrics import per_task_accuracy
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.plots import PALETTE, plot_seed_band
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.train import PROGRESS_DELAY_S, ModelStack, fit_many, pad_tasks, transfer_stack, use_one_thread
from mtl_lessons.widgets import SweepExplorer, grid_value

LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)  # one per decade: both limits and the middle
N_TARGET = (10, 30, 100)
JOINT = {  # result name (without acc_/val_) -> legend label
    "joint_heads": "joint, heads at their own rate",
    "joint": "joint, one rate (fixed budget)",
}
BASELINES = {  # result name (without acc_/val_) -> legend label; none depends on lam
    "source": "source model, no adaptation",
    "target_only": "target only (from scratch)",
    "frozen": "frozen trunk + new head",
    "finetune": "fine-tune, new head",
    "finetune_slow": "fine-tune, new head, slower trunk",
    "keep_head": "fine-tune, source head",
    "keep_head_slow": "fine-tune, source head, slower trunk",
}
SHOWN = ("source", "target_only", "frozen", "finetune", "keep_head_slow")  # the baselines the explorer draws
LEGEND_ORDER = ("keep_head_slow", "source", "target_only", "frozen", "finetune")  # 3 columns: the longest first
# joint_accuracies trains its models in groups (one fit_many each) whose hidden activations hold at
# most this many floats (models x 2 tasks x padded examples x hidden; 409,600 floats = 1.6 MB, e.g.
# 32 models x 2 x 200 x 32): near a core's cache size, where the memory-bound steps (tanh, its
# backward, the bias copies) run faster. Measured: 19-26 % less CPU time than one fit_many for all
# 150 (chapter 6) or 225 (chapter 9) models, and the same numbers bit for bit (the models share nothing).
JOINT_GROUP_FLOATS = 409_600


@dataclass(frozen=True)
class TransferClaims:
    """Chapter 6's claims, one threshold each, used by the notebook and the tests (n_target labels; means
    over the notebook's N_SEEDS = 5 seeds, or counts of those seeds where said). Each was measured for
    SEED = 0..19 by tools/claims_report.py (worst value in the comment) and holds there with a margin."""

    n_target: int = 30  # the claims are about this many target labels
    # claims 1-2: every arm chooses its rate from RATES on validation (tuned_rates_sweep); fine-tuning its variant too
    adapt_gain: float = 0.03  # fine-tuning (variant and rate on validation) beats the unadapted source model by this (worst +0.056)
    pretrain_gain: float = 0.01  # ... and beats target-only (rate on validation) by this, paired, in the mean (worst +0.026, sd of the groups 0.016)
    # claims 3-5: the lam sweep at the course's one rate (transfer_lambda_sweep), each arm at the same rate and budget
    small_lam_to_frozen: float = 0.03  # heads at their own rate, lam = 0.01, 100 steps: within this of frozen (worst 0.015)
    large_lam_to_target_only: float = 0.04  # both joint variants, lam = 100, 100 steps: within this of target-only (worst 0.025)
    budget_drop: float = 0.15  # lam = 0.01: one rate (fixed budget) ends at least this far below heads-at-own-rate (worst 0.215)
    middle_wins: int = 3  # heads at their own rate: lam = 1 beats both ends of the grid in >= this many of 5 seeds (worst 4)
    l2_sp_closer: float = 1.5  # L2-SP (alpha 0.1, rate 0.3): plain fine-tuning travels >= this many times as far, every seed (worst 2.17)
    l2_sp_rises: int = 0  # L2-SP (alpha 0.1, rate 0.3): steps where its training loss rose, worst seed
    l2_sp_tuned_gain: float = 0.01  # L2-SP (alpha, rate of 0.1/0.3/1 on validation, alpha = 0 included) gains at most this over plain (rate on validation) (worst +0.004, sd 0.003)


CLAIMS = TransferClaims()


def joint_weights(lam: float) -> tuple[float, float]:
    """(1, lam) / (1 + lam): the joint objective's task weights with their sum fixed to 1."""
    check_float("lam", lam, low=0.0)
    return 1.0 / (1.0 + lam), lam / (1.0 + lam)


def chosen_by_validation(val: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per seed, the grid point with the best validation accuracy and its test accuracy.

    val, test: (n_grid, n_seeds). Returns (chosen index per seed, test accuracy there), each (n_seeds,).
    Ties go to the first (smallest) grid value. The test numbers play no part in the choice.
    """
    val, test = np.asarray(val), np.asarray(test)
    if val.ndim != 2 or val.shape != test.shape:
        raise ValueError(f"val {val.shape} and test {test.shape} must both be (n_grid, n_seeds)")
    chosen = val.argmax(0)
    return chosen, test[chosen, np.arange(test.shape[1])]


def target_accuracies(stack: ModelStack, data: list[TransferDigits], task: int, split: str) -> torch.Tensor:
    """Target-domain accuracy of head `task` of every model on split 'test' or 'val', (M,)."""
    x = torch.stack([getattr(d, f"x_{split}") for d in data])[:, None].expand(-1, stack.base.n_tasks, -1, -1)
    y = torch.stack([getattr(d, f"y_{split}") for d in data])[:, None].expand(-1, stack.base.n_tasks, -1)
    with torch.no_grad():
        return per_task_accuracy(stack(x), y)[:, task]


def joint_accuracies(data: list[TransferDigits], lams, seeds, *, hidden: int = 32, n_layers: int = 2,
                     steps: int = 100, lr: float = 1.0, progress: bool = True,
                     variants=("joint", "joint_heads")) -> dict[str, np.ndarray]:
    """Train the joint objective on weights (1, lam) / (1 + lam) for each (data[m], lams[m], seeds[m]).

    Once per variant: "joint" (one rate: the fixed budget) and "joint_heads" (heads at their own rate),
    in groups of models of JOINT_GROUP_FLOATS activations, one fit_many each, under one progress bar;
    the target is padded to the source's size and masked.
    Returns the target head's accuracy, acc_<variant> and val_<variant>, each (M,), on the target's
    test ("acc_") and validation ("val_") splits.
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, min_len=0, item_name="lam")
    seeds = check_ints("seeds", seeds, low=0, min_len=0)
    if not isinstance(data, (list, tuple)) or not all(isinstance(d, TransferDigits) for d in data):
        raise TypeError("data must be a list of TransferDigits (from load_transfer_digits), one per model")
    if not data or len(data) != len(lams) or len(data) != len(seeds):
        raise ValueError(f"data has {len(data)} entries, lams {len(lams)} and seeds {len(seeds)}; "
                         "they must match and be non-empty (one per model)")
    check_keywords(hidden=hidden, n_layers=n_layers, progress=progress)
    check_int("steps", steps, low=1)
    check_float("lr", lr, low=0.0, low_open=True)
    variants = check_sequence("variants", variants)
    if not set(variants) <= set(JOINT) or len(set(variants)) != len(variants):
        raise ValueError(f"variants={tuple(variants)} must be distinct names among {tuple(JOINT)}")
    use_one_thread()
    x, y, mask = pad_tasks([[d.x_source, d.x_target] for d in data], [[d.y_source, d.y_target] for d in data])
    weights = torch.tensor([joint_weights(lam) for lam in lams])  # (M, 2)
    own = {"joint": torch.ones_like(weights), "joint_heads": 1.0 / weights}  # head t's rate / its weight
    head_scale = torch.cat([own[v] for v in variants])  # (k M, 2)
    k = len(variants)
    x, y, mask, weights = x.repeat(k, 1, 1, 1), y.repeat(k, 1, 1), mask.repeat(k, 1, 1), weights.repeat(k, 1)
    all_seeds, all_data = list(seeds) * k, list(data) * k
    # the k M models in groups of at most `size`, one progress bar for all of them
    size = max(1, JOINT_GROUP_FLOATS // (x.shape[1] * x.shape[2] * hidden))  # models per group
    groups = np.array_split(np.arange(len(all_seeds)), math.ceil(len(all_seeds) / size))
    distinct = sorted(set(all_seeds))  # models of one seed start alike: build each seed's network once
    start = ModelStack.from_factory(lambda: MultiTaskNet(64, hidden, n_layers, 2, 10, sharing_depth=n_layers), distinct)
    acc = {"test": [], "val": []}
    with tqdm(total=len(groups) * steps, desc=f"joint objective, {len(all_seeds)} models", disable=not progress,
              delay=PROGRESS_DELAY_S, leave=False) as bar:
        for rows in groups:
            joint = start.take([distinct.index(all_seeds[i]) for i in rows])
            rows = torch.from_numpy(rows)
            fit_many(joint, x[rows], y[rows], weights=weights[rows], sample_weights=mask[rows],
                     lr_scale={"heads.weight": head_scale[rows], "heads.bias": head_scale[rows]},
                     loss="ce", optimizer="sgd", lr=lr, steps=steps, progress=False,
                     callback=lambda step: bar.update(1 if step else 0))
            bar.update(1)
            for split in acc:
                acc[split].append(target_accuracies(joint, [all_data[i] for i in rows], 1, split))
    out = {}
    for split, prefix in (("test", "acc_"), ("val", "val_")):
        a = torch.cat(acc[split]).numpy().reshape(k, len(data))
        out.update({prefix + v: a_v for v, a_v in zip(variants, a)})
    return out


@cached
def transfer_lambda_sweep(lams=LAMBDAS, n_target=N_TARGET, seeds=range(5), *, n_source: int = 200,
                          noise: float = 0.0, permuted: float = 0.25, n_val: int = 30, hidden: int = 32,
                          n_layers: int = 2, steps: int = 100, lr: float = 1.0, trunk_lr_scale: float = 0.1,
                          progress: bool = True) -> Sweep:
    """Target accuracy (test and validation) of the joint objective for every (lam, n_target, seed), and of the baselines.

    Results, each (n_lam, n_n_target, n_seeds), as acc_<name> (test) and val_<name> (validation):
    the joint objective, "joint" (one rate: fixed budget) and "joint_heads" (heads at their own
    rate); the baselines of BASELINES (they do not depend on lam and are repeated along it). The
    "slower trunk" variants train the pretrained hidden layers at lr * trunk_lr_scale.
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    n_target, seeds = check_ints("n_target", n_target, low=10), check_ints("seeds", seeds, low=0)
    check_keywords(n_source=n_source, noise=noise, hidden=hidden, n_layers=n_layers, progress=progress)
    check_int("steps", steps, low=1)
    check_float("lr", lr, low=0.0, low_open=True)
    check_float("trunk_lr_scale", trunk_lr_scale, low=0.0, low_open=True)
    sweep = Sweep({"lam": lams, "n_target": n_target}, seeds)
    use_one_thread()  # before the data too: torch on two busy cores is slow even for small tensors (see train.py)
    data = {(n, s): load_transfer_digits(n, n_source=n_source, noise=noise, permuted=permuted, n_val=n_val, seed=s)
            for n in n_target for s in seeds}
    sgd = dict(loss="ce", optimizer="sgd", lr=lr, steps=steps, progress=progress)
    grid = (len(lams), len(n_target), len(seeds))

    def net(n_tasks):
        return lambda: MultiTaskNet(64, hidden, n_layers, n_tasks, 10, sharing_depth=n_layers)

    def add(name, stack, point_data, task=0, broadcast=False):
        for split, prefix in (("test", "acc_"), ("val", "val_")):
            acc = target_accuracies(stack, point_data, task, split).numpy()
            acc = np.broadcast_to(acc.reshape(1, *grid[1:]), grid).copy() if broadcast else acc.reshape(grid)
            sweep.add(prefix + name, acc)

    # the joint objective, twice per (lam, n_target, seed): one rate, then heads at their own rate
    points = [(lam, n, s) for lam in lams for n in n_target for s in seeds]
    joint = joint_accuracies([data[n, s] for _, n, s in points], [lam for lam, _, _ in points],
                             [s for *_, s in points], hidden=hidden, n_layers=n_layers, steps=steps, lr=lr,
                             progress=progress)
    for name, acc in joint.items():
        sweep.add(name, acc.reshape(grid))

    # phase 1: pretrain one network per seed on the source (the source does not depend on n_target)
    pre = ModelStack.from_factory(net(1), seeds)
    src = [data[n_target[0], s] for s in seeds]
    fit_many(pre, torch.stack([d.x_source for d in src])[:, None], torch.stack([d.y_source for d in src])[:, None],
             desc="pretraining on the source", **sgd)

    # phase 2, one model per (n_target, seed) and variant, target padded to max n
    pairs = [(n, s) for n in n_target for s in seeds]
    pair_data = [data[p] for p in pairs]
    source = pre.take([seeds.index(s) for _, s in pairs])  # the source model, as it is
    add("source", source, pair_data, broadcast=True)
    xt, yt, mt = pad_tasks([[data[p].x_target] for p in pairs], [[data[p].y_target] for p in pairs])
    head_seeds = [10_000 + s for _, s in pairs]  # fresh heads, not the pretrained network's init
    source_index = [seeds.index(s) for _, s in pairs]
    scratch = ModelStack.from_factory(net(1), head_seeds)
    new_head = transfer_stack(pre, net(1), n_layers, source_index=source_index, seeds=head_seeds, freeze=False)
    frozen = transfer_stack(pre, net(1), n_layers, source_index=source_index, seeds=head_seeds, freeze=True)
    # nothing frozen in these five: one stack, the slower-trunk variants by a rate scale on the hidden layers
    variants = {"target_only": (scratch, 1.0), "finetune": (new_head, 1.0), "finetune_slow": (new_head, trunk_lr_scale),
                "keep_head": (source, 1.0), "keep_head_slow": (source, trunk_lr_scale)}
    both = ModelStack.concat([stack for stack, _ in variants.values()])
    trunk_scale = torch.tensor([scale for _, scale in variants.values() for _ in pairs])  # (5 * len(pairs),)
    k = len(variants)
    fit_many(both, xt.repeat(k, 1, 1, 1), yt.repeat(k, 1, 1), sample_weights=mt.repeat(k, 1, 1),
             lr_scale={name: trunk_scale for name in both.params if name.startswith("layers.")},
             desc=f"target only and fine-tuning, {len(both)} models", **sgd)
    fit_many(frozen, xt, yt, sample_weights=mt, desc="frozen trunk", **sgd)
    for split, prefix in (("test", "acc_"), ("val", "val_")):
        acc = target_accuracies(both, pair_data * k, 0, split).numpy().reshape(k, *grid[1:])
        for name, a in zip(variants, acc):
            sweep.add(prefix + name, np.broadcast_to(a, grid).copy())
    add("frozen", frozen, pair_data, broadcast=True)
    sweep.meta.update(n_source=n_source, noise=noise, permuted=permuted, n_val=n_val, hidden=hidden,
                      n_layers=n_layers, steps=steps, lr=lr, trunk_lr_scale=trunk_lr_scale)
    return sweep


RATES = (0.1, 0.3, 1.0, 3.0)  # the rate grid every arm of claim 2 chooses from, on validation (10 diverges for all)
TUNED = ("target_only", "finetune", "finetune_slow", "keep_head", "keep_head_slow", "joint")


@cached
def tuned_rates_sweep(rates=RATES, lams=LAMBDAS, n_target: int = 30, seeds=range(5), *, n_source: int = 200,
                      noise: float = 0.0, permuted: float = 0.25, n_val: int = 30, hidden: int = 32,
                      n_layers: int = 2, steps: int = 100, pretrain_lr: float = 1.0, trunk_lr_scale: float = 0.1,
                      progress: bool = True) -> Sweep:
    """Claim 2's arms, each trained at every rate of `rates`, so that each can choose its own on validation.

    One n_target. Pretraining (one network per seed) runs at pretrain_lr, as in transfer_lambda_sweep;
    then, at every rate: target-only training, the four fine-tuning variants, and the joint objective
    with one rate at every lam. Results, each (n_rates, n_lam, n_seeds), as acc_<name> (test) and
    val_<name> (validation) for the names of TUNED (all but "joint" are repeated along lam).
    """
    rates = check_floats("rates", rates, low=0.0, low_open=True, item_name="rate")
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    check_int("n_target", n_target, low=10)
    seeds = check_ints("seeds", seeds, low=0)
    check_keywords(n_source=n_source, noise=noise, hidden=hidden, n_layers=n_layers, progress=progress)
    check_int("steps", steps, low=1)
    check_float("pretrain_lr", pretrain_lr, low=0.0, low_open=True)
    check_float("trunk_lr_scale", trunk_lr_scale, low=0.0, low_open=True)
    sweep = Sweep({"rate": rates, "lam": lams}, seeds)
    use_one_thread()
    data = [load_transfer_digits(n_target, n_source=n_source, noise=noise, permuted=permuted, n_val=n_val, seed=s)
            for s in seeds]
    n_r, n_l, n_s = len(rates), len(lams), len(seeds)

    def net():
        return MultiTaskNet(64, hidden, n_layers, 1, 10, sharing_depth=n_layers)

    # the joint objective, one rate, at every (rate, lam, seed): one call per rate
    with tqdm(total=n_r, desc=f"joint objective at {n_r} rates, {n_r * n_l * n_s} models", disable=not progress,
              delay=PROGRESS_DELAY_S, leave=False) as bar:
        joint = {"acc_joint": [], "val_joint": []}
        for rate in rates:
            out = joint_accuracies([d for _ in lams for d in data], [lam for lam in lams for _ in seeds],
                                   [s for _ in lams for s in seeds], hidden=hidden, n_layers=n_layers, steps=steps,
                                   lr=rate, progress=False, variants=("joint",))
            for name in joint:
                joint[name].append(out[name].reshape(n_l, n_s))
            bar.update(1)
    for name, acc in joint.items():
        sweep.add(name, np.stack(acc))

    # pretraining, then target-only and the four fine-tuning variants at every rate: one fit_many
    pre = ModelStack.from_factory(net, seeds)
    fit_many(pre, torch.stack([d.x_source for d in data])[:, None], torch.stack([d.y_source for d in data])[:, None],
             loss="ce", optimizer="sgd", lr=pretrain_lr, steps=steps, progress=progress, desc="pretraining on the source")
    head_seeds = [10_000 + s for s in seeds]
    every = list(range(n_s))
    scratch = ModelStack.from_factory(net, head_seeds)
    new_head = transfer_stack(pre, net, n_layers, source_index=every, seeds=head_seeds, freeze=False)
    arms = {"target_only": (scratch, 1.0), "finetune": (new_head, 1.0), "finetune_slow": (new_head, trunk_lr_scale),
            "keep_head": (pre, 1.0), "keep_head_slow": (pre, trunk_lr_scale)}
    stacks = [stack for stack, _ in arms.values() for _ in rates]  # arm-major, then rate, then seed
    both = ModelStack.concat(stacks)
    lr = torch.tensor([rate for _ in arms for rate in rates for _ in seeds])
    trunk = torch.tensor([scale for _, scale in arms.values() for _ in rates for _ in seeds])
    m = len(both)
    xt = torch.stack([d.x_target for d in data])[:, None].repeat(m // n_s, 1, 1, 1)
    yt = torch.stack([d.y_target for d in data])[:, None].repeat(m // n_s, 1, 1)
    fit_many(both, xt, yt, lr_scale={name: trunk for name in both.params if name.startswith("layers.")},
             loss="ce", optimizer="sgd", lr=lr, steps=steps, progress=progress,
             desc=f"target only and fine-tuning at {n_r} rates, {m} models")
    for split, prefix in (("test", "acc_"), ("val", "val_")):
        acc = target_accuracies(both, data * (m // n_s), 0, split).numpy().reshape(len(arms), n_r, 1, n_s)
        for name, a in zip(arms, acc):
            sweep.add(prefix + name, np.broadcast_to(a, (n_r, n_l, n_s)).copy())
    sweep.meta.update(n_target=n_target, n_source=n_source, noise=noise, permuted=permuted, n_val=n_val,
                      hidden=hidden, n_layers=n_layers, steps=steps, pretrain_lr=pretrain_lr,
                      trunk_lr_scale=trunk_lr_scale)
    return sweep


def tuned_choice(sweep: Sweep, names, *, over_lam: bool = False) -> tuple[list[tuple], np.ndarray]:
    """Per seed, the (name, rate, lam) of a tuned_rates_sweep with the best validation accuracy, and its test accuracy.

    names: the arms to choose among (e.g. the four fine-tuning variants); every rate is a choice, and
    every lam too if over_lam (the joint objective), else only the first (the others repeat it).
    Returns (the choice per seed, test accuracy per seed (n_seeds,)); the test numbers play no part.
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from tuned_rates_sweep), got {type(sweep).__name__}")
    names = check_sequence("names", names)
    sweep.require(knobs=["rate", "lam"], results=[f"{p}{n}" for n in names for p in ("acc_", "val_")],
                  by="tuned_choice")
    rates, lams = sweep.knobs["rate"], sweep.knobs["lam"]
    grid = [(n, i, j) for n in names for i in range(len(rates)) for j in (range(len(lams)) if over_lam else [0])]
    chosen, test = chosen_by_validation(np.stack([sweep.results["val_" + n][i, j] for n, i, j in grid]),
                                        np.stack([sweep.results["acc_" + n][i, j] for n, i, j in grid]))
    return [(grid[c][0], rates[grid[c][1]], lams[grid[c][2]]) for c in chosen], test


def log_ticks(ax, values, axis: str = "x") -> None:
    """A log axis with a tick at each grid value, labelled plainly (0.01, not mathtext 10^-2: also 25 % faster)."""
    getattr(ax, f"set_{axis}ticks")(values, [f"{v:g}" for v in values])
    getattr(ax, f"{axis}axis").set_minor_locator(NullLocator())


def transfer_lambda_explorer(sweep: Sweep, *, value: dict | None = None) -> SweepExplorer:
    """Sliders over lam and n_target: left, accuracy vs lam beside the baselines; right, accuracy vs n_target."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from transfer_lambda_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["lam", "n_target"], results=[f"acc_{name}" for name in (*JOINT, *SHOWN)],
                  by="transfer_lambda_explorer")
    value = {"lam": grid_value(sweep, "lam", 1.0), "n_target": grid_value(sweep, "n_target", 30), **(value or {})}
    n_seeds = len(sweep.seeds)
    names = ("joint", "joint_heads", *SHOWN)
    spans = [(a.mean(-1) - a.std(-1), a.mean(-1) + a.std(-1)) for a in (sweep.results["acc_" + n] for n in names)]
    ylim = (np.floor(min(lo.min() for lo, _ in spans) * 10 - 0.5) / 10,  # the legend is below the panels
            min(1.0, np.ceil(max(hi.max() for _, hi in spans) * 10 + 0.5) / 10))  # the same on every slider move
    colors = dict(zip(SHOWN, (PALETTE[6], PALETTE[3], PALETTE[4], PALETTE[5], PALETTE[2])))  # one colour each
    styles = {"joint_heads": (PALETTE[0], "o"), "joint": (PALETTE[1], "^")}

    def draw(axes, point):
        ax_lam, ax_n = axes
        for name in SHOWN:
            acc = sweep.at("acc_" + name, **point)  # (n_seeds,)
            ax_lam.axhline(acc.mean(), color=colors[name], ls="--", lw=1.3, label=BASELINES[name])
            ax_lam.axhspan(acc.mean() - acc.std(), acc.mean() + acc.std(), color=colors[name], alpha=0.10, lw=0)
        for name, (color, marker) in styles.items():
            lams, acc = sweep.curve("acc_" + name, "lam", n_target=point["n_target"])
            plot_seed_band(lams, acc, ax=ax_lam, color=color, marker=marker, highlight=point["lam"], label=JOINT[name])
        ax_lam.set(xscale="log", xlabel="λ, the target's weight (log scale)", ylabel="target test accuracy",
                   ylim=ylim, title=f"{point['n_target']} target labels, {sweep.meta['steps']} steps")
        log_ticks(ax_lam, lams)

        ns, joint_n = sweep.curve("acc_joint_heads", "n_target", lam=point["lam"])
        plot_seed_band(ns, joint_n, ax=ax_n, color=PALETTE[0], highlight=point["n_target"])
        for name in SHOWN:
            _, acc = sweep.curve("acc_" + name, "n_target", lam=point["lam"])
            plot_seed_band(ns, acc, ax=ax_n, color=colors[name], highlight=point["n_target"], marker="s")
        ax_n.set(xscale="log", ylim=ylim, xlabel="labelled target examples (log scale)",
                 title=f"λ = {point['lam']:g}; mean ± sd, {n_seeds} seeds")
        log_ticks(ax_n, ns)
        # one legend for both panels (a colour is one method in both), below them: it covers no data
        fig = ax_lam.figure
        for old in fig.legends[:]:
            old.remove()
        handles = dict(zip(*reversed(ax_lam.get_legend_handles_labels())))  # label -> handle
        labels = [*JOINT.values(), *(BASELINES[name] for name in LEGEND_ORDER)]  # the longest labels in one column
        fig.legend([handles[label] for label in labels], labels, loc="outside lower center", ncols=3,
                   fontsize="small", columnspacing=1.2, handlelength=1.6)

    return SweepExplorer(sweep, draw, knobs=["lam", "n_target"], value=value, figsize=(11, 5.2),
                         descriptions={"lam": "λ (target weight)", "n_target": "target labels"})
