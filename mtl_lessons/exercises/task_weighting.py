"""Exercises of task weighting: which points are Pareto-optimal (build), where the weighted sum lands
on the convex toy front (derive, checked against a brute-force minimisation), and a prediction of how
far L_2 falls as lam grows. The gradient of L_1 + lam L_2 that a task's own head feels (against
autograd) is kept for instructors; the notebook no longer asks it (chapter 1's exercise 1.2 is the same
derivation)."""

from __future__ import annotations

import torch

import numpy as np

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.metrics import pareto_mask


# ---------------------------------------------------------------- Pareto-optimal points

def solution_pareto_optimal(points):
    """True where no other point is <= in both losses and < in one (lower is better)."""
    points = torch.as_tensor(points, dtype=torch.float64)  # (n, 2)
    mask = []
    for p in points:
        dominated = ((points <= p).all(1) & (points < p).any(1)).any()
        mask.append(not bool(dominated))
    return torch.tensor(mask)


@register("pareto-optimal", "Which points are Pareto-optimal?", solution_pareto_optimal)
def check_pareto_optimal(answer) -> str | None:
    g = torch.Generator().manual_seed(0)
    cases = [
        torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [0.2, 1.0]]),  # a tie in one loss
        torch.tensor([[0.3, 0.3], [0.3, 0.3], [0.5, 0.1]]),                         # two equal points
        torch.rand(30, 2, generator=g),
    ]
    for points in cases:
        got = answer(points.clone())
        got = torch.as_tensor(got)
        if got.shape != (len(points),):
            return f"Return one True/False per point, shape ({len(points)},); got shape {tuple(got.shape)}."
        got = got.bool()
        want = pareto_mask(points)
        if torch.equal(got, want):
            continue
        if torch.equal(got, ~want):
            return "You marked the dominated points; a Pareto-optimal point is one that no other point dominates."
        if torch.equal(got, pareto_mask(-points)):
            return "You treated higher as better; here both are losses, so lower is better."
        strict = torch.tensor([not bool((points < p).all(1).any()) for p in points])
        if torch.equal(got, strict):
            return ("Dominating needs 'no worse in every loss and better in at least one', not 'better in both': "
                    "(0.2, 1.0) is dominated by (0.0, 1.0).")
        if len(points) == 3 and not got[:2].all():
            return ("Two equal points do not dominate each other (neither is better in any loss); "
                    "both stay Pareto-optimal.")
        return f"For the points {points.tolist()[:5]}... expected {want.tolist()[:5]}..., got {got.tolist()[:5]}..."
    return None


# ---------------------------------------------------------------- the gradient a task's own head feels

def solution_head_gradient(h, y2, w2, b2, lam):
    """Gradient of L_1 + lam L_2 w.r.t. task 2's head (w2, b2), L_2 = mean((h @ w2 + b2 - y2)^2).

    L_1 does not depend on task 2's head, so only lam L_2 contributes:
    d/dw2 = lam * 2/n * h^T r and d/db2 = lam * 2/n * sum(r), with r = h @ w2 + b2 - y2 (n,)."""
    r = h @ w2 + b2 - y2  # (n,) residuals of task 2
    n = len(y2)
    return lam * 2 / n * (h.T @ r), lam * 2 / n * r.sum()


def _autograd_head_gradient(h, y1, y2, w1, b1, w2, b2, lam):
    """The reference: autograd of L_1 + lam L_2 for a two-head model on shared features h."""
    w2, b2 = w2.clone().requires_grad_(True), b2.clone().requires_grad_(True)
    loss_1 = ((h @ w1 + b1 - y1) ** 2).mean()
    loss_2 = ((h @ w2 + b2 - y2) ** 2).mean()
    (loss_1 + lam * loss_2).backward()
    return w2.grad, b2.grad


@register("head-gradient", "The gradient of L_1 + λ L_2 with respect to task 2's head", solution_head_gradient)
def check_head_gradient(answer) -> str | None:
    g = torch.Generator().manual_seed(3)
    n, hidden = 12, 3
    h = torch.tanh(torch.randn(n, hidden, generator=g, dtype=torch.float64))  # (n, hidden) shared features
    y1, y2 = torch.randn(2, n, generator=g, dtype=torch.float64)
    w1, w2 = torch.randn(2, hidden, generator=g, dtype=torch.float64)
    b1, b2 = torch.randn(2, generator=g, dtype=torch.float64)
    for lam in (0.1, 1.0, 10.0):
        want_w, want_b = _autograd_head_gradient(h, y1, y2, w1, b1, w2, b2, lam)
        got = answer(h.clone(), y2.clone(), w2.clone(), b2.clone(), lam)
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            return "Return a pair (gradient w.r.t. w2 of shape (hidden,), gradient w.r.t. b2, a scalar)."
        got_w, got_b = (torch.as_tensor(v, dtype=torch.float64) for v in got)
        if got_w.shape != want_w.shape or got_b.numel() != 1:
            return (f"The gradient w.r.t. w2 has the shape of w2, {tuple(want_w.shape)}, and the one w.r.t. b2 is "
                    f"one number; got shapes {tuple(got_w.shape)} and {tuple(got_b.shape)}.")
        got_b = got_b.reshape(())
        if torch.allclose(got_w, want_w) and torch.allclose(got_b, want_b):
            continue
        if torch.allclose(got_w, want_w / lam) and torch.allclose(got_b, want_b / lam):
            return f"At λ = {lam:g} yours is the gradient of L_2 alone: the objective weights L_2 by λ, so does its gradient."
        if torch.allclose(got_w, -want_w) and torch.allclose(got_b, -want_b):
            return "The sign is flipped: with r = prediction - target, d(r^2)/dw = +2 r dr/dw."
        if torch.allclose(got_w, want_w / 2) and torch.allclose(got_b, want_b / 2):
            return "Half of the right answer: the derivative of r^2 is 2 r."
        if torch.allclose(got_w, want_w * n) and torch.allclose(got_b, want_b * n):
            return f"{n} times too large: L_2 is a mean over the n = {n} examples, so divide the sum by n."
        if torch.allclose(got_w, want_w) and not torch.allclose(got_b, want_b):
            return "The weight's gradient is right; the bias's is the same without h: lam * 2/n * sum(r)."
        return (f"At λ = {lam:g} autograd gives {want_w.numpy().round(4)} and {want_b.item():.4f}; yours "
                f"{got_w.numpy().round(4)} and {got_b.item():.4f}. L_1 does not involve task 2's head.")
    return None


# ---------------------------------------------------------------- the convex toy's weighted-sum minimiser (derivation)

def solution_convex_minimiser(alpha):
    """argmin_x (1 - a) (x - 1)^2 / 4 + a (x + 1)^2 / 4: the derivative (x - 1 + 2a) / 2 is zero at x = 1 - 2a,
    where f_1 = (x - 1)^2 / 4 = a^2 and f_2 = (x + 1)^2 / 4 = (1 - a)^2."""
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    return 1 - 2 * alpha, alpha ** 2, (1 - alpha) ** 2


@register("convex-minimiser", "Where the weighted sum lands on the convex front", solution_convex_minimiser)
def check_convex_minimiser(answer) -> str | None:
    alpha = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0], dtype=torch.float64)
    got = answer(alpha.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return "Return three things, each with one value per alpha: (x*, f_1(x*), f_2(x*))."
    x, f1, f2 = (torch.as_tensor(g, dtype=torch.float64).detach().reshape(-1) for g in got)
    if not x.shape == f1.shape == f2.shape == alpha.shape:
        return f"Each of the three must have one value per alpha ({len(alpha)} here); got shapes {x.shape}, {f1.shape}, {f2.shape}."
    # the reference: brute force over a fine grid of x, as the chapter's toy does
    grid = torch.linspace(-1.5, 1.5, 30001, dtype=torch.float64)
    objective = (1 - alpha[:, None]) * (grid - 1) ** 2 / 4 + alpha[:, None] * (grid + 1) ** 2 / 4
    want = grid[objective.argmin(1)]
    if not torch.allclose(x, want, atol=1e-3):
        if torch.allclose(x, -want, atol=1e-3):
            return "x* has the wrong sign: alpha weighs f_2 = (x + 1)^2 / 4, which pulls x toward -1 as alpha grows."
        if torch.allclose(x, 1 - alpha, atol=1e-3):
            return "Close: set the derivative (1 - a)(x - 1)/2 + a(x + 1)/2 to zero and solve for x again (x = 1 - 2a)."
        i = int((x - want).abs().argmax())
        return (f"At alpha = {alpha[i]:g} your x* is {x[i]:.4f}; a brute-force minimisation over x gives {want[i]:.4f}. "
                "Differentiate (1 - a) (x - 1)^2 / 4 + a (x + 1)^2 / 4 in x and set it to zero.")
    if not (torch.allclose(f1, (x - 1) ** 2 / 4, atol=1e-6) and torch.allclose(f2, (x + 1) ** 2 / 4, atol=1e-6)):
        return "x* is right; f_1 and f_2 are not the losses at it: f_1 = (x* - 1)^2 / 4, f_2 = (x* + 1)^2 / 4 (simplify them in alpha)."
    return None


# ---------------------------------------------------------------- predict: how far does L_2 fall?

@register_prediction("l2-fall-factor", "As λ grows tenfold (1 → 10), by what factor does L_2 fall?",
                     examples=[(10, 2.0, False), (2, 2.0, True), (1.5, 2.0, True), (1, 2.0, False), (3, 2.2, True)])
def judge_l2_fall_factor(answer, measured) -> tuple[bool, str]:
    """answer: the factor L_2(lam=1) / L_2(lam=10) the learner expects (> 0); right within a factor of 1.5."""
    if isinstance(answer, bool) or not isinstance(answer, (int, float, np.integer, np.floating)):
        raise ValueError(f"my_prediction={answer!r}: give a number, the factor, e.g. 4 for 'L_2 falls 4-fold'")
    answer = float(answer)
    if not np.isfinite(answer) or answer <= 0:
        raise ValueError(f"my_prediction={answer}: a factor must be a positive number (1 means 'does not fall')")
    cut = 1 - 1 / measured
    right = 1 / 1.5 <= answer / measured <= 1.5
    why = f"L_2 fell {measured:.1f}-fold (a cut of {cut:.0%}); you said {answer:g}-fold. "
    if measured <= 1:
        why += "Here it did not fall at all: the shared unit did not move toward task 2's step between λ = 1 and 10."
    elif answer > 1.5 * measured:
        why += (f"It fell less than you expected: λ multiplies task 2's *weight* tenfold, not its loss, and L_2 falls "
                f"only as far as the one shared unit moves from task 1's step toward task 2's; {measured:.1f}-fold is "
                "how far it moved here.")
    elif answer < measured / 1.5:
        why += ("It fell more than you expected: between λ = 1 and 10 the one shared unit moved further from task 1's "
                "step toward task 2's than you assumed (the slider's middle panel shows the fits at both λ).")
    else:
        why += "Within a factor 1.5 of the measured fall: the shared unit moved about as far toward task 2 as you expected."
    return right, why


