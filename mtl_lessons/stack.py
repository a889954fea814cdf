"""M models of one architecture as one batched model, for `mtl_lessons.train.fit_many`: what exists for speed.

`ModelStack` stacks the models' parameters on a leading axis (torch.func.stack_module_state). A
MultiTaskNet stack runs as batched matrix products over that axis (`_multitask_forward`: one `bmm`
per layer for all M models); any other module runs with vmap. `transfer_stack` builds a stack of
new networks from a trained one's first layers. The course's models are tiny, so torch runs on
one thread (`use_one_thread`, `one_thread`).

    >>> from mtl_lessons.models import MultiTaskNet
    >>> stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 16, 2, 3, sharing_depth=2), seeds=[0, 1])
    >>> stack(torch.zeros(2, 3, 5, 1)).shape   # (models, tasks, n, out)
    torch.Size([2, 3, 5, 1])
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from mtl_lessons._checks import (MAX_ELEMENTS, MAX_GRID, as_tensor, check_bool, check_factory, check_int,
                                  check_ints, check_sequence, check_size)
from mtl_lessons.models import MultiTaskNet, TaskLinear, copy_layers


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

    def with_frozen(self, names) -> "ModelStack":
        """A copy of the stack with exactly the parameters `names` frozen, the rest trainable (as
        freeze_layers on each model: e.g. thaw the upper layers of a feature extractor)."""
        names = set(check_sequence("names", names, min_len=0))
        if names - set(self.params):
            raise ValueError(f"names has {sorted(names - set(self.params))}, not parameters of the stack "
                             f"(its parameters: {', '.join(self.params)})")
        return ModelStack._assemble(self.base, {name: p.detach().clone() for name, p in self.params.items()},
                                    {name: b.clone() for name, b in self.buffers.items()}, names)

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
