"""Exercises of negative transfer: the negative-transfer gap over seeds (a derivation checked against a
reference), and L2-SP toward a harmful source (predict, then run). Chapter 9's build exercise, the L2-SP
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
        why += ("The pull toward w_S⁰ neither held the network back nor helped here: plain fine-tuning, in 100 steps, "
                "did not travel much further from the source than L2-SP let it.")
    else:
        why += ("The pull toward the source's weights helped: what it kept of w_S⁰ was worth more to the target than "
                "what plain fine-tuning learned in its place, although the source's labels were random.")
    return answer == outcome, why
