"""Exercises of fine-tuning well: the slanted triangular schedule (a derivation checked against the
package's schedule), and two predictions: long unfreezing stages with many labels, and LP-FT's
feature distortion with many labels."""

from __future__ import annotations

import math

import torch

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.schedules import slanted_triangular

# ---------------------------------------------------------------- the slanted triangular schedule


def solution_stlr(steps, cut_frac, ratio):
    """ULMFiT's eq. 3: a linear rise to the peak at step cut = floor(steps * cut_frac), then a linear fall;
    the scale (1 + p (ratio - 1)) / ratio runs from 1/ratio (p = 0) to 1 (p = 1)."""
    cut = math.floor(steps * cut_frac)
    scales = []
    for t in range(steps):
        p = t / cut if t < cut else 1 - (t - cut) / (steps - cut)   # the paper's cut (1/cut_frac - 1), exact
        scales.append((1 + p * (ratio - 1)) / ratio)
    return torch.tensor(scales)


@register("stlr-schedule", "The slanted triangular schedule (Howard & Ruder 2018, eq. 3)", solution_stlr)
def check_stlr(answer) -> str | None:
    for steps, cut_frac, ratio in ((100, 0.1, 32.0), (50, 0.2, 10.0), (23, 0.3, 4.0)):
        want = slanted_triangular(steps, cut_frac=cut_frac, ratio=ratio)
        got = answer(steps, cut_frac, ratio)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return f"Return {steps} numbers, one scale per step (a tensor of shape ({steps},)); got {shape}."
        got = got.float()
        if torch.allclose(got, want, atol=1e-5):
            continue
        cut = math.floor(steps * cut_frac)
        if int(got.argmax()) != cut:
            return (f"With steps={steps}, cut_frac={cut_frac} your peak is at step {int(got.argmax())}; it must be "
                    f"at step cut = floor(steps · cut_frac) = {cut} (steps count from 0).")
        if abs(got.max().item() - 1.0) > 1e-4:
            return f"The peak must be the full rate, a scale of 1 (got {got.max().item():.4f})."
        if abs(got[0].item() - 1 / ratio) > 1e-4:
            return (f"Step 0 must have the scale 1/ratio = {1 / ratio:.4f} (p = 0 in (1 + p(ratio − 1))/ratio); "
                    f"got {got[0].item():.4f}.")
        return (f"With steps={steps}, cut_frac={cut_frac}, ratio={ratio}: expected {want[:4].tolist()} … "
                f"{want[-2:].tolist()}, got {got[:4].tolist()} … {got[-2:].tolist()}. After the peak, "
                "p falls linearly from 1 at step cut to reach 0 one step after the last: "
                "p = 1 − (t − cut) / (steps − cut).")
    return None


# ---------------------------------------------------------------- long unfreezing stages with many labels

def unfreeze_outcome(longest: float, all_at_once: float, *, margin: float = 0.03) -> str:
    """'above', 'about the same' or 'below': the longest stages' accuracy against all layers at once."""
    if longest > all_at_once + margin:
        return "above"
    return "below" if longest < all_at_once - margin else "about the same"


@register_prediction(
    "long-unfreezing-stages", "Gradual unfreezing with long stages and 100 target labels",
    examples=[("below", (0.45, 0.90), True), ("about the same", (0.45, 0.90), False),
              ("about the same", (0.89, 0.90), True), ("above", (0.89, 0.90), False)])
def judge_long_stages(answer, measured):
    allowed = ("above", "about the same", "below")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    longest, all_at_once = measured
    outcome = unfreeze_outcome(longest, all_at_once)
    why = (f"Measured: {longest:.3f} with the longest stages, {all_at_once:.3f} with all layers at once, so "
           f"'{outcome}'. While the trunk is frozen the head alone fits the target at rate 1.0 and its weights "
           "grow several times larger; every change of the trunk then moves the logits several times more, so "
           "when the last layer joins (step 80), rate 1.0 is far too large a step: the training loss jumps and "
           "the trunk is thrown off its features with no steps left to recover. With 10 labels the head fits "
           "its few examples first, almost no gradient is left, and the stage length hardly matters.")
    return answer == outcome, why


# ---------------------------------------------------------------- LP-FT's feature distortion with many labels

@register_prediction(
    "lp-ft-distortion", "How far LP-FT moves the trunk with 100 target labels, against plain fine-tuning",
    examples=[("farther", 2.0, True), ("less", 2.0, False), ("less", 0.4, True), ("about the same", 1.05, True),
              ("farther", 1.05, False)])
def judge_lp_ft(answer, ratio):
    allowed = ("less", "about the same", "farther")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    if not isinstance(ratio, (int, float)) or not ratio > 0:
        raise ValueError(f"measured={ratio!r} must be the ratio of the two trunk distances, a number > 0")
    outcome = "farther" if ratio > 1.2 else "less" if ratio < 1 / 1.2 else "about the same"
    why = (f"Measured: LP-FT's trunk travelled {ratio:.2f}× as far as plain fine-tuning's, so '{outcome}'. "
           "Kumar et al.'s argument: a fitted head leaves little loss, so fine-tuning barely moves the features. "
           "Here the probe cannot fit 100 re-wired digits that well with fixed features, and its head grows "
           "several times larger; when the trunk joins at the same rate 1.0, each step moves the logits several "
           "times more, the training loss jumps, and the trunk is thrown far (section 8.3 shows it).")
    return answer == outcome, why
