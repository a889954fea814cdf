"""Fine-tuning practices on chapter 6's setting (clean digits -> re-wired digits, few target labels):
a new head or the source head, a slower trunk, discriminative rates, the slanted triangular schedule,
gradual unfreezing (Howard & Ruder 2018), linear probing then fine-tuning (Kumar et al. 2022) and
early stopping on validation, beside the unadapted source model and training from scratch.

Every practice is a schedule of rate scales per step and layer (mtl_lessons.schedules) on the same
pretrained network, so one `fit_many` call trains all of them, each at every peak rate of a small
grid (validation then chooses one per practice, `choose_rates`), for every number of target labels
and seed, and a grid over the unfreezing stage length for the slider (with a control at a smaller
rate from the second stage on). A scale of 0 keeps a layer frozen for that step, so linear probing,
gradual unfreezing and LP-FT need no second stack. Validation and test accuracy are recorded every
`record_every` steps, for early stopping on validation; every network is also scored on the clean
source digits' test set (out of distribution for the target).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from mtl_lessons._checks import check_float, check_floats, check_int, check_ints, check_keywords, check_settings
from mtl_lessons.data import load_digits_split
from mtl_lessons.metrics import choose_on_validation, per_task_accuracy
from mtl_lessons.plots import PALETTE, log_ticks, plot_seed_band
from mtl_lessons.schedules import Rates, discriminative_scales, gradual_unfreezing, layer_schedule, slanted_triangular
from mtl_lessons.sweep import Sweep, cached
from mtl_lessons.stack import ModelStack, transfer_stack
from mtl_lessons.train import fit_many, pad_tasks
from mtl_lessons.transfer import RATES, TransferConfig, pretrain, split_accuracies
from mtl_lessons.widgets import SweepExplorer, grid_value

STAGES = (0, 10, 20, 30, 40)  # gradual unfreezing, steps per stage (0: everything trains from the start)
N_TARGET = (10, 30, 100)
PRACTICES = {  # result name (without acc_/val_) -> label; "source" is not trained
    "source": "source model, no adaptation",
    "target_only": "target only (from scratch)",
    "linear_probe": "linear probe (frozen trunk, new head)",
    "finetune": "fine-tune, new head",
    "keep_head": "fine-tune, source head",
    "slower_trunk": "fine-tune, trunk 10× slower",
    "discriminative": "discriminative rates (÷2.6 per layer)",
    "stlr": "slanted triangular schedule",
    "gradual": "gradual unfreezing",
    "lp_ft": "linear probe, then fine-tune (LP-FT)",
    "late_start": "late start: no probe, all layers from half-way",
    "ulmfit": "discriminative + STLR + gradual unfreezing",
}
FROM_PRETRAINED = tuple(p for p in PRACTICES if p not in ("source", "target_only"))  # a trunk distance exists
LITERATURE = ("slower_trunk", "discriminative", "stlr", "gradual", "lp_ft", "ulmfit")  # the practices from papers


@dataclass(frozen=True)
class FinetuningClaims:
    """Chapter 8's claims, one threshold each, used by the notebook and the tests (means over seeds;
    "tuned": each practice at its rate chosen on validation, see choose_rates)."""

    few: int = 10  # "very few target labels"
    many: int = 100  # "many target labels"
    longest_stage: int = 40  # the unfreezing stage length the collapse claims are about
    fast_rate: float = 1.0  # chapter 6's rate: the same-rate comparisons at the large step
    slow_rate: float = 0.1  # ... and at the small one
    source_head_few: float = 0.015  # with `few` labels the source head, tuned, beats the source model by >= this
    new_head_few: float = 0.01  # ... while the best new-head practice on the pretrained trunk, tuned, ends <= this
    #   above the source model (SEED 0-19: -0.044 +- 0.015, worst -0.010)
    pretrain_shrinks: float = 0.015  # fine-tuning's gain over target-only (both tuned) is >= this larger at few
    literature_gain: float = 0.025  # no LITERATURE practice (tuned) beats plain fine-tuning (tuned) by more, any n
    unfreeze_collapse: float = 0.2  # `many` labels, rate 1: `longest_stage`-step stages end >= this below all at once
    step_size_control: float = 0.15  # ... the same stages at rate x join_scale from the 2nd stage on: >= this higher
    slow_stages_level: float = 0.04  # ... and within this of all at once at that small rate
    unfreeze_few_level: float = 0.05  # `few` labels, rate 1: the longest stages within this of all at once
    lp_ft_closer: float = 0.85  # `many` labels, slow_rate after the first half: LP-FT's trunk moves <= this x the
    #   late start's (the same trunk steps, no probe); SEED 0-19: 0.76 +- 0.02, worst 0.80 (vs plain FT: 0.48)
    lp_ft_fast_farther: float = 1.5  # ... both at fast_rate: LP-FT's trunk moves >= this x fine-tuning's
    lp_ft_ood_gain: float = 0.02  # ... at no rate <= fast_rate does LP-FT beat fine-tuning at that rate by more, OOD
    lp_ft_fast_ood: float = 0.02  # ... at fast_rate LP-FT ends >= this below fine-tuning out of distribution
    keep_head_farther: float = 1.5  # at fast_rate the source head moves the trunk >= this x a new head, every n
    early_stop_gain: float = 0.015  # early stopping, its rate and step chosen together on validation, gains at most
    #   this over the last step at the rate tuned for it (fine-tune); SEED 0-19: 0.001 +- 0.004, worst 0.009


AT_MOST = ("new_head_few", "literature_gain", "slow_stages_level", "unfreeze_few_level", "lp_ft_closer",
           "lp_ft_ood_gain", "early_stop_gain")  # the claims whose threshold is an upper bound


CLAIMS = FinetuningClaims()


def practice_schedules(steps: int, n_layers: int, *, factor: float = 2.6, stage_steps: int | None = None,
                       trunk_scale: float = 0.1) -> dict[str, torch.Tensor]:
    """Each trained practice's rate scales, {name: (steps, n_layers + 1)} (the last column is the head's).

    LP-FT probes (head only) for the first half of the steps, then trains everything; "late_start" (its
    control) trains nothing for the first half, then everything, as LP-FT without the probe; "gradual" adds a
    layer every stage_steps steps (default steps // 5: with 100 steps and 2 hidden layers, the top one
    joins at step 20, the other at 40); "ulmfit" multiplies discriminative rates, the slanted
    triangular schedule and gradual unfreezing.
    """
    steps = check_int("steps", steps, low=10)
    n_layers = check_int("n_layers", n_layers, low=1)
    trunk_scale = check_float("trunk_scale", trunk_scale, low=0.0, low_open=True)
    ones = torch.ones(steps, n_layers + 1)
    head_only = torch.tensor([0.0] * n_layers + [1.0])
    first_half = torch.arange(steps)[:, None] < steps // 2  # LP-FT's probe; its control trains nothing there
    disc, stlr = discriminative_scales(n_layers, factor), slanted_triangular(steps)[:, None]
    gradual = gradual_unfreezing(steps, n_layers, steps // 5 if stage_steps is None else stage_steps)
    return {"target_only": ones, "linear_probe": ones * head_only, "finetune": ones, "keep_head": ones,
            "slower_trunk": ones * torch.tensor([trunk_scale] * n_layers + [1.0]), "discriminative": ones * disc,
            "stlr": ones * stlr, "gradual": gradual, "lp_ft": torch.where(first_half, head_only, ones),
            "late_start": torch.where(first_half, 0.0, ones), "ulmfit": disc * stlr * gradual}


def measured(sweep: Sweep) -> dict[str, float]:
    """The numbers CLAIMS is about, each from means over the sweep's seeds (see FinetuningClaims).

    Practices are at their rates chosen on validation (choose_rates) unless a claim names a rate."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from finetuning_sweep), got {type(sweep).__name__}")
    c = CLAIMS
    sweep.require(knobs=["stage_steps", "n_target"], meta=["rates", "chosen_rate"],
                  results=[f"acc_{p}" for p in PRACTICES] + ["acc_unfreeze", "acc_unfreeze_slow"], by="measured")
    grids = {**sweep.knobs, "rate": sweep.meta["rates"]}
    for name, needed in (("n_target", (c.few, c.many)), ("stage_steps", (0, c.longest_stage)),
                         ("rate", (c.fast_rate, c.slow_rate))):
        missing = [v for v in needed if v not in grids[name]]
        if missing:
            raise ValueError(f"the claims need {name}={missing[0]} on the grid (it has {grids[name]})")
    fast, slow = (sweep.meta["rates"].index(r) for r in (c.fast_rate, c.slow_rate))

    def at(result, n, stage_steps=sweep.knobs["stage_steps"][0]):  # (n_seeds, ...)
        return sweep.at(result, stage_steps=stage_steps, n_target=n)

    def mean(result, n, **stage):
        return float(at(result, n, **stage).mean())

    def by_rate(result, n, rate):  # mean over seeds at one rate of the grid
        return float(at(result + "_by_rate", n)[:, rate].mean())

    def unfreezing(result, n):  # (all layers at once, the longest stages)
        return mean(result, n, stage_steps=0), mean(result, n, stage_steps=c.longest_stage)

    def early_tuned(name, n):  # rate and step chosen together on validation: per seed the best record at each
        val = np.moveaxis(at(f"curve_val_{name}_by_rate", n), -2, 0)   # rate; the rate whose best records are best
        test = np.moveaxis(at(f"curve_test_{name}_by_rate", n), -2, 0)  # on average (ties: the larger rate)
        (_,), best_val, stopped = choose_on_validation(val, test, axes=(0,), higher_is_better=True)  # (seeds, rates)
        (rate,), _ = choose_on_validation(best_val.mean(0), axes=(0,), higher_is_better=True, ties="last")
        return float(stopped[:, rate].mean())

    few, many, ns = c.few, c.many, sweep.knobs["n_target"]
    new_head = [p for p in PRACTICES if p not in ("source", "keep_head", "target_only")]  # on the pretrained trunk
    gain = {n: mean("acc_finetune", n) - mean("acc_target_only", n) for n in (few, many)}
    once, stages = unfreezing("acc_unfreeze", many)
    slow_once, slow_stages = unfreezing("acc_unfreeze_slow", many)
    few_once, few_stages = unfreezing("acc_unfreeze", few)
    return {"source_head_few": mean("acc_keep_head", few) - mean("acc_source", few),
            "new_head_few": max(mean("acc_" + p, few) for p in new_head) - mean("acc_source", few),
            "pretrain_shrinks": gain[few] - gain[many],
            "literature_gain": max(mean("acc_" + p, n) - mean("acc_finetune", n) for p in LITERATURE for n in ns),
            "unfreeze_collapse": once - stages, "step_size_control": slow_stages - stages,
            "slow_stages_level": abs(slow_once - slow_stages), "unfreeze_few_level": abs(few_once - few_stages),
            "lp_ft_closer": by_rate("dist_lp_ft", many, slow) / by_rate("dist_late_start", many, slow),
            "lp_ft_fast_farther": by_rate("dist_lp_ft", many, fast) / by_rate("dist_finetune", many, fast),
            "lp_ft_ood_gain": max(by_rate("ood_lp_ft", many, r) - by_rate("ood_finetune", many, r)
                                  for r, rate in enumerate(sweep.meta["rates"]) if rate <= c.fast_rate),
            "lp_ft_fast_ood": by_rate("ood_finetune", many, fast) - by_rate("ood_lp_ft", many, fast),
            "keep_head_farther": min(by_rate("dist_keep_head", n, fast) / by_rate("dist_finetune", n, fast)
                                     for n in ns),
            "early_stop_gain": max(early_tuned("finetune", n) - mean("acc_finetune", n) for n in ns)}


def claims_hold(numbers: dict[str, float]) -> dict[str, bool]:
    """For each claim, whether `numbers` (from `measured`) meets its threshold in CLAIMS."""
    return {name: (value <= getattr(CLAIMS, name)) if name in AT_MOST else (value >= getattr(CLAIMS, name))
            for name, value in numbers.items()}


@dataclass
class FinetuningConfig(TransferConfig):
    """Chapter 8's setting: chapter 6's (TransferConfig; its lr is the pretraining rate, gradual unfreezing's
    rate and LP-FT's probe rate) and the practices' own knobs, one field each."""

    rates: tuple = RATES  # the peak rates every practice is tried at; validation chooses one per practice
    join_scale: float = 0.1  # "unfreeze_slow": every rate times this from the second stage on
    factor: float = 2.6  # the discriminative factor: each layer down trains this many times slower
    record_every: int = 20  # validation and test accuracy every this many steps, for early stopping

    def __post_init__(self):
        super().__post_init__()
        self.rates = check_floats("rates", self.rates, low=0.0, low_open=True, distinct=True, item_name="rate")
        check_float("join_scale", self.join_scale, low=0.0, low_open=True)
        check_int("record_every", self.record_every, low=1, high=self.steps)
        check_float("factor", self.factor, low=1.0)


def _started(c: FinetuningConfig, pre: ModelStack, seeds, jobs) -> ModelStack:
    """One model per job (name, rate, row, run), started as its practice starts (seed 10_000 + s): fresh for
    target_only, the pretrained network pre[seed] for keep_head, else its trunk with a new head."""
    stacks = []
    for name in dict.fromkeys(name for name, *_ in jobs):  # the jobs come grouped by name
        index = [seeds.index(run["seed"]) for job, *_, run in jobs if job == name]
        heads = [10_000 + seeds[i] for i in index]
        if name == "target_only":
            stacks.append(ModelStack.from_factory(c.net(1), heads))
        elif name == "keep_head":
            stacks.append(pre.take(index))
        else:
            stacks.append(transfer_stack(pre, c.net(1), c.n_layers, source_index=index, seeds=heads, freeze=False))
    return ModelStack.concat(stacks)


def _ood_accuracy(stack: ModelStack, clean) -> np.ndarray:
    """Accuracy of every model on the clean source digits' test set (out of the target's distribution), (M,)."""
    with torch.no_grad():
        x = clean.x_test[None, None].expand(len(stack), 1, *clean.x_test.shape)
        return per_task_accuracy(stack(x), clean.y_test[None, None].expand(len(stack), 1, -1))[:, 0].numpy()


def _trained(stack: ModelStack, jobs, data: dict, clean, c: FinetuningConfig, progress: bool, desc: str):
    """Train every job's model at its rate and schedule on data[n_target, seed] of its run, all in one fit_many,
    recording validation and test accuracy every c.record_every steps. Returns (per model: acc, val, ood, dist,
    curve_val, curve_test; the History)."""
    data = [data[run["n_target"], run["seed"]] for *_, run in jobs]
    start = {name: p.detach().clone() for name, p in stack.params.items() if name.startswith("layers.")}
    xt, yt, mask = pad_tasks([[d.x_target] for d in data], [[d.y_target] for d in data])
    sets = [[torch.stack([getattr(d, f"{xy}_{split}") for d in data])[:, None] for xy in "xy"]
            for split in ("val", "test")]

    def accuracies(models):  # (M, 2): validation and test accuracy of every model
        return torch.stack([per_task_accuracy(models(x), y)[:, 0] for x, y in sets], 1)

    history = fit_many(stack, (xt, yt, mask), loss="ce", optimizer="sgd",
                       lr=Rates(torch.tensor([rate for _, rate, _, _ in jobs]), schedule=layer_schedule(
                           stack, torch.stack([row for _, _, row, _ in jobs], dim=1))), steps=c.steps,
                       record=(accuracies, c.record_every), progress=progress and desc)
    with torch.no_grad():
        moved = sum(((stack.params[k] - v) ** 2).flatten(1).sum(1) for k, v in start.items())
        size = sum((v ** 2).flatten(1).sum(1) for v in start.values())
    records = history.records  # (n_records, M, 2): validation, test
    return {"acc": records[-1, :, 1], "val": records[-1, :, 0], "ood": _ood_accuracy(stack, clean),
            "dist": (moved / size).sqrt().numpy(), "curve_val": records[:, :, 0].T,
            "curve_test": records[:, :, 1].T}, history


@cached
def finetuning_sweep(stages=STAGES, n_target=N_TARGET, seeds=range(5), *, progress: bool = True, **config) -> Sweep:
    """Target accuracy of every practice at each peak rate of config.rates, and of gradual unfreezing over a
    grid of stage lengths; config: any field of FinetuningConfig. Knobs: stage_steps, n_target (then seeds).

    A practice's peak rate is its schedule's scales times the rate (LP-FT probes at lr; the rate is the one
    after the probe). Results per practice at every rate, as <result>_by_rate (..., n_rates): acc_ target test,
    val_ validation, ood_ the clean source digits' test set (all at the last step), dist_ the trunk's relative
    distance from the pretrained one, ||θ - θ_src|| / ||θ_src||, and curve_val_ / curve_test_ every record_every
    steps (..., n_records; the steps in meta["record_steps"]), for early stopping; repeated along stage_steps.
    choose_rates adds them at each practice's rate chosen on validation (meta["chosen_rate"]). "unfreeze":
    gradual unfreezing with the point's stage length at rate lr; "unfreeze_slow": its control, every rate
    times join_scale once the top hidden layer joins. meta: the config, record_steps, schedules.
    """
    stages = check_ints("stages", stages, low=0, item_name="stage_steps", distinct=True)
    n_target, seeds = check_ints("n_target", n_target, low=10), check_ints("seeds", seeds, low=0)
    check_keywords(progress=progress)
    c = FinetuningConfig(**check_settings(FinetuningConfig, config, by="finetuning_sweep"))
    unfreezing = {stage: gradual_unfreezing(c.steps, c.n_layers, stage) for stage in stages}  # raises now if too long
    sweep = Sweep({"stage_steps": stages, "n_target": n_target}, seeds)
    by_rate = Sweep({"rate": c.rates, "n_target": n_target}, seeds)  # the practices' own grid
    pairs = sweep.runs(without="stage_steps")
    data = {(r["n_target"], r["seed"]): c.load(r["n_target"], r["seed"]) for r in pairs}
    pre = pretrain(c, [data[n_target[0], s] for s in seeds], seeds, progress)  # phase 1, one per seed

    # phase 2, one job (name, rate, rate scales per step and layer, run) per model, all in one fit_many:
    # every practice at every run of by_rate (LP-FT probes at lr, then trains at the run's rate), then the
    # unfreezing grid at lr (the slow control: times join_scale once the first stage is over)
    schedules = practice_schedules(c.steps, c.n_layers, factor=c.factor, trunk_scale=c.trunk_lr_scale)
    step = torch.arange(c.steps)[:, None]
    jobs = [(name, r["rate"], row, r) if name != "lp_ft" else
            (name, c.lr, torch.where(step >= c.steps // 2, row * (r["rate"] / c.lr), row), r)
            for name, row in schedules.items() for r in by_rate.runs()]
    slowed = {s: unfreezing[s] * torch.where(step >= s, c.join_scale, 1.0) for s in stages}  # the control
    jobs += [("unfreeze", c.lr, unfreezing[r["stage_steps"]], r) for r in sweep.runs()]
    jobs += [("unfreeze_slow", c.lr, slowed[r["stage_steps"]], r) for r in sweep.runs()]
    clean = load_digits_split(seed=0)  # the source domain's test images (out of the target's distribution)
    desc = f"{len(schedules)} practices at {len(c.rates)} rates and the unfreezing grid, {len(jobs)} models"
    flat, history = _trained(_started(c, pre, seeds, jobs), jobs, data, clean, c, progress, desc)
    for name in dict.fromkeys(name for name, *_ in jobs):
        mine = [i for i, job in enumerate(jobs) if job[0] == name]  # its models, in the order of its runs
        for key, values in flat.items():
            if name not in schedules and not key.startswith("curve"):
                sweep.fill(f"{key}_{name}", values[mine])
            elif name in schedules and (key != "dist" or name in FROM_PRETRAINED):  # (rate, n_target, seed) flat:
                rate_last = np.stack(np.split(values[mine], len(c.rates)), -1)  # the rate last, stage_steps unused
                sweep.fill(f"{key}_{name}_by_rate", rate_last, repeated_along="stage_steps")
    source = pre.take([seeds.index(r["seed"]) for r in pairs])
    scores = {**split_accuracies(source, [data[r["n_target"], r["seed"]] for r in pairs]),
              "ood_": _ood_accuracy(source, clean)}
    for prefix, flat_score in scores.items():
        sweep.fill(prefix + "source", flat_score, repeated_along="stage_steps")
    sweep.meta.update(asdict(c), record_steps=history.record_steps, schedules=schedules)
    return choose_rates(sweep)


def choose_rates(sweep: Sweep) -> Sweep:
    """Add each practice's results at its rate chosen on validation: per practice and n_target, the rate
    of meta["rates"] with the best validation accuracy at the last step, averaged over the sweep's
    seeds (the larger rate, on ties: a practice that slows some layers is not held to the smaller step by a
    tie among 30 validation images); the test numbers play no part. The rates go to meta["chosen_rate"]
    ({practice: one rate per n_target}); acc_/val_/ood_/dist_/curve_*_<practice> are the results there."""
    rates, chosen = sweep.meta["rates"], {}
    for name in sweep.meta["schedules"]:
        val = sweep.results[f"val_{name}_by_rate"][0].mean(1)                       # (n_target, n_rates)
        (best,), _ = choose_on_validation(val, axes=(-1,), higher_is_better=True, ties="last")  # the larger rate
        chosen[name] = [rates[b] for b in best]
        for prefix in ("acc", "val", "ood", "dist", "curve_val", "curve_test"):
            if f"{prefix}_{name}_by_rate" in sweep.results:
                values = sweep.results[f"{prefix}_{name}_by_rate"]                  # (stage, n, seed, ..., rate)
                sweep.add(f"{prefix}_{name}", np.stack([values[:, j, ..., b] for j, b in enumerate(best)], 1))
    sweep.meta["chosen_rate"] = chosen
    return sweep


def finetuning_explorer(sweep: Sweep, *, value: dict | None = None) -> SweepExplorer:
    """Sliders over the unfreezing stage length and n_target: accuracy vs target labels, accuracy and
    trunk distance vs stage length (at rate lr, and the control at a smaller rate from the second stage on),
    beside plain fine-tuning, target-only (each at its rate chosen on validation) and the source model."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from finetuning_sweep), got {type(sweep).__name__}")
    sweep.require(knobs=["stage_steps", "n_target"], meta=["steps", "lr", "join_scale"], by="finetuning_explorer",
                  results=["acc_unfreeze", "acc_unfreeze_slow", "dist_unfreeze", "acc_source", "acc_target_only",
                           "acc_finetune"])
    value = {"stage_steps": grid_value(sweep, "stage_steps", 20), "n_target": grid_value(sweep, "n_target", 30),
             **(value or {})}
    lr, join = sweep.meta["lr"], sweep.meta["join_scale"]
    spans = [a.mean(-1) - a.std(-1) for a in (sweep.results[n] for n in ("acc_unfreeze", "acc_target_only"))]
    ylim = (max(0.0, np.floor(min(lo.min() for lo in spans) * 10) / 10), 1.0)  # the same on every move
    dmax = float(np.ceil((sweep.results["dist_unfreeze"].max()) * 10 + 0.5) / 10)
    unfreezing = {"acc_unfreeze": (f"gradual unfreezing, rate {lr:g}", PALETTE[0], "o"),
                  "acc_unfreeze_slow": (f"the same, rate ×{join:g} from the second stage on", PALETTE[1], "^")}
    baselines = {"acc_source": ("source model, no adaptation", PALETTE[6], "--"),
                 "acc_target_only": ("target only (from scratch)", PALETTE[3], ":")}

    def draw(axes, point):
        ax_n, ax_stage, ax_dist = axes
        stage, n = point["stage_steps"], point["n_target"]
        for name, (label, color, marker) in unfreezing.items():  # left vs n_target, middle vs stage length
            plot_seed_band(*sweep.curve(name, "n_target", stage_steps=stage), ax=ax_n, color=color, marker=marker,
                           highlight=n, label=label)
            plot_seed_band(*sweep.curve(name, "stage_steps", n_target=n), ax=ax_stage, color=color, marker=marker,
                           highlight=stage)
        plot_seed_band(*sweep.curve("acc_finetune", "n_target", stage_steps=stage), ax=ax_n, color=PALETTE[2],
                       marker="s", label="fine-tune (rate on validation)")
        for name, (label, color, ls) in baselines.items():
            ns, acc = sweep.curve(name, "n_target", stage_steps=stage)
            ax_n.plot(ns, acc.mean(1), color=color, ls=ls, lw=1.3, label=label)
            ax_stage.axhline(sweep.at(name, stage_steps=stage, n_target=n).mean(), color=color, ls=ls, lw=1.3)
        ax_n.set(xscale="log", ylim=ylim, xlabel="target labels (log scale)", ylabel="target test accuracy",
                 title=f"Unfreezing in {stage}-step stages" if stage else "All layers at once")
        log_ticks(ax_n, ns)
        stages = sweep.knobs["stage_steps"]
        ax_stage.set(ylim=ylim, xticks=stages, xlabel="steps per stage (0 = all at once)",
                     title=f"{n} target labels, {sweep.meta['steps']} steps")
        for j, (m, color) in enumerate(zip(ns, (PALETTE[4], PALETTE[1], PALETTE[5], PALETTE[0]))):  # right
            plot_seed_band(*sweep.curve("dist_unfreeze", "stage_steps", n_target=m), ax=ax_dist, color=color,
                           marker="o^sv"[j % 4], highlight=stage if m == n else None, label=str(m))
        ax_dist.set(ylim=(0, dmax), xticks=stages, xlabel="steps per stage",
                    ylabel="‖θ_trunk − θ_src‖ / ‖θ_src‖", title="How far the trunk moves")
        fig = ax_n.figure  # the legends below the panels, where they cover no data: the left two panels share one
        for old in fig.legends[:]:
            old.remove()
        fig.legend(*ax_n.get_legend_handles_labels(), loc="outside lower left", ncols=2,
                   title=f"left and middle: mean ± sd over {len(sweep.seeds)} seeds")
        fig.legend(*ax_dist.get_legend_handles_labels(), loc="outside lower right", ncols=len(ns),
                   title="right: target labels")

    return SweepExplorer(sweep, draw, knobs=["stage_steps", "n_target"], value=value, ncols=3, figsize=(13, 4.8),
                         descriptions={"stage_steps": "steps per stage", "n_target": "target labels"})
