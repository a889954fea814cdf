"""Exercises of the multi-task objective: the weighted objective, one training step."""

from __future__ import annotations

import copy

import torch

from mtl_lessons.exercises import register
from mtl_lessons.models import MultiTaskNet


# ---------------------------------------------------------------- the multi-task objective

def solution_weighted_objective(per_example_losses, weights):
    """sum_t w_t * (1/n_t) sum_i l_ti: each task averaged over its own examples, then weighted."""
    task_losses = torch.stack([losses.mean() for losses in per_example_losses])
    return (weights * task_losses).sum()


@register("weighted-objective", "The weighted multi-task objective", solution_weighted_objective)
def check_weighted_objective(answer) -> str | None:
    g = torch.Generator().manual_seed(0)
    per_example = [torch.rand(n, generator=g) for n in (3, 10, 40)]
    weights = torch.tensor([0.5, 2.0, 1.0])
    got = answer(per_example, weights)
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        return "Return one number as a 0-dimensional tensor (e.g. the result of `.sum()`), not a list or a vector."
    want = solution_weighted_objective(per_example, weights)
    if torch.allclose(got, want, atol=1e-5):
        return None
    candidates = {
        "You summed over each task's examples: a task with more points then weighs more. Average per task (divide by n_t).":
            sum(w * l.sum() for w, l in zip(weights, per_example)),
        "The weights w_t are not used: multiply each task's mean loss by its weight.":
            sum(l.mean() for l in per_example),
        "You averaged over all examples pooled together; average within each task first, then weight.":
            torch.cat(per_example).mean(),
        "You averaged the weighted task losses; the objective sums them over tasks.":
            want / len(per_example),
    }
    for hint, value in candidates.items():
        if torch.allclose(got, torch.as_tensor(value, dtype=got.dtype), atol=1e-5):
            return hint
    return f"Got {got.item():.4f}, expected {want.item():.4f}. Compute each task's mean loss, multiply by w_t, sum."


# ---------------------------------------------------------------- one training step

def solution_training_step(model, optimizer, x, y, weights):
    """One step on sum_t w_t L_t; returns the per-task losses before the step."""
    task_losses = ((model(x) - y) ** 2).mean(dim=(1, 2))  # (n_tasks,)
    optimizer.zero_grad()
    (weights * task_losses).sum().backward()
    optimizer.step()
    return task_losses.detach()


@register("training-step", "One training step on the weighted objective", solution_training_step)
def check_training_step(answer) -> str | None:
    torch.manual_seed(0)
    model = MultiTaskNet(1, 8, 2, 3, sharing_depth=1)
    x, y = torch.randn(3, 5, 1), torch.randn(3, 5, 1)
    weights = torch.tensor([1.0, 0.1, 3.0])

    def run(step_fn, n_steps, w=weights):
        m = copy.deepcopy(model)
        opt = torch.optim.SGD(m.parameters(), lr=0.1)
        out = [step_fn(m, opt, x, y, w) for _ in range(n_steps)]
        return m, out

    ref_model, ref_out = run(solution_training_step, 2)
    got_model, got_out = run(answer, 2)
    losses = got_out[0]
    if not isinstance(losses, torch.Tensor) or losses.shape != (3,):
        return "Return the per-task losses as a tensor of shape (n_tasks,) = (3,)."
    if not torch.allclose(losses.detach(), ref_out[0], atol=1e-5):
        return "The returned losses are off: each task's loss is the mean squared error over its own examples."
    before = dict(model.named_parameters())
    if all(torch.equal(p, before[n]) for n, p in got_model.named_parameters()):
        return "The parameters did not change: call loss.backward() and then optimizer.step()."
    same = all(torch.allclose(p, q, atol=1e-5) for p, q in zip(got_model.parameters(), ref_model.parameters()))
    if same:
        return None
    one_model, _ = run(answer, 1)
    ref_one, _ = run(solution_training_step, 1)
    if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(one_model.parameters(), ref_one.parameters())):
        return "The first step is right but the second is not: call optimizer.zero_grad() so gradients do not pile up."
    unweighted, _ = run(solution_training_step, 1, torch.ones(3))
    if all(torch.allclose(p, q, atol=1e-5) for p, q in zip(one_model.parameters(), unweighted.parameters())):
        return "The step ignores the task weights: backpropagate sum_t w_t L_t, not sum_t L_t."
    return "The step differs from one SGD step on sum_t w_t L_t; compare your loss with the objective above."
