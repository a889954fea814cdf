"""Exercises of sharing depth: the parameter count as a function of k (derive, checked against
count_parameters), the soft-sharing penalty (transcribe), and the best depth for unrelated tasks
(predict, then run)."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons.exercises import register, register_prediction
from mtl_lessons.models import MultiTaskNet, count_parameters
from mtl_lessons.objectives import soft_sharing_penalty

# (in_features, hidden, n_layers, n_tasks, out_features): small, and different enough to tell formulas apart
CONFIGS = ((1, 8, 2, 8, 1), (96, 16, 2, 2, 10), (3, 5, 4, 3, 2), (2, 7, 3, 1, 1))


# ---------------------------------------------------------------- the parameter count

def solution_parameter_count(in_features, hidden, n_layers, n_tasks, out_features, sharing_depth):
    """Shared layers counted once, the other layers and the head once per task."""
    layers = [(in_features + 1) * hidden] + [(hidden + 1) * hidden] * (n_layers - 1)  # weights + biases
    shared = sum(layers[:sharing_depth])
    per_task = sum(layers[sharing_depth:]) + (hidden + 1) * out_features
    return shared + n_tasks * per_task


@register("parameter-count", "Parameters as a function of the sharing depth", solution_parameter_count)
def check_parameter_count(answer) -> str | None:
    for d_in, h, n_layers, n_tasks, d_out in CONFIGS:
        for k in range(n_layers + 1):
            got = answer(d_in, h, n_layers, n_tasks, d_out, k)
            want = count_parameters(MultiTaskNet(d_in, h, n_layers, n_tasks, d_out, sharing_depth=k))
            if not isinstance(got, (int, torch.Tensor)) or int(got) != got:
                return f"Return a whole number of parameters (an int), got {got!r}."
            if int(got) == want:
                continue
            where = (f"in_features={d_in}, hidden={h}, n_layers={n_layers}, n_tasks={n_tasks}, "
                     f"out_features={d_out}, sharing_depth={k}")
            layers = [d_in * h] + [h * h] * (n_layers - 1)
            no_bias = sum(layers[:k]) + n_tasks * (sum(layers[k:]) + h * d_out)
            biased = [(d_in + 1) * h] + [(h + 1) * h] * (n_layers - 1)
            shared_head = sum(biased[:k]) + n_tasks * sum(biased[k:]) + (h + 1) * d_out
            if int(got) == no_bias:
                return f"Off for {where}: every layer also has a bias, one per output unit (nn.Linear(a, b) has a*b + b)."
            if k > 0 and int(got) == solution_parameter_count(d_in, h, n_layers, n_tasks, d_out, 0):
                return (f"Off for {where}: you counted the shared layers once per task (the count does not "
                        "change with sharing_depth). The first k layers exist once, whatever the number of tasks.")
            if int(got) == shared_head:
                return f"Off for {where}: the heads are never shared; every task has its own (hidden+1)*out_features."
            return (f"Off for {where}: got {int(got)}, the network has {want}. Count the first sharing_depth "
                    "layers once, the other layers and the head n_tasks times; the first layer maps "
                    "in_features to hidden, the others hidden to hidden.")
    return None


# ---------------------------------------------------------------- the soft-sharing penalty

def solution_soft_sharing_penalty(task_params):
    """sum over tensors of sum_t ||theta_t - theta_bar||^2, theta_bar the mean over the task axis 0."""
    total = torch.tensor(0.0)
    for p in task_params:  # p: (n_tasks, ...)
        total = total + ((p - p.mean(0, keepdim=True)) ** 2).sum()
    return total


@register("soft-sharing", "The soft-sharing penalty", solution_soft_sharing_penalty)
def check_soft_sharing(answer) -> str | None:
    torch.manual_seed(0)
    model = MultiTaskNet(2, 5, 2, 3, sharing_depth=0)
    params = [p.detach().clone() for p in model.layers.parameters()]  # (3, ...) each
    got = answer([p.clone() for p in params])
    if not isinstance(got, torch.Tensor) or got.numel() != 1:
        return "Return one number as a tensor (e.g. the result of `.sum()`)."
    want = soft_sharing_penalty(params)
    if torch.allclose(got.reshape(()), want, rtol=1e-4):
        same = [p[:1].expand_as(p).clone() for p in params]
        if abs(float(answer(same))) > 1e-6:
            return "When all task copies are equal the penalty must be 0; subtract the mean over tasks."
        return None
    n_tasks = params[0].shape[0]
    candidates = {
        "You summed the squared parameters: subtract the mean over tasks, theta_bar, first.":
            sum((p ** 2).sum() for p in params),
        "You averaged the squared deviations; the penalty sums them over tasks and entries.":
            sum(((p - p.mean(0, keepdim=True)) ** 2).mean() for p in params),
        "You summed over all pairs of tasks: sum_{s,t} ||theta_s - theta_t||^2 = 2T sum_t ||theta_t - theta_bar||^2. "
        "Measure each copy's distance to the mean instead.":
            2 * n_tasks * want,
        "That looks like distances not squared: the penalty is the squared L2 norm.":
            sum((p - p.mean(0, keepdim=True)).abs().sum() for p in params),
        "You took the mean over the wrong axis: the task axis is axis 0.":
            sum(((p - p.mean(-1, keepdim=True)) ** 2).sum() for p in params),
    }
    for hint, value in candidates.items():
        if torch.allclose(got.reshape(()), torch.as_tensor(value, dtype=got.dtype), rtol=1e-4):
            return hint
    return (f"Got {float(got):.4f}, expected {float(want):.4f}. For each tensor p (tasks on axis 0): "
            "subtract p.mean(0), square, sum; then add over tensors.")


# ---------------------------------------------------------------- predict, then run: the best depth for unrelated tasks

@register_prediction(
    "unrelated-best-depth", "The best sharing depth for unrelated tasks",
    examples=[(1, [0.41, 0.31, 0.56], True), (0, [0.41, 0.31, 0.56], False), (2, [0.41, 0.31, 0.56], False),
              (0, [0.30, 0.35, 0.50], True)])
def judge_unrelated_best_depth(answer, measured):
    """answer: a sharing depth k; measured: validation MSE per k (mean over seeds), index = k."""
    measured = [float(m) for m in measured]
    depths = list(range(len(measured)))
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer)) or int(answer) not in depths:
        raise ValueError(f"answer with a sharing depth in {depths} (an int), got {answer!r}")
    best = int(np.argmin(measured))
    values = ", ".join(f"k={k}: {m:.3f}" for k, m in zip(depths, measured))
    why = (f"Validation MSE (mean over seeds) {values}, so k={best} is lowest. Full sharing leaves the trunk's "
           "8 units to make 8 different frequencies; no sharing gives each task only its own few points of data "
           "per unit; sharing the first layer and keeping the second per task sits between the two (a reading "
           "of the numbers, not a mechanism the chapter checks).")
    return int(answer) == best, why
