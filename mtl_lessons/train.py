"""Training: one model with `fit`, many models at once with `fit_many`, and the
`Sweep` that stores a whole grid of results for sliders and plots.

Both loops are full-batch and deterministic for a given seed. `fit_many` trains M
models of one architecture as one batched model: their parameters are stacked
on a leading axis (torch.func.stack_module_state). A MultiTaskNet stack runs as
batched matrix products over that axis (one `baddbmm` per layer for all M models);
any other module runs with vmap. SGD and Adam act element by element, so one
optimizer over the stacked tensors updates every model exactly as its own
optimizer would; a test checks this.

    >>> stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 16, 2, 3, sharing_depth=2), seeds=[0, 1])
    >>> history = fit_many(stack, x, y, optimizer="adam", lr=1e-2, steps=500)   # x: (2, 3, n, 1)
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from tqdm.auto import tqdm

from mtl_lessons._checks import check_choice, check_float, check_int, check_tensor, check_weights
from mtl_lessons.models import MultiTaskNet, TaskLinear, copy_layers, freeze_layers
from mtl_lessons.objectives import LOSSES, task_losses_unchecked

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


def _progress(steps: int, progress: bool, desc: str):
    # the bar shows only if training lasts more than a second
    return tqdm(range(steps), desc=desc, disable=not progress, delay=1.0, leave=False)


@dataclass
class History:
    """Training task losses per step: (steps, n_tasks) for fit, (steps, n_models, n_tasks) for fit_many."""

    task_losses: np.ndarray


def _check_training_args(x, y, loss, steps, n_tasks_dim):
    check_choice("loss", loss, LOSSES)
    check_int("steps", steps, low=1)
    check_tensor("x", x, floating=True)
    check_tensor("y", y, floating=(loss == "mse"))
    if loss == "mse" and x.shape[:n_tasks_dim + 2] != y.shape[:n_tasks_dim + 2]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must agree on the leading "
                         "(…, n_tasks, n) dimensions")
    if loss == "ce" and (y.is_floating_point() or y.shape != x.shape[:-1]):
        raise ValueError(f"y must hold integer labels of shape {tuple(x.shape[:-1])} for loss='ce', "
                         f"got {y.dtype} {tuple(y.shape)}")


def _check_sample_weights(sample_weights, shape):
    if sample_weights is None:
        return None
    check_tensor("sample_weights", sample_weights, shape=shape, floating=True)
    if (sample_weights < 0).any() or (sample_weights.sum(-1) <= 0).any():
        raise ValueError("sample_weights must be >= 0 and give every task at least one example")
    return sample_weights


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, optimizer: str, lr: float, steps: int,
        loss: str = "mse", weights=None, sample_weights: torch.Tensor | None = None,
        progress: bool = True, desc: str = "training") -> History:
    """Minimise sum_t w_t L_t(model) by full-batch steps; return the per-task training losses.

    x: (n_tasks, n, in), y: (n_tasks, n, out) for mse or (n_tasks, n) labels for ce.
    Parameters with requires_grad=False stay frozen.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_training_args(x, y, loss, steps, 0)
    n_tasks = x.shape[0]
    w = torch.ones(n_tasks) if weights is None else check_weights("weights", weights, n_tasks).float()
    sample_weights = _check_sample_weights(sample_weights, x.shape[:2])
    opt = make_optimizer([p for p in model.parameters() if p.requires_grad], optimizer, lr)
    history = np.empty((steps, n_tasks), dtype=np.float32)
    with one_thread():
        for step in _progress(steps, progress, desc):
            losses = task_losses_unchecked(model(x), y, loss, sample_weights)  # (n_tasks,)
            opt.zero_grad()
            (losses * w).sum().backward()
            opt.step()
            history[step] = losses.detach().numpy()
    return History(history)


class ModelStack:
    """M models of one architecture with their parameters stacked on a leading axis.

    Calling the stack with x of shape (M, ...) runs model m on x[m], all at once (vmap).
    """

    def __init__(self, models: Sequence[nn.Module]):
        if len(models) == 0:
            raise ValueError("models is empty; a stack needs at least one model")
        shapes = [[p.shape for p in m.parameters()] for m in models]
        if any(s != shapes[0] for s in shapes):
            raise ValueError("models must all have the same architecture (parameter shapes differ)")
        self.params, self.buffers = stack_module_state(list(models))
        self.frozen = {n for n, p in models[0].named_parameters() if not p.requires_grad}
        self.base = copy.deepcopy(models[0]).to("meta")  # architecture only; weights live in self.params

    @classmethod
    def from_factory(cls, factory: Callable[[], nn.Module], seeds: Sequence[int]) -> "ModelStack":
        """One model per seed, each initialised right after torch.manual_seed(seed)."""
        models = []
        for seed in seeds:
            torch.manual_seed(check_int("seed", seed, low=0))
            models.append(factory())
        return cls(models)

    def __len__(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != len(self):
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

    x: (M, n_tasks, n, in) or (M, n, in) (the same inputs for every task); returns (M, n_tasks, n, out).
    At the course's sizes a step is mostly per-operation overhead, so each layer is one batched
    matrix product for all M models and all tasks: a shared layer multiplies model m's rows of every
    task by its weight, (M, T*n, k) @ (M, k, k'); a per-task layer, (M*T, n, k) @ (M*T, k, k').
    """
    n_models, n_tasks = x.shape[0], net.n_tasks
    if x.dim() == 3:  # (M, n, in) -> the same batch for every task
        x = x[:, None].expand(n_models, n_tasks, *x.shape[1:])
    if x.dim() != 4 or x.shape[1] != n_tasks or x.shape[-1] != net.in_features:
        raise ValueError(f"x has shape {tuple(x.shape)} but must be ({n_models}, batch, {net.in_features}) "
                         f"or ({n_models}, {n_tasks}, batch, {net.in_features})")
    n = x.shape[2]
    h = x
    for name, layer in [*((f"layers.{d}", layer) for d, layer in enumerate(net.layers)), ("heads", net.heads)]:
        weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
        if isinstance(layer, TaskLinear):  # weight (M, T, k, k'), bias (M, T, 1, k')
            h = torch.baddbmm(bias.flatten(0, 1), h.reshape(n_models * n_tasks, n, -1), weight.flatten(0, 1))
        else:  # nn.Linear: weight (M, k', k), bias (M, k')
            h = torch.baddbmm(bias.unsqueeze(1), h.reshape(n_models, n_tasks * n, -1), weight.mT)
        if name != "heads":
            h = net.activation(h)
    return h.reshape(n_models, n_tasks, n, -1)  # (reshape is free when the layout already matches)


def fit_many(stack: ModelStack, x: torch.Tensor, y: torch.Tensor, *, optimizer: str, lr: float, steps: int,
             loss: str = "mse", weights=None, sample_weights: torch.Tensor | None = None,
             progress: bool = True, desc: str = "training grid") -> History:
    """Train every model of the stack on its own data and task weights, all at once.

    x: (M, n_tasks, n, in); y: (M, n_tasks, n, out) or labels (M, n_tasks, n);
    weights: (M, n_tasks) or (n_tasks,); sample_weights: (M, n_tasks, n).
    Returns the training task losses, (steps, M, n_tasks).
    """
    if not isinstance(stack, ModelStack):
        raise TypeError(f"stack must be a ModelStack, got {type(stack).__name__}")
    _check_training_args(x, y, loss, steps, 1)
    n_models, n_tasks = len(stack), x.shape[1]
    if x.shape[0] != n_models:
        raise ValueError(f"x has shape {tuple(x.shape)} but must have one row per model ({n_models})")
    w = torch.ones(n_tasks) if weights is None else check_weights("weights", weights, n_tasks).float()
    w = w.expand(n_models, n_tasks)
    sample_weights = _check_sample_weights(sample_weights, x.shape[:3])
    trainable = [p for name, p in stack.params.items() if name not in stack.frozen]
    opt = make_optimizer(trainable, optimizer, lr, fused=True)
    history = np.empty((steps, n_models, n_tasks), dtype=np.float32)
    with one_thread():
        for step in _progress(steps, progress, desc):
            losses = task_losses_unchecked(stack(x), y, loss, sample_weights)  # (M, n_tasks)
            opt.zero_grad()
            # the models share no parameters, so the gradient of the sum is each model's own gradient
            (losses * w).sum().backward()
            opt.step()
            history[step] = losses.detach().numpy()
    return History(history)


def pad_tasks(xs: Sequence[Sequence[torch.Tensor]], ys: Sequence[Sequence[torch.Tensor]]):
    """Stack example sets of different sizes into fit_many's padded form.

    xs[m][t] (n_mt, in) and ys[m][t] (n_mt, ...) are model m's examples of task t. Returns
    x (M, T, n_max, in) and y (M, T, n_max, ...), zero-padded, and sample_weights (M, T, n_max):
    1 for a real example, 0 for padding, so each task still averages over its own n_mt.
    """
    if len(xs) == 0 or len(xs) != len(ys):
        raise ValueError(f"xs has {len(xs)} models and ys {len(ys)}; they must match and be non-empty")
    n_tasks = len(xs[0])
    if n_tasks == 0 or any(len(a) != n_tasks or len(b) != n_tasks for a, b in zip(xs, ys)):
        raise ValueError("every model must give the same number (>= 1) of tasks in xs and ys")
    n_max = max(len(t) for model in xs for t in model)
    x0, y0 = xs[0][0], ys[0][0]
    x = torch.zeros(len(xs), n_tasks, n_max, *x0.shape[1:], dtype=x0.dtype)
    y = torch.zeros(len(xs), n_tasks, n_max, *y0.shape[1:], dtype=y0.dtype)
    mask = torch.zeros(len(xs), n_tasks, n_max)
    for m, (model_x, model_y) in enumerate(zip(xs, ys)):
        for t, (xt, yt) in enumerate(zip(model_x, model_y)):
            if len(xt) != len(yt):
                raise ValueError(f"xs[{m}][{t}] has {len(xt)} examples but ys[{m}][{t}] has {len(yt)}")
            x[m, t, :len(xt)], y[m, t, :len(yt)], mask[m, t, :len(xt)] = xt, yt, 1.0
    return x, y, mask


@dataclass
class Sweep:
    """Results over a grid of knob values × seeds, indexed by the knob values themselves.

    knobs:   knob name -> its grid values, in slider order (e.g. {"lam": (0.1, 1.0, 10.0)})
    seeds:   the seeds every grid point was trained with
    results: name -> array of shape (*[len(v) for v in knobs.values()], len(seeds), *extra)
    meta:    anything shared by the whole grid
    """

    knobs: dict[str, tuple]
    seeds: tuple[int, ...]
    results: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # what does not vary over the grid (e.g. the x of a plot)

    def __post_init__(self):
        if not self.knobs:
            raise ValueError("knobs is empty; a sweep needs at least one knob")
        self.knobs = {name: tuple(values) for name, values in self.knobs.items()}
        for name, values in self.knobs.items():
            if len(values) == 0:
                raise ValueError(f"knob {name!r} has an empty grid; give it at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"knob {name!r} has repeated values {values}; grid values must be distinct")
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"knob {name!r} has a non-finite value {v}; grid values must be finite")
        self.seeds = tuple(self.seeds)
        if len(self.seeds) == 0:
            raise ValueError("seeds is empty; a sweep needs at least one seed")
        for name, array in self.results.items():
            self._check_result(name, array)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.knobs.values())

    def _check_result(self, name, array):
        want = self.grid_shape + (len(self.seeds),)
        if tuple(array.shape[:len(want)]) != want:
            raise ValueError(f"result {name!r} has shape {tuple(array.shape)} but must start with {want} "
                             f"(one entry per {', '.join(self.knobs)} value and per seed)")

    def add(self, name: str, array) -> None:
        """Store a result array (grid dims, seed dim, then any extra dims)."""
        array = np.asarray(array)
        self._check_result(name, array)
        self.results[name] = array

    def points(self) -> list[dict]:
        """Every grid point as a {knob: value} dict, in grid order."""
        names = list(self.knobs)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.knobs.values())]

    def index(self, **point) -> tuple[int, ...]:
        """Grid indices of a point given by knob values; every knob must be given and on the grid."""
        if set(point) != set(self.knobs):
            raise ValueError(f"point names knobs {sorted(point)} but the sweep's knobs are {list(self.knobs)}")
        idx = []
        for name, values in self.knobs.items():
            try:
                idx.append(values.index(point[name]))
            except ValueError:
                raise ValueError(f"{name}={point[name]!r} is not on the grid (allowed: {values})") from None
        return tuple(idx)

    def at(self, result: str, **point) -> np.ndarray:
        """One result at one grid point: shape (n_seeds, *extra)."""
        return self._result(result)[self.index(**point)]

    def curve(self, result: str, along: str, **fixed) -> tuple[np.ndarray, np.ndarray]:
        """A result along one knob with the others fixed: (values of `along`, array (len, n_seeds, *extra))."""
        if along not in self.knobs:
            raise ValueError(f"along={along!r} is not a knob (allowed: {list(self.knobs)})")
        rows = [self.at(result, **{**fixed, along: v}) for v in self.knobs[along]]
        return np.asarray(self.knobs[along]), np.stack(rows)

    def _result(self, name):
        if name not in self.results:
            raise KeyError(f"result {name!r} not in sweep (has: {list(self.results)})")
        return self.results[name]


def transfer_stack(source: ModelStack, factory: Callable[[], nn.Module], n_layers: int, *,
                   source_index: Sequence[int], seeds: Sequence[int], freeze: bool) -> ModelStack:
    """A stack of new networks whose first `n_layers` hidden layers are copied from `source`.

    Model j is factory() initialised after torch.manual_seed(seeds[j]), then receives the first
    n_layers of source model source_index[j] by state dict (copy_layers); its head and upper
    layers keep their fresh initialisation. freeze=True freezes the copied layers
    (feature extraction, AnB), freeze=False lets them train (fine-tuning, AnB+): a stack has
    one set of frozen names, so frozen and fine-tuned networks go in separate stacks.
    """
    if not isinstance(source, ModelStack):
        raise TypeError(f"source must be a ModelStack, got {type(source).__name__}")
    source_index, seeds = list(source_index), list(seeds)
    if len(source_index) != len(seeds) or not seeds:
        raise ValueError(f"source_index has {len(source_index)} entries and seeds {len(seeds)}; "
                         "they must match and be non-empty (one per new network)")
    for k in source_index:
        check_int("source_index", k, low=0, high=len(source) - 1)
    models = []
    for k, seed in zip(source_index, seeds):
        torch.manual_seed(check_int("seed", seed, low=0))
        model = factory()
        copy_layers(source.model(k), model, n_layers)
        freeze_layers(model, n_layers if freeze else 0)
        models.append(model)
    return ModelStack(models)
