"""Hard-parameter-sharing networks: a trunk of L hidden layers whose first
`sharing_depth` layers are shared by every task, per-task layers for the rest,
and a linear head per task (Caruana 1997; Ruder 2017, section 3.1). Plus helpers
that copy and freeze the first n layers, for transfer.

Per-task layers keep the T tasks' weights in one tensor of shape
(n_tasks, in, out), so all tasks run in one batched matrix product.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mtl_lessons._checks import MAX_LAYERS, MAX_PARAMETERS, as_tensor, check_choice, check_int, check_size

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class TaskLinear(nn.Module):
    """T independent linear layers, one per task: y[t] = x[t] @ W[t] + b[t]."""

    def __init__(self, n_tasks: int, in_features: int, out_features: int):
        super().__init__()
        n_tasks, in_features, out_features = (check_int(name, v, low=1) for name, v in
                                              (("n_tasks", n_tasks), ("in_features", in_features),
                                               ("out_features", out_features)))
        check_size("the layer's parameter count", n_tasks * (in_features + 1) * out_features, MAX_PARAMETERS)
        bound = 1 / math.sqrt(in_features)  # the same range as nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(n_tasks, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_tasks, 1, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n_tasks, batch, in) -> (n_tasks, batch, out)
        return torch.bmm(x, self.weight) + self.bias  # baddbmm's numbers, faster (see stack._multitask_forward)


class MultiTaskNet(nn.Module):
    """f_t = h_t ∘ g_t^(L-k) ∘ g^(k): k shared hidden layers, L-k per task, a linear head per task.

    sharing_depth=0 gives T independent networks; sharing_depth=n_layers gives one
    network with T outputs. forward takes x of shape (n_tasks, batch, in_features)
    (each task its own inputs) or (batch, in_features) or (1, batch, in_features) (the
    same inputs for all: the shared layers then run once) and returns (n_tasks, batch, out_features).
    """

    def __init__(self, in_features: int, hidden: int, n_layers: int, n_tasks: int,
                 out_features: int = 1, *, sharing_depth: int, activation: str = "tanh"):
        super().__init__()
        in_features = check_int("in_features", in_features, low=1)
        hidden = check_int("hidden", hidden, low=1)
        n_layers = check_int("n_layers", n_layers, low=1, high=MAX_LAYERS)
        n_tasks = check_int("n_tasks", n_tasks, low=1)
        out_features = check_int("out_features", out_features, low=1)
        sharing_depth = check_int("sharing_depth", sharing_depth, low=0, high=n_layers)
        check_choice("activation", activation, tuple(ACTIVATIONS))
        check_size("the network's parameter count", sharing_parameter_count(
            in_features, hidden, n_layers, n_tasks, out_features, sharing_depth=sharing_depth), MAX_PARAMETERS,
            advice="use a smaller hidden, n_layers or n_tasks")
        self.in_features, self.hidden, self.n_layers = in_features, hidden, n_layers
        self.n_tasks, self.out_features, self.sharing_depth = n_tasks, out_features, sharing_depth
        widths = [in_features] + [hidden] * n_layers
        layers = []
        for depth in range(n_layers):
            if depth < sharing_depth:
                layers.append(nn.Linear(widths[depth], widths[depth + 1]))
            else:
                layers.append(TaskLinear(n_tasks, widths[depth], widths[depth + 1]))
        self.layers = nn.ModuleList(layers)  # hidden layers; the first sharing_depth are the shared trunk
        self.activation = ACTIVATIONS[activation]()
        self.heads = TaskLinear(n_tasks, hidden, out_features)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's output for every task, (n_tasks, batch, hidden).

        A numpy array is converted, and x is cast to the network's dtype (float64 -> float32). With the
        same inputs for every task, x (batch, in) or (1, batch, in), the shared layers run once.
        """
        x = as_tensor("x", x)
        dtype = self.heads.weight.dtype
        if x.dtype != dtype:
            if x.is_complex() or x.dtype == torch.bool:
                raise TypeError(f"x has dtype {x.dtype}; the network needs real numbers ({dtype})")
            x = x.to(dtype)
        if x.dim() == 2:  # (batch, in) -> (1, batch, in): the same batch for every task
            x = x[None]
        if x.dim() != 3 or x.shape[0] not in (1, self.n_tasks) or x.shape[-1] != self.in_features:
            raise ValueError(f"x has shape {tuple(x.shape)} but must be (batch, {self.in_features}) "
                             f"or ({self.n_tasks}, batch, {self.in_features})")
        for layer in self.layers:  # a shared nn.Linear acts on every task's inputs alike (once if they are one)
            if isinstance(layer, TaskLinear):  # the first per-task layer: one copy of the batch per task
                x = x.expand(self.n_tasks, *x.shape[1:])
            x = self.activation(layer(x))
        return x.expand(self.n_tasks, *x.shape[1:]).contiguous()  # a tensor of its own, as before

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.heads(self.features(x))


def shared_parameter_names(model: nn.Module) -> set[str]:
    """Names of the parameters every task uses: all but those of TaskLinear layers (one slice per task)."""
    own = {f"{prefix}.{name}" if prefix else name for prefix, module in model.named_modules()
           if isinstance(module, TaskLinear) for name, _ in module.named_parameters(recurse=False)}
    return {name for name, _ in model.named_parameters()} - own


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (only those with requires_grad if trainable_only)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def copy_layers(source: MultiTaskNet, target: MultiTaskNet, n_copied: int) -> MultiTaskNet:
    """Copy the first `n_copied` hidden layers of `source` into `target` by state dict; heads are never copied.

    (`n_layers` is always a network's depth; a count of layers copied is `n_copied`, and of layers
    frozen `frozen_depth`.)

    Both networks must have the same kind of layer (shared or per-task) and shape at those depths.
    """
    for name, net in (("source", source), ("target", target)):
        if not isinstance(net, MultiTaskNet):
            raise TypeError(f"{name} must be a MultiTaskNet, got {type(net).__name__}")
    n_copied = check_int("n_copied", n_copied, low=0, high=min(source.n_layers, target.n_layers))
    for depth in range(n_copied):
        src, dst = source.layers[depth], target.layers[depth]
        if type(src) is not type(dst):
            raise ValueError(f"layer {depth} is {type(src).__name__} in source but {type(dst).__name__} in "
                             "target; give both networks the same sharing_depth")
        for key, value in src.state_dict().items():
            if dst.state_dict()[key].shape != value.shape:
                raise ValueError(f"layer {depth} has {key} of shape {tuple(value.shape)} in source but "
                                 f"{tuple(dst.state_dict()[key].shape)} in target; the copied layers need the same "
                                 f"widths (source: in_features={source.in_features}, hidden={source.hidden}, "
                                 f"n_tasks={source.n_tasks}; target: in_features={target.in_features}, "
                                 f"hidden={target.hidden}, n_tasks={target.n_tasks})")
        dst.load_state_dict(src.state_dict())
    return target


def freeze_layers(model: MultiTaskNet, frozen_depth: int) -> MultiTaskNet:
    """Freeze the first `frozen_depth` hidden layers (requires_grad=False) and unfreeze the rest."""
    if not isinstance(model, MultiTaskNet):
        raise TypeError(f"model must be a MultiTaskNet, got {type(model).__name__}")
    frozen_depth = check_int("frozen_depth", frozen_depth, low=0, high=model.n_layers)
    for depth, layer in enumerate(model.layers):
        for p in layer.parameters():
            p.requires_grad_(depth >= frozen_depth)
    return model


def sharing_parameter_count(in_features: int, hidden: int, n_layers: int, n_tasks: int,
                            out_features: int = 1, *, sharing_depth: int) -> int:
    """Parameters of MultiTaskNet by formula: S(k) + T * (B - S(k) + H).

    B = (in+1)h + (L-1)(h+1)h is one network's hidden layers, S(k) the first k of them
    (shared, counted once), H = (h+1)*out one head. Sharing k layers saves (T-1) * S(k).
    """
    in_features, hidden, n_layers, n_tasks, out_features = (
        check_int(name, value, low=1) for name, value in
        (("in_features", in_features), ("hidden", hidden), ("n_layers", n_layers), ("n_tasks", n_tasks),
         ("out_features", out_features)))
    sharing_depth = check_int("sharing_depth", sharing_depth, low=0, high=n_layers)
    first, other = (in_features + 1) * hidden, (hidden + 1) * hidden  # one layer's weights + biases

    def first_layers(k):  # S(k), in closed form: no list of n_layers entries, whatever n_layers is
        return 0 if k == 0 else first + (k - 1) * other

    shared, body, head = first_layers(sharing_depth), first_layers(n_layers), (hidden + 1) * out_features
    return shared + n_tasks * (body - shared + head)
