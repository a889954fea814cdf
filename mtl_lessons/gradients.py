"""Combining the tasks' gradients: cosines, PCGrad and MGDA, on a matrix of per-task gradients.

`grads` is (n_tasks, n_params): row t is the gradient of task t's loss on the shared parameters.
Each method is written once on the **Gramian** G = grads @ grads.T (n_tasks, n_tasks), which is all
it needs: the combined direction is always d = w @ grads for some weights w (torchjd's design). The
Gramian versions take any leading batch dimensions (..., n_tasks, n_tasks), so the training loop
runs them for a whole stack of models at once.

    >>> grads = torch.tensor([[1.0, 0.0], [-0.5, 1.0]])
    >>> pcgrad(grads)
    tensor([0.8000, 1.4000])
    >>> mgda_weights(grads)
    tensor([0.5385, 0.4615])

Conventions (the papers'; torchjd 0.18 agrees except where noted):
- PCGrad (Yu et al. 2020, Algorithm 1): each task's gradient is projected, in a random order of the
  other tasks drawn afresh per task, off every gradient it conflicts with (negative inner product),
  and the projected gradients are **summed** (some ports average them: that is the sum / n_tasks).
- MGDA (Sener & Koltun 2018): the min-norm point of the convex hull of the gradients, on the raw
  gradients (no normalisation; the authors' released code normalises by default).
"""

from __future__ import annotations

import math

import torch

from mtl_lessons._checks import check_float, check_int, check_tensor

MGDA_TOL = 1e-9  # Frank-Wolfe stops when its step gamma falls below this (torchjd's default: 1e-3)
MGDA_MAX_ITERS = 2000  # and after at most this many steps (torchjd's default: 100)


def check_grads(grads) -> torch.Tensor:
    """Return `grads` if it is a finite floating (n_tasks, n_params) tensor with n_tasks >= 1."""
    grads = check_tensor("grads", grads, dim=2, floating=True)
    if grads.shape[0] < 1 or grads.shape[1] < 1:
        raise ValueError(f"grads has shape {tuple(grads.shape)}; it needs at least one task and one parameter")
    return grads


def gramian(grads: torch.Tensor) -> torch.Tensor:
    """G[s, t] = g_s · g_t, shape (..., n_tasks, n_tasks) for grads (..., n_tasks, n_params)."""
    return grads @ grads.transpose(-1, -2)


def cosine_matrix(grads: torch.Tensor) -> torch.Tensor:
    """Cosine of the angle between every pair of task gradients, (n_tasks, n_tasks).

    A zero gradient has no direction: its cosines with every gradient (itself included) are 0.
    """
    check_grads(grads)
    g = gramian(grads)
    norms = g.diagonal().clamp_min(0).sqrt()
    outer = norms[:, None] * norms[None, :]
    return torch.where(outer > 0, g / outer.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(g))


# ---------------------------------------------------------------- PCGrad

def pcgrad_weights_from_gramian(g: torch.Tensor, perms: torch.Tensor) -> torch.Tensor:
    """PCGrad's weights w (..., n_tasks), with sum_t w_t g_t the PCGrad direction (Yu et al. 2020).

    g: Gramians (..., T, T); perms (..., T, T): perms[..., i, :] is the order in which task i
    visits the other tasks (its own index is skipped). g_i^PC = g_i; for j in that order, if
    g_i^PC · g_j < 0: g_i^PC -= (g_i^PC · g_j) / |g_j|^2 g_j. A zero g_j (no direction) is skipped.
    """
    n = g.shape[-1]
    eye = torch.eye(n, dtype=g.dtype).expand(*g.shape[:-2], n, n)
    total = torch.zeros(g.shape[:-1], dtype=g.dtype)
    for i in range(n):
        w = eye[..., i, :].clone()  # coefficients of g_i^PC on the original gradients, (..., T)
        for k in range(n):
            j = perms[..., i, k]  # (...,)
            row = torch.take_along_dim(g, j[..., None, None].expand(*j.shape, 1, n), dim=-2)[..., 0, :]
            g_jj = torch.take_along_dim(row, j[..., None], dim=-1)[..., 0]
            inner = (row * w).sum(-1)  # g_i^PC · g_j
            project = (j != i) & (inner < 0) & (g_jj > 0)
            step = torch.where(project, inner / torch.where(g_jj > 0, g_jj, 1.0), 0.0)
            w = w - step[..., None] * torch.nn.functional.one_hot(j, n).to(g.dtype)
        total = total + w
    return total


def random_orders(shape: tuple[int, ...], n_tasks: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random task order per task (torch.randperm, drawn in task order), shape (*shape, T, T)."""
    n = math.prod(shape) * n_tasks
    perms = torch.stack([torch.randperm(n_tasks, generator=generator) for _ in range(n)])
    return perms.reshape(*shape, n_tasks, n_tasks)


def pcgrad(grads: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """The PCGrad direction (n_params,): the projected gradients, summed (Yu et al. 2020).

    Each task draws its own random order of the other tasks with `generator` (torch's global
    generator if None); for two tasks the order does not matter. torchjd's PCGrad draws the same
    permutations from torch's global generator, so after torch.manual_seed(s) it equals
    pcgrad(grads, generator=torch.Generator().manual_seed(s)).
    """
    check_grads(grads)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    perms = random_orders((), grads.shape[0], generator)
    return pcgrad_weights_from_gramian(gramian(grads), perms) @ grads


# ---------------------------------------------------------------- MGDA

def mgda_two_task_weight(g: torch.Tensor) -> torch.Tensor:
    """gamma* = clip(((g_2 - g_1) · g_2) / |g_1 - g_2|^2, 0, 1), the weight of g_1 (Sener & Koltun 2018, Alg. 1).

    g: Gramians (..., 2, 2). Identical gradients (|g_1 - g_2| = 0) give gamma* = 1/2.
    """
    g11, g12, g22 = g[..., 0, 0], g[..., 0, 1], g[..., 1, 1]
    denom = g11 + g22 - 2 * g12  # |g_1 - g_2|^2
    gamma = torch.where(denom > 0, (g22 - g12) / torch.where(denom > 0, denom, 1.0), 0.5)
    return gamma.clamp(0.0, 1.0)


def mgda_frank_wolfe(g: torch.Tensor, *, tol: float = MGDA_TOL, max_iters: int = MGDA_MAX_ITERS) -> torch.Tensor:
    """MGDA's weights by Frank-Wolfe, the paper's Algorithm 2 (Sener & Koltun 2018), for Gramians (..., T, T).

    Starts from equal weights; each step moves toward the vertex e most against d = sum w_t g_t
    with the exact line search (the two-task closed form between w and e), and stops when the step
    gamma is below `tol` or after `max_iters` steps (torchjd's MGDA: the same algorithm, 1e-3 and
    100 by default). It converges slowly when the min-norm point lies on a face of the simplex.
    """
    check_float("tol", tol, low=0.0, low_open=True)
    check_int("max_iters", max_iters, low=1)
    n = g.shape[-1]
    w = torch.full(g.shape[:-1], 1.0 / n, dtype=g.dtype)
    done = torch.zeros(g.shape[:-2], dtype=torch.bool)
    for _ in range(max_iters):
        gw = (g @ w[..., None])[..., 0]  # (..., T): g_t · d for d = sum w_t g_t
        e = torch.nn.functional.one_hot(gw.argmin(-1), n).to(g.dtype)  # the vertex most against d
        a = (e * gw).sum(-1)  # e · G w
        b = (w * gw).sum(-1)  # w G w = |d|^2
        c = (e[..., None, :] @ g @ e[..., :, None])[..., 0, 0]  # e G e
        # exact line search on (1-gamma) w + gamma e; where both ends are optimal (a = b = c) stay put
        # (torchjd moves to the vertex there: other weights, the same direction)
        step = (b - a) / torch.where(b + c - 2 * a > 0, b + c - 2 * a, 1.0)
        gamma = torch.where(b <= a, 0.0, torch.where(c <= a, 1.0, step))
        gamma = torch.where(done, 0.0, gamma)
        w = (1 - gamma[..., None]) * w + gamma[..., None] * e
        done = done | (gamma < tol)
        if bool(done.all()):
            break
    return w


def _mgda_exact(g: torch.Tensor) -> torch.Tensor:
    """Exact min-norm weights for Gramians (..., T, T), T small: solve on every face, keep the optimal one.

    On the face of the simplex with support S the min-norm weights solve G_SS w_S = lambda 1,
    sum w_S = 1 (lambda = |d|^2). Every face's solution with w_S >= 0 lies in the hull, and the
    optimal face's solution is one of them, so the smallest |d|^2 among them is the minimum
    (of tied faces, the largest is kept). 2^T - 1 faces: fine for the course's few tasks.
    """
    dtype, g = g.dtype, g.double()  # ties and signs below are decided in double precision
    n = g.shape[-1]
    faces = torch.tensor([[(k >> t) & 1 for t in range(n)] for k in range(1, 2 ** n)], dtype=torch.bool)  # (F, T)
    mask = faces.to(g.dtype)
    # the KKT system on face S, padded to (T+1) x (T+1): rows outside S pin w_j = 0
    kkt = torch.zeros(*g.shape[:-2], len(faces), n + 1, n + 1, dtype=g.dtype)
    inside = mask[:, :, None] * mask[:, None, :]
    kkt[..., :n, :n] = g[..., None, :, :] * inside + torch.diag_embed(1 - mask)
    kkt[..., :n, n] = -mask
    kkt[..., n, :n] = mask
    rhs = torch.zeros(n + 1, dtype=g.dtype)
    rhs[n] = 1.0
    sol = (torch.linalg.pinv(kkt) @ rhs)  # (..., F, T+1)
    w = sol[..., :n] * mask
    norm2 = (w * (g[..., None, :, :] @ w[..., None])[..., 0]).sum(-1)  # |d|^2 per face, (..., F)
    eps = 1e-9
    # every face solution with w >= 0 is a point of the hull, and the optimal face's is among them:
    # the smallest |d|^2 over feasible faces is the minimum
    ok = (w >= -eps).all(-1) & ((w.sum(-1) - 1).abs() < 1e-6)
    score = torch.where(ok, norm2, torch.full_like(norm2, float("inf")))
    # among optimal faces (ties: e.g. identical gradients) take the largest: its weights spread evenly
    best_norm = score.amin(-1, keepdim=True)
    scale = g.diagonal(dim1=-2, dim2=-1).amax(-1, keepdim=True)  # the largest |g_t|^2
    near = score <= best_norm + 1e-9 * best_norm.abs() + 1e-15 * scale
    best = torch.where(near, mask.sum(-1), -1.0).argmax(-1)  # (...,)
    chosen = torch.take_along_dim(w, best[..., None, None], dim=-2)[..., 0, :].clamp_min(0)
    chosen = chosen / chosen.sum(-1, keepdim=True)
    found = ok.any(-1)[..., None]
    if bool(found.all()):  # the usual case: no need for Frank-Wolfe (hundreds of steps)
        return chosen.to(dtype)
    return torch.where(found, chosen, mgda_frank_wolfe(g)).to(dtype)  # Frank-Wolfe only if rounding foiled every face


def mgda_weights_from_gramian(g: torch.Tensor) -> torch.Tensor:
    """MGDA's convex weights (..., T) minimising |sum_t w_t g_t|^2 = w G w (Sener & Koltun 2018).

    Two tasks: the closed form (the paper's Algorithm 1). Up to 10 tasks: exact, face by face
    (_mgda_exact); the paper and torchjd use Frank-Wolfe (mgda_frank_wolfe), which stops short of
    the minimum when it lies on a face of the simplex. More tasks: Frank-Wolfe.
    """
    n = g.shape[-1]
    if n == 1:
        return torch.ones(g.shape[:-1], dtype=g.dtype)
    if n == 2:
        gamma = mgda_two_task_weight(g)
        return torch.stack([gamma, 1 - gamma], dim=-1)
    return _mgda_exact(g) if n <= 10 else mgda_frank_wolfe(g)


def mgda_weights(grads: torch.Tensor) -> torch.Tensor:
    """MGDA's min-norm convex weights (n_tasks,): the point of the gradients' convex hull nearest 0."""
    return mgda_weights_from_gramian(gramian(check_grads(grads)))


def mgda(grads: torch.Tensor) -> torch.Tensor:
    """MGDA's direction (n_params,): the min-norm point of the convex hull; 0 means Pareto-stationary."""
    return mgda_weights(grads) @ grads

