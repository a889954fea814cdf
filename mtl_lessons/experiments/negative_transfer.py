"""Negative transfer (Wang et al. 2019): the target error with a source minus the error without it,
NTG = eps_T(A(S, T)) - eps_T(A(empty, T)), for a helpful, a mildly related and a harmful source,
over the joint objective's lam and the number of target labels: the grid behind chapter 9's sliders.

The setting is chapter 6's (load_transfer_digits: clean source digits, a re-wired target). The
sources differ in one thing: the fraction of their labels shuffled among the source images
(0: the true labels; 1: labels that say nothing about the images). The joint objective is chapter 6's,
trained by mtl_lessons.transfer.joint_accuracies (one rate, and heads at their own rate); "without the
source" is target-only training from scratch with the same data, seed and budget. The remedies a
learner can use sit beside it: fine-tuning with fewer frozen layers, and L2-SP toward the source
(Li, Grandvalet & Davoine 2018), which pulls toward a harmful source's weights too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from mtl_lessons._checks import (check_choice, check_float, check_floats, check_int, check_ints, check_keywords,
                                  check_sequence, check_settings, check_tensor)
from mtl_lessons.data import TransferDigits, load_transfer_digits
from mtl_lessons.metrics import choose_on_validation
from mtl_lessons.objectives import task_losses_unchecked
from mtl_lessons.plots import PALETTE, log_ticks, plot_seed_band
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.stack import ModelStack, one_thread, transfer_stack, use_one_thread
from mtl_lessons.train import fit_many, pad_tasks, progress_bar
from mtl_lessons.transfer import TransferSetting, joint_accuracies, pretrain, split_accuracies
from mtl_lessons.widgets import SweepExplorer, grid_value

LAMBDAS = (0.01, 0.1, 1.0, 10.0, 100.0)  # one per decade, as in chapter 6
N_TARGET = (10, 30, 100)
SOURCES = {"helpful": 0.0, "mild": 0.5, "harmful": 1.0}  # source name -> fraction of its labels shuffled
TWO_PHASE = {  # result name (without acc_/val_) -> label; none depends on lam
    "source": "source model, no adaptation",
    "frozen": "frozen trunk (2 layers) + new head",
    "frozen_1": "first layer frozen, rest fine-tuned",
    "finetune": "fine-tune everything, new head",
    "plain_slow": "fine-tune everything, rate 0.3",
    "l2sp": "L2-SP toward the source, rate 0.3",
    "plain_tuned": "fine-tune everything, rate (1 or 0.3) chosen on validation",
    "l2sp_tuned": "L2-SP, alpha (0 among them) and rate chosen on validation",
}


@dataclass(frozen=True)
class NegativeTransferClaims:
    """Chapter 9's claims, one threshold each, used by the notebook and the tests (means over the notebook's
    5 seeds, or counts of them where said; NTG in target test error, so NTG > 0 is negative transfer;
    n_target labels unless said). Worst value over SEED = 0..19 (tools/claims_report.py) in each comment."""

    n_target: int = 30  # the claims are about this many target labels
    harmful_small_lam: float = 0.15  # harmful source, lam = 0.01, heads at own rate: NTG >= this (worst +0.238); the frozen trunk too (worst +0.196)
    harmful_closed: float = 0.06  # harmful source, every lam >= 1, heads at own rate: NTG <= this (worst +0.047)
    labels_matter: float = 0.02  # lam = 1, heads at own rate: NTG(harmful) - NTG(helpful) >= this (worst +0.035)
    more_labels_widens: float = 0.01  # harmful, lam = 0.01: NTG(most labels) - NTG(fewest labels) >= this (worst +0.063)
    budget_extra: float = 0.10  # harmful, lam = 0.01: NTG with one rate - NTG with heads at own rate >= this (worst +0.218)
    validation_safe: float = 0.03  # harmful: {target only} + lam grid chosen on validation: test NTG <= this (worst +0.020)
    unfreeze_gain: float = 0.10  # harmful: fine-tuning everything beats the frozen trunk by this, accuracy (worst +0.150)
    finetune_still_negative: float = 0.01  # harmful: fine-tuning everything still has NTG >= this (worst +0.020)
    l2sp_cost: float = 0.02  # harmful: plain fine-tuning beats L2-SP (alpha 0.1) toward the source by this, same rate (worst +0.035)
    l2sp_alpha_zero: int = 4  # harmful: validation chooses alpha = 0 for L2-SP in at least this many of 5 seeds (worst 5)

CLAIMS = NegativeTransferClaims()


def shuffle_labels(y: torch.Tensor, fraction: float, *, seed: int = 0) -> torch.Tensor:
    """A copy of the labels `y` with a `fraction` of them shuffled among themselves (chosen by `seed`).

    The class counts stay the same; fraction=1 makes the labels say nothing about the examples.
    """
    y = check_tensor("y", y, dim=1, nonempty=True)
    if y.is_floating_point():
        raise TypeError(f"y has dtype {y.dtype} but must hold integer class labels")
    fraction = check_float("fraction", fraction, low=0.0, high=1.0)
    seed = check_int("seed", seed, low=0)
    g = torch.Generator().manual_seed(seed)
    moved = torch.randperm(len(y), generator=g)[:round(fraction * len(y))]
    out = y.clone()
    out[moved] = y[moved[torch.randperm(len(moved), generator=g)]]
    return out


def negative_transfer_data(source: str, n_target: int = 30, *, n_source: int = 100, permuted: float = 0.25,
                           n_val: int = 30, seed: int = 0) -> TransferDigits:
    """Chapter 6's transfer digits with the source's labels shuffled as SOURCES[source] says (seeded by `seed`)."""
    if source not in SOURCES:
        raise ValueError(f"source={source!r} is not a source (allowed: {', '.join(map(repr, SOURCES))})")
    d = load_transfer_digits(n_target, n_source=n_source, permuted=permuted, n_val=n_val, seed=seed)
    return dataclasses.replace(d, y_source=shuffle_labels(d.y_source, SOURCES[source], seed=seed))


def negative_transfer_gap(acc_with, acc_without) -> np.ndarray:
    """NTG = eps(with the source) - eps(without it), with eps = 1 - accuracy: positive means negative transfer."""
    acc_with, acc_without = np.asarray(acc_with, dtype=float), np.asarray(acc_without, dtype=float)
    if acc_with.shape != acc_without.shape:
        raise ValueError(f"acc_with {acc_with.shape} and acc_without {acc_without.shape} must have the same shape")
    if acc_with.size == 0 or not (np.isfinite(acc_with).all() and np.isfinite(acc_without).all()):
        raise ValueError("acc_with and acc_without must be non-empty and finite")
    if (acc_with < 0).any() or (acc_with > 1).any() or (acc_without < 0).any() or (acc_without > 1).any():
        raise ValueError("acc_with and acc_without are accuracies: every value must be in [0, 1]")
    return (1 - acc_with) - (1 - acc_without)


def _fit_l2_sp(stack: ModelStack, x, y, mask, anchor: dict, alpha: torch.Tensor, beta: torch.Tensor, *,
               lr: float, steps: int, progress: bool, desc: str) -> None:
    """Full-batch SGD on each model's L_tgt + alpha_m/2 ||w_S - w_S^0||^2 + beta_m/2 ||w_head||^2.

    anchor: {name: (M, ...)} pretrained values of the non-head parameters; alpha, beta: (M,).
    The models share no parameters, so the sum over models gives each its own gradient.
    Autograd gives L_tgt's gradient; the penalty's, alpha_m (w_S - w_S^0) and beta_m w_head, is
    added by hand: the same floats autograd computes for the penalty, with fewer operations.
    A loop of its own because fit_many minimises a weighted sum of task losses and has no term on the
    parameters (its callback runs before the step's forward pass, not between backward and step).
    """
    params = list(stack.params.values())
    opt = torch.optim.SGD(params, lr=lr)
    pull = {name: (beta if name.startswith("heads.") else alpha).reshape(-1, *[1] * (p.dim() - 1))
            for name, p in stack.params.items()}  # (M, 1, ...): each model's coefficient
    with one_thread():
        for _ in progress_bar(steps, progress, desc):
            loss = task_losses_unchecked(stack(x), y, "ce", mask).sum()
            opt.zero_grad()
            loss.backward()
            with torch.no_grad():
                for name, p in stack.params.items():
                    p.grad.add_(pull[name] * (p if name.startswith("heads.") else p - anchor[name]))
            opt.step()


@dataclass
class NegativeTransferConfig(TransferSetting):
    """What negative_transfer_sweep trains besides its grid (source x lam x n_target x seed): chapter 6's setting
    (TransferSetting: the digits, the network, steps and lr of every training: joint, pretraining, each target
    phase) and chapter 9's remedies; the defaults are chapter 9's. Give any field to the sweep by name
    (negative_transfer_sweep(..., steps=50))."""

    n_source: int = 100  # source examples (clean digits, SOURCES[source] of their labels shuffled)
    l2sp_lr: float = 0.3  # the rate of "plain_slow" and L2-SP, where L2-SP trains stably (chapter 6)
    alpha: float = 0.1  # "l2sp": the pull toward the source's weights
    beta: float = 0.01  # "l2sp": the pull of the new head toward 0
    alphas: tuple = (0.01, 0.1, 1.0)  # the pulls "l2sp_tuned" chooses among on validation (beta = alpha / 10)
    joint_variants: tuple = ("joint_heads",)  # "joint_heads": heads at their own rate; "joint": one rate

    def __post_init__(self):
        super().__post_init__()
        self.l2sp_lr = check_float("l2sp_lr", self.l2sp_lr, low=0.0, low_open=True)
        self.alpha, self.beta = check_float("alpha", self.alpha, low=0.0), check_float("beta", self.beta, low=0.0)
        self.alphas = check_floats("alphas", self.alphas, low=0.0, low_open=True, min_len=0, item_name="alpha")


@cached
def negative_transfer_sweep(lams=LAMBDAS, n_target=N_TARGET, seeds=range(5), *, sources=tuple(SOURCES),
                            progress: bool = True, **config) -> Sweep:
    """Target accuracy (test and validation) with each source, for every (source, lam, n_target, seed);
    `config`: any field of NegativeTransferConfig by name (steps, lr, l2sp_lr, alpha, alphas, ...).

    Results, each (n_sources, n_lam, n_n_target, n_seeds), as acc_<name> (test) and val_<name>
    (validation): chapter 6's joint objective, each of `joint_variants` ("joint_heads": heads at their
    own rate, the default; "joint": one rate, the fixed budget); "target_only" (no source: from scratch);
    and the two-phase networks of TWO_PHASE, pretrained on each source (they do not depend on lam and
    are repeated along it). "plain_slow" and "l2sp" run at the rate l2sp_lr, where L2-SP (alpha, beta)
    trains stably (chapter 6). "l2sp_tuned" is L2-SP with its strength chosen per model on validation
    among alpha = 0 (plain, rate l2sp_lr), the plain network at rate lr ("finetune") and every alpha of
    `alphas` (beta = alpha / 10, rate l2sp_lr); "l2sp_alpha" is the alpha chosen (0 for either plain network).
    """
    lams = check_floats("lams", lams, low=0.0, low_open=True, item_name="lam")
    n_target, seeds = check_ints("n_target", n_target, low=10), check_ints("seeds", seeds, low=0, distinct=True)
    sources = check_sequence("sources", sources, item=lambda n, v: check_choice(n, v, tuple(SOURCES)), distinct=True,
                             item_name="source")
    check_keywords(progress=progress)
    cfg = NegativeTransferConfig(**check_settings(NegativeTransferConfig, config, by="negative_transfer_sweep"))
    sweep = Sweep({"source": tuple(sources), "lam": lams, "n_target": n_target}, seeds)
    use_one_thread()  # before the data too: torch on two busy cores is slow even for small tensors (see stack.py)
    base = {(n, s): cfg.load(n, s) for n in n_target for s in seeds}
    data = {(src, n, s): dataclasses.replace(d, y_source=shuffle_labels(d.y_source, SOURCES[src], seed=s))
            for (n, s), d in base.items() for src in sources}

    # the joint objective: every run of the grid, one rate and heads at their own rate
    runs = sweep.runs()
    joint = joint_accuracies([data[r["source"], r["n_target"], r["seed"]] for r in runs], [r["lam"] for r in runs],
                             [r["seed"] for r in runs], hidden=cfg.hidden, n_layers=cfg.n_layers, steps=cfg.steps,
                             lr=cfg.lr, progress=progress, variants=cfg.joint_variants)
    for name, acc in joint.items():
        sweep.fill(name, acc)
    # the rest does not depend on lam (nor target-only on the source): trained once, repeated along it
    sgd = dict(loss="ce", optimizer="sgd", lr=cfg.lr, steps=cfg.steps, progress=progress)
    for name, acc in _two_phase(data, sweep, cfg, sgd).items():
        sweep.fill(name, acc, repeated_along="lam")
    for name, acc in _target_only(base, sweep, cfg.net(1), sgd).items():
        sweep.fill(name, acc, repeated_along=("source", "lam"))
    sweep.meta.update({k: v for k, v in dataclasses.asdict(cfg).items() if k != "joint_variants"},
                      shuffled={src: SOURCES[src] for src in sources})
    return sweep


def _two_phase(data: dict, sweep: Sweep, cfg: NegativeTransferConfig, sgd: dict) -> dict[str, np.ndarray]:
    """Pretrain on each source, then adapt to the target every way of TWO_PHASE: {acc_<name>, val_<name>,
    l2sp_alpha}, each one entry per run of sweep.runs(without="lam") (source, n_target, seed)."""
    # pretraining, one network per (source, seed): the source images do not depend on n_target
    pre_keys = [(r["source"], r["seed"]) for r in sweep.runs(without=("lam", "n_target"))]
    pre = pretrain(cfg, [data[src, sweep.knobs["n_target"][0], s] for src, s in pre_keys], [s for _, s in pre_keys],
                   sgd["progress"])

    # phase 2, one network per (source, n_target, seed); fresh heads from seed 10_000 + s, as in chapter 6
    runs, net = sweep.runs(without="lam"), cfg.net(1)
    key_data = [data[r["source"], r["n_target"], r["seed"]] for r in runs]
    xt, yt, mt = pad_tasks([[d.x_target] for d in key_data], [[d.y_target] for d in key_data])
    index = [pre_keys.index((r["source"], r["seed"])) for r in runs]
    heads = [10_000 + r["seed"] for r in runs]
    stacks = {"source": pre.take(index)}
    for name, frozen in (("frozen", cfg.n_layers), ("frozen_1", 1), ("finetune", 0)):
        stacks[name] = transfer_stack(pre, net, cfg.n_layers, source_index=index, seeds=heads, freeze=frozen > 0)
        if 0 < frozen < cfg.n_layers:  # transfer_stack freezes every copied layer: thaw the upper ones
            stacks[name] = stacks[name].with_frozen(
                [p for p in stacks[name].params if p.startswith(tuple(f"layers.{d}." for d in range(frozen)))])
        fit_many(stacks[name], (xt, yt, mt),
                 **{**sgd, "progress": sgd["progress"] and f"{TWO_PHASE[name]}, {len(runs)} models"})

    # L2-SP toward each source and its plain control, both at l2sp_lr, in one stack: the plain network,
    # then (alpha, beta), then each (a, a / 10) of the alphas grid that chooses alpha on validation
    pulls = [(0.0, 0.0), (cfg.alpha, cfg.beta)]
    pulls += [(a, a / 10) for a in cfg.alphas if (a, a / 10) != (cfg.alpha, cfg.beta)]
    k = len(pulls)
    both = transfer_stack(pre, net, cfg.n_layers, source_index=index * k, seeds=heads * k, freeze=False)
    anchor = {name: p.detach().clone() for name, p in both.params.items() if not name.startswith("heads.")}
    a_m, b_m = (torch.tensor([pull[i] for pull in pulls for _ in runs]) for i in (0, 1))  # (k M,)
    _fit_l2_sp(both, xt.repeat(k, 1, 1, 1), yt.repeat(k, 1, 1), mt.repeat(k, 1, 1), anchor, a_m, b_m,
               lr=cfg.l2sp_lr, steps=cfg.steps, progress=sgd["progress"], desc=f"plain and L2-SP, {k * len(runs)} models")

    results = {prefix + name: acc for name, stack in stacks.items()
               for prefix, acc in split_accuracies(stack, key_data).items()}
    tuned = [pulls.index((a, a / 10)) for a in cfg.alphas]  # where each alpha of the grid was trained
    options = {}  # "acc_" (test), "val_" -> (2 + len(alphas), M): rate lr, alpha 0, then each alpha
    for prefix, acc in split_accuracies(both, key_data * k).items():
        acc = np.split(acc, k)  # one array per pull
        results[prefix + "plain_slow"], results[prefix + "l2sp"] = acc[0], acc[1]
        options[prefix] = np.stack([results[prefix + "finetune"], *(acc[i] for i in [0, *tuned])])
    # L2-SP with its strength chosen on validation (alpha = 0, at either rate, among the choices), and the
    # control: plain fine-tuning, its rate chosen on validation
    best = dict(axes=(0,), higher_is_better=True)
    (chosen,), _, results["acc_l2sp_tuned"] = choose_on_validation(options["val_"], options["acc_"], **best)
    _, _, results["acc_plain_tuned"] = choose_on_validation(options["val_"][:2], options["acc_"][:2], **best)
    results["l2sp_alpha"] = np.array([0.0, 0.0, *cfg.alphas])[chosen]
    return results


def _target_only(base: dict, sweep: Sweep, net, sgd: dict) -> dict[str, np.ndarray]:
    """Without the source: trained from scratch on the target, one network per (n_target, seed) of the sweep."""
    pairs = [(r["n_target"], r["seed"]) for r in sweep.runs(without=("source", "lam"))]
    xo, yo, mo = pad_tasks([[base[p].x_target] for p in pairs], [[base[p].y_target] for p in pairs])
    scratch = ModelStack.from_factory(net, [10_000 + s for _, s in pairs])
    fit_many(scratch, (xo, yo, mo), **{**sgd, "progress": sgd["progress"] and f"target only, {len(pairs)} models"})
    return {prefix + "target_only": acc for prefix, acc in split_accuracies(scratch, [base[p] for p in pairs]).items()}


def ntg_table(sweep: Sweep, name: str, **point) -> np.ndarray:
    """NTG of result `name` against target-only at a point of the sweep (knobs not given: whole axes)."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from negative_transfer_sweep), got {type(sweep).__name__}")
    sweep.require(results=[f"acc_{name}", "acc_target_only"], by="ntg_table")
    for knob, value in point.items():
        if knob not in sweep.knobs:
            raise ValueError(f"{knob}={value!r}: the sweep has no knob {knob!r} (its knobs: {list(sweep.knobs)})")
        if value not in sweep.knobs[knob]:
            raise ValueError(f"{knob}={value!r} is not on the grid (allowed: {sweep.knobs[knob]})")
    idx = tuple(sweep.knobs[k].index(point[k]) if k in point else slice(None) for k in sweep.knobs)
    return negative_transfer_gap(sweep.results[f"acc_{name}"][idx], sweep.results["acc_target_only"][idx])


def negative_transfer_explorer(sweep: Sweep, *, value: dict | None = None) -> SweepExplorer:
    """Sliders over lam and n_target: left, NTG vs lam for each source; right, NTG vs n_target at that lam."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from negative_transfer_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["source", "lam", "n_target"], results=["acc_joint_heads", "acc_target_only"],
                  by="negative_transfer_explorer")
    value = {"lam": grid_value(sweep, "lam", 1.0), "n_target": grid_value(sweep, "n_target", 30), **(value or {})}
    colors = {"helpful": PALETTE[2], "mild": PALETTE[4], "harmful": PALETTE[1]}
    ntg = ntg_table(sweep, "joint_heads")  # (n_sources, n_lam, n_n_target, n_seeds)
    mean, sd = ntg.mean(-1), ntg.std(-1)
    ylim = (min(0.0, (mean - sd).min()) - 0.08, max(0.0, (mean + sd).max()) + 0.08)  # fixed; room for the texts
    lams, sizes = sweep.knobs["lam"], sweep.knobs["n_target"]

    def draw(axes, point):
        ax_lam, ax_n = axes
        for s, src in enumerate(sweep.knobs["source"]):
            band = dict(color=colors.get(src, PALETTE[0]))
            plot_seed_band(lams, ntg[s, :, sizes.index(point["n_target"])], ax=ax_lam, highlight=point["lam"],
                           label=f"{src} source", **band)
            plot_seed_band(sizes, ntg[s, lams.index(point["lam"])], ax=ax_n, highlight=point["n_target"], **band)
        for ax, values in ((ax_lam, lams), (ax_n, sizes)):
            ax.axhline(0, color="0.3", lw=1)
            for y, va, text in ((0.98, "top", "negative transfer ↑"), (0.02, "bottom", "positive transfer ↓")):
                ax.text(0.01, y, text, transform=ax.transAxes, va=va, fontsize=7, color="0.3")
            ax.set(xscale="log", ylim=ylim)
            log_ticks(ax, values)
        ax_lam.set(xlabel="λ, the target's weight (log scale)", ylabel="NTG (target error gap)",
                   title=f"{point['n_target']} target labels")
        ax_n.set(xlabel="labelled target examples (log scale)", title=f"λ = {point['lam']:g}")
        for old in ax_lam.figure.legends[:]:  # one legend for both panels, below them: it covers no data
            old.remove()
        ax_lam.figure.legend(loc="outside lower center", ncols=len(sweep.knobs["source"]), title="joint objective, "
                             f"heads at their own rate: mean ± sd over {len(sweep.seeds)} seeds")

    return SweepExplorer(sweep, draw, knobs=["lam", "n_target"], value={"source": sweep.knobs["source"][0], **value},
                         figsize=(11, 4.8), descriptions={"lam": "λ (target weight)", "n_target": "target labels"})
