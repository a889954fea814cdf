"""The objectives the course derives, written once as reference versions.

Multi-task:  sum_t w_t * (1/n_t) sum_i L_t(y_ti, f_t(x_ti))   (per-task normalisation by n_t)
Transfer:    L_src + lam * L_tgt, each a per-task mean            (the joint form; with sums, lam would
             mean something else by n_src / n_tgt)
Every function works on any leading batch dimensions, so the same code serves
one model and a vectorised stack of models.
"""

from __future__ import annotations

import torch

from collections.abc import Mapping

from mtl_lessons._checks import (as_tensor, check_choice, check_float, check_int, check_labels, check_tensor,
                                  check_weights)

LOSSES = ("mse", "ce")


def per_example_losses(pred: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss of every example, shape (..., n_tasks, n).

    mse: pred and y are (..., n_tasks, n, out); ce: pred is logits (..., n_tasks, n, classes)
    and y integer labels (..., n_tasks, n).
    """
    if isinstance(loss, (tuple, list)):  # one loss per task (fit / fit_many's mixed form)
        return mixed_per_example_losses(pred, y, loss)
    if loss == "mse":
        return ((pred - y) ** 2).mean(-1)
    return _cross_entropy(pred, y)


def _cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log softmax(z)_y = logsumexp(z) - z_y per example, labels int64 of logits' shape without the last
    dim: the same numbers as F.cross_entropy(reduction="none"), about 3x faster on CPU at the course's sizes."""
    return logits.logsumexp(-1) - logits.gather(-1, labels[..., None])[..., 0]


def _tasks_by_loss(loss) -> tuple[list[int], list[int], torch.Tensor]:
    """One loss per task, e.g. ("ce", "ce", "mse"): the "ce" tasks, the others, and the order that puts
    [ce tasks..., other tasks...] back into the tasks' own order."""
    ce_tasks = [t for t, name in enumerate(loss) if name == "ce"]
    mse_tasks = [t for t, name in enumerate(loss) if name != "ce"]
    return ce_tasks, mse_tasks, torch.argsort(torch.tensor(ce_tasks + mse_tasks))


def mixed_per_example_losses(pred: torch.Tensor, y: torch.Tensor, loss) -> torch.Tensor:
    """Loss of every example when each task has its own loss, e.g. ("ce", "ce", "mse"): (..., n_tasks, n).

    pred: (..., n_tasks, n, out); y: floats (..., n_tasks, n), a class label (0., 1., ...) for a
    "ce" task and the target for an "mse" task, which is compared with the head's first output.
    """
    ce_tasks, mse_tasks, order = _tasks_by_loss(loss)
    ce = _cross_entropy(pred[..., ce_tasks, :, :], y[..., ce_tasks, :].long())
    se = (pred[..., mse_tasks, :, 0] - y[..., mse_tasks, :]) ** 2
    return torch.cat([ce, se], dim=-2)[..., order, :]


def task_losses_unchecked(pred, y, loss, sample_weights=None):
    """task_losses without argument checks, for inner training loops."""
    per_example = per_example_losses(pred, y, loss)  # (..., n_tasks, n)
    if sample_weights is None:
        return per_example.mean(-1)
    return (per_example * sample_weights).sum(-1) / sample_weights.sum(-1)


def task_losses_fn(y: torch.Tensor, loss, sample_weights: torch.Tensor | None = None):
    """pred -> task_losses_unchecked(pred, y, loss, sample_weights), for a training loop whose y and
    sample_weights never change: the labels, the tasks' split by loss and the weights' sums are computed
    once, not at every step. The same numbers, bit for bit (a test checks it)."""
    if not isinstance(loss, (tuple, list)) or sample_weights is None:
        return lambda pred: task_losses_unchecked(pred, y, loss, sample_weights)
    ce_tasks, mse_tasks, order = _tasks_by_loss(loss)
    kinds = {"ce": ce_tasks, "mse": mse_tasks}

    def tasks(ts):  # a slice (a view) when the tasks are adjacent, else an index
        return slice(ts[0], ts[-1] + 1) if ts == list(range(ts[0], ts[-1] + 1)) else torch.tensor(ts)

    parts = {kind: tasks(ts) for kind, ts in kinds.items() if ts}
    at = {kind: (Ellipsis, part, slice(None)) for kind, part in parts.items()}  # [..., tasks, n]
    labels = y[at["ce"]].long() if "ce" in parts else None
    target = y[at["mse"]] if "mse" in parts else None
    weights = {kind: sample_weights[at[kind]] for kind in parts}
    totals = {kind: w.sum(-1) for kind, w in weights.items()}

    def losses(pred):
        found = []
        if "ce" in parts:
            ce = _cross_entropy(pred[at["ce"] + (slice(None),)], labels)
            found.append((ce * weights["ce"]).sum(-1) / totals["ce"])
        if "mse" in parts:
            se = (pred[at["mse"] + (0,)] - target) ** 2
            found.append((se * weights["mse"]).sum(-1) / totals["mse"])
        return torch.cat(found, -1)[..., order]

    return losses


def task_losses(pred: torch.Tensor, y: torch.Tensor, *, loss: str = "mse",
                sample_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-task mean loss L_t = (1/n_t) sum_i l(y_ti, f_t(x_ti)), shape (..., n_tasks).

    sample_weights (..., n_tasks, n), 0 or 1, mark which examples a task has, so tasks
    with different n_t can share one padded tensor; each task is still averaged over its own n_t.
    """
    check_choice("loss", loss, LOSSES)
    pred = check_tensor("pred", pred, floating=True, nonempty=True)
    if pred.dim() < 2:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but must be (..., n_tasks, n, out) for mse or "
                         "(..., n_tasks, n, classes) for ce")
    if loss == "mse":
        y = check_tensor("y", y, floating=True, dtype=pred.dtype)
        if pred.shape != y.shape:
            raise ValueError(f"y has shape {tuple(y.shape)} but must match pred's {tuple(pred.shape)} for loss='mse'")
    else:
        y = check_labels("y", y, n_classes=pred.shape[-1])
        if pred.shape[:-1] != y.shape:
            raise ValueError(f"y must hold integer labels of shape {tuple(pred.shape[:-1])} for loss='ce', "
                             f"got {y.dtype} {tuple(y.shape)}")
    if sample_weights is not None:
        sample_weights = check_tensor("sample_weights", sample_weights, floating=True, dtype=pred.dtype,
                                      shape=pred.shape[:-1])
        if (sample_weights < 0).any() or (sample_weights.sum(-1) <= 0).any():
            raise ValueError("sample_weights must be >= 0 and give every task at least one example")
    return task_losses_unchecked(pred, y, loss, sample_weights)


def multitask_objective(task_losses: torch.Tensor, weights=None) -> torch.Tensor:
    """sum_t w_t L_t over the last axis; weights=None means w_t = 1 for every task."""
    task_losses = check_tensor("task_losses", task_losses, floating=True)
    if task_losses.dim() == 0 or task_losses.shape[-1] == 0:
        raise ValueError(f"task_losses has shape {tuple(task_losses.shape)}; it needs at least one task")
    if weights is None:
        return task_losses.sum(-1)
    w = check_weights("weights", weights, task_losses.shape[-1]).to(task_losses)
    return (task_losses * w).sum(-1)


def joint_transfer_objective(source_loss: torch.Tensor, target_loss: torch.Tensor, lam: float) -> torch.Tensor:
    """L_src + lam * L_tgt, the joint transfer objective (chapter 6).

    Its limits are lexicographic problems, not "ignore one task": as lam -> 0+ its minimisers tend
    to the minimisers of L_tgt among the minimisers of L_src (the source fixes the shared trunk, and
    the target head, which only L_tgt contains, is still fitted on it: the frozen-trunk baseline); as
    lam -> inf, to the minimisers of L_src among the minimisers of L_tgt (target-only training, the
    source breaking ties). lam = 0 exactly is a different problem: the target head is left anywhere.
    Dividing by 1 + lam changes the step size of gradient descent, not the minimisers.
    """
    lam = check_float("lam", lam, low=0.0)
    source_loss = check_tensor("source_loss", source_loss, floating=True)
    target_loss = check_tensor("target_loss", target_loss, floating=True)
    if source_loss.shape != target_loss.shape:
        raise ValueError(f"source_loss has shape {tuple(source_loss.shape)} but target_loss "
                         f"{tuple(target_loss.shape)}; they must match (one loss each, e.g. 0-d tensors)")
    return source_loss + lam * target_loss


def soft_sharing_penalty(task_params, *, task_dim: int = 0) -> torch.Tensor:
    """Soft parameter sharing: sum over tensors of sum_t ||theta_t - theta_bar||^2 (Duong et al. 2015).

    task_params: tensors whose axis `task_dim` runs over tasks (TaskLinear weights and biases,
    e.g. `model.layers.parameters()` of a MultiTaskNet with sharing_depth=0); theta_bar is the
    mean over tasks. Axes before task_dim are batch axes (task_dim=1 for a ModelStack's params)
    and are kept: the result has their shape.
    """
    if isinstance(task_params, torch.Tensor):  # iterating would split it into rows: a wrong number, silently
        raise TypeError(f"task_params is one tensor of shape {tuple(task_params.shape)}; give a list of tensors, "
                        "e.g. [weight] or model.layers.parameters()")
    if isinstance(task_params, torch.nn.Module):
        raise TypeError(f"task_params is a model ({type(task_params).__name__}); give its per-task tensors, "
                        "e.g. model.layers.parameters()")
    if isinstance(task_params, (str, bytes, Mapping)) or not hasattr(task_params, "__iter__"):
        raise TypeError(f"task_params must be a list of tensors, got {type(task_params).__name__}")
    task_dim = check_int("task_dim", task_dim, low=0)
    task_params = list(task_params)
    if not task_params:
        raise ValueError("task_params is empty; give at least one tensor with a task axis")
    total = 0.0
    for i, p in enumerate(task_params):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"task_params[{i}] must be a torch.Tensor, got {type(p).__name__}")
        p = check_tensor(f"task_params[{i}]", p, floating=True, nonempty=True)
        if not 0 <= task_dim < p.dim():
            raise ValueError(f"task_dim={task_dim} but task_params[{i}] has shape {tuple(p.shape)} "
                             f"(allowed: 0..{p.dim() - 1})")
        first = task_params[0]
        if p.shape[:task_dim + 1] != first.shape[:task_dim + 1]:
            raise ValueError(f"task_params[{i}] has shape {tuple(p.shape)} but task_params[0] has "
                             f"{tuple(first.shape)}; they must agree up to the task axis {task_dim} "
                             "(the same tasks, the same batch axes)")
        deviation = p - p.mean(task_dim, keepdim=True)
        total = total + (deviation ** 2).flatten(task_dim).sum(-1)
    return total


def l2_sp_penalty(model: torch.nn.Module, source_state: dict, *, alpha: float, beta: float,
                  head_prefix: str = "heads.") -> torch.Tensor:
    """L2-SP (Li, Grandvalet & Davoine 2018): alpha/2 ||w_S - w_S^0||^2 + beta/2 ||w_head||^2.

    w_S are the parameters that came from the source (every parameter not under `head_prefix`),
    pulled toward their pretrained values in `source_state` (a state dict); the new head
    has no source value and is pulled toward zero (plain weight decay).
    """
    alpha = check_float("alpha", alpha, low=0.0)
    beta = check_float("beta", beta, low=0.0)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(source_state, torch.nn.Module):
        raise TypeError(f"source_state is a model ({type(source_state).__name__}); pass its state dict, "
                        "source.state_dict() (copy it before fine-tuning changes it)")
    if not isinstance(source_state, Mapping):
        raise TypeError(f"source_state must be a state dict (name -> tensor), got {type(source_state).__name__}")
    if not isinstance(head_prefix, str):
        raise TypeError(f"head_prefix={head_prefix!r} must be a str")
    names = [name for name, _ in model.named_parameters()]
    if not any(name.startswith(head_prefix) for name in names):
        raise ValueError(f"head_prefix={head_prefix!r} matches no parameter of the model (its parameters: "
                         f"{', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    to_source, head = 0.0, 0.0
    for name, w in model.named_parameters():
        if name.startswith(head_prefix):
            head = head + (w ** 2).sum()
            continue
        if name not in source_state:
            raise ValueError(f"parameter {name!r} is not in source_state; L2-SP needs a pretrained value "
                             f"for every parameter outside the head {head_prefix!r}")
        w0 = as_tensor(f"source_state[{name!r}]", source_state[name])
        if w0.shape != w.shape:
            raise ValueError(f"source_state[{name!r}] has shape {tuple(w0.shape)} but the parameter has "
                             f"{tuple(w.shape)}")
        to_source = to_source + ((w - w0.detach()) ** 2).sum()
    return torch.as_tensor(alpha / 2 * to_source + beta / 2 * head)
