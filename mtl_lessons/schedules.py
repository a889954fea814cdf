"""Fine-tuning schedules as rate scales per layer and per step, for `fit`/`fit_many`'s `lr=Rates(lr, scale=...,
schedule=...)` (Howard & Ruder 2018, ULMFiT): discriminative rates (each lower layer's rate
divided by a factor), the slanted triangular schedule, and gradual unfreezing (a scale of 0 keeps
a layer frozen for that step). Layers are a MultiTaskNet's: hidden layers 0..L-1 (0 nearest the
input), then the heads, so a per-layer array has L + 1 entries on its last axis.

    >>> from mtl_lessons.models import MultiTaskNet
    >>> from mtl_lessons.train import fit
    >>> model = MultiTaskNet(2, 8, 2, 2, 3, sharing_depth=2)   # 2 hidden layers, 2 tasks of 3 classes
    >>> x, y = torch.randn(2, 10, 2), torch.randint(0, 3, (2, 10))
    >>> scales = discriminative_scales(2, 2.6) * slanted_triangular(100)[:, None]   # (100, 3): steps x layers
    >>> history = fit(model, (x, y), optimizer="sgd", lr=Rates(1.0, schedule=layer_schedule(model, scales)),
    ...               steps=100, loss="ce", progress=False)
    >>> history.task_losses.shape   # (steps, n_tasks)
    (100, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from mtl_lessons._checks import MAX_LAYERS, MAX_STEPS, check_float, check_int, check_tensor


@dataclass(frozen=True, eq=False)  # fields may hold tensors: compared and hashed by identity
class Rates:
    """A learning rate with rates of their own per parameter and per step, for fit / fit_many's `lr`
    (`scale` and `schedule` need SGD; Rates(lr) alone works with either optimizer).

    fit checks it against the model: a name must be a trainable parameter, a schedule has one row per step.
    """

    lr: float  # the base rate (fit_many: or one rate per model, (M,))
    scale: dict | None = None  # {parameter name: scale}: that parameter trains at lr * scale (fit_many: or (M, ...))
    schedule: dict | None = None  # {parameter name: tensor (steps, ...)}: row `step` multiplies lr (and scale) then


def discriminative_scales(n_layers: int, factor: float) -> torch.Tensor:
    """Rate scale per layer, (n_layers + 1,): the head 1, each lower layer the one above divided by `factor`.

    Hidden layer d (0 nearest the input) gets factor ** -(n_layers - d): ULMFiT's
    eta^(l-1) = eta^l / 2.6 (Howard & Ruder 2018, section 3.2). factor=1 is one rate for all.
    """
    n_layers = check_int("n_layers", n_layers, low=1, high=MAX_LAYERS)
    factor = check_float("factor", factor, low=1.0)
    return torch.tensor([factor ** -(n_layers - d) for d in range(n_layers + 1)], dtype=torch.float32)


def slanted_triangular(steps: int, *, cut_frac: float = 0.1, ratio: float = 32.0) -> torch.Tensor:
    """ULMFiT's slanted triangular schedule as a scale of the peak rate, (steps,).

    cut = floor(steps * cut_frac); p_t = t / cut for t < cut, else 1 - (t - cut) / (steps - cut);
    scale_t = (1 + p_t (ratio - 1)) / ratio (Howard & Ruder 2018, eq. 3): a short linear rise from
    1/ratio to 1 at step cut, then a long linear fall toward 1/ratio. The paper writes the fall's
    length as cut (1/cut_frac - 1), which is steps - cut when steps * cut_frac is a whole number;
    otherwise it would end below 1/ratio (negative rates), so the fall here always spans steps - cut.
    """
    steps = check_int("steps", steps, low=2, high=MAX_STEPS)
    cut_frac = check_float("cut_frac", cut_frac, low=0.0, high=1.0, low_open=True)
    if cut_frac == 1.0:
        raise ValueError("cut_frac=1.0 leaves no falling steps (allowed: 0 < cut_frac < 1; ULMFiT uses 0.1)")
    ratio = check_float("ratio", ratio, low=1.0)
    cut = math.floor(steps * cut_frac)
    if cut < 1:
        raise ValueError(f"cut_frac={cut_frac} leaves no rising steps with steps={steps} "
                         f"(floor(steps * cut_frac) = 0; allowed: cut_frac >= {1 / steps:.3g})")
    t = torch.arange(steps, dtype=torch.float64)
    p = torch.where(t < cut, t / cut, 1 - (t - cut) / (steps - cut))
    return ((1 + p * (ratio - 1)) / ratio).float()


def gradual_unfreezing(steps: int, n_layers: int, stage_steps: int) -> torch.Tensor:
    """0/1 per step and layer, (steps, n_layers + 1): the head trains from the start, then one more
    hidden layer every `stage_steps` steps, the last (top) hidden layer first (Howard & Ruder 2018, 3.3).

    Hidden layer d starts at step (n_layers - d) * stage_steps; stage_steps=0 trains all at once.
    """
    steps = check_int("steps", steps, low=1, high=MAX_STEPS)
    n_layers = check_int("n_layers", n_layers, low=1, high=MAX_LAYERS)
    stage_steps = check_int("stage_steps", stage_steps, low=0)
    if n_layers * stage_steps >= steps:
        raise ValueError(f"stage_steps={stage_steps} with n_layers={n_layers} unfreezes the last layer at step "
                         f"{n_layers * stage_steps}, after all {steps} steps "
                         f"(allowed: stage_steps <= {(steps - 1) // n_layers})")
    start = torch.tensor([(n_layers - d) * stage_steps for d in range(n_layers)] + [0])  # (n_layers + 1,)
    return (torch.arange(steps)[:, None] >= start).float()


def layer_schedule(model: nn.Module, per_layer) -> dict[str, torch.Tensor]:
    """{parameter name: scale} from scales per layer (..., n_layers + 1), for Rates' scale or schedule.

    Hidden layer d's parameters ("layers.d.*") get per_layer[..., d], the heads' ("heads.*") per_layer[..., -1].
    model: a MultiTaskNet (or a ModelStack of them, whose architecture is read).
    """
    base = getattr(model, "base", model)  # a ModelStack keeps its architecture in .base
    if not isinstance(base, nn.Module) or not hasattr(base, "layers") or not hasattr(base, "heads"):
        raise TypeError(f"model must be a MultiTaskNet or a ModelStack of them, got {type(model).__name__}")
    n_layers = len(base.layers)
    per_layer = check_tensor("per_layer", per_layer, floating=True)
    if per_layer.dim() == 0 or per_layer.shape[-1] != n_layers + 1:
        raise ValueError(f"per_layer has shape {tuple(per_layer.shape)} but its last axis must hold one scale per "
                         f"hidden layer and one for the heads ({n_layers + 1})")
    out = {}
    for name, _ in base.named_parameters():
        part, index, *_ = name.split(".") + [""]
        out[name] = per_layer[..., int(index)] if part == "layers" else per_layer[..., -1]
    return out
