"""Exercises of fine-tuning well: gradual unfreezing written as rate scales per step and layer (built,
checked against the package's schedule), the slanted triangular schedule (a derivation checked against
the package's schedule), and two predictions: long unfreezing stages with many labels, and LP-FT's
feature distortion with many labels."""

from __future__ import annotations

import math

import torch

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.schedules import gradual_unfreezing, slanted_triangular

# ---------------------------------------------------------------- gradual unfreezing, built

def solution_gradual(steps, n_layers, stage_steps):
    """A 0/1 scale per step and layer, (steps, n_layers + 1), the heads in the last column: the heads train
    from step 0; hidden layer d (0 nearest the input) joins when n_layers - d stages have passed."""
    scales = torch.zeros(steps, n_layers + 1)
    scales[:, -1] = 1.0
    for d in range(n_layers):
        scales[(n_layers - d) * stage_steps:, d] = 1.0
    return scales


@register("gradual-unfreezing", "Gradual unfreezing as a rate scale per step and layer (ULMFiT, section 3.3)",
          solution_gradual)
def check_gradual(answer) -> str | None:
    for steps, n_layers, stage in ((10, 2, 3), (100, 2, 40), (12, 3, 0), (30, 4, 7)):
        want = gradual_unfreezing(steps, n_layers, stage)
        got = answer(steps, n_layers, stage)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return (f"With steps={steps}, n_layers={n_layers}: return a tensor of shape ({steps}, {n_layers + 1}), "
                    f"one row per step, one column per hidden layer and a last one for the head; got {shape}.")
        got = got.float()
        if torch.equal(got, want):
            continue
        where = f"steps={steps}, n_layers={n_layers}, stage_steps={stage}"
        if not torch.equal(got[:, -1], want[:, -1]):
            return f"With {where}: the head (the last column) trains at every step, a scale of 1 from step 0."
        if torch.equal(got[:, :-1], want[:, :-1].flip(1)):
            return (f"With {where}: your layers join in the wrong order. ULMFiT unfreezes from the top: the "
                    "hidden layer nearest the head (the last hidden column) joins first, the one nearest the "
                    "input last.")
        for d in range(n_layers):
            if not torch.equal(got[:, d], want[:, d]):
                first = int(want[:, d].argmax()) if want[:, d].any() else steps
                mine = int(got[:, d].argmax()) if got[:, d].any() else None
                return (f"With {where}: hidden layer {d} should be frozen (scale 0) for steps 0..{first - 1} and "
                        f"train (scale 1) from step {first} = ({n_layers} − {d}) · {stage}; yours "
                        + (f"starts at step {mine}." if mine is not None else "never trains.")
                        + (" Use only the values 0 and 1." if not set(got.unique().tolist()) <= {0.0, 1.0} else ""))
    return None


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
    "long-unfreezing-stages", "Gradual unfreezing with long stages and 100 target labels, at chapter 6's rate",
    examples=[("below", (0.45, 0.90, 0.85, 1.0, 0.1), True), ("about the same", (0.45, 0.90, 0.85, 1.0, 0.1), False),
              ("below", (0.45, 0.90, 0.47, 1.0, 0.1), True), ("about the same", (0.89, 0.90, 0.88, 1.0, 0.1), True),
              ("above", (0.89, 0.90, 0.88, 1.0, 0.1), False), ("above", (0.95, 0.90, 0.90, 1.0, 0.1), True)])
def judge_long_stages(answer, measured):
    allowed = ("above", "about the same", "below")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    if not (isinstance(measured, tuple) and len(measured) == 5):
        raise ValueError(f"measured={measured!r} must be (longest stages, all at once, longest stages with the "
                         "smaller rate from the second stage on, the rate, the control's factor): five numbers")
    longest, all_at_once, slow, rate, join = measured
    outcome = unfreeze_outcome(longest, all_at_once)
    why = (f"Measured: {longest:.3f} with the longest stages, {all_at_once:.3f} with all layers at once, both at "
           f"rate {rate:g}, so '{outcome}'. The control, the same stages with the rate ×{join:g} from the step the "
           f"top hidden layer joins, ends at {slow:.3f}. ")
    if outcome == "below" and slow - longest > 0.1:
        why += (f"So the loss is the step size, not the schedule: while the lower layers are frozen the head fits the "
                f"target at rate {rate:g} and its weights grow several times larger; every change of the layers "
                f"below then moves the logits several times more, and when the layer nearest the input joins (two "
                f"stages in) rate {rate:g} is far too large a step: the training loss jumps by an order of magnitude "
                f"and the trunk is thrown off its features, with few steps left to recover. The rate ×{join:g} "
                "avoids it.")
    elif outcome == "below":
        why += ("The smaller rate does not recover it either, so here it is the schedule itself: the lower layers "
                "train for fewer steps than with all layers at once.")
    elif outcome == "about the same":
        why += ("Here the stage length costs nothing measurable: the head fits first and the trunk's later steps, "
                "at this rate, neither help nor harm much.")
    else:
        why += "Here the long stages helped: keeping the trunk frozen while the head fits protected its features."
    return answer == outcome, why


# ---------------------------------------------------------------- LP-FT's feature distortion with many labels

@register_prediction(
    "lp-ft-distortion", "How far LP-FT moves the trunk with 100 target labels, against plain fine-tuning, "
                        "both at chapter 6's rate",
    examples=[("farther", (2.0, 0.5, 0.7, 1.0, 0.1), True), ("less", (2.0, 0.5, 0.7, 1.0, 0.1), False),
              ("less", (0.4, 0.5, 0.7, 1.0, 0.1), True), ("about the same", (1.05, 0.5, 0.7, 1.0, 0.1), True),
              ("farther", (1.05, 0.5, 0.7, 1.0, 0.1), False)])
def judge_lp_ft(answer, measured):
    allowed = ("less", "about the same", "farther")
    if answer not in allowed:
        raise ValueError(f"my_prediction={answer!r}: answer one of {', '.join(map(repr, allowed))}")
    if not (isinstance(measured, tuple) and len(measured) == 5 and all(
            isinstance(r, (int, float)) and r > 0 for r in measured)):
        raise ValueError(f"measured={measured!r} must be (LP-FT / fine-tuning trunk distance at the fast rate, the "
                         "same at the slow rate, LP-FT / late start at the slow rate, the fast rate, the slow "
                         "rate): five numbers > 0")
    fast, slow, late, fast_rate, slow_rate = measured

    def word(ratio):
        return "farther" if ratio > 1.2 else "less" if ratio < 1 / 1.2 else "about the same"

    outcome = word(fast)
    why = (f"Measured: at rate {fast_rate:g} LP-FT's trunk travelled {fast:.2f}× as far as plain fine-tuning's, so "
           f"'{outcome}'; with both at rate {slow_rate:g} (LP-FT's after the probe), {slow:.2f}× ('{word(slow)}'), "
           f"and {late:.2f}× as far as the late start (no probe, the trunk trains the same last half of the steps). ")
    if outcome == "farther":
        why += (f"At rate {fast_rate:g} the probe cannot fit 100 re-wired digits that well with fixed features, its "
                "head grows several times larger, and when the trunk joins each step moves the logits several "
                "times more: the training loss jumps and the trunk is thrown far (section 8.3 shows it). ")
    elif outcome == "less":
        why += "The paper's direction: a fitted head leaves less loss to push into the trunk. "
    else:
        why += (f"At rate {fast_rate:g} the two effects cancel: the fitted head leaves less loss, but its grown "
                "weights make each step of the trunk a larger one. ")
    why += ("Against the late start, which trains the trunk for as few steps, " +
            (f"the probe itself keeps the trunk closer at rate {slow_rate:g} (Kumar et al.'s mechanism)."
             if word(late) == "less" else
             f"the probe itself makes no clear difference at rate {slow_rate:g}: fewer steps do the work."))
    return answer == outcome, why
