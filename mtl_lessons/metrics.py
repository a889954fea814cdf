"""Per-task metrics: held-out MSE, accuracy, macro-F1 and means of many models at once, the relative change Δm,
Pareto masks, paired comparisons over seeds, and the tuned choice made on validation (choose_on_validation)."""

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


def macro_f1_many(y: np.ndarray, pred: np.ndarray, model: np.ndarray, n_classes: int) -> np.ndarray:
    """Macro-F1 of many models in one call of sklearn's f1_score: (n_models,).

    y, pred, model: one entry per scored example (model = which model it belongs to). Each model's
    classes get label ids of their own (model * n_classes + class), so f1_score(average=None)
    returns every (model, class) F1; a model's macro-F1 is the mean over its classes, exactly
    f1_score(its y, its pred, average="macro") when each of its classes occurs in y (a test checks it).
    """
    n_models = int(model.max()) + 1
    labels = np.arange(n_models * n_classes)
    from sklearn.metrics import f1_score  # sklearn is imported on first use: it takes ~1 s

    per_class = f1_score(model * n_classes + y, model * n_classes + pred, labels=labels, average=None,
                         zero_division=0.0)
    return per_class.reshape(n_models, n_classes).mean(1)


def mean_per_model(values: np.ndarray, model: np.ndarray) -> np.ndarray:
    """The mean of values[i] over each model's entries (model[i] = which model entry i belongs to): (n_models,).

    One np.bincount for all models: accuracy_score and mean_squared_error model by model give the same
    numbers (a test checks it) but cost ~0.3 ms of argument checks per call, 0.4 s for chapter 10's grid.
    """
    return np.bincount(model, weights=values) / np.bincount(model)


def penguin_metrics(out: list[torch.Tensor], y: list[torch.Tensor], mass_stats: list[tuple[float, float]]
                    ) -> dict[str, np.ndarray]:
    """The metrics of every model's outputs out[m] (3, n_m, 3) on the penguins (data.PenguinTasks) against y[m]
    (n_m, 3), its body mass predicted standardised by mass_stats[m] (mean, sd): (n_models,) each.

    Macro-F1 by sklearn's f1_score; accuracy and RMSE (in grams) as means per model (mean_per_model).
    """
    if not all(torch.isfinite(o).all() for o in out):
        raise FloatingPointError("training diverged (non-finite outputs): the body-mass task's SGD step is lam * lr; "
                                 "use a smaller lam or lr")
    species = np.concatenate([o[0].argmax(-1).numpy() for o in out])
    sex = np.concatenate([o[1, :, :2].argmax(-1).numpy() for o in out])  # sex is trained on its head's first two logits
    mass = np.concatenate([o[2, :, 0].double().numpy() * sd + mean for o, (mean, sd) in zip(out, mass_stats)])  # grams
    model = np.concatenate([np.full(len(t), m) for m, t in enumerate(y)])
    flat = torch.cat(y).double().numpy()
    labels = flat[:, :2].astype(np.int64)
    return {"f1_species": macro_f1_many(labels[:, 0], species, model, 3),
            "acc_species": mean_per_model(labels[:, 0] == species, model),
            "f1_sex": macro_f1_many(labels[:, 1], sex, model, 2),
            "acc_sex": mean_per_model(labels[:, 1] == sex, model),
            "rmse_mass": np.sqrt(mean_per_model((flat[:, 2] - mass) ** 2, model))}


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


def _paired(a, b, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays over the same seeds, as float arrays; refused if their shapes differ or they are empty."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"{names[0]} {a.shape} and {names[1]} {b.shape} must be non-empty and of one shape "
                         "(one entry per seed, paired)")
    return a, b


def share_below(better, worse) -> float:
    """The fraction of seeds on which `better` is below `worse` (arrays over seeds): a paired comparison."""
    better, worse = _paired(better, worse, ("better", "worse"))
    return float(np.mean(better < worse))


def geometric_mean_ratio(worse, better) -> float:
    """exp(mean over seeds of log(worse / better)): the typical per-seed ratio, which one hard seed cannot dominate.
    Both must be positive (errors, losses)."""
    worse, better = _paired(worse, better, ("worse", "better"))
    if not (np.all(worse > 0) and np.all(better > 0)):
        raise ValueError("worse and better must be positive (errors or losses) for a ratio of logs")
    return float(np.exp(np.mean(np.log(worse / better))))


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
