"""Exercises of sharing depth: the parameter count as a function of k (derive, checked against
count_parameters), a depth-k network built from nn.Linear (build), the soft-sharing penalty
(transcribe), and the best depth for unrelated tasks (predict, then run)."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons.exercises import register, register_prediction
from torch import nn

from mtl_lessons.models import MultiTaskNet, count_parameters, sharing_parameter_count
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


# ---------------------------------------------------------------- build a depth-k network

class _DepthK(nn.Module):
    """The first k tanh layers once (shared); the other layers and a linear head once per task."""

    def __init__(self, in_features, hidden, n_layers, n_tasks, sharing_depth):
        super().__init__()
        sizes = [in_features] + [hidden] * n_layers

        def layers(lo, hi):  # hidden layers lo..hi-1, each Linear then tanh
            return nn.Sequential(*[m for i in range(lo, hi) for m in (nn.Linear(sizes[i], sizes[i + 1]), nn.Tanh())])

        self.shared = layers(0, sharing_depth)
        self.own = nn.ModuleList([nn.Sequential(layers(sharing_depth, n_layers), nn.Linear(hidden, 1))
                                  for _ in range(n_tasks)])

    def forward(self, x):  # x: (n, in_features) -> (n_tasks, n, 1)
        z = self.shared(x)  # computed once, used by every task
        return torch.stack([own(z) for own in self.own])


def solution_depth_k_net(in_features, hidden, n_layers, n_tasks, sharing_depth):
    return _DepthK(in_features, hidden, n_layers, n_tasks, sharing_depth)


@register("depth-k-net", "Build a network that shares its first k layers", solution_depth_k_net)
def check_depth_k_net(answer) -> str | None:
    for d_in, h, n_layers, n_tasks in ((1, 8, 2, 8), (3, 5, 3, 2)):
        for k in range(n_layers + 1):
            where = f"in_features={d_in}, hidden={h}, n_layers={n_layers}, n_tasks={n_tasks}, sharing_depth={k}"
            torch.manual_seed(0)
            net = answer(d_in, h, n_layers, n_tasks, k)
            if not isinstance(net, nn.Module):
                return f"Return an nn.Module (the network itself), got {type(net).__name__} for {where}."
            x = torch.randn(7, d_in)
            out = net(x)
            if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n_tasks, 7, 1):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                return (f"For {where} and x of shape (7, {d_in}) the output has shape {shape}; it must be "
                        f"(n_tasks, n, 1) = ({n_tasks}, 7, 1): stack the tasks' outputs on a new axis 0.")
            got = sum(p.numel() for p in net.parameters())
            want = sharing_parameter_count(d_in, h, n_layers, n_tasks, sharing_depth=k)
            if got != want:
                hint = ""
                if k > 0 and got == sharing_parameter_count(d_in, h, n_layers, n_tasks, sharing_depth=0):
                    hint = " That is the count of k = 0: the first k layers must exist once, not once per task."
                elif got == want - (n_tasks - 1) * (h + 1):
                    hint = " One head is missing, or the heads are shared: every task needs its own nn.Linear(hidden, 1)."
                return f"For {where} the network has {got} parameters; a depth-k network has {want}.{hint}"
            net.zero_grad()
            out[0].sum().backward()  # which parameters does task 0's output depend on?
            used = sum(int((p.grad != 0).sum()) for p in net.parameters() if p.grad is not None)
            one_net = sharing_parameter_count(d_in, h, n_layers, 1, sharing_depth=0)
            if used != one_net:
                return (f"For {where}, task 0's output depends on {used} parameters; it should depend on one "
                        f"network's worth, {one_net}: the shared layers plus task 0's own layers and head, "
                        "and nothing of the other tasks.")
            if k == 0:
                continue
            with torch.no_grad():  # a shared first layer: nudging it moves every task's output
                first = next(m for m in net.modules() if isinstance(m, nn.Linear) and m.in_features == d_in)
                before = net(x)
                first.bias += 1.0
                moved = (net(x) - before).abs().amax(dim=(1, 2)) > 0
            if not moved.all():
                return (f"For {where}: changing the first layer moved only tasks {moved.nonzero()[:, 0].tolist()}; "
                        "the first k layers must be one copy, used by every task.")
            lin = net(torch.zeros(1, d_in)), net(x[:1]), net(2 * x[:1])
            if torch.allclose(lin[2] - lin[0], 2 * (lin[1] - lin[0]), atol=1e-5):
                return f"For {where} the network is linear in x: put a tanh after every hidden layer."
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
    top = depths[-1]
    reading = {0: "Here no sharing won: each task's own units outweighed what the others' data could add.",
               top: "Here full sharing won: the shared trunk's pooled data outweighed the competition for its units.",
               }.get(best, f"Here the middle depth k={best} won: sharing the first layer(s) pooled data for the "
                           "simple low-level features, while the own upper layers gave each task units for its own "
                           "frequency (a reading of the numbers, not a mechanism the chapter checks).")
    why = (f"Validation MSE (mean over seeds) {values}, so k={best} is lowest. Full sharing leaves the trunk's "
           f"units to make every task's own frequency; no sharing gives each task only its own points. {reading}")
    return int(answer) == best, why
