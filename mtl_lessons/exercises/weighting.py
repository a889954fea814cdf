"""Exercises of task weighting: which points are Pareto-optimal, and per-task loss normalisation."""

from __future__ import annotations

import torch

from mtl_lessons.exercises import register
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


# ---------------------------------------------------------------- per-task normalisation

def solution_normalised_weights(initial_losses):
    """w_t = 1 / L_t(theta_0): every task's weighted loss starts at 1, whatever its scale."""
    return 1.0 / torch.as_tensor(initial_losses, dtype=torch.float32)


@register("normalised-weights", "Per-task normalisation of the weights", solution_normalised_weights)
def check_normalised_weights(answer) -> str | None:
    initial = torch.tensor([0.02, 2.0, 150.0])
    got = answer(initial.clone())
    if not isinstance(got, torch.Tensor) or got.shape != (3,):
        return "Return one weight per task as a tensor of shape (n_tasks,) = (3,)."
    want = solution_normalised_weights(initial)
    if torch.allclose(got, want, rtol=1e-4):
        return None
    if torch.allclose(got, initial, rtol=1e-4):
        return "These are the losses themselves; a large loss needs a *small* weight: divide, w_t = 1 / L_t(0)."
    if torch.allclose(got, want / want.sum(), rtol=1e-4) or torch.allclose(got, want / want.mean(), rtol=1e-4):
        return ("The ratios are right but the weights are rescaled. Here we want w_t L_t(0) = 1 for every task "
                "(rescaling all weights by a constant only changes the step size).")
    if torch.allclose(got, 1 / initial.sqrt(), rtol=1e-4):
        return "You divided by the square root (an RMSE scale); the weight that cancels the loss's scale is 1 / L_t(0)."
    return f"Got {got.tolist()}, expected {want.tolist()}: each weight is one over that task's initial loss."
