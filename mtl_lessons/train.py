"""Training: one model with `fit`, many models at once with `fit_many`, both with fixed task
weights or a weighting strategy (mtl_lessons.weighting). The grid of results they fill is
mtl_lessons.sweep.Sweep.

Both loops are full-batch and deterministic for a given seed. `fit_many` trains M
models of one architecture as one batched model: their parameters are stacked
on a leading axis (torch.func.stack_module_state). A MultiTaskNet stack runs as
batched matrix products over that axis (one `bmm` per layer for all M models);
any other module runs with vmap. SGD and Adam act element by element, so one
optimizer over the stacked tensors updates every model exactly as its own
optimizer would; a test checks this.

    >>> stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 16, 2, 3, sharing_depth=2), seeds=[0, 1])
    >>> history = fit_many(stack, x, y, optimizer="adam", lr=1e-2, steps=500)   # x: (2, 3, n, 1)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from mtl_lessons._checks import (MAX_ELEMENTS, MAX_GRID, MAX_STEPS, as_tensor, check_bool, check_choice,
                                  check_factory, check_float, check_int, check_ints, check_labels, check_sequence,
                                  check_size, check_tensor, check_weights)
from mtl_lessons.models import MultiTaskNet, TaskLinear, copy_layers, freeze_layers
from mtl_lessons.objectives import LOSSES, task_losses_fn
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


def use_one_thread() -> None:
    """Put torch on one thread for the rest of the process (the course's models are tiny).

    It never switches back, on purpose: `torch.set_num_threads(n)` also turns MKL's dynamic
    threading off (ATen calls `mkl_set_dynamic(false)`), after which MKL splits even a tanh of a
    few thousand numbers over n OpenMP threads. On a busy 2-core CPU each such op then waits for a
    descheduled thread: a 500-step Adam loop on a tiny MLP took 0.56 s in a fresh process and 18.5 s
    after `set_num_threads(1)` then `set_num_threads(2)`. On one thread the flag does no harm, and a
    second thread buys nothing at this size.
    """
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@contextlib.contextmanager
def one_thread():
    """`use_one_thread()` as a `with` block; torch stays on one thread after it (see use_one_thread)."""
    use_one_thread()
    yield


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
    records: np.ndarray | None = None  # record(model) every record_every steps: (n_records, ...); None without record
    record_steps: np.ndarray | None = None  # (n_records,) updates done before each record: 0, k, 2k, ..., steps


def shared_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters every task uses: all but those of TaskLinear layers (one slice per task)."""
    own = {f"{prefix}.{name}" if prefix else name for prefix, module in model.named_modules()
           if isinstance(module, TaskLinear) for name, _ in module.named_parameters(recurse=False)}
    return {name for name, _ in model.named_parameters()} - own


def _check_strategy(weights, strategy):
    if strategy is None:
        return
    if not isinstance(strategy, Strategy):
        raise TypeError(f"strategy must be a mtl_lessons.weighting.Strategy, got {type(strategy).__name__}")
    if weights is not None:
        raise ValueError("give weights or strategy, not both (fixed weights are FixedWeights(weights))")


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


def _check_lr_scale(lr_scale, named_params: dict, optimizer: str, lead: int, what: str = "lr_scale") -> dict:
    """lr_scale {name: float or tensor} -> {name: tensor broadcast to the parameter}; SGD only.

    A tensor's shape must be a leading part of the parameter's (after the `lead` stacked axes
    of fit_many, which it must include), e.g. (M,) for one scale per model.
    """
    if lr_scale is None:
        return {}
    if optimizer != "sgd":
        raise ValueError(f"{what} needs optimizer='sgd', got optimizer={optimizer!r}: Adam's step does not "
                         "scale with the gradient, so a per-parameter rate cannot be written as a gradient scale")
    if not isinstance(lr_scale, dict):
        raise TypeError(f"{what} must be a dict {{parameter name: scale}}, got {type(lr_scale).__name__}")
    scales = {}
    for name, value in lr_scale.items():
        if name not in named_params:
            raise ValueError(f"{what} names {name!r}, which is not a parameter "
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


def _check_lr_schedule(lr_schedule, named_params: dict, optimizer: str, lead: int, steps: int) -> dict:
    """lr_schedule {name: tensor (steps, ...)} -> {name: (steps, *broadcast to the parameter)}: an lr_scale per step.

    Row `step` is that step's scale, with the shapes lr_scale allows; in fit_many a (steps,) schedule
    is the same for every model. A scale of 0 freezes the parameter for that step (plain SGD).
    """
    if lr_schedule is None:
        return {}
    if not isinstance(lr_schedule, dict):
        raise TypeError(f"lr_schedule must be a dict {{parameter name: tensor (steps, ...)}}, "
                        f"got {type(lr_schedule).__name__}")
    per_step = {}
    for name, value in lr_schedule.items():
        value = check_tensor(f"lr_schedule[{name!r}]", value)
        if value.dim() == 0 or value.shape[0] != steps:
            raise ValueError(f"lr_schedule[{name!r}] has shape {tuple(value.shape)} but its first axis must be "
                             f"the steps ({steps}): one row of scales per step")
        if lead and value.dim() == 1 and name in named_params:  # one schedule for every model
            value = value[:, None].expand(steps, named_params[name].shape[0])
        per_step[name] = value
    ghosts = {name: torch.empty((steps, *p.shape), dtype=p.dtype, device="meta") for name, p in named_params.items()}
    return _check_lr_scale(per_step, ghosts, optimizer, lead + 1, what="lr_schedule")


def _recorder(record, record_every: int, steps: int):
    """Checked (record, the update counts to record at): 0, k, 2k, ... and always the last."""
    if record is None:
        return None, ()
    if not callable(record):
        raise TypeError(f"record must be a function of the model (e.g. validation accuracy), "
                        f"got {type(record).__name__}")
    record_every = check_int("record_every", record_every, low=1, high=steps)
    return record, sorted(set(range(0, steps + 1, record_every)) | {steps})


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


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, optimizer: str, lr: float, steps: int,
        loss: str | tuple[str, ...] = "mse", weights=None, sample_weights: torch.Tensor | None = None,
        progress: bool = True, desc: str = "training", lr_scale: dict | None = None,
        strategy: Strategy | None = None, lr_schedule: dict | None = None,
        record: Callable | None = None, record_every: int = 1) -> History:
    """Minimise sum_t w_t L_t(model) by full-batch steps; return the per-task training losses.

    x: (n_tasks, n, in), or (1, n, in) for the same inputs in every task (a MultiTaskNet then runs its
    shared layers once); y: (n_tasks, n, out) for mse or (n_tasks, n) labels for ce. One loss per
    task, e.g. loss=("ce", "mse"): y is floats (n_tasks, n), a label or a target (the head's first output).
    Parameters with requires_grad=False stay frozen. `weights` are fixed; a `strategy`
    (mtl_lessons.weighting) chooses them at every step instead (give one or neither).
    lr_scale (SGD only) gives named parameters their own rate lr * scale, e.g.
    {"layers.0.weight": 0.1} (a smaller rate for pretrained layers). lr_schedule (SGD only) does
    the same per step: {name: tensor (steps, ...)}, row `step` multiplying lr (and lr_scale) at that
    step; 0 freezes it for the step (gradual unfreezing, a slanted triangular schedule: see
    mtl_lessons.schedules). record(model), if given, is called before training and every
    `record_every` steps (and after the last); History.records holds what it returns.
    """
    if isinstance(model, type) or not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a built network, e.g. MultiTaskNet(...)), "
                        f"got {getattr(model, '__name__', type(model).__name__)}")
    dtype = next(model.parameters()).dtype if any(True for _ in model.parameters()) else torch.float32
    x, shared_x = _shared_inputs(x, y, 0)
    x, y, steps = _check_training_args(x, y, loss, steps, 0, dtype=dtype, n_classes=_n_classes(model))
    inputs = x[:1] if shared_x and isinstance(model, MultiTaskNet) else x  # the shared layers run once
    _check_strategy(weights, strategy)
    n_tasks = x.shape[0]
    w = _check_task_weights(weights, n_tasks).to(dtype)
    sample_weights = _check_sample_weights(sample_weights, x.shape[:2])
    progress = check_bool("progress", progress)
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    _trainable(trainable, "the model")
    extra = []
    if strategy is not None:
        strategy.start(1, n_tasks)
        extra = strategy.parameters()
        shared_names = shared_parameter_names(model)
        shared = [p for name, p in trainable if name in shared_names]
        others = [p for name, p in trainable if name not in shared_names]
    opt = make_optimizer([p for _, p in trainable] + extra, optimizer, lr)
    named = dict(model.named_parameters())
    scales = _check_lr_scale(lr_scale, named, optimizer, 0)
    schedule = _check_lr_schedule(lr_schedule, named, optimizer, 0, steps)
    record, record_at = _recorder(record, record_every, steps)
    task_losses = task_losses_fn(y, loss, sample_weights)  # pred -> (..., n_tasks)
    history = np.empty((steps, n_tasks), dtype=np.float32)
    chosen = np.empty((steps, n_tasks), dtype=np.float32) if strategy is not None else None
    records = []
    with one_thread():
        for step in progress_bar(steps, progress, desc):
            if record is not None and step in record_at:
                records.append(_take_record(record, model))
            losses = task_losses(model(inputs))  # (n_tasks,)
            opt.zero_grad()
            if strategy is None:
                (losses * w).sum().backward()
            else:
                chosen[step] = _strategy_backward(strategy, losses[None], shared, others, batched=False)[0].numpy()
            _scale_gradients(named, scales)
            _scale_gradients(named, {name: s[step] for name, s in schedule.items()})
            opt.step()
            history[step] = losses.detach().numpy()
        if record is not None:
            records.append(_take_record(record, model))
    if record is None:
        return History(history, chosen)
    return History(history, chosen, np.stack(records), np.array(record_at))


class ModelStack:
    """M models of one architecture with their parameters stacked on a leading axis.

    Calling the stack with x of shape (M, ...) runs model m on x[m], all at once (batched matrix
    products for a MultiTaskNet, vmap for any other module).
    """

    def __init__(self, models: Sequence[nn.Module]):
        if isinstance(models, nn.Module):
            raise TypeError(f"models is one model ({type(models).__name__}); give a list of models, e.g. [model]")
        models = check_sequence("models", models, min_len=0)
        if len(models) == 0:
            raise ValueError("models is empty; a stack needs at least one model")
        for i, m in enumerate(models):
            if not isinstance(m, nn.Module):
                raise TypeError(f"models[{i}] must be a torch.nn.Module, got {type(m).__name__}")
        check_size("the number of models in the stack", len(models), MAX_GRID)
        shapes = [[p.shape for p in m.parameters()] for m in models]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("models must all have the same architecture (parameter shapes differ)")
        self.params, self.buffers = stack_module_state(list(models))
        self.frozen = {n for n, p in models[0].named_parameters() if not p.requires_grad}
        self.base = copy.deepcopy(models[0]).to("meta")  # architecture only; weights live in self.params

    @classmethod
    def _assemble(cls, base: nn.Module, params: dict, buffers: dict, frozen: set) -> "ModelStack":
        # a stack from stacked tensors that it then owns (base: architecture only, on "meta")
        stack = cls.__new__(cls)
        stack.params = {name: p.detach().requires_grad_(name not in frozen) for name, p in params.items()}
        stack.buffers, stack.frozen, stack.base = dict(buffers), set(frozen), base
        return stack

    def take(self, index: Sequence[int]) -> "ModelStack":
        """A new stack of models index[0], index[1], ... (copies; an index may repeat), as stacking model(i)."""
        index = check_ints("index", index, low=0, high=len(self) - 1)
        rows = torch.tensor(index)
        return ModelStack._assemble(self.base, {k: v.detach()[rows] for k, v in self.params.items()},
                                    {k: v[rows] for k, v in self.buffers.items()}, self.frozen)

    @classmethod
    def concat(cls, stacks: Sequence["ModelStack"]) -> "ModelStack":
        """One stack of every model of `stacks`, in order (copies); they need one architecture and one frozen set."""
        stacks = check_sequence("stacks", stacks)
        first = stacks[0] if isinstance(stacks[0], ModelStack) else None
        for i, stack in enumerate(stacks):
            if not isinstance(stack, ModelStack):
                raise TypeError(f"stacks[{i}] must be a ModelStack, got {type(stack).__name__}")
            shapes = {k: v.shape[1:] for k, v in stack.params.items()}
            if (shapes != {k: v.shape[1:] for k, v in first.params.items()} or type(stack.base) is not type(first.base)
                    or stack.buffers.keys() != first.buffers.keys()):
                raise ValueError(f"stacks[{i}] has another architecture than stacks[0] "
                                 "(parameter names or shapes differ)")
            if stack.frozen != first.frozen:
                raise ValueError(f"stacks[{i}] freezes {sorted(stack.frozen)} but stacks[0] {sorted(first.frozen)}; "
                                 "a stack has one set of frozen parameters")
        params = {k: torch.cat([s.params[k].detach() for s in stacks]) for k in first.params}
        buffers = {k: torch.cat([s.buffers[k] for s in stacks]) for k in first.buffers}
        return cls._assemble(first.base, params, buffers, first.frozen)

    @classmethod
    def from_factory(cls, factory: Callable[[], nn.Module], seeds: Sequence[int]) -> "ModelStack":
        """One model per seed, each initialised right after torch.manual_seed(seed)."""
        check_factory("factory", factory)
        seeds = check_ints("seeds", seeds, low=0)
        check_size("the number of models (len(seeds))", len(seeds), MAX_GRID)
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = factory()
            if not isinstance(model, nn.Module):
                raise TypeError(f"factory() returned {type(model).__name__}; it must return one model "
                                "(did the function forget `return`?)")
            if not models:  # the stack's memory, before building the rest
                check_size("the stack's parameter count (models x parameters)",
                           len(seeds) * sum(p.numel() for p in model.parameters()), MAX_ELEMENTS)
            models.append(model)
        return cls(models)

    def __len__(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = as_tensor("x", x)
        dtype = next(iter(self.params.values())).dtype
        if x.dtype != dtype:
            if x.dtype == torch.bool or x.is_complex():
                raise TypeError(f"x has dtype {x.dtype}; the models need real numbers ({dtype})")
            x = x.to(dtype)  # float64 / integer arrays: the models are float32
        if x.dim() == 0 or x.shape[0] != len(self):
            raise ValueError(f"x has shape {tuple(x.shape)} but its first dimension must be the "
                             f"number of models, {len(self)}")
        if type(self.base) is MultiTaskNet and not self.buffers:
            return _multitask_forward(self.base, self.params, x)
        def run_one(params, buffers, xi):
            return functional_call(self.base, (params, buffers), (xi,))
        return vmap(run_one)(self.params, self.buffers, x)

    def model(self, index: int) -> nn.Module:
        """Model `index` as an ordinary nn.Module (a copy)."""
        check_int("index", index, low=0, high=len(self) - 1)
        model = copy.deepcopy(self.base).to_empty(device="cpu")
        state = {k: v[index].detach().clone() for k, v in {**self.params, **self.buffers}.items()}
        model.load_state_dict(state)
        for name, p in model.named_parameters():
            p.requires_grad_(name not in self.frozen)
        return model


def _multitask_forward(net: MultiTaskNet, params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """MultiTaskNet.forward for M stacked parameter sets at once: what vmap computes, with less overhead.

    x: (M, n_tasks, n, in), or (M, n, in) or (M, 1, n, in) (the same inputs for every task); returns
    (M, n_tasks, n, out). At the course's sizes a step is mostly per-operation overhead, so each layer
    is one batched matrix product for all M models and all tasks: a shared layer multiplies model m's
    rows of every task by its weight, (M, T*n, k) @ (M, k, k'); a per-task layer, (M*T, n, k) @ (M*T, k, k').
    With the same inputs for every task, the shared layers run once on those inputs, (M, n, k) @ (M, k, k'),
    and their output is repeated for the tasks at the first per-task layer: the same numbers, T times fewer
    operations in the trunk. (bmm then adding the bias gives baddbmm's numbers bit for bit, and
    faster at these sizes: baddbmm first copies the broadcast bias into every row of its output.)
    """
    n_models, n_tasks = x.shape[0], net.n_tasks
    if x.dim() == 3:  # (M, n, in) -> the same batch for every task
        x = x[:, None]
    if x.dim() != 4 or x.shape[1] not in (1, n_tasks) or x.shape[-1] != net.in_features:
        raise ValueError(f"x has shape {tuple(x.shape)} but must be ({n_models}, batch, {net.in_features}) "
                         f"or ({n_models}, {n_tasks}, batch, {net.in_features})")
    n = x.shape[2]
    h = x.reshape(n_models, x.shape[1] * n, -1)  # (M, T*n, in) or, for the same inputs, (M, n, in)
    for name, layer in [*((f"layers.{d}", layer) for d, layer in enumerate(net.layers)), ("heads", net.heads)]:
        weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
        if isinstance(layer, TaskLinear):  # weight (M, T, k, k'), bias (M, T, 1, k')
            if h.shape[1] != n_tasks * n:  # the trunk ran once on the shared inputs: one copy per task
                h = h[:, None].expand(n_models, n_tasks, n, h.shape[-1])
            h = torch.bmm(h.reshape(n_models * n_tasks, n, -1), weight.flatten(0, 1)).add_(bias.flatten(0, 1))
            h = h.reshape(n_models, n_tasks * n, -1)
        else:  # nn.Linear: weight (M, k', k), bias (M, k')
            h = torch.bmm(h, weight.mT).add_(bias.unsqueeze(1))
        if name != "heads":
            h = net.activation(h)
    return h.reshape(n_models, n_tasks, n, -1)  # (reshape is free when the layout already matches)


def fit_many(stack: ModelStack, x: torch.Tensor, y: torch.Tensor, *, optimizer: str, lr: float, steps: int,
             loss: str | tuple[str, ...] = "mse", weights=None, sample_weights: torch.Tensor | None = None,
             progress: bool = True, desc: str = "training grid", lr_scale: dict | None = None,
             strategy: Strategy | None = None, lr_schedule: dict | None = None,
             record: Callable | None = None, record_every: int = 1,
             callback: Callable[[int], None] | None = None) -> History:
    """Train every model of the stack on its own data and task weights, all at once.

    x: (M, n_tasks, n, in), or (M, 1, n, in) for the same inputs in every task (a MultiTaskNet stack then
    runs its shared layers once); y: (M, n_tasks, n, out) or labels (M, n_tasks, n); for one loss per task
    (loss=("ce", "ce", "mse"), as in fit) floats (M, n_tasks, n);
    weights: (M, n_tasks) or (n_tasks,); sample_weights: (M, n_tasks, n).
    strategy (instead of weights): a weighting strategy, batched over the M models.
    lr: one learning rate, or one per model (M,): each model's update is then rescaled to its own
    rate, exactly as its own SGD or Adam would step (both updates are proportional to lr).
    lr_scale (SGD only): {parameter name: float, or a tensor (M, ...) of the stacked parameter's
    leading shape}, a rate of its own per parameter and model, as fit's lr_scale model by model.
    lr_schedule (SGD only): {name: tensor (steps,) for every model alike, or (steps, M, ...)}, an
    lr_scale per step, as fit's model by model (one schedule per model: a grid of schedules at once).
    record(stack) is called before training and every record_every steps, as in fit.
    callback(step), if given, runs before every step, e.g. to measure the stack (chapter 11's task affinity).
    Returns the training task losses, (steps, M, n_tasks), the strategy's weights and the records.
    """
    if not isinstance(stack, ModelStack):
        hint = "; build one with ModelStack.from_factory(factory, seeds)" if isinstance(stack, nn.Module) else ""
        raise TypeError(f"stack must be a ModelStack, got {type(stack).__name__}{hint}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function callback(step), got {type(callback).__name__}")
    x, shared_x = _shared_inputs(x, y, 1)
    x, y, steps = _check_training_args(x, y, loss, steps, 1, dtype=next(iter(stack.params.values())).dtype,
                                       n_classes=_n_classes(stack.base))
    inputs = x[:, :1] if shared_x and isinstance(stack.base, MultiTaskNet) else x  # the shared layers run once
    _check_strategy(weights, strategy)
    n_models, n_tasks = len(stack), x.shape[1]
    if x.shape[0] != n_models:
        raise ValueError(f"x has shape {tuple(x.shape)} but must have one row per model ({n_models})")
    w = _check_task_weights(weights, n_tasks, lead=(n_models,))
    w = w.expand(n_models, n_tasks)
    sample_weights = _check_sample_weights(sample_weights, x.shape[:3])
    progress = check_bool("progress", progress)
    trainable = [(name, p) for name, p in stack.params.items() if name not in stack.frozen]
    _trainable(trainable, "the stack")
    extra = []
    if strategy is not None:
        strategy.start(n_models, n_tasks)
        extra = strategy.parameters()
        shared_names = shared_parameter_names(stack.base)
        shared = [p for name, p in trainable if name in shared_names]
        others = [p for name, p in trainable if name not in shared_names]
    lrs = None
    if isinstance(lr, (list, tuple, range, np.ndarray, torch.Tensor)) and np.ndim(lr) >= 1:  # one per model
        lrs = check_tensor("lr", torch.as_tensor(np.asarray(lr, dtype=np.float32)), dim=1)
        if lrs.shape != (n_models,) or not torch.isfinite(lrs).all() or (lrs <= 0).any():
            raise ValueError(f"lr={lrs.tolist()} must be one number or {n_models} finite numbers > 0 (one per model)")
        lr = 1.0
    updated = [p for _, p in trainable] + extra
    opt = make_optimizer(updated, optimizer, lr, fused=True)
    named = dict(trainable)
    scales = _check_lr_scale(lr_scale, named, optimizer, 1)
    schedule = _check_lr_schedule(lr_schedule, named, optimizer, 1, steps)
    record, record_at = _recorder(record, record_every, steps)
    task_losses = task_losses_fn(y, loss, sample_weights)  # pred -> (..., n_tasks)
    history = np.empty((steps, n_models, n_tasks), dtype=np.float32)
    chosen = np.empty((steps, n_models, n_tasks), dtype=np.float32) if strategy is not None else None
    records = []
    with one_thread():
        for step in progress_bar(steps, progress, desc):
            if callback is not None:
                callback(step)
            if record is not None and step in record_at:
                records.append(_take_record(record, stack))
            losses = task_losses(stack(inputs))  # (M, n_tasks)
            opt.zero_grad()
            if strategy is None:
                # the models share no parameters, so the gradient of the sum is each model's own gradient
                (losses * w).sum().backward()
            else:
                chosen[step] = _strategy_backward(strategy, losses, shared, others, batched=True).numpy()
            _scale_gradients(named, scales)
            _scale_gradients(named, {name: s[step] for name, s in schedule.items()})
            before = [p.detach().clone() for p in updated] if lrs is not None else None
            opt.step()
            if lrs is not None:
                with torch.no_grad():
                    for p, b in zip(updated, before):
                        p.copy_(b + lrs.reshape(-1, *[1] * (p.dim() - 1)) * (p - b))
            history[step] = losses.detach().numpy()
        if record is not None:
            records.append(_take_record(record, stack))
    if record is None:
        return History(history, chosen)
    return History(history, chosen, np.stack(records), np.array(record_at))


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


def transfer_stack(source: ModelStack, factory: Callable[[], nn.Module], n_copied: int, *,
                   source_index: Sequence[int], seeds: Sequence[int], freeze: bool) -> ModelStack:
    """A stack of new networks whose first `n_copied` hidden layers are copied from `source`.

    Model j is factory() initialised after torch.manual_seed(seeds[j]) (once per distinct seed: the
    factory must depend on torch's seed only), then receives the first
    n_copied of source model source_index[j] by state dict (copy_layers); its head and upper
    layers keep their fresh initialisation. freeze=True freezes the copied layers
    (feature extraction, AnB), freeze=False lets them train (fine-tuning, AnB+): a stack has
    one set of frozen names, so frozen and fine-tuned networks go in separate stacks.
    """
    if not isinstance(source, ModelStack):
        raise TypeError(f"source must be a ModelStack, got {type(source).__name__}")
    check_factory("factory", factory)
    freeze = check_bool("freeze", freeze)
    source_index = check_ints("source_index", source_index, low=0, high=len(source) - 1, min_len=0)
    seeds = check_ints("seeds", seeds, low=0, min_len=0)
    if len(source_index) != len(seeds) or not seeds:
        raise ValueError(f"source_index has {len(source_index)} entries and seeds {len(seeds)}; "
                         "they must match and be non-empty (one per new network)")
    for k in source_index:
        check_int("source_index", k, low=0, high=len(source) - 1)
    distinct = sorted(set(seeds))  # factory() depends only on torch's seed: build each seed's network once
    fresh = ModelStack.from_factory(factory, distinct).take([distinct.index(seed) for seed in seeds])
    # the copy, for all models at once: the copied layers' rows of the fresh stack become the source's
    # rows (copy_layers on one real pair checks that the layers match and raises its errors)
    copy_layers(source.model(source_index[0]), fresh.model(0), n_copied)
    copied = tuple(f"layers.{d}." for d in range(n_copied))
    rows = torch.tensor(source_index)
    params = {name: source.params[name].detach()[rows].to(p.dtype) if name.startswith(copied) else p
              for name, p in fresh.params.items()}
    buffers = {name: source.buffers[name][rows].to(b.dtype) if name.startswith(copied) else b
               for name, b in fresh.buffers.items()}
    # as freeze_layers(model, n_copied if freeze else 0): hidden layers frozen below that depth, trainable above
    frozen = {name for name in fresh.frozen if not name.startswith("layers.")}
    if freeze:
        frozen |= {name for name in params if name.startswith(copied)}
    return ModelStack._assemble(fresh.base, params, buffers, frozen)
