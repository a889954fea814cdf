"""Exercises of choosing and measuring: Δm by hand (checked against metrics.delta_m), and a prediction
of whether the chosen point's cross-validated score over- or under-states its test score."""

from __future__ import annotations

import torch

from mtl_lessons.exercises import register, register_prediction


def solution_delta_m(metrics, baseline, lower_is_better):
    """Δm = (1/T) Σ_t (-1)^{l_t} (M_t - M_t^base) / M_t^base × 100, one metric per task (l_t = 1: lower is better)."""
    total = 0.0
    for m, b, low in zip(metrics, baseline, lower_is_better):
        sign = -1.0 if low else 1.0
        total += sign * (m - b) / b
    return 100.0 * total / len(metrics)


@register("delta-m", "Δm by hand", solution_delta_m)
def check_delta_m(answer) -> str | None:
    from mtl_lessons.metrics import delta_m  # the reference, computed here (not in the notebook)

    cases = [([0.95, 0.80, 350.0], [0.90, 0.85, 400.0], [False, False, True]),
             ([0.5, 2.0], [0.5, 1.0], [True, True]),
             ([0.99], [0.98], [False])]
    for metrics, baseline, lower in cases:
        want = delta_m(torch.tensor(metrics, dtype=torch.float64), torch.tensor(baseline, dtype=torch.float64),
                       lower).item()
        got = float(answer(list(metrics), list(baseline), list(lower)))
        if abs(got - want) < 1e-6 * max(1.0, abs(want)):
            continue
        if abs(got - want / 100) < 1e-6:
            return "Δm is a percentage: multiply the mean relative change by 100."
        n = len(metrics)
        if n > 1 and abs(got - want * n) < 1e-6 * max(1.0, abs(want * n)):
            return "Average over the tasks (divide by T); you summed them."
        flipped = delta_m(torch.tensor(metrics, dtype=torch.float64), torch.tensor(baseline, dtype=torch.float64),
                          [not v for v in lower]).item()
        if abs(got - flipped) < 1e-6 * max(1.0, abs(flipped)):
            return "The sign is the wrong way round: (-1)^{l_t} is -1 where *lower* is better (an error, an RMSE)."
        return (f"For metrics {metrics}, baseline {baseline}, lower_is_better {lower}: expected Δm = {want:.4f}, "
                f"got {got:.4f}. Divide each task's change by the *baseline's* value.")
    return None


@register_prediction("cv-optimism", "Does the chosen point's CV score over- or under-state its test score?",
                     examples=[("over", 1.5, True), ("higher", 1.5, True), ("under", 1.5, False),
                               ("same", 1.5, False), ("under", -1.5, True), ("same", 0.1, True)])
def judge_cv_optimism(answer, measured):
    """measured: CV Δm of the chosen point minus its test Δm, mean over seeds (points of Δm)."""
    words = {"over": 1, "higher": 1, "optimistic": 1, "under": -1, "lower": -1, "pessimistic": -1,
             "same": 0, "equal": 0}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'over', 'under' or 'same'")
    outcome = 0 if abs(measured) < 0.5 else (1 if measured > 0 else -1)
    return words[key] == outcome, (
        f"The chosen point's CV Δm was {measured:+.2f} points above its test Δm (mean over seeds). The choice "
        "picks the *largest* of many noisy CV scores, so part of what made it win is luck on these folds, and "
        "that luck does not come back on new data: the winner's score is biased upward (the 'winner's curse'). "
        "That is why the test set is scored once, after the choice, and why nested CV wraps the whole choice "
        "in an outer loop when no test set can be spared.")
