"""Weighting strategies: one small object per method, behind one training loop (`fit`, `fit_many`).

A strategy is batched over the M models of a stack. Each step the loop hands it the per-task
training losses (M, T) and, if it asks (`uses_gramian`), the Gramian of the per-task gradients on
the shared parameters (M, T, T); it returns the weights (M, T). Then either

- the loop minimises sum_t w_t L_t (+ the strategy's `penalty`) over every parameter — methods that
  weight the *losses* (fixed weights, uncertainty weighting, DWA, GradNorm); or
- (`combines_gradients`) the shared parameters step along sum_t w_t g_t and each task-specific
  parameter along its own task's gradient — methods that combine the *gradients* (PCGrad, MGDA),
  as in Sener & Koltun (2018, Algorithm 2) and torchjd's `mtl_backward`.

    >>> from mtl_lessons.data import make_sinusoid_tasks
    >>> from mtl_lessons.models import MultiTaskNet
    >>> from mtl_lessons.train import fit
    >>> tasks = make_sinusoid_tasks(n_tasks=2, n_train=8, seed=0)
    >>> model = MultiTaskNet(1, 8, 2, 2, sharing_depth=1)
    >>> history = fit(model, (tasks.x_train, tasks.y_train), optimizer="sgd", lr=0.1, steps=100,
    ...               weights=UncertaintyWeighting(), progress=False)
    >>> history.weights.shape      # (steps, n_tasks): the weights the strategy chose at every step
    (100, 2)

A strategy keeps its state between steps; `start(n_models, n_tasks)` resets it (the loop calls it).
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import torch

from mtl_lessons._checks import check_float, check_floats, check_int, check_weights
from mtl_lessons.gradients import mgda_weights_from_gramian, pcgrad_weights_from_gramian, random_orders


class Strategy:
    """The interface every weighting strategy implements (and the defaults)."""

    uses_gramian: bool = False  # the loop computes the Gramian (one backward pass per task) and passes it
    combines_gradients: bool = False  # weights combine the shared gradients; heads get their own task's gradient

    def start(self, n_models: int, n_tasks: int) -> None:
        """Reset the state for a new run of n_models models with n_tasks tasks."""
        self.n_models, self.n_tasks = n_models, n_tasks

    def parameters(self) -> list[torch.Tensor]:
        """Tensors the strategy learns with the model's optimizer (uncertainty weighting's s_t)."""
        return []

    def weights(self, losses: torch.Tensor, gramian: torch.Tensor | None) -> torch.Tensor:
        """This step's weights (M, T) from the losses (M, T) and, if asked for, the Gramian (M, T, T)."""
        raise NotImplementedError

    def penalty(self) -> torch.Tensor | float:
        """A term added to the objective of every model, (M,) or 0."""
        return 0.0

    def __repr__(self) -> str:
        names = inspect.signature(type(self).__init__).parameters
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in names if k != "self" and hasattr(self, k))
        return f"{type(self).__name__}({args})"


class FixedWeights(Strategy):
    """Constant weights w_t: minimise sum_t w_t L_t. weights=None is equal weighting (w_t = 1)."""

    def __init__(self, weights=None):
        self.weights_ = weights  # (T,) or (M, T), checked when a run starts and the sizes are known

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        w = torch.ones(n_tasks) if self.weights_ is None else check_weights("weights", self.weights_, n_tasks).float()
        if w.dim() > 2 or (w.dim() == 2 and w.shape[0] not in (1, n_models)):
            raise ValueError(f"weights has shape {tuple(w.shape)} but must be ({n_tasks},) or ({n_models}, {n_tasks})")
        self._w = w.expand(n_models, n_tasks)

    def weights(self, losses, gramian=None):
        return self._w.to(losses)


class UncertaintyWeighting(Strategy):
    """Kendall, Gal & Cipolla (2018): minimise sum_t ½ e^{-s_t} L_t + ½ s_t, s_t = log σ_t² learned.

    The weight of task t is ½ e^{-s_t}; s_t is trained by the model's own optimizer, starting at
    `init` (0: σ_t² = 1, every weight ½). For a fixed L_t the objective is minimal at e^{s_t} = L_t,
    where the weight is 1 / (2 L_t). (This is the regression form; the paper's classification form
    drops the ½ in front of e^{-s_t}. torchjd's `UW` uses the same form as here.)
    """

    def __init__(self, init: float = 0.0):
        self.init = check_float("init", init)

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        self.log_var = torch.full((n_models, n_tasks), self.init, requires_grad=True)  # s_t, (M, T)

    def parameters(self):
        return [self.log_var]

    def weights(self, losses, gramian=None):
        return 0.5 * torch.exp(-self.log_var)  # differentiable in s_t: the loop's backward trains it

    def penalty(self):
        return 0.5 * self.log_var.sum(-1)


class DynamicWeightAverage(Strategy):
    """Liu, Johns & Davison (2019): w_t = T softmax_t(r_t / temperature), r_t = L_t(k-1) / L_t(k-2).

    L_t(k) is task t's training loss averaged over "epoch" k; in the course's full-batch loops an
    epoch is `period` steps. The first two epochs use w_t = 1. The weights sum to T; a larger
    temperature makes them more uniform. A task whose loss falls more slowly gets more weight.
    (torchjd's `DWA` with `step()` called every `period` steps is the same.)
    """

    def __init__(self, temperature: float = 2.0, period: int = 1):
        self.temperature = check_float("temperature", temperature, low=0.0, low_open=True)
        self.period = check_int("period", period, low=1)

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        self._sum, self._count, self._averages = torch.zeros(n_models, n_tasks), 0, []

    def weights(self, losses, gramian=None):
        if len(self._averages) < 2:
            w = torch.ones_like(losses)
        else:
            rates = self._averages[1] / self._averages[0]  # (M, T)
            w = losses.shape[-1] * torch.softmax(rates / self.temperature, dim=-1)
        self._sum = self._sum + losses.detach()
        self._count += 1
        if self._count == self.period:  # an epoch ends: roll the two averages forward
            self._averages = [*self._averages, self._sum / self._count][-2:]
            self._sum, self._count = torch.zeros_like(self._sum), 0
        return w


class GradNorm(Strategy):
    """Chen et al. (2018): learn w_t so that the gradient norms |∇ w_t L_t| follow the training rates.

    Each step: G_t = w_t |g_t| (|g_t| from the Gramian's diagonal, here over all shared parameters;
    the paper uses the last shared layer to save time), Ḡ = mean_t G_t, relative inverse training
    rate r_t = (L_t / L_t(0)) / mean_s (L_s / L_s(0)), target G_t* = Ḡ r_t^alpha (held constant).
    This step uses the current w; then w_t -= lr * d/dw_t sum_s |G_s - G_s*| = lr sign(G_t - G_t*) |g_t|,
    and w is renormalised to sum to T (weights below `min_weight` are raised to it first).
    alpha = 0: equal gradient norms; larger alpha pulls harder toward tasks that train slowly.
    alpha may also be a sequence, one value per model of the stack (compare several alphas in one run).
    """

    uses_gramian = True

    def __init__(self, alpha: float = 1.5, lr: float = 0.025, min_weight: float = 1e-3):
        if isinstance(alpha, (list, tuple, range, np.ndarray, torch.Tensor)) and np.ndim(alpha) >= 1:
            self.alpha = check_floats("alpha", alpha, low=0.0)  # one per model, checked against M in start
        else:
            self.alpha = check_float("alpha", alpha, low=0.0)
        self.lr = check_float("lr", lr, low=0.0, low_open=True)
        self.min_weight = check_float("min_weight", min_weight, low=0.0, low_open=True)

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        self.w, self.initial_losses = torch.ones(n_models, n_tasks), None
        if isinstance(self.alpha, tuple) and len(self.alpha) != n_models:
            raise ValueError(f"alpha has {len(self.alpha)} values but the stack has {n_models} models "
                             "(give one alpha, or one per model)")
        self._alpha = torch.tensor(self.alpha).reshape(-1, 1) if isinstance(self.alpha, tuple) else self.alpha

    def weights(self, losses, gramian):
        losses = losses.detach()
        if self.initial_losses is None:
            self.initial_losses = losses.clamp_min(torch.finfo(losses.dtype).tiny)
        w = self.w.clone()
        norms = gramian.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()  # |g_t|, (M, T)
        grad_norms = w * norms  # G_t
        ratio = losses / self.initial_losses
        rate = ratio / ratio.mean(-1, keepdim=True)  # r_t
        target = grad_norms.mean(-1, keepdim=True) * rate ** self._alpha
        new = (w - self.lr * torch.sign(grad_norms - target) * norms).clamp_min(self.min_weight)
        self.w = self.n_tasks * new / new.sum(-1, keepdim=True)
        return w


class PCGrad(Strategy):
    """Yu et al. (2020): project each task's gradient off those it conflicts with, then sum (gradients.pcgrad).

    Model m of a stack draws its random task orders from a generator seeded seed + m, so one model
    trained alone with PCGrad(seed=seed + m) takes the same steps.
    """

    uses_gramian = True
    combines_gradients = True

    def __init__(self, seed: int = 0):
        self.seed = check_int("seed", seed, low=0)

    def start(self, n_models, n_tasks):
        super().start(n_models, n_tasks)
        self._generators = [torch.Generator().manual_seed(self.seed + m) for m in range(n_models)]

    def weights(self, losses, gramian):
        perms = torch.stack([random_orders((), self.n_tasks, g) for g in self._generators])  # (M, T, T)
        return pcgrad_weights_from_gramian(gramian, perms)


class MGDA(Strategy):
    """Sener & Koltun (2018): step along the min-norm point of the convex hull of the task gradients.

    The weights are convex (sum to 1), so compared with equal weighting (sum T) the shared step is
    at least T times smaller for the same learning rate: tune the learning rate per method.
    The paper's MGDA-UB bounds the gradients through the last shared representation to save time;
    here the exact gradients on the shared parameters are used.
    """

    uses_gramian = True
    combines_gradients = True

    def weights(self, losses, gramian):
        return mgda_weights_from_gramian(gramian)


# The course's strategies by name, with the settings its chapters use: "dwa" averages the losses over an
# "epoch" of 10 full-batch steps (temperature 2). One registry: the experiments and the benchmarks read it.
STRATEGIES = {"equal": FixedWeights, "uncertainty": UncertaintyWeighting,
              "dwa": functools.partial(DynamicWeightAverage, temperature=2.0, period=10),
              "gradnorm": GradNorm, "pcgrad": PCGrad, "mgda": MGDA}
# ... and as tables and figures name them, with those settings
METHOD_LABELS = {"equal": "equal weights", "uncertainty": "uncertainty (Kendall)", "gradnorm": "GradNorm (α=1.5)",
                 "dwa": "DWA (temperature 2)", "pcgrad": "PCGrad", "mgda": "MGDA"}


def make_strategy(method: str, **kwargs) -> Strategy:
    """A fresh strategy by its name in STRATEGIES (a strategy keeps state: make one per training run)."""
    if method not in STRATEGIES:
        raise ValueError(f"method={method!r} is not allowed (allowed: {', '.join(map(repr, STRATEGIES))})")
    return STRATEGIES[method](**kwargs)
