"""Which tasks to train together: the lookahead task affinity of TAG (Fifty et al. 2021) and the groupings
chosen from it (Standley et al. 2020 for the question).

The affinity of task i onto task j at parameters theta (shared parameters theta_sh) is

    Z_{i->j} = 1 - L_j(theta_sh - eta * grad_sh L_i, theta_j) / L_j(theta),

one SGD step of task i alone on the shared parameters, measured on task j's training loss; positive
when the step helps j. TAG averages it over the training of the all-tasks network. To first order it is
eta * grad_i . grad_j / L_j (chapter 11's derivation exercise).

A grouping is a tuple of group labels, one per task, numbered in order of first appearance: (0, 0, 1, 1).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from torch.func import functional_call, vmap

from mtl_lessons._checks import check_float, check_int, check_ints, check_tensor
from mtl_lessons.models import shared_parameter_names
from mtl_lessons.objectives import task_losses_unchecked
from mtl_lessons.stack import ModelStack


def _losses_at(stack: ModelStack, params: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Every model's task losses (M, T) with the stack's architecture at `params` (stacked)."""
    def run_one(p, b, xi):
        return functional_call(stack.base, (p, b), (xi,))
    return task_losses_unchecked(vmap(run_one)(params, stack.buffers, x), y, "mse", None)


def lookahead_affinity(stack: ModelStack, x: torch.Tensor, y: torch.Tensor, *, lr: float) -> torch.Tensor:
    """Z[m, i, j] = 1 - L_j(theta_sh - lr grad_sh L_i) / L_j(theta) for every model m of the stack (Fifty et al. 2021).

    x: (M, T, n, 1), y: (M, T, n, 1). One backward pass per task i (its gradient on the shared parameters of
    every model at once: the models share nothing), then T forward passes at the looked-ahead parameters.
    """
    if not isinstance(stack, ModelStack):
        raise TypeError(f"stack must be a ModelStack, got {type(stack).__name__}")
    lr = check_float("lr", lr, low=0.0, low_open=True)
    x, y = check_tensor("x", x, dim=4, floating=True), check_tensor("y", y, dim=4, floating=True)
    if x.shape[:3] != y.shape[:3] or x.shape[0] != len(stack):
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must be (n_models={len(stack)}, n_tasks, n, 1)")
    shared = [n for n in shared_parameter_names(stack.base) if n not in stack.frozen]
    params = {n: p.detach().requires_grad_(n in shared) for n, p in stack.params.items()}
    losses = _losses_at(stack, params, x, y)  # (M, T)
    n_tasks = losses.shape[1]
    rows = []
    for i in range(n_tasks):
        grads = torch.autograd.grad(losses[:, i].sum(), [params[n] for n in shared], retain_graph=i < n_tasks - 1)
        ahead = dict(params)
        ahead.update({n: params[n] - lr * g for n, g in zip(shared, grads)})
        with torch.no_grad():
            rows.append(1.0 - _losses_at(stack, ahead, x, y) / losses.detach())  # (M, T): onto every j
    return torch.stack(rows, dim=1)  # (M, i, j)


def _check_affinity(affinity, n_groups):
    """The affinity matrix as float64 numpy (T, T) and n_groups checked against it."""
    z = np.asarray(check_tensor("affinity", affinity, dim=2), dtype=np.float64)
    n = z.shape[0]
    if z.shape != (n, n) or n < 1:
        raise ValueError(f"affinity has shape {z.shape} but must be square (n_tasks, n_tasks)")
    return z, check_int("n_groups", n_groups, low=1, high=n)


def affinity_groups(affinity, n_groups: int) -> tuple[int, ...]:
    """Group labels (0..n_groups-1, first task in group 0) from an affinity matrix (T, T): average-linkage
    clustering of the symmetrised affinity (Z + Z^T) / 2, cut into n_groups groups."""
    z, n_groups = _check_affinity(affinity, n_groups)
    n = z.shape[0]
    if n_groups in (1, n):  # one partition only
        return (0,) * n if n_groups == 1 else tuple(range(n))
    s = (z + z.T) / 2
    dist = s.max() - s
    np.fill_diagonal(dist, 0.0)
    labels = fcluster(linkage(squareform(dist, checks=False), method="average"), n_groups, criterion="maxclust")
    return canonical(labels)


def search_groups(affinity, n_groups: int) -> tuple[int, ...]:
    """TAG's search restricted to partitions: of every split of the tasks into n_groups non-empty groups, the
    one with the largest total affinity onto each task from its group mates (the sum over tasks t of the mean
    of Z(i->t) over t's mates i; 0 for a task alone). Labels as affinity_groups'. (Exercise 11.2 builds it.)"""
    z, n_groups = _check_affinity(affinity, n_groups)
    n = z.shape[0]
    if n > 12:
        raise ValueError(f"search_groups tries every partition: {n} tasks are too many (at most 12)")
    if n_groups in (1, n):  # one partition only
        return (0,) * n if n_groups == 1 else tuple(range(n))
    best, best_score = None, -np.inf
    for labels in itertools.product(range(n_groups), repeat=n):
        if canonical(labels) != labels or len(set(labels)) != n_groups:
            continue  # each partition once, with exactly n_groups groups
        lab = np.array(labels)
        mates = (lab[:, None] == lab[None, :]) & ~np.eye(n, dtype=bool)  # mates[i, t]
        count = mates.sum(0)
        score = np.where(count > 0, (z * mates).sum(0) / np.maximum(count, 1), 0.0).sum()
        if score > best_score + 1e-12:
            best, best_score = labels, score
    return best


def random_partition(sizes, n_tasks: int, *, seed: int) -> tuple[int, ...]:
    """A random partition of the tasks into groups of the given sizes (the same-capacity control)."""
    n_tasks = check_int("n_tasks", n_tasks, low=1)
    sizes = check_ints("sizes", sizes, low=1)
    if sum(sizes) != n_tasks:
        raise ValueError(f"sizes={sizes} add up to {sum(sizes)}, not to n_tasks={n_tasks}")
    order = np.random.default_rng(check_int("seed", seed, low=0)).permutation(n_tasks)
    labels = np.empty(n_tasks, dtype=int)
    start = 0
    for g, size in enumerate(sizes):
        labels[order[start:start + size]] = g
        start += size
    return canonical(labels)


def canonical(labels) -> tuple[int, ...]:
    """Relabel groups in order of first appearance: (2, 2, 1, 3) -> (0, 0, 1, 2).

    >>> canonical((2, 2, 1, 3))
    (0, 0, 1, 2)
    """
    seen: dict = {}
    return tuple(seen.setdefault(int(g), len(seen)) for g in labels)
