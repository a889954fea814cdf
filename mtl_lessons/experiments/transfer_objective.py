"""The joint transfer objective L_src + lam * L_tgt (each a per-task mean over its own examples) over a
grid of lam and of target labels, beside the two-phase baselines and the unadapted source model: the grid behind
chapter 6's lam slider (pretraining against training from scratch with few labels: Kornblith et al.
2019, He et al. 2019).

The joint model and its two variants are mtl_lessons.transfer's (joint_accuracies), each lam trained both ways
for the same budget of steps: "fixed budget", one rate for everything, so the target head's step carries the
factor lam / (1 + lam); and "heads at their own rate", so each head takes the step of its own loss at every
lam (the trunk keeps the weighted mix). The second comes close to the objective's limits at the ends of the
grid (lam -> 0+: the minimisers of L_tgt among those of L_src, the frozen-trunk baseline when pretraining
found the source's minimiser; lam -> inf: those of L_src among those of L_tgt, target-only training); the
first shows what a fixed budget of steps adds to them.

Whether pretraining helps is asked with every arm at its own rate: tuned_rates_sweep trains target-only
training, the four fine-tuning variants and the joint objective (one rate) at every rate of RATES, and
tuned_choice picks each arm's rate (and variant, or lam) on validation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from mtl_lessons._checks import check_floats, check_int, check_ints, check_keywords, check_sequence, check_settings
from mtl_lessons.metrics import choose_on_validation
from mtl_lessons.plots import PALETTE, log_ticks, plot_seed_band
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.stack import ModelStack, transfer_stack, use_one_thread
from mtl_lessons.schedules import Rates
from mtl_lessons.train import PROGRESS_DELAY_S, fit_many, pad_tasks
from mtl_lessons.transfer import JOINT, RATES, TransferConfig, joint_accuracies, pretrain, split_accuracies
from mtl_lessons.widgets import SweepExplorer, grid_value

LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)  # one per decade: both limits and the middle
N_TARGET = (10, 30, 100)
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


def _adaptations(pre: ModelStack, config: TransferConfig, source_index, head_seeds) -> dict[str, tuple]:
    """The five arms that meet the target with nothing frozen, one model per entry of source_index (the
    pretrained network it starts from): {name: (stack, rate scale of the hidden layers)}. Fresh networks
    and new heads start at head_seeds (not the pretrained network's init); "keep_head" is the source model."""
    scratch = ModelStack.from_factory(config.net(1), head_seeds)
    new_head = transfer_stack(pre, config.net(1), config.n_layers, source_index=source_index, seeds=head_seeds,
                              freeze=False)
    source = pre.take(source_index)
    slow = config.trunk_lr_scale
    return {"target_only": (scratch, 1.0), "finetune": (new_head, 1.0), "finetune_slow": (new_head, slow),
            "keep_head": (source, 1.0), "keep_head_slow": (source, slow)}


def _trunk_scale(stack: ModelStack, scale: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rates.scale for fit_many: every hidden layer's rate times scale (one per model), the heads at 1."""
    return {name: scale for name in stack.params if name.startswith("layers.")}


@cached
def transfer_lambda_sweep(lams=LAMBDAS, n_target=N_TARGET, seeds=range(5), *, progress: bool = True,
                          **config) -> Sweep:
    """Target accuracy (test and validation) of the joint objective for every (lam, n_target, seed), and of the baselines.

    config: any field of TransferConfig (steps=50, lr=0.3, ...). Results, each (n_lam, n_n_target, n_seeds),
    as acc_<name> (test) and val_<name> (validation): the joint objective, "joint" (one rate: fixed budget)
    and "joint_heads" (heads at their own rate); the baselines of BASELINES (they do not depend on lam and
    are repeated along it). The "slower trunk" variants train the pretrained hidden layers at
    lr * trunk_lr_scale. meta: the config.
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    n_target, seeds = check_ints("n_target", n_target, low=10), check_ints("seeds", seeds, low=0)
    check_keywords(progress=progress)
    config = TransferConfig(**check_settings(TransferConfig, config, by="transfer_lambda_sweep"))
    sweep = Sweep({"lam": lams, "n_target": n_target}, seeds)
    use_one_thread()  # before the data too: torch on two busy cores is slow even for small tensors (see stack.py)
    pairs = sweep.runs(without="lam")  # (n_target, seed): the baselines do not depend on lam
    data = {(r["n_target"], r["seed"]): config.load(r["n_target"], r["seed"]) for r in pairs}

    # the joint objective, twice per run of the grid: one rate, then heads at their own rate
    runs = sweep.runs()
    joint = joint_accuracies([data[r["n_target"], r["seed"]] for r in runs], [r["lam"] for r in runs],
                             [r["seed"] for r in runs], hidden=config.hidden, n_layers=config.n_layers,
                             steps=config.steps, lr=config.lr, progress=progress)
    for name, flat in joint.items():
        sweep.fill(name, flat)

    # phase 1 on the source, then phase 2: one model per (n_target, seed) and arm, target padded to max n
    pre = pretrain(config, [data[n_target[0], s] for s in seeds], seeds, progress)
    pair_data = [data[r["n_target"], r["seed"]] for r in pairs]
    index, head_seeds = [seeds.index(r["seed"]) for r in pairs], [10_000 + r["seed"] for r in pairs]
    arms = _adaptations(pre, config, index, head_seeds)
    frozen = transfer_stack(pre, config.net(1), config.n_layers, source_index=index, seeds=head_seeds, freeze=True)
    xt, yt, mt = pad_tasks([[d.x_target] for d in pair_data], [[d.y_target] for d in pair_data])
    # nothing frozen in the five arms: one stack, the slower-trunk variants by a rate scale on the hidden layers
    both = ModelStack.concat([stack for stack, _ in arms.values()])
    k = len(arms)
    sgd = dict(loss="ce", optimizer="sgd", steps=config.steps)
    fit_many(both, (xt.repeat(k, 1, 1, 1), yt.repeat(k, 1, 1), mt.repeat(k, 1, 1)),
             lr=Rates(config.lr, scale=_trunk_scale(both, torch.tensor([s for _, s in arms.values() for _ in pairs]))),
             progress=progress and f"target only and fine-tuning, {len(both)} models", **sgd)
    fit_many(frozen, (xt, yt, mt), lr=config.lr, progress=progress and "frozen trunk", **sgd)
    for prefix, acc in split_accuracies(both, pair_data * k).items():
        for name, flat in zip(arms, np.split(acc, k)):
            sweep.fill(prefix + name, flat, repeated_along="lam")
    for name, stack in (("source", arms["keep_head"][0]), ("frozen", frozen)):  # the source model, untrained
        for prefix, flat in split_accuracies(stack, pair_data).items():
            sweep.fill(prefix + name, flat, repeated_along="lam")
    sweep.meta.update(asdict(config))
    return sweep


TUNED = ("target_only", "finetune", "finetune_slow", "keep_head", "keep_head_slow", "joint")


@cached
def tuned_rates_sweep(rates=RATES, lams=LAMBDAS, n_target: int = 30, seeds=range(5), *, progress: bool = True,
                      **config) -> Sweep:
    """Claim 2's arms, each trained at every rate of `rates`, so that each can choose its own on validation.

    One n_target; config: any field of TransferConfig. Pretraining (one network per seed) runs at config.lr,
    as in transfer_lambda_sweep; then, at every rate: target-only training, the four fine-tuning variants,
    and the joint objective with one rate at every lam. Results, each (n_rates, n_lam, n_seeds), as
    acc_<name> (test) and val_<name> (validation) for the names of TUNED (all but "joint" are repeated
    along lam). meta: n_target and the config.
    """
    rates = check_floats("rates", rates, low=0.0, low_open=True, item_name="rate")
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    check_int("n_target", n_target, low=10)
    seeds = check_ints("seeds", seeds, low=0)
    check_keywords(progress=progress)
    config = TransferConfig(**check_settings(TransferConfig, config, by="tuned_rates_sweep"))
    sweep = Sweep({"rate": rates, "lam": lams}, seeds)
    use_one_thread()
    data = {s: config.load(n_target, s) for s in seeds}

    # the joint objective, one rate, at every (rate, lam, seed): one call per rate
    by_lam = sweep.runs(without="rate")
    bar = tqdm(rates, desc=f"joint objective at {len(rates)} rates, {len(rates) * len(by_lam)} models",
               disable=not progress, delay=PROGRESS_DELAY_S, leave=False)
    joint = [joint_accuracies([data[r["seed"]] for r in by_lam], [r["lam"] for r in by_lam],
                              [r["seed"] for r in by_lam], hidden=config.hidden, n_layers=config.n_layers,
                              steps=config.steps, lr=rate, progress=False, variants=("joint",)) for rate in bar]
    for name in ("acc_joint", "val_joint"):
        sweep.fill(name, np.concatenate([at_rate[name] for at_rate in joint]))

    # pretraining, then target-only and the four fine-tuning variants at every (rate, seed): one fit_many
    pre = pretrain(config, list(data.values()), seeds, progress)
    arms = _adaptations(pre, config, range(len(seeds)), [10_000 + s for s in seeds])
    jobs = Sweep({"arm": tuple(arms), "rate": rates}, seeds).runs()  # arm, then rate, then seed: one model each
    both = ModelStack.concat([arms[name][0] for name in arms for _ in rates])  # in that order, a seed stack at a time
    x = torch.stack([data[j["seed"]].x_target for j in jobs])[:, None]
    y = torch.stack([data[j["seed"]].y_target for j in jobs])[:, None]
    fit_many(both, (x, y), loss="ce", optimizer="sgd", steps=config.steps,
             lr=Rates(torch.tensor([j["rate"] for j in jobs]),
                      scale=_trunk_scale(both, torch.tensor([arms[j["arm"]][1] for j in jobs]))),
             progress=progress and f"target only and fine-tuning at {len(rates)} rates, {len(both)} models")
    for prefix, acc in split_accuracies(both, [data[j["seed"]] for j in jobs]).items():  # split by arm
        for name, flat in zip(arms, np.split(acc, len(arms))):
            sweep.fill(prefix + name, flat, repeated_along="lam")
    sweep.meta.update(n_target=n_target, **asdict(config))
    return sweep


def tuned_choice(sweep: Sweep, names, *, over_lam: bool = False) -> tuple[list[tuple], np.ndarray]:
    """Per seed, the (name, rate, lam) of a tuned_rates_sweep with the best validation accuracy, and its test accuracy.

    names: the arms to choose among (e.g. the four fine-tuning variants); every rate is a choice, and
    every lam too if over_lam (the joint objective), else only the first (the others repeat it).
    Returns (the choice per seed, test accuracy per seed (n_seeds,)); the test numbers play no part;
    ties go to the first (name, rate, lam).
    """
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from tuned_rates_sweep), got {type(sweep).__name__}")
    names = check_sequence("names", names)
    sweep.require(knobs=["rate", "lam"], results=[f"{p}{n}" for n in names for p in ("acc_", "val_")],
                  by="tuned_choice")
    lams = slice(None) if over_lam else slice(0, 1)
    val, test = (np.stack([sweep.results[prefix + n][:, lams] for n in names]) for prefix in ("val_", "acc_"))
    index, _, test = choose_on_validation(val, test, axes=(0, 1, 2), higher_is_better=True)  # (name, rate, lam)
    return [(names[n], sweep.knobs["rate"][r], sweep.knobs["lam"][j]) for n, r, j in zip(*index)], test


def transfer_lambda_explorer(sweep: Sweep, *, value: dict | None = None) -> SweepExplorer:
    """Sliders over lam and n_target: left, accuracy vs lam beside the baselines; right, accuracy vs n_target."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from transfer_lambda_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["lam", "n_target"], results=[f"acc_{name}" for name in (*JOINT, *SHOWN)],
                  by="transfer_lambda_explorer")
    value = {"lam": grid_value(sweep, "lam", 1.0), "n_target": grid_value(sweep, "n_target", 30), **(value or {})}
    spans = [(a.mean(-1) - a.std(-1), a.mean(-1) + a.std(-1))
             for a in (sweep.results["acc_" + n] for n in (*JOINT, *SHOWN))]
    ylim = (np.floor(min(lo.min() for lo, _ in spans) * 10 - 0.5) / 10,  # the legend is below the panels
            min(1.0, np.ceil(max(hi.max() for _, hi in spans) * 10 + 0.5) / 10))  # the same on every slider move
    colors = dict(zip(SHOWN, (PALETTE[6], PALETTE[3], PALETTE[4], PALETTE[5], PALETTE[2])))  # one colour each
    styles = {"joint_heads": (PALETTE[0], "o"), "joint": (PALETTE[1], "^")}

    def draw(axes, point):
        ax_lam, ax_n = axes
        lam, n = point["lam"], point["n_target"]
        for name in SHOWN:  # left: the baselines as bands (they do not depend on lam), the joint objective vs lam
            acc = sweep.at("acc_" + name, **point)  # (n_seeds,)
            ax_lam.axhline(acc.mean(), color=colors[name], ls="--", lw=1.3, label=BASELINES[name])
            ax_lam.axhspan(acc.mean() - acc.std(), acc.mean() + acc.std(), color=colors[name], alpha=0.10, lw=0)
        for name, (color, marker) in styles.items():
            plot_seed_band(*sweep.curve("acc_" + name, "lam", n_target=n), ax=ax_lam, color=color, marker=marker,
                           highlight=lam, label=JOINT[name])
        ax_lam.set(xscale="log", xlabel="λ, the target's weight (log scale)", ylabel="target test accuracy",
                   ylim=ylim, title=f"{n} target labels, {sweep.meta['steps']} steps")
        log_ticks(ax_lam, sweep.knobs["lam"])
        for name, color in (("joint_heads", PALETTE[0]), *colors.items()):  # right: every curve vs n_target
            plot_seed_band(*sweep.curve("acc_" + name, "n_target", lam=lam), ax=ax_n, color=color, highlight=n,
                           marker="o" if name == "joint_heads" else "s")
        ax_n.set(xscale="log", ylim=ylim, xlabel="labelled target examples (log scale)",
                 title=f"λ = {lam:g}; mean ± sd, {len(sweep.seeds)} seeds")
        log_ticks(ax_n, sweep.knobs["n_target"])
        for old in ax_lam.figure.legends[:]:  # one legend for both panels (a colour is one method in both), below
            old.remove()  # them: it covers no data
        handles = dict(zip(*reversed(ax_lam.get_legend_handles_labels())))  # label -> handle
        labels = [*JOINT.values(), *(BASELINES[name] for name in LEGEND_ORDER)]  # the longest labels in one column
        ax_lam.figure.legend([handles[label] for label in labels], labels, loc="outside lower center", ncols=3,
                             fontsize="small", columnspacing=1.2, handlelength=1.6)

    return SweepExplorer(sweep, draw, knobs=["lam", "n_target"], value=value, figsize=(11, 5.2),
                         descriptions={"lam": "λ (target weight)", "n_target": "target labels"})
