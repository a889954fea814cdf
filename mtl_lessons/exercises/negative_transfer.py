"""Exercises of negative transfer: the negative-transfer gap over seeds (checked against a reference), why
pairing the seeds shrinks its sd (a derivation, checked numerically), and what L2-SP costs toward a harmful source (predict, then run). Chapter 9's build exercise, the L2-SP
penalty ("l2-sp"), is registered in transfer.py beside the rest of L2-SP."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons._checks import check_float
from mtl_lessons.exercises import register, register_prediction


# ---------------------------------------------------------------- the gap over seeds

def solution_ntg_over_seeds(acc_with, acc_without):
    """NTG per seed = (1 - acc_with) - (1 - acc_without) = acc_without - acc_with (the same seed, the same
    target data, so the two are paired); return its mean and its sd over seeds (population sd, ddof=0)."""
    gap = (1 - acc_with) - (1 - acc_without)
    return torch.stack([gap.mean(), gap.std(unbiased=False)])


@register("ntg-over-seeds", "The negative-transfer gap over seeds: mean and sd of the paired gap",
          solution_ntg_over_seeds)
def check_ntg_over_seeds(answer) -> str | None:
    g = torch.Generator().manual_seed(0)
    without = 0.70 + 0.08 * torch.rand(5, generator=g)  # target-only accuracy per seed
    with_source = without - 0.05 + 0.02 * torch.rand(5, generator=g)  # paired: each seed's own data
    got = answer(with_source.clone(), without.clone())
    if not isinstance(got, torch.Tensor) or got.numel() != 2:
        return "Return two numbers, (mean, sd) of the gap over seeds, e.g. as a tuple or a tensor of length 2."
    got = got.reshape(2).float()
    gap = without - with_source
    want = torch.stack([gap.mean(), gap.std(unbiased=False)])
    if torch.allclose(got, want, atol=1e-5):
        return None
    if torch.allclose(got[0], -want[0], atol=1e-5):
        return ("The sign is flipped. NTG is an *error* difference, eps(with) - eps(without), and eps = 1 - accuracy; "
                "positive NTG means the source hurt.")
    if torch.allclose(got[0], want[0], atol=1e-5):
        unpaired = (with_source.std(unbiased=False) ** 2 + without.std(unbiased=False) ** 2).sqrt()
        if torch.allclose(got[1], unpaired, atol=1e-5) or torch.allclose(
                got[1], (with_source.std(unbiased=False) - without.std(unbiased=False)).abs(), atol=1e-5):
            return ("The mean is right, but the sd is of two separate columns. Each seed gives one pair (same data, "
                    "same seed): take the sd of the per-seed gaps, which is much smaller when the two move together.")
        if torch.allclose(got[1], gap.std(unbiased=True), atol=1e-5):
            return "Use the population sd (ddof=0, torch's unbiased=False), as the course's tables do."
        return f"The mean is right; the sd should be {want[1].item():.4f}, the sd of the per-seed gaps."
    return (f"Expected mean {want[0].item():.4f} and sd {want[1].item():.4f}. Per seed: (1 - acc_with) - (1 - acc_without); "
            "then the mean and the sd of those gaps.")


# ---------------------------------------------------------------- predict: what L2-SP costs toward each source

def l2_sp_cost_outcome(cost_helpful: float, cost_harmful: float, *, tol: float = 0.01) -> str:
    """'larger', 'same' or 'smaller': L2-SP's cost toward the harmful source against the helpful one's (tol apart)."""
    cost_helpful, cost_harmful = check_float("cost_helpful", cost_helpful), check_float("cost_harmful", cost_harmful)
    tol = check_float("tol", tol, low=0.0)
    if cost_harmful > cost_helpful + tol:
        return "larger"
    return "smaller" if cost_harmful < cost_helpful - tol else "same"


@register_prediction(
    "l2-sp-harmful", "What L2-SP costs toward a harmful source, against a helpful one",
    examples=[("larger", ((0.79, 0.80, 0.74), (0.70, 0.73, 0.63), (0.66, 0.71, 0.57)), True),
              ("same", ((0.79, 0.80, 0.74), (0.70, 0.73, 0.63), (0.66, 0.71, 0.57)), False),
              ("same", ((0.79, 0.80, 0.74), (0.71, 0.72, 0.63), (0.70, 0.715, 0.57)), True),
              ("smaller", ((0.76, 0.80, 0.74), (0.70, 0.72, 0.63), (0.70, 0.71, 0.57)), True),
              ("larger", ((0.76, 0.80, 0.74), (0.70, 0.72, 0.63), (0.70, 0.71, 0.57)), False)])
def judge_l2_sp_harmful(answer, measured):
    """measured: for the helpful, mild and harmful source in turn, the test accuracy (each a mean over seeds, or
    per seed) of L2-SP (alpha 0.1), plain fine-tuning at the same rate, and the frozen trunk + new head."""
    allowed = ("larger", "same", "smaller")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    (l2_help, plain_help, frozen_help), (l2_mild, plain_mild, _), (l2_harm, plain_harm, frozen_harm) = (
        tuple(float(np.mean(v)) for v in triple) for triple in measured)
    cost = {"helpful": plain_help - l2_help, "mild": plain_mild - l2_mild, "harmful": plain_harm - l2_harm}
    outcome = l2_sp_cost_outcome(cost["helpful"], cost["harmful"])
    why = (f"Measured, plain fine-tuning − L2-SP (α = 0.1, the same rate): helpful {cost['helpful']:+.3f}, "
           f"half-shuffled {cost['mild']:+.3f}, harmful {cost['harmful']:+.3f}, so '{outcome}' (within 0.01 counts "
           f"as 'same'). Plain fine-tuning itself ended at {plain_help:.3f} from the helpful source and "
           f"{plain_harm:.3f} from the harmful one; the frozen trunk, whose hidden layers stay at the source's weights, "
           f"at {frozen_help:.3f} and {frozen_harm:.3f}: how good a place to stay each source's weights are. ")
    between = min(cost["helpful"], cost["harmful"]) <= cost["mild"] <= max(cost["helpful"], cost["harmful"])
    order = ("The half-shuffled source lies in between: the cost follows how much of the source is wrong. "
             if between else "The half-shuffled source does not lie in between here, so the cost does not simply "
             "follow how much of the source is wrong in these seeds. ")
    # the clauses below say only what the measured numbers show (1 point apart, or said otherwise)
    ranks = frozen_help > frozen_harm + 0.01   # the frozen trunk: the helpful source's weights the better place to stay
    frozen_says = ("the frozen trunk says staying at the helpful source's weights is worth more to the target than "
                   "staying at the harmful source's" if ranks else
                   "the frozen trunk does not rank the two sources' weights 1 point apart or more here")
    less_to_lose = plain_harm < plain_help - 0.01   # plain fine-tuning from the harmful source ended lower
    if outcome == "larger":
        why += ("The pull α(w − w_S⁰) has the same form toward every source; what differs is the place it holds the "
                f"network near: here {frozen_says}. ")
        why += ("Plain fine-tuning from the harmful source ended lower, so it had less accuracy to lose, and L2-SP "
                "still lost more of it. " if less_to_lose else
                "Plain fine-tuning ended about as high from both sources, so the larger cost is not a matter of "
                "more to lose. ")
        why += order
    elif outcome == "same":
        why += ("The pull cost about as much toward both: in these seeds, holding the network near weights for "
                f"random labels did not cost more than holding it near useful ones{', although' if ranks else ';'} {frozen_says}. "
                "A possible reason, not measured here: 100 steps at rate 0.3 carry plain fine-tuning only a short "
                "way from either. " + order)
    else:
        why += ("The pull cost less toward the harmful source. "
                + ("Plain fine-tuning from it ended lower, so there was less to lose. " if less_to_lose else
                   "Plain fine-tuning ended about as high from both sources, so that is not a matter of less to lose. ")
                + f"{'Yet' if ranks else 'And'} {frozen_says}. " + order)
    return answer == outcome, why


# ---------------------------------------------------------------- why pairing shrinks the sd (a derivation)

def solution_paired_gap_sd(sd_with, sd_without, corr):
    """sd of the per-seed gap a - b from the two columns' sds and their correlation over seeds:
    Var(a - b) = Var(a) + Var(b) - 2 Cov(a, b), with Cov(a, b) = corr * sd(a) * sd(b)."""
    return (sd_with ** 2 + sd_without ** 2 - 2 * corr * sd_with * sd_without) ** 0.5


@register("paired-gap-sd", "Why the paired gap's sd is small: the sd of a - b from sd(a), sd(b) and their correlation",
          solution_paired_gap_sd)
def check_paired_gap_sd(answer) -> str | None:
    g = torch.Generator().manual_seed(1)
    for shared in (0.0, 0.05, 0.2):   # how much of each seed's accuracy the two columns share
        common = shared * torch.randn(400, generator=g, dtype=torch.float64)
        a = 0.70 + common + 0.03 * torch.randn(400, generator=g, dtype=torch.float64)
        b = 0.74 + common + 0.02 * torch.randn(400, generator=g, dtype=torch.float64)
        sa, sb = a.std(unbiased=False).item(), b.std(unbiased=False).item()
        corr = ((a - a.mean()) * (b - b.mean())).mean().item() / (sa * sb)
        want = (a - b).std(unbiased=False).item()   # measured on the samples: the identity holds exactly
        got = answer(sa, sb, corr)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return f"Return one number, got {type(got).__name__}."
        if abs(got - want) <= 1e-6 * max(1.0, want):
            continue
        if abs(got - (sa ** 2 + sb ** 2) ** 0.5) < 1e-6:
            return ("That is the sd of a - b if the two columns were independent (the unpaired sd): the covariance "
                    "term is missing, Var(a - b) = Var(a) + Var(b) - 2 Cov(a, b).")
        if abs(got - (sa ** 2 + sb ** 2 + 2 * corr * sa * sb) ** 0.5) < 1e-6:
            return "That is the sd of a + b: for a difference the covariance term enters with a minus sign."
        if abs(got - want ** 2) < 1e-6:
            return "That is the variance; return the sd (its square root)."
        return (f"With sd(a) = {sa:.4f}, sd(b) = {sb:.4f}, corr = {corr:.3f} the per-seed gap's sd is {want:.4f}, "
                f"you gave {got:.4f}. Expand Var(a - b) and write Cov(a, b) with the correlation.")
    return None
