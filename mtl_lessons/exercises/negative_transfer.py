"""Exercises of negative transfer: the negative-transfer gap over seeds (checked against a reference), why
pairing the seeds shrinks its sd (a derivation, checked numerically), and L2-SP toward a harmful source (predict, then run). Chapter 9's build exercise, the L2-SP
penalty ("l2-sp"), is registered in transfer.py beside the rest of L2-SP."""

from __future__ import annotations

import numpy as np
import torch

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


# ---------------------------------------------------------------- predict: L2-SP toward a harmful source

def l2_sp_outcome(l2sp: float, plain: float, *, tol: float = 0.02) -> str:
    """'worse', 'same' or 'better': L2-SP's target accuracy against plain fine-tuning at the same rate (tol apart)."""
    if l2sp < plain - tol:
        return "worse"
    return "better" if l2sp > plain + tol else "same"


@register_prediction(
    "l2-sp-harmful", "L2-SP toward a harmful source, against plain fine-tuning",
    examples=[("worse", (0.64, 0.68), True), ("same", (0.64, 0.68), False), ("better", (0.72, 0.68), True),
              ("same", (0.675, 0.68), True), ("better", (0.675, 0.68), False)])
def judge_l2_sp_harmful(answer, measured):
    allowed = ("worse", "same", "better")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    l2sp, plain = (float(np.mean(m)) for m in measured)
    outcome = l2_sp_outcome(l2sp, plain)
    why = f"Measured: L2-SP {l2sp:.3f}, plain fine-tuning {plain:.3f}, so '{outcome}' (within 0.02 counts as 'same'). "
    if outcome == "worse":
        why += ("L2-SP pulls the transferred weights toward w_S⁰, the source's: a source that taught nothing useful "
                "keeps the network near weights that fit random labels, and plain fine-tuning moves further away.")
    elif outcome == "same":
        why += ("The pull toward w_S⁰ neither held the network back nor helped by more than 2 points here; this "
                "chapter does not measure how far either travelled, so it cannot say whether the pull was weak or "
                "the source's weights were as good a place to stay as any.")
    else:
        why += ("The pull toward the source's weights helped: what it kept of w_S⁰ was worth more to the target than "
                "what plain fine-tuning learned in its place, although the source's labels were random.")
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
