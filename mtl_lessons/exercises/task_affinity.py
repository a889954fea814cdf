"""Exercises of task affinity: the first-order lookahead affinity (checked against the exact lookahead),
and a prediction of which grouping of the two-cluster tasks wins (Fifty et al. 2021)."""

from __future__ import annotations

import torch

from mtl_lessons.exercises import register, register_prediction


def solution_first_order_affinity(grad_i, grad_j, loss_j, lr):
    """Z_{i->j} ~ lr * grad_i · grad_j / L_j: L_j(theta - lr g_i) ~ L_j - lr g_j · g_i to first order."""
    return lr * (grad_i @ grad_j) / loss_j


def _exact_case(seed: int, lr: float):
    """A small two-task network: (g_0, g_1, L_0, L_1, exact Z_{0->1}, exact Z_{1->0}) on its shared layer."""
    from mtl_lessons.models import MultiTaskNet  # a small network, built here so the check needs no data files
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = MultiTaskNet(1, 4, 2, 2, sharing_depth=1).double()
    x = 4 * torch.rand(2, 10, 1, generator=g, dtype=torch.float64) - 2
    y = torch.sin(x * torch.tensor([1.0, 1.5], dtype=torch.float64)[:, None, None])
    shared = list(net.layers[0].parameters())

    def losses():
        return ((net(x) - y) ** 2).mean(dim=(1, 2))

    base = losses()
    grads = [torch.cat([gr.reshape(-1) for gr in torch.autograd.grad(base[t], shared, retain_graph=True)])
             for t in range(2)]
    exact = []
    for i, j in ((0, 1), (1, 0)):
        saved = [p.detach().clone() for p in shared]
        with torch.no_grad():
            start = 0
            for p in shared:  # theta_sh - lr * g_i
                p -= lr * grads[i][start:start + p.numel()].reshape(p.shape)
                start += p.numel()
            exact.append(1 - losses()[j] / base[j])
            for p, s in zip(shared, saved):
                p.copy_(s)
    return grads[0].float(), grads[1].float(), base.detach().float(), torch.stack(exact).float()


@register("affinity-first-order", "The first-order lookahead affinity", solution_first_order_affinity)
def check_first_order_affinity(answer) -> str | None:
    from mtl_lessons.experiments.task_affinity import CLAIMS
    for seed in (0, 1, 2):
        lr = 1e-3
        g0, g1, losses, exact = _exact_case(seed, lr)
        for (gi, gj, lj, z) in ((g0, g1, losses[1], exact[0]), (g1, g0, losses[0], exact[1])):
            got = float(answer(gi.clone(), gj.clone(), lj.clone(), lr))
            if abs(got - float(z)) <= CLAIMS.max_first_order_error * abs(float(z)) + 1e-9:
                continue
            if abs(got + float(z)) <= CLAIMS.max_first_order_error * abs(float(z)):
                return "The sign is flipped: a step along -g_i lowers L_j when g_i · g_j > 0, so Z is positive then."
            if abs(got / float(lj) - float(z)) <= CLAIMS.max_first_order_error * abs(float(z)):
                return "Z is a *relative* change: divide the first-order change of L_j by L_j."
            return (f"For a small network (seed {seed}) at step lr = {lr:g}: the exact lookahead gives "
                    f"Z = {float(z):.3e}, yours {got:.3e}. Expand L_j(θ − lr g_i) to first order in lr.")
    return None


@register_prediction("grouping-wins", "Which grouping of the six tasks has the lowest test MSE?",
                     examples=[("all together", "all together", True), ("affinity groups", "all together", False),
                               ("two groups", "affinity groups", True), ("alone", "every task alone", True),
                               ("every task alone", "all together", False)])
def judge_grouping_wins(answer, measured):
    """measured: "all together", "affinity groups" or "every task alone", the lowest mean test MSE."""
    words = {"all together": "all together", "all": "all together", "together": "all together",
             "affinity groups": "affinity groups", "two groups": "affinity groups", "groups": "affinity groups",
             "2 groups": "affinity groups", "every task alone": "every task alone", "alone": "every task alone"}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'all together', 'affinity groups' or 'every task alone'")
    right = words[key] == measured
    return right, (f"Measured: {measured}. Training alone wastes the relatives' data. Grouping helps when "
                   "tasks compete for a trunk that cannot serve them all; with a trunk wide enough for both "
                   "clusters' features, the other cluster's tasks cost little, and every task's own cluster "
                   "is in the network either way.")
