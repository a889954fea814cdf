"""Exercises of conflicting gradients: MGDA's two-task weight, which task MGDA favours, PCGrad's step for two
gradients (built), which step is longest at 165° (predicted, then measured), and a prediction of equal
weighting's gradient cosine at the end of training."""

from __future__ import annotations

import torch

from mtl_lessons.exercises import register, register_prediction


def solution_mgda_gamma(g1, g2):
    """gamma* = clip(((g2 - g1) · g2) / |g1 - g2|^2, 0, 1): the weight of g1 in the min-norm point."""
    diff = g1 - g2
    denom = diff @ diff
    if denom == 0:
        return 0.5
    return float(torch.clamp(((g2 - g1) @ g2) / denom, 0.0, 1.0))


@register("mgda-gamma", "MGDA's two-task weight γ*", solution_mgda_gamma)
def check_mgda_gamma(answer) -> str | None:
    cases = [(torch.tensor([1.0, 0.0]), torch.tensor([-0.3, 0.5])),   # interior
             (torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.1])),    # g1 is the shorter and agrees: gamma = 1
             (torch.tensor([0.2, 0.1]), torch.tensor([-3.0, 4.0]))]
    gammas = torch.linspace(0, 1, 200001)  # the reference: the shortest point on the segment, by brute force
    for g1, g2 in cases:
        norms = ((gammas[:, None] * g1 + (1 - gammas[:, None]) * g2) ** 2).sum(1)
        want = gammas[norms.argmin()].item()
        got = float(answer(g1.clone(), g2.clone()))
        if abs(got - want) > 1e-3:
            if abs(1 - got - want) < 1e-3:
                return "You returned the weight of g2; γ* is the weight of g1 in γ g1 + (1 - γ) g2."
            if not 0 <= got <= 1:
                return f"γ* = {got:.3f} is outside [0, 1]: clip it (the min-norm point is then a vertex)."
            return f"For g1 = {g1.tolist()}, g2 = {g2.tolist()}: expected γ* = {want:.4f}, got {got:.4f}."
    return None


@register_prediction("mgda-favours", "Which task does MGDA weight more when |g₂| = ½|g₁|?",
                     examples=[("task 2", 2, True), ("the shorter", 2, True), ("task 1", 2, False),
                               ("the longer", 2, False), (2, 2, True), ("task 1", 1, True)])
def judge_mgda_favours(answer, measured):
    """measured: the task (1 or 2) with the larger MGDA weight."""
    words = {"task 1": 1, "1": 1, "the longer": 1, "longer": 1, "task 2": 2, "2": 2, "the shorter": 2, "shorter": 2}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'task 1' or 'task 2' (or 'the longer' / 'the shorter')")
    right = words[key] == measured
    if measured == 2:
        why = ("MGDA gave task 2, the *shorter* gradient, the larger weight: the min-norm point of the segment "
               "from g1 to g2 lies nearer the shorter vector. For two tasks this always holds: γ* > ½ exactly when "
               "|g1| < |g2| (expand |g1 - g2|² in γ*'s formula). A short gradient often, not always, means a task "
               "near its optimum.")
    else:
        why = ("MGDA gave task 1 the larger weight here, so g1 was the shorter gradient: for two tasks γ* > ½ "
               "exactly when |g1| < |g2|; the min-norm point lies nearer the shorter vector.")
    return right, why


def solution_pcgrad_two(g1, g2):
    """PCGrad for two tasks: project each gradient off the other if they conflict (g1·g2 < 0), then sum."""
    inner = g1 @ g2
    if inner >= 0:
        return g1 + g2
    return (g1 - inner / (g2 @ g2) * g2) + (g2 - inner / (g1 @ g1) * g1)


@register("pcgrad-two", "Build PCGrad's step for two gradients", solution_pcgrad_two)
def check_pcgrad_two(answer) -> str | None:
    from mtl_lessons.gradients import pcgrad
    cases = [(torch.tensor([1.0, 0.0]), torch.tensor([-0.25, 0.433])),   # 120°, conflict
             (torch.tensor([1.0, 0.0]), torch.tensor([0.3, 0.4])),       # no conflict: the plain sum
             (torch.tensor([2.0, 1.0, -1.0]), torch.tensor([-1.0, 0.5, 2.0])),
             (torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 0.0])),      # opposite: PCGrad gives 0
             (torch.tensor([1.0, 0.0]), torch.tensor([-0.5, 0.01]))]     # nearly opposite: about (4ε², 3ε), ε = 0.01
    for g1, g2 in cases:
        want = pcgrad(torch.stack([g1, g2]).double()).float()
        got = torch.as_tensor(answer(g1.clone(), g2.clone()), dtype=torch.float32)
        if got.shape != g1.shape:
            return f"Return one direction of the gradients' shape {tuple(g1.shape)}, got shape {tuple(got.shape)}."
        if not torch.allclose(got, want, atol=1e-5):
            if torch.allclose(got, g1 + g2, atol=1e-5):
                return (f"For g1 = {g1.tolist()}, g2 = {g2.tolist()} (g1·g2 = {float(g1 @ g2):.3f}) you returned the "
                        "plain sum: when the gradients conflict, project first.")
            one_sided = g1 - (g1 @ g2) / (g2 @ g2) * g2 + g2
            if (g1 @ g2) < 0 and torch.allclose(got, one_sided, atol=1e-5):
                return "You projected g1 off g2 only: PCGrad projects *each* conflicting gradient off the other."
            return (f"For g1 = {g1.tolist()}, g2 = {g2.tolist()}: expected {want.numpy().round(4).tolist()}, got "
                    f"{got.numpy().round(4).tolist()}. Project g_i onto the normal plane of g_j, with the original g_j.")
    return None


def _cosine_side(value) -> int:
    """-1, 0 or +1: which of "near -1", "near 0", "near +1" a cosine is closest to."""
    return -1 if value <= -0.5 else 1 if value >= 0.5 else 0


@register_prediction("equal-cosine", "Equal weighting's gradient cosine at the end of training",
                     examples=[("near -1", -0.98, True), ("negative", -0.9, True), ("near 0", -0.98, False),
                               ("near +1", -0.98, False), (-1, -0.98, True), ("near 0", 0.05, True),
                               ("near +1", 0.9, True), ("near -1", 0.1, False)])
def judge_equal_cosine(answer, measured):
    """measured: equal weighting's gradient cosine on the shared parameters, mean over the second half of
    training (the median over seeds)."""
    words = {"near -1": -1, "-1": -1, "negative": -1, "opposite": -1, "near 0": 0, "0": 0, "orthogonal": 0,
             "near +1": 1, "near 1": 1, "+1": 1, "1": 1, "positive": 1}
    if isinstance(answer, (int, float)) and not isinstance(answer, bool) and -1 <= answer <= 1:
        guess = _cosine_side(answer)
    elif str(answer).lower().strip() in words:
        guess = words[str(answer).lower().strip()]
    else:
        raise ValueError(f"answer {answer!r}: say 'near -1', 'near 0' or 'near +1' (or a number in [-1, 1])")
    side = _cosine_side(measured)
    if side == -1:
        why = (f"The measured cosine was {measured:+.2f}. At a stationary point of L_1 + L_2 the shared gradients "
               "cancel, g_1 + g_2 = 0: they point in opposite directions (cosine -1) unless both vanish. Training "
               "ended near such a point: the two tasks still pull the one shared unit, in opposite directions, "
               "and the pulls balance. That says the tasks compete; not that another method would do better.")
    else:
        why = (f"The measured cosine was {measured:+.2f}, far from -1. At a stationary point of L_1 + L_2, "
               "g_1 = -g_2 on the shared parameters (cosine -1) unless both gradients vanish; so these runs had "
               "not settled at such a point, or the shared unit saturated and both its gradients nearly vanished "
               "(then the cosine can take any value).")
    return guess == side, why


_STEPS = {"sum": "the sum", "pcgrad": "PCGrad", "mgda": "MGDA"}


@register_prediction("longest-step-165", "Which step is longest when the gradients are 165° apart?",
                     examples=[("pcgrad", {"angle": 165, "sum": 0.533, "pcgrad": 0.385, "mgda": 0.087}, False),
                               ("sum", {"angle": 165, "sum": 0.533, "pcgrad": 0.385, "mgda": 0.087}, True),
                               ("the sum", {"angle": 165, "sum": 0.533, "pcgrad": 0.385, "mgda": 0.087}, True),
                               ("PCGrad", {"angle": 150, "sum": 0.620, "pcgrad": 0.727, "mgda": 0.172}, True),
                               ("mgda", {"angle": 150, "sum": 0.620, "pcgrad": 0.727, "mgda": 0.172}, False)])
def judge_longest_step(answer, measured):
    """measured: {"angle": degrees, "sum", "pcgrad", "mgda": the length of each direction at that angle}."""
    words = {"sum": "sum", "the sum": "sum", "equal": "sum", "g1 + g2": "sum", "pcgrad": "pcgrad", "mgda": "mgda"}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'sum', 'pcgrad' or 'mgda'")
    lengths = {m: float(measured[m]) for m in _STEPS}
    longest = max(lengths, key=lengths.get)
    shown = ", ".join(f"{_STEPS[m]} {v:.3f}" for m, v in lengths.items())
    why = f"At {measured['angle']:g}° the measured lengths were {shown}: {_STEPS[longest]} is the longest. "
    if longest == "pcgrad":
        why += ("Here the two gradients largely cancel in the sum, while PCGrad first removes the conflicting "
                "components and adds what is left, |g_i| sin(a) each, at an angle of 180° - a < 90° to each other. "
                "Nearer 180°, sin(a) shrinks and PCGrad's step falls below the sum's.")
    else:  # MGDA is never the longest: the sum is twice the segment's midpoint, MGDA its point nearest 0
        why += ("PCGrad's step is longer than the sum's only part of the way: each projected gradient keeps "
                "|g_i| sin(a), which shrinks to 0 as the angle nears 180°, while the sum tends to |g1| - |g2| = ½ "
                "(the longer gradient wins).")
    why += (" MGDA, the point of the segment g1-g2 nearest the origin, is never longer than the sum (twice the "
            "segment's midpoint); it reaches 0 at 180°, where the segment passes through the origin "
            "(Pareto-stationary), and so does PCGrad.")
    return words[key] == longest, why
