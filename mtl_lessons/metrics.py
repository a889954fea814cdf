"""Per-task metrics: held-out MSE, accuracy, the relative change Δm, Pareto masks, and the tuned choice
made on validation (choose_on_validation)."""

from __future__ import annotations

import numpy as np
import torch

from mtl_lessons._checks import check_labels, check_sequence, check_tensor


def per_task_mse(pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each task, shape (..., n_tasks), for pred and y of (..., n_tasks, n, out)."""
    pred = check_tensor("pred", pred, floating=True, nonempty=True)
    y = check_tensor("y", y, floating=True, dtype=pred.dtype)
    if pred.shape != y.shape or pred.dim() < 3:
        raise ValueError(f"pred {tuple(pred.shape)} and y {tuple(y.shape)} must have the same shape "
                         "(..., n_tasks, n, out)")
    return ((pred - y) ** 2).mean(dim=(-1, -2))


def per_task_accuracy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of correct labels per task, shape (..., n_tasks), for logits (..., n_tasks, n, classes)."""
    logits = check_tensor("logits", logits, floating=True, nonempty=True)
    if logits.dim() < 3:
        raise ValueError(f"logits has shape {tuple(logits.shape)} but must be (..., n_tasks, n, classes)")
    y = check_labels("y", y, n_classes=logits.shape[-1])
    if logits.shape[:-1] != y.shape:
        raise ValueError(f"y must hold integer labels of shape {tuple(logits.shape[:-1])}, "
                         f"got {y.dtype} {tuple(y.shape)}")
    return (logits.argmax(-1) == y).float().mean(-1)


def delta_m(metrics: torch.Tensor, baseline: torch.Tensor, lower_is_better: list[bool]) -> torch.Tensor:
    """Δm = (1/T) sum_t (-1)^{l_t} (M_t - M_t^base) / M_t^base * 100 (Maninis et al. 2019).

    Positive means better than the baseline on average; l_t = 1 where lower is better.
    """
    metrics = check_tensor("metrics", metrics, floating=True, nonempty=True)
    if metrics.dim() == 0:
        raise ValueError("metrics is a single number; give one metric per task, shape (..., n_tasks)")
    baseline = check_tensor("baseline", baseline, shape=metrics.shape[-1:], floating=True)
    lower_is_better = check_sequence("lower_is_better", lower_is_better)
    if not all(isinstance(v, (bool, np.bool_)) for v in lower_is_better):
        raise TypeError(f"lower_is_better={lower_is_better} must hold True/False, one per task")
    if len(lower_is_better) != metrics.shape[-1]:
        raise ValueError(f"lower_is_better has {len(lower_is_better)} entries but there are "
                         f"{metrics.shape[-1]} tasks")
    if (baseline == 0).any():
        raise ValueError("baseline contains a zero; Δm divides by it")
    sign = torch.tensor([-1.0 if low else 1.0 for low in lower_is_better], dtype=metrics.dtype)
    return (sign * (metrics - baseline) / baseline).mean(-1) * 100


def cut(ratio: float) -> float:
    """The relative cut a ratio of errors means: worse / better = r  <=>  better is 1 - 1/r lower."""
    return 1.0 - 1.0 / ratio


def pareto_mask(points) -> torch.Tensor:
    """Which points are Pareto-optimal (lower is better in every column): True where no other
    point is <= in every objective and < in one. points: (n, n_objectives)."""
    points = check_tensor("points", points, dim=2, nonempty=True).to(torch.float64)
    no_worse = (points[:, None, :] <= points[None, :, :]).all(-1)  # [j, i]: j is no worse than i everywhere
    better = (points[:, None, :] < points[None, :, :]).any(-1)  # [j, i]: j is better than i somewhere
    return ~(no_worse & better).any(0)


def choose_on_validation(val, *others, axes, higher_is_better: bool = False, ties: str = "first"):
    """The tuned choice, made on validation only: along `axes` (the options, e.g. rates and steps) the
    option with the best validation score, and every array of `others` at that same option. On ties the
    first option wins (ties="first"), or the last (ties="last": e.g. the larger rate, in grid order).
    Arrays share their leading shape; returns (index, val at it, *others at it), where index
    has one array per axis of `axes` (which option each was), of the shape left without them.

    >>> val = np.array([[0.3, 0.1, 0.2], [0.5, 0.4, 0.6]])    # 2 models x 3 rates
    >>> test = np.array([[0.35, 0.15, 0.1], [0.5, 0.45, 0.7]])
    >>> (rate,), best_val, test_at_it = choose_on_validation(val, test, axes=(-1,))
    >>> rate, best_val, test_at_it
    (array([1, 1]), array([0.1, 0.4]), array([0.15, 0.45]))
    >>> choose_on_validation([[0.2, 0.1, 0.1]], axes=(-1,), ties="last")[0]    # a tie: the last rate
    (array([2]),)
    """
    if ties not in ("first", "last"):
        raise ValueError(f"ties={ties!r} must be 'first' or 'last' (which of the tied options is chosen)")
    val = np.asarray(val)
    if not axes or any(not -val.ndim <= a < val.ndim for a in axes) or len({a % val.ndim for a in axes}) != len(axes):
        raise ValueError(f"axes={axes!r} must name distinct axes of val, which has {val.ndim} "
                         f"(allowed: {-val.ndim}..{val.ndim - 1})")
    axes = tuple(sorted(a % val.ndim for a in axes))
    n_left = val.ndim - len(axes)
    moved = [np.moveaxis(np.asarray(a), axes, range(n_left, val.ndim)) for a in (val, *others)]  # options after the rest
    shape = moved[0].shape[n_left:]
    flat = [a.reshape(*a.shape[:n_left], -1, *a.shape[val.ndim:]) for a in moved]
    score = -flat[0] if higher_is_better else flat[0]
    best = (score.argmin(n_left) if ties == "first"
            else score.shape[n_left] - 1 - np.flip(score, n_left).argmin(n_left))  # the last of the tied
    picked = [np.take_along_axis(a, best.reshape(best.shape + (1,) * (a.ndim - n_left)), n_left).squeeze(n_left)
              for a in flat]
    return np.unravel_index(best, shape), *picked
