"""Exercises of learning the task weights: uncertainty weighting's optimum, and a prediction about a noise task."""

from __future__ import annotations

import math

import torch

from mtl_lessons.exercises import register, register_prediction


def solution_uw_optimal_log_variance(loss):
    """argmin_s ½ e^{-s} L + ½ s: the derivative ½(1 - e^{-s} L) is 0 at s = log L."""
    return math.log(loss)


@register("uw-optimum", "Uncertainty weighting: the optimal log-variance", solution_uw_optimal_log_variance)
def check_uw_optimal_log_variance(answer) -> str | None:
    for loss in (0.01, 0.5, 1.0, 40.0):
        s = torch.zeros((), requires_grad=True)  # the reference: minimise the objective numerically
        opt = torch.optim.LBFGS([s], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")
        def closure():
            opt.zero_grad()
            value = 0.5 * torch.exp(-s) * loss + 0.5 * s
            value.backward()
            return value
        opt.step(closure)
        got = float(answer(loss))
        if abs(got - s.item()) > 1e-3:
            if abs(got - 1 / (2 * loss)) < 1e-3:
                return "That is the optimal *weight* ½e^{-s} = 1/(2L); the question asks for s itself."
            if abs(got - loss) < 1e-3:
                return "That is σ² = e^s; s is its logarithm."
            return f"For L = {loss}, the minimiser is s = {s.item():.4f}, you gave {got:.4f}. Set d/ds = 0."
    return None


@register_prediction("uw-noise-task", "How much weight does uncertainty weighting leave a pure-noise task?",
                     examples=[("small", 0.01, True), ("large", 0.01, False), ("half", 0.01, False),
                               (0.02, 0.01, True), (0.5, 0.01, False)])
def judge_uw_noise_task(answer, measured):
    """measured: the noise task's share of the total weight at the end of training."""
    if isinstance(answer, str):
        words = {"small": 0.0, "none": 0.0, "zero": 0.0, "half": 0.5, "equal": 0.5, "large": 1.0}
        if answer.lower() not in words:
            raise ValueError(f"answer {answer!r}: say 'small', 'half' or 'large', or give a share in [0, 1]")
        answer = words[answer.lower()]
    right = abs(float(answer) - measured) < 0.1
    return right, (f"The noise task ended with {measured:.1%} of the weight: its loss cannot fall below the noise "
                   "variance, so e^{s} = L keeps its weight 1/(2L) small while the learnable task's weight grows. "
                   "Uncertainty weighting cannot tell a noisy task from a hard one: both have a large loss.")
