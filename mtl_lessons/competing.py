"""The competing tasks (data.make_competing_tasks) trained as chapters 4 and 5 train them: one two-task net
per run, its trunk a single shared tanh unit that both tasks fight over, each net trained by a weighting
strategy with Adam, all in one fit_many; then each split's MSE. Task 2 may come in other units
(`scaled_tasks`): its loss r times task 1's, the scale that learned weights have to undo."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mtl_lessons._checks import check_float
from mtl_lessons.data import CompetingTasks, make_competing_tasks, stacked
from mtl_lessons.metrics import per_task_mse
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import History, fit_many
from mtl_lessons.weighting import Strategy


def scaled_tasks(seed: int, scale: float, n_train: int = 16, noise: float = 0.1) -> CompetingTasks:
    """The competing tasks with task 2 in other units: y_2 * scale (its loss scale^2 times larger)."""
    d = make_competing_tasks(n_train, noise=noise, seed=seed)
    c = torch.tensor([1.0, check_float("scale", scale, low=0.0, low_open=True)]).reshape(2, 1, 1)
    return replace(d, y_train=d.y_train * c, y_val=d.y_val * c, y_test=d.y_test * c)


def train_competing(runs: list[dict], strategy, *, hidden: int, lr, steps: int,
                    progress: bool | str = False) -> tuple[History, dict[str, torch.Tensor]]:
    """Train one net (`hidden` shared units) per run, a {"seed": s, ...} dict, on that seed's competing tasks
    with task 2's loss run["loss_ratio"] times task 1's (1 if absent), by `strategy` with Adam at `lr` (one
    rate, or one per run). strategy: a Strategy, or a function of the untrained stack and its training data
    (stack, x, y) that returns one (e.g. weights from the initial losses). progress: as fit_many's (a str is
    the bar's description).

    Returns the history and {"val": ..., "test": ...}, each split's MSE per task, (runs, 2), with task 2 in its
    original units (so runs at different loss ratios compare).
    """
    if not isinstance(runs, list) or not runs or not all(isinstance(r, dict) and "seed" in r for r in runs):
        raise ValueError(f"runs={runs!r:.60} must be a non-empty list of {{'seed': s, ...}} dicts (a Sweep's runs())")
    ratios = [check_float("loss_ratio", run.get("loss_ratio", 1.0), low=0.0, low_open=True) for run in runs]
    if isinstance(strategy, type):
        raise TypeError(f"strategy={strategy.__name__} is a class; give a strategy, e.g. {strategy.__name__}()")
    if not isinstance(strategy, Strategy) and not callable(strategy):
        raise TypeError(f"strategy must be a Strategy or a function (stack, x, y) returning one, got {strategy!r}")
    data = [scaled_tasks(run["seed"], float(np.sqrt(ratio))) for run, ratio in zip(runs, ratios)]
    x, y, x_val, y_val, x_test, y_test = stacked(data, "x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
    unscale = torch.tensor([[1.0, 1.0 / ratio] for ratio in ratios])  # back to task 2's original units
    stack = ModelStack.from_factory(lambda: MultiTaskNet(1, hidden, 1, 2, sharing_depth=1), [r["seed"] for r in runs])
    if not isinstance(strategy, Strategy):
        strategy = strategy(stack, x, y)
        if not isinstance(strategy, Strategy):
            raise TypeError(f"the strategy function returned {type(strategy).__name__}, not a Strategy")
    h = fit_many(stack, (x, y), optimizer="adam", lr=lr, steps=steps, weights=strategy, progress=progress)
    with torch.no_grad():
        return h, {"val": per_task_mse(stack(x_val), y_val) * unscale,
                   "test": per_task_mse(stack(x_test), y_test) * unscale}
