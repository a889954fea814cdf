"""Exercises of the multi-task objective: the weighted objective on padded, masked tasks (build), the
weighted objective from a list of tasks (kept for instructors), the gradient a head receives (derive,
checked against autograd), when sharing helps most (predict, then run), and one
training step (kept for instructors; the notebook no longer asks it)."""

from __future__ import annotations

import copy

import numpy as np
import torch

from mtl_lessons.exercises import register, register_prediction
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


# ---------------------------------------------------------------- build: the objective on padded tasks

def solution_masked_objective(losses, mask, weights):
    """losses, mask: (n_tasks, n_max); mask is 1 for a real example, 0 for padding. sum_t w_t L_t, where
    L_t = sum_i mask_ti l_ti / sum_i mask_ti: n_t comes from the mask, padding adds nothing."""
    task_losses = (mask * losses).sum(-1) / mask.sum(-1)  # (n_tasks,)
    return (weights * task_losses).sum()


@register("masked-objective", "The weighted objective on padded tasks, with a mask", solution_masked_objective)
def check_masked_objective(answer) -> str | None:
    g = torch.Generator().manual_seed(0)
    n_per_task, n_max = (3, 10, 40), 40
    losses = torch.rand(3, n_max, generator=g)
    mask = torch.zeros(3, n_max)
    for t, n in enumerate(n_per_task):
        mask[t, :n] = 1.0
    losses = losses + 5.0 * (1 - mask)  # padding holds large junk values: they must not count
    weights = torch.tensor([0.5, 2.0, 1.0])
    got = answer(losses, mask, weights)
    if not isinstance(got, torch.Tensor) or got.dim() != 0:
        return "Return one number as a 0-dimensional tensor (e.g. the result of `.sum()`), not a list or a vector."
    want = solution_masked_objective(losses, mask, weights)
    if torch.allclose(got, want, atol=1e-5):
        return None
    real = mask * losses
    candidates = {
        "The padding counts: multiply the losses by the mask before summing, so padded entries add nothing.":
            (weights * losses.mean(-1)).sum(),
        "You divided each task's masked sum by n_max, the padded length: divide by the task's own n_t, "
        "the number of ones in its row of the mask.": (weights * real.sum(-1) / n_max).sum(),
        "You summed each task's real losses without dividing by n_t: a task with more points then weighs more.":
            (weights * real.sum(-1)).sum(),
        "The weights w_t are not used: multiply each task's mean loss by its weight.":
            (real.sum(-1) / mask.sum(-1)).sum(),
        "You averaged over all real examples pooled together; average within each task first, then weight.":
            real.sum() / mask.sum(),
    }
    for hint, value in candidates.items():
        if torch.allclose(got, torch.as_tensor(value, dtype=got.dtype), atol=1e-5):
            return hint
    return (f"Got {got.item():.4f}, expected {want.item():.4f}. Per task: sum the losses where the mask is 1, "
            "divide by the number of ones, multiply by w_t; then sum over tasks.")


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


# ---------------------------------------------------------------- the gradient a head receives (derivation)

def solution_head_gradient(features, y, head_weight, head_bias, task_weight):
    """d/dv, d/db of w_t (1/n_t) sum_i (features_i . v + b - y_i)^2 = (2 w_t / n_t) sum_i r_i (features_i, 1)."""
    residual = features @ head_weight + head_bias - y  # (n_t,) r_i = prediction - target
    scale = 2 * task_weight / len(y)
    return scale * features.T @ residual, scale * residual.sum()


@register("task-head-gradient", "The gradient of the objective with respect to one task's head", solution_head_gradient)
def check_head_gradient(answer) -> str | None:
    # the reference is autograd on the whole multi-task objective, computed here (not in the notebook)
    torch.manual_seed(1)
    n_per_task = (3, 7, 12)  # tasks of different sizes, so 1/n_t matters
    model = MultiTaskNet(1, 6, 2, 3, sharing_depth=2)
    xs = [torch.randn(n, 1) for n in n_per_task]
    ys = [torch.randn(n) for n in n_per_task]
    task_weights = torch.tensor([0.5, 2.0, 1.0])
    objective = 0.0
    for t, (x, y) in enumerate(zip(xs, ys)):
        pred = model(x)[t, :, 0]  # task t's head on its own inputs
        objective = objective + task_weights[t] * ((pred - y) ** 2).mean()
    grad_w, grad_b = torch.autograd.grad(objective, [model.heads.weight, model.heads.bias])  # (3, 6, 1), (3, 1, 1)
    for t in range(3):
        with torch.no_grad():
            features = model.features(xs[t])[t]  # (n_t, 6): the trunk's output, the head's input
        v, b = model.heads.weight[t, :, 0].detach(), model.heads.bias[t, 0, 0].detach()
        got = answer(features, ys[t], v, b, float(task_weights[t]))
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return "Return two things: (gradient for the head's weights, shape (hidden,), gradient for its bias, a number)."
        got_w, got_b = (torch.as_tensor(g, dtype=torch.float32).detach() for g in got)
        if got_w.shape != v.shape:
            return f"The weight gradient has shape {tuple(got_w.shape)}; it must have the head weights' shape {tuple(v.shape)}."
        want_w, want_b = grad_w[t, :, 0], grad_b[t, 0, 0]
        if torch.allclose(got_w, want_w, atol=1e-5) and torch.allclose(got_b.reshape(()), want_b, atol=1e-5):
            continue
        n, w = n_per_task[t], float(task_weights[t])
        for factor, hint in ((0.5, "Off by a factor 2: the derivative of r^2 is 2r."),
                             (n, "Off by a factor n_t: the task's loss is a *mean*, so divide the sum by n_t."),
                             (1 / w, "The task weight w_t is missing: the head's gradient is scaled by w_t."),
                             (-1.0, "The sign is flipped: use the residual prediction - target.")):
            if torch.allclose(got_w, factor * want_w, atol=1e-5):
                return f"Task {t} (n_t={n}, w_t={w:g}): {hint}"
        return (f"Task {t}: your weight gradient differs from autograd's (max difference "
                f"{(got_w - want_w).abs().max():.3g}). Differentiate w_t (1/n_t) sum_i (phi_i . v + b - y_i)^2.")
    return None


# ---------------------------------------------------------------- predict, then run: when does sharing help most?

@register_prediction(
    "data-size-advantage", "When does sharing help most?",
    examples=[(8, {4: 0.9, 8: 2.0, 64: 1.4}, True), (64, {4: 0.9, 8: 2.0, 64: 1.4}, False),
              (4, {4: 0.9, 8: 2.0, 64: 1.4}, False), (8, {4: 0.9, 8: 2.0, 64: 1.4, "vs_zero": 1.1}, True),
              (8, {4: 0.9, 8: 2.0, 64: 1.4, "vs_zero": 0.9}, True)])
def judge_data_size_advantage(answer, measured):
    """answer: a number of points per task; measured: {points per task: independent MSE / shared MSE}, and
    optionally "vs_zero": at the smallest size, the better architecture's MSE / that of predicting 0."""
    measured = dict(measured)
    vs_zero = measured.pop("vs_zero", None)
    sizes = sorted(measured)
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)) or int(answer) not in measured:
        raise ValueError(f"answer with one of the sizes {sizes} (an int), got {answer!r}")
    best = max(sizes, key=lambda n: measured[n])
    small, large = min(sizes), max(sizes)
    ratios = ", ".join(f"{n} points: {measured[n]:.2f}" for n in sizes)
    why = [f"Measured ratios (independent / shared held-out MSE, mean over seeds): {ratios}; the largest is at "
           f"{best} points."]
    if vs_zero is None:
        baseline = "compare both with predicting zero (the table's last column)."
    elif vs_zero > 1:
        baseline = (f"both ended worse than predicting zero (the better of the two at {vs_zero:.2f} times its "
                    "MSE; the table's last column).")
    else:
        baseline = (f"the better of the two ended at {vs_zero:.2f} times the MSE of predicting zero"
                    f"{', little better than predicting nothing' if vs_zero > 0.8 else ''} (the table's last column).")
    if measured[small] < 1:
        why.append(f"With {small} points the shared trunk did worse than independent networks (ratio below 1). "
                   "Not because the points cannot pin down a task: with shared features two coefficients per task "
                   "would do. At this fixed budget both architectures fit their few noisy points with "
                   f"17-parameter heads; {baseline}")
    elif best != small:
        why.append(f"With {small} points sharing helped less than at {best}: at this fixed budget both "
                   f"architectures fit their few noisy points with 17 parameters per head; {baseline}")
    else:
        why.append(f"Here sharing helped most at the smallest size, {small} points: the trunk's pooled data paid "
                   "most where each task had least (in the chapter's runs it usually did not, at 4 points).")
    if best != large:
        why.append(f"With {large} points each task has enough data alone; the ratio ({measured[large]:.2f}) is "
                   f"{'still above 1' if measured[large] > 1 else 'not above 1'}, but both errors are small "
                   "(the claims cell compares them with the noise level).")
    else:
        why.append(f"The ratio was largest at {large} points, where both errors are small: a ratio of two small "
                   "numbers (see the claims cell).")
    return int(answer) == best, " ".join(why)
