"""Training: one model with `fit`, many models at once with `fit_many`, both with fixed task
weights or a weighting strategy (mtl_lessons.weighting).

`fit` is the loop to read: full batch, one weighted sum of the task losses, one backward pass.
`fit_many` is the same loop for M models of one architecture trained as one batched model
(a mtl_lessons.stack.ModelStack, where the helpers that exist for speed live). SGD and Adam act
element by element, so one optimizer over the stacked tensors updates every model exactly as
its own optimizer would; the tests check that fit and fit_many agree. Both are deterministic
for a given seed.

    >>> from mtl_lessons.data import make_sinusoid_tasks
    >>> from mtl_lessons.models import MultiTaskNet
    >>> tasks = make_sinusoid_tasks(n_tasks=3, n_train=8, seed=0)   # x_train (3, 8, 1), y_train (3, 8, 1)
    >>> model = MultiTaskNet(1, 16, 2, 3, sharing_depth=2)
    >>> history = fit(model, (tasks.x_train, tasks.y_train), optimizer="adam", lr=1e-2, steps=50, progress=False)
    >>> history.task_losses.shape
    (50, 3)
    >>> from mtl_lessons.stack import ModelStack
    >>> stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 16, 2, 3, sharing_depth=2), seeds=[0, 1])
    >>> x, y = tasks.x_train.expand(2, -1, -1, -1), tasks.y_train.expand(2, -1, -1, -1)   # (M, n_tasks, n, 1)
    >>> fit_many(stack, (x, y), optimizer="adam", lr=1e-2, steps=50, progress=False).task_losses.shape
    (50, 2, 3)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mtl_lessons._checks import (MAX_ELEMENTS, MAX_STEPS, check_bool, check_choice, check_float, check_int,
                                  check_labels, check_sequence, check_size, check_tensor, check_weights)
from mtl_lessons.models import MultiTaskNet, shared_parameter_names
from mtl_lessons.objectives import LOSSES, task_losses_fn
from mtl_lessons.schedules import Rates
from mtl_lessons.stack import ModelStack, one_thread
from mtl_lessons.weighting import Strategy

OPTIMIZERS = ("sgd", "adam")


def make_optimizer(params, optimizer: str, lr: float, *, fused: bool = False) -> torch.optim.Optimizer:
    """SGD or Adam, chosen explicitly: Adam rescales each parameter's step, which hides
    a task weight from parameters only that task uses (see chapter 3).

    fused=True updates every tensor in one C++ loop: the same arithmetic up to rounding, less
    per-step overhead. fit keeps torch's default, so it matches a loop written by hand bit for bit.
    """
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_float("lr", lr, low=0.0, low_open=True)
    kind = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    return kind(params, lr=lr, fused=True) if fused else kind(params, lr=lr)


PROGRESS_DELAY_S = 0.3  # seconds before a progress bar appears


def progress_bar(steps: int, progress: bool, desc: str):
    # the bar shows once training has lasted PROGRESS_DELAY_S, and goes when it ends: a cell that trains
    # several models one after another shows a bar for each, never a silent wait
    return tqdm(range(steps), desc=desc, disable=not progress, delay=PROGRESS_DELAY_S, leave=False)


@dataclass
class History:
    """Training task losses per step: (steps, n_tasks) for fit, (steps, n_models, n_tasks) for fit_many."""

    task_losses: np.ndarray
    weights: np.ndarray | None = None  # the strategy's weights per step, same shape; None for fixed weights
    records: np.ndarray | None = None  # record(model) every `every` steps: (n_records, ...); None without record
    record_steps: np.ndarray | None = None  # (n_records,) updates done before each record: 0, k, 2k, ..., steps


def fit(model: nn.Module, data: tuple, *, optimizer: str, lr: float | Rates, steps: int,
        loss: str | tuple[str, ...] = "mse", weights=None, progress=True, record=None) -> History:
    """Minimise sum_t w_t L_t(model) by full-batch steps; return the per-task training losses.

    data: (x, y) or (x, y, sample_weights). x: (n_tasks, n, in), or (1, n, in) for the same inputs in every
    task (a MultiTaskNet then runs its shared layers once); y: (n_tasks, n, out) for mse or (n_tasks, n)
    labels for ce; sample_weights: (n_tasks, n), each task's loss a weighted mean over its examples.
    One loss per task, e.g. loss=("ce", "mse"): y is floats (n_tasks, n), a label or a target (the head's
    first output). Parameters with requires_grad=False stay frozen.
    weights: None (all 1), fixed weights (n_tasks,), or a weighting Strategy (mtl_lessons.weighting) that
    chooses them at every step.
    lr: a rate, or Rates(lr, scale=..., schedule=...) (mtl_lessons.schedules, SGD only): named parameters at
    their own rate lr * scale, e.g. Rates(0.1, scale={"layers.0.weight": 0.1}) (a smaller rate for pretrained
    layers), and per step: schedule {name: tensor (steps, ...)}, row `step` multiplying lr (and scale) at
    that step; 0 freezes it for the step (gradual unfreezing, a slanted triangular schedule).
    progress: True / False, a str (the bar's description), or an open progress bar (anything with
    .update(n), e.g. a tqdm shared by several calls) advanced by one per step.
    record: record(model), called before training and after every step, or (record, every): before
    training, every `every` steps and after the last; History.records holds what it returns. It runs
    under torch.no_grad() (a measurement, not part of training).
    """
    if isinstance(model, type) or not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a built network, e.g. MultiTaskNet(...)), "
                        f"got {getattr(model, '__name__', type(model).__name__)}")
    run = _check_fit_args(  # every argument checked once, here; run holds what the loop needs
        model, [(name, p) for name, p in model.named_parameters() if p.requires_grad],
        {name: p for name, p in model.named_parameters() if p.requires_grad},  # a rate only for what trains
        data, n_models=None, optimizer=optimizer, lr=lr, steps=steps, loss=loss, weights=weights,
        progress=progress, record=record)
    opt = make_optimizer(run.updated, optimizer, run.lr)
    w, strategy = run.weights, run.strategy  # fixed weights (n_tasks,), or a strategy that chooses them
    history = np.empty((run.steps, *w.shape), dtype=np.float32)
    chosen = np.empty_like(history) if strategy is not None else None  # the strategy's weights per step
    with one_thread():
        for step in run.step_range:  # range(steps), behind the progress bar
            run.take_record(model, step)
            losses = run.task_losses(model(run.inputs))  # (n_tasks,)
            opt.zero_grad()
            if strategy is None:
                (losses * w).sum().backward()
            else:
                chosen[step] = _strategy_backward(strategy, losses[None], run.shared, run.others,
                                                  batched=False)[0].numpy()
            run.scale_gradients(step)  # lr.scale and lr.schedule
            opt.step()
            history[step] = losses.detach().numpy()
        run.take_record(model)  # after the last step
    return run.history(history, chosen)


def fit_many(stack: ModelStack, data: tuple, *, optimizer: str, lr, steps: int,
             loss: str | tuple[str, ...] = "mse", weights=None, progress=True, record=None) -> History:
    """Train every model of the stack on its own data and task weights, all at once: fit, model by model.

    data: (x, y) or (x, y, sample_weights), as pad_tasks returns. x: (M, n_tasks, n, in), or (M, 1, n, in)
    for the same inputs in every task (a MultiTaskNet stack then runs its shared layers once); y:
    (M, n_tasks, n, out) or labels (M, n_tasks, n); for one loss per task (loss=("ce", "ce", "mse"), as in
    fit) floats (M, n_tasks, n); sample_weights: (M, n_tasks, n).
    weights: (M, n_tasks) or (n_tasks,), or a weighting Strategy, batched over the M models.
    lr: one learning rate, or one per model (M,): each model's update is then rescaled to its own
    rate, exactly as its own SGD or Adam would step (both updates are proportional to lr). Or
    Rates(lr, scale=..., schedule=...) (SGD only): scale {parameter name: float, or a tensor (M, ...) of the
    stacked parameter's leading shape}, a rate of its own per parameter and model, as fit's model by model;
    schedule {name: tensor (steps,) for every model alike, or (steps, M, ...)}, a scale per step (one
    schedule per model: a grid of schedules at once).
    progress and record(stack) as in fit.
    Returns the training task losses, (steps, M, n_tasks), the strategy's weights and the records.
    """
    if not isinstance(stack, ModelStack):
        hint = "; build one with ModelStack.from_factory(factory, seeds)" if isinstance(stack, nn.Module) else ""
        raise TypeError(f"stack must be a ModelStack, got {type(stack).__name__}{hint}")
    trainable = [(name, p) for name, p in stack.params.items() if name not in stack.frozen]
    run = _check_fit_args(
        stack.base, trainable, dict(trainable), data, n_models=len(stack), optimizer=optimizer, lr=lr, steps=steps,
        loss=loss, weights=weights, progress=progress, record=record)
    opt = make_optimizer(run.updated, optimizer, run.lr, fused=True)
    w, strategy = run.weights, run.strategy  # (M, n_tasks)
    history = np.empty((run.steps, *w.shape), dtype=np.float32)
    chosen = np.empty_like(history) if strategy is not None else None
    with one_thread():
        for step in run.step_range:
            run.take_record(stack, step)
            losses = run.task_losses(stack(run.inputs))  # (M, n_tasks)
            opt.zero_grad()
            if strategy is None:
                # the models share no parameters, so the gradient of the sum is each model's own gradient
                (losses * w).sum().backward()
            else:
                chosen[step] = _strategy_backward(strategy, losses, run.shared, run.others, batched=True).numpy()
            run.scale_gradients(step)
            if run.lrs is None:
                opt.step()
            else:
                _step_at_own_rates(opt, run.updated, run.lrs)
            history[step] = losses.detach().numpy()
        run.take_record(stack)
    return run.history(history, chosen)


@dataclass
class _Run:
    """A training run's checked arguments and its bookkeeping: what fit and fit_many share."""

    inputs: torch.Tensor  # x; with the same inputs for every task, one copy for a MultiTaskNet's shared layers
    task_losses: Callable  # predictions -> task losses (..., n_tasks)
    weights: torch.Tensor  # the fixed task weights, (n_tasks,) or (M, n_tasks)
    strategy: Strategy | None  # or a strategy that chooses them every step
    steps: int
    step_range: Iterable[int]  # range(steps), advancing the progress bar
    updated: list  # what the optimizer updates: the trainable parameters, then the strategy's own
    shared: list  # with a strategy: the trainable parameters every task uses, and the others
    others: list
    named: dict  # the parameters lr.scale and lr.schedule may name
    scales: dict  # lr.scale {name: tensor broadcast to the parameter}
    schedule: dict  # lr.schedule {name: (steps, ...) broadcast to the parameter}
    record: Callable | None
    record_at: Sequence[int]  # the update counts to record at
    lr: float  # the optimizer's rate: lr, or 1 with one rate per model
    lrs: torch.Tensor | None  # fit_many: one rate per model (M,), or None
    records: list = field(default_factory=list)

    def scale_gradients(self, step: int) -> None:
        _scale_gradients(self.named, self.scales)
        _scale_gradients(self.named, {name: s[step] for name, s in self.schedule.items()})

    def take_record(self, model, step: int | None = None) -> None:
        """record(model) at the steps asked for; step=None: after the last step."""
        if self.record is not None and (step is None or step in self.record_at):
            self.records.append(_take_record(self.record, model))

    def history(self, task_losses: np.ndarray, chosen: np.ndarray | None) -> History:
        if self.record is None:
            return History(task_losses, chosen)
        return History(task_losses, chosen, np.stack(self.records), np.array(self.record_at))


def _check_fit_args(net: nn.Module, trainable: list, named: dict, data, *, n_models: int | None, optimizer, lr,
                    steps, loss, weights, progress, record) -> _Run:
    """fit's (n_models=None) or fit_many's arguments, checked in one place; starts the strategy.

    net: the model, or the stack's architecture; trainable: its (name, parameter) pairs that train.
    """
    lead = 0 if n_models is None else 1  # the stacked models' axis
    dtype = next(net.parameters()).dtype if any(True for _ in net.parameters()) else torch.float32
    x, y, sample_weights = _unpack(data)
    x, shared_x = _shared_inputs(x, y, lead)
    x, y, steps = _check_training_args(x, y, loss, steps, lead, dtype=dtype, n_classes=_n_classes(net))
    inputs = x.narrow(lead, 0, 1) if shared_x and isinstance(net, MultiTaskNet) else x  # the shared layers run once
    weights, strategy = _check_strategy(weights)
    n_tasks = x.shape[lead]
    if n_models is not None and x.shape[0] != n_models:
        raise ValueError(f"x has shape {tuple(x.shape)} but must have one row per model ({n_models})")
    w = _check_task_weights(weights, n_tasks, lead=() if n_models is None else (n_models,)).to(dtype)
    w = w if n_models is None else w.expand(n_models, n_tasks)
    sample_weights = _check_sample_weights(sample_weights, x.shape[:lead + 2])
    step_range = _step_range(steps, progress, "training" if n_models is None else "training grid")
    _trainable(trainable, "the model" if n_models is None else "the stack")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    rates = lr if isinstance(lr, Rates) else Rates(lr)
    lr, lrs = _check_lr(rates.lr, n_models, "lr.lr" if rates is lr else "lr")
    scales = _check_lr_scale(rates.scale, named, optimizer, lead)
    schedule = _check_lr_schedule(rates.schedule, named, optimizer, lead, steps)
    record, record_at = _recorder(record, steps)
    shared = others = extra = []
    if strategy is not None:  # every argument is checked: only now does the strategy's state change
        strategy.start(n_models or 1, n_tasks)
        extra = strategy.parameters()
        shared_names = shared_parameter_names(net)
        shared = [p for name, p in trainable if name in shared_names]
        others = [p for name, p in trainable if name not in shared_names]
    return _Run(inputs=inputs, task_losses=task_losses_fn(y, loss, sample_weights), weights=w, strategy=strategy,
                steps=steps, step_range=step_range, updated=[p for _, p in trainable] + extra, shared=shared,
                others=others, named=named, scales=scales, schedule=schedule, record=record, record_at=record_at,
                lr=lr, lrs=lrs)


def _unpack(data) -> tuple:
    """(x, y, sample_weights or None) from fit's data, (x, y) or (x, y, sample_weights)."""
    if not isinstance(data, tuple):
        raise TypeError(f"data must be a tuple (x, y) or (x, y, sample_weights), got {type(data).__name__}")
    if len(data) not in (2, 3):
        raise ValueError(f"data has {len(data)} entries but must be (x, y) or (x, y, sample_weights)")
    return data if len(data) == 3 else (*data, None)


def _step_range(steps: int, progress, desc: str) -> Iterable[int]:
    """range(steps) behind a progress bar: a new one (progress True or its description), none (False),
    or an open bar the caller shares between calls, advanced by one per step."""
    if isinstance(progress, str):
        if progress.strip().lower() in ("", "no", "yes", "true", "false", "on", "off", "none", "0", "1"):
            raise ValueError(f"progress={progress!r} looks like a yes or no: give True or False (a str is the "
                             "progress bar's description, e.g. progress=\"pretraining\")")
        return progress_bar(steps, True, progress)
    if not isinstance(progress, (bool, np.bool_)) and callable(getattr(progress, "update", None)):
        return _advancing(steps, progress)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress={progress!r} must be True or False, a description (str) or a progress bar "
                        "(anything with .update(n), e.g. a tqdm)")
    return progress_bar(steps, check_bool("progress", progress), desc)


def _advancing(steps: int, bar) -> Iterator[int]:
    for step in range(steps):
        yield step
        bar.update(1)


def _check_lr(lr, n_models: int | None, name: str = "lr"):
    """(the optimizer's lr, one lr per model or None): fit_many's lr may give one rate per model."""
    if n_models is None or not (isinstance(lr, (list, tuple, range, np.ndarray, torch.Tensor)) and np.ndim(lr) >= 1):
        check_float(name, lr, low=0.0, low_open=True)
        return lr, None
    lrs = check_tensor(name, torch.as_tensor(np.asarray(lr, dtype=np.float32)), dim=1)
    if lrs.shape != (n_models,) or not torch.isfinite(lrs).all() or (lrs <= 0).any():
        raise ValueError(f"{name}={lrs.tolist()} must be one number or {n_models} finite numbers > 0 (one per model)")
    return 1.0, lrs


def _step_at_own_rates(opt: torch.optim.Optimizer, params: list, lrs: torch.Tensor) -> None:
    """opt.step() at lr=1, then model m's update rescaled to its rate lrs[m] (SGD and Adam steps scale with lr)."""
    before = [p.detach().clone() for p in params]
    opt.step()
    with torch.no_grad():
        for p, b in zip(params, before):
            p.copy_(b + lrs.reshape(-1, *[1] * (p.dim() - 1)) * (p - b))


def _check_strategy(weights) -> tuple:
    """(fixed weights or None, a Strategy or None) from fit's weights."""
    if isinstance(weights, Strategy):
        return None, weights
    if isinstance(weights, type) and issubclass(weights, Strategy):
        raise TypeError(f"weights={weights.__name__} is a class; give a strategy, e.g. weights={weights.__name__}()")
    if weights is not None and not isinstance(weights, (list, tuple, np.ndarray, torch.Tensor)):
        raise TypeError(f"weights must be None, one weight per task (a list, array or tensor) or a weighting "
                        f"Strategy (mtl_lessons.weighting, e.g. UncertaintyWeighting()), got {type(weights).__name__}")
    return weights, None


def _strategy_backward(strategy: Strategy, losses: torch.Tensor, shared: list, others: list,
                       batched: bool) -> torch.Tensor:
    """Set .grad of every parameter for one step of `strategy`; return its weights (M, T).

    losses: (M, T). Parameters carry the model axis first when `batched` (a ModelStack); the models
    share no parameters, so one backward pass per task gives every model its own task gradient.
    """
    n_models, n_tasks = losses.shape
    gram = grads = None
    if strategy.uses_gramian:
        params = shared + others if strategy.combines_gradients else shared
        grads = [[torch.zeros_like(p) if g is None else g for p, g in
                  zip(params, torch.autograd.grad(losses[:, t].sum(), params, retain_graph=True, allow_unused=True))]
                 for t in range(n_tasks)]  # grads[t][k]: task t's gradient on params[k]
        if shared:
            flat = torch.stack([torch.cat([g.reshape(n_models, -1) for g in grads[t][:len(shared)]], dim=1)
                                for t in range(n_tasks)], dim=1)  # (M, T, n_shared)
            gram = flat @ flat.transpose(1, 2)  # (M, T, T)
        else:
            gram = torch.zeros(n_models, n_tasks, n_tasks)
    w = strategy.weights(losses.detach(), gram)  # (M, T)
    if not strategy.combines_gradients:
        ((w * losses).sum() + torch.as_tensor(strategy.penalty()).sum()).backward()
        return w.detach()
    w = w.detach()
    for k, p in enumerate(shared):  # the combined direction sum_t w_t g_t, model by model
        coef = w if batched else w[0]  # (M, T) or (T,)
        p.grad = sum(coef[..., t].reshape(-1, *[1] * (p.dim() - 1)) * grads[t][k] if batched
                     else coef[t] * grads[t][k] for t in range(n_tasks))
    for k, p in enumerate(others):  # a task-specific parameter follows its own task's gradient
        p.grad = sum(grads[t][len(shared) + k] for t in range(n_tasks))
    return w


def _check_training_args(x, y, loss, steps, n_tasks_dim, *, dtype=torch.float32, n_classes=None):
    """Checked (x, y, steps): numpy arrays converted, x (and mse targets) cast to the models' dtype."""
    if isinstance(loss, (tuple, list)):
        return _check_mixed_args(x, y, loss, steps, n_tasks_dim, dtype=dtype, n_classes=n_classes)
    check_choice("loss", loss, LOSSES)
    steps = check_int("steps", steps, low=1, high=MAX_STEPS)
    lead = "(n_models, n_tasks, n, in)" if n_tasks_dim else "(n_tasks, n, in)"
    x = check_tensor("x", x, nonempty=True)
    if x.dim() != n_tasks_dim + 3:
        raise ValueError(f"x has shape {tuple(x.shape)} but must be {lead}"
                         + ("; for one task use x[None]" if x.dim() == n_tasks_dim + 2 else ""))
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"x has dtype {x.dtype}; the models need real numbers ({dtype})")
    x = x.to(dtype)  # numpy float64 / int arrays: the models are float32
    if loss == "mse":
        y = check_tensor("y", y, dtype=dtype)
        y = y if y.is_floating_point() else y.to(dtype)
        if x.shape[:n_tasks_dim + 2] != y.shape[:n_tasks_dim + 2] or y.dim() != x.dim():
            raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must agree on the leading "
                             f"(…, n_tasks, n) dimensions; y must be (…, n_tasks, n, out)")
    else:
        y = check_labels("y", y, n_classes)
        if y.shape != x.shape[:-1]:
            raise ValueError(f"y must hold integer labels of shape {tuple(x.shape[:-1])} for loss='ce', "
                             f"got {y.dtype} {tuple(y.shape)}")
    return x, y, steps


def _shared_inputs(x, y, n_tasks_dim: int):
    """x with a task dimension of 1 (the same inputs for every task) as a view repeated to y's tasks.

    Returns (x, shared): shared is True when x was repeated, so a MultiTaskNet may run its shared layers once.
    """
    if (isinstance(x, (torch.Tensor, np.ndarray)) and isinstance(y, (torch.Tensor, np.ndarray))
            and x.ndim == n_tasks_dim + 3 and y.ndim > n_tasks_dim and x.shape[n_tasks_dim] == 1
            and y.shape[n_tasks_dim] > 1):
        x = torch.as_tensor(x)
        return x.expand(*x.shape[:n_tasks_dim], y.shape[n_tasks_dim], *x.shape[n_tasks_dim + 1:]), True
    return x, False


def _check_mixed_args(x, y, loss, steps, n_tasks_dim, *, dtype, n_classes):
    """_check_training_args for one loss per task: y holds floats (…, n_tasks, n), labels for "ce" tasks."""
    for t, name in enumerate(loss):
        check_choice(f"loss[{t}]", name, LOSSES)
    x = check_tensor("x", x, nonempty=True)
    x, _, steps = _check_training_args(x, torch.zeros(*x.shape[:-1], 1), "mse", steps, n_tasks_dim, dtype=dtype)
    if len(loss) != x.shape[n_tasks_dim]:
        raise ValueError(f"loss has {len(loss)} entries but x has {x.shape[n_tasks_dim]} tasks (one loss per task)")
    y = check_tensor("y", y, dtype=dtype)
    y = y.to(dtype)
    if y.shape != x.shape[:-1]:
        raise ValueError(f"y has shape {tuple(y.shape)} but must be {tuple(x.shape[:-1])} for one loss per task: "
                         "a label (as a float) for a 'ce' task, the target for an 'mse' task")
    ce = torch.tensor([name == "ce" for name in loss])
    labels = y.movedim(n_tasks_dim, 0)[ce]  # the "ce" tasks' entries
    high = (n_classes or 2 ** 31) - 1
    if ((labels != labels.round()) | (labels < 0) | (labels > high)).any():
        raise ValueError(f"y holds a label that is not an integer in 0..{high} for a 'ce' task")
    return x, y, steps


def _check_sample_weights(sample_weights, shape):
    if sample_weights is None:
        return None
    sample_weights = check_tensor("sample_weights", sample_weights, shape=shape, floating=True, dtype=torch.float32)
    if (sample_weights < 0).any() or (sample_weights.sum(-1) <= 0).any():
        raise ValueError("sample_weights must be >= 0 and give every task at least one example")
    return sample_weights


def _check_lr_scale(scale, named_params: dict, optimizer: str, lead: int, what: str = "lr.scale") -> dict:
    """Rates.scale {name: float or tensor} -> {name: tensor broadcast to the parameter}; SGD only.

    A tensor's shape must be a leading part of the parameter's (after the `lead` stacked axes
    of fit_many, which it must include), e.g. (M,) for one scale per model.
    """
    if scale is None:
        return {}
    if optimizer != "sgd":
        raise ValueError(f"{what} needs optimizer='sgd', got optimizer={optimizer!r}: Adam's step does not "
                         "scale with the gradient, so a per-parameter rate cannot be written as a gradient scale")
    if not isinstance(scale, dict):
        raise TypeError(f"{what} must be a dict {{parameter name: scale}}, got {type(scale).__name__}")
    scales = {}
    for name, value in scale.items():
        if name not in named_params:
            raise ValueError(f"{what} names {name!r}, which is not a trainable parameter of the model "
                             f"(allowed: {', '.join(named_params)})")
        p = named_params[name]
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = torch.tensor(check_float(f"{what}[{name!r}]", value, low=0.0))
        value = check_tensor(f"{what}[{name!r}]", value).to(p.dtype)
        if value.dim() not in (0, *range(lead, p.dim() + 1)) or tuple(value.shape) != tuple(p.shape[:value.dim()]):
            raise ValueError(f"{what}[{name!r}] has shape {tuple(value.shape)} but must be a float or have a "
                             f"leading part of the parameter's shape {tuple(p.shape)}"
                             + (f" with at least its first {lead} axis" if lead else ""))
        if (value < 0).any():
            raise ValueError(f"{what}[{name!r}] has a negative entry (allowed: >= 0)")
        scales[name] = value.reshape(*value.shape, *[1] * (p.dim() - value.dim()))
    return scales


def _check_lr_schedule(schedule, named_params: dict, optimizer: str, lead: int, steps: int) -> dict:
    """Rates.schedule {name: tensor (steps, ...)} -> {name: (steps, *broadcast to the parameter)}: a scale per step.

    Row `step` is that step's scale, with the shapes Rates.scale allows; in fit_many a (steps,) schedule
    is the same for every model. A scale of 0 freezes the parameter for that step (plain SGD).
    """
    if schedule is None:
        return {}
    if not isinstance(schedule, dict):
        raise TypeError(f"lr.schedule must be a dict {{parameter name: tensor (steps, ...)}}, "
                        f"got {type(schedule).__name__}")
    per_step = {}
    for name, value in schedule.items():
        value = check_tensor(f"lr.schedule[{name!r}]", value)
        if value.dim() == 0 or value.shape[0] != steps:
            raise ValueError(f"lr.schedule[{name!r}] has shape {tuple(value.shape)} but its first axis must be "
                             f"the steps ({steps}): one row of scales per step")
        if lead and value.dim() == 1 and name in named_params:  # one schedule for every model
            value = value[:, None].expand(steps, named_params[name].shape[0])
        per_step[name] = value
    ghosts = {name: torch.empty((steps, *p.shape), dtype=p.dtype, device="meta") for name, p in named_params.items()}
    return _check_lr_scale(per_step, ghosts, optimizer, lead + 1, what="lr.schedule")


def _recorder(record, steps: int):
    """Checked (record, the update counts to record at) from record(model) or (record, every):
    0, every, 2 every, ... and always the last."""
    if record is None:
        return None, ()
    every = 1
    if isinstance(record, tuple):
        if len(record) != 2:
            raise ValueError(f"record is a tuple of {len(record)} entries but must be record(model) or (record, every)")
        record, every = record
    if not callable(record):
        raise TypeError(f"record must be a function of the model (e.g. validation accuracy), or (record, every), "
                        f"got {type(record).__name__}")
    every = check_int("record=(record, every): every", every, low=1, high=steps)
    return record, sorted(set(range(0, steps + 1, every)) | {steps})


def _take_record(record, model) -> np.ndarray:
    with torch.no_grad():
        value = record(model)
    value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=float)
    if value.dtype == object or not np.isfinite(value).all():
        raise ValueError(f"record(model) returned {value!r}; it must return finite numbers (an array or tensor)")
    return value


def _scale_gradients(named_params: dict, scales: dict) -> None:
    # plain SGD: w <- w - lr * s * g is a step of rate lr * s for this parameter
    for name, s in scales.items():
        if named_params[name].grad is not None:
            named_params[name].grad.mul_(s)


def _check_task_weights(weights, n_tasks, lead=()):
    if weights is None:
        return torch.ones(n_tasks)
    w = check_weights("weights", weights, n_tasks).float()
    if w.dim() > 1 + len(lead) or (w.dim() == 2 and tuple(w.shape[:1]) != tuple(lead)):
        want = f"({n_tasks},)" + (f" or ({lead[0]}, {n_tasks})" if lead else "")
        raise ValueError(f"weights has shape {tuple(w.shape)} but must be {want}")
    if (w.sum(-1) == 0).any():
        raise ValueError(f"weights={w.tolist()} are all zero (for a model); training would change nothing "
                         "(allowed: at least one weight > 0)")
    return w


def _trainable(params, what):
    if not params:
        raise ValueError(f"every parameter of {what} is frozen (requires_grad=False); nothing would train. "
                         "Unfreeze some layers, e.g. freeze_layers(model, 0)")
    return params


def _n_classes(model):
    return getattr(model, "out_features", None)


def pad_tasks(xs: Sequence[Sequence[torch.Tensor]], ys: Sequence[Sequence[torch.Tensor]]):
    """Stack example sets of different sizes into fit_many's padded form.

    xs[m][t] (n_mt, in) and ys[m][t] (n_mt, ...) are model m's examples of task t. Returns
    x (M, T, n_max, in) and y (M, T, n_max, ...), zero-padded, and sample_weights (M, T, n_max):
    1 for a real example, 0 for padding, so each task still averages over its own n_mt.
    """
    xs = check_sequence("xs", xs, min_len=0)
    ys = check_sequence("ys", ys, min_len=0)
    if len(xs) == 0 or len(xs) != len(ys):
        raise ValueError(f"xs has {len(xs)} models and ys {len(ys)}; they must match and be non-empty")
    for name, lists in (("xs", xs), ("ys", ys)):
        for m, tasks in enumerate(lists):
            if isinstance(tasks, torch.Tensor) or not isinstance(tasks, (list, tuple)):
                raise TypeError(f"{name}[{m}] must be a list of tensors, one per task (e.g. [task_x]), "
                                f"got {type(tasks).__name__}")
    n_tasks = len(xs[0])
    if n_tasks == 0 or any(len(a) != n_tasks or len(b) != n_tasks for a, b in zip(xs, ys)):
        raise ValueError("every model must give the same number (>= 1) of tasks in xs and ys")
    xs = [[check_tensor(f"xs[{m}][{t}]", xt, nonempty=True) for t, xt in enumerate(model)]
          for m, model in enumerate(xs)]
    ys = [[check_tensor(f"ys[{m}][{t}]", yt, nonempty=True) for t, yt in enumerate(model)]
          for m, model in enumerate(ys)]
    x0, y0 = xs[0][0], ys[0][0]
    for name, lists, first in (("xs", xs, x0), ("ys", ys, y0)):
        for m, model in enumerate(lists):
            for t, a in enumerate(model):
                if a.dim() == 0 or a.shape[1:] != first.shape[1:]:
                    raise ValueError(f"{name}[{m}][{t}] has shape {tuple(a.shape)} but {name}[0][0] has "
                                     f"{tuple(first.shape)}; every task needs the same shape after the first "
                                     "(examples) dimension")
                if a.is_floating_point() != first.is_floating_point():
                    raise TypeError(f"{name}[{m}][{t}] has dtype {a.dtype} but {name}[0][0] has {first.dtype}")
    n_max = max(len(t) for model in xs for t in model)
    check_size("the padded tensors' size", len(xs) * n_tasks * n_max * max(x0[0].numel(), y0[0].numel(), 1),
               MAX_ELEMENTS)
    x = torch.zeros(len(xs), n_tasks, n_max, *x0.shape[1:], dtype=x0.dtype)
    y = torch.zeros(len(xs), n_tasks, n_max, *y0.shape[1:], dtype=y0.dtype)
    mask = torch.zeros(len(xs), n_tasks, n_max)
    for m, (model_x, model_y) in enumerate(zip(xs, ys)):
        for t, (xt, yt) in enumerate(zip(model_x, model_y)):
            if len(xt) != len(yt):
                raise ValueError(f"xs[{m}][{t}] has {len(xt)} examples but ys[{m}][{t}] has {len(yt)}")
            x[m, t, :len(xt)], y[m, t, :len(yt)], mask[m, t, :len(xt)] = xt, yt, 1.0
    return x, y, mask
