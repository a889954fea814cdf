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
    from mtl_lessons.experiments.mtl_vs_transfer import CLAIMS
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
                     examples=[("all together", {"all together": 1.0, "affinity groups": 1.3, "every task alone": 2.0}, True),
                               ("affinity groups", {"all together": 1.0, "affinity groups": 1.3, "every task alone": 2.0}, False),
                               ("two groups", {"all together": 1.2, "affinity groups": 1.0, "every task alone": 2.0}, True),
                               ("alone", {"all together": 1.2, "affinity groups": 1.1, "every task alone": 1.0}, True),
                               ("every task alone", {"all together": 1.0, "affinity groups": 1.3, "every task alone": 2.0}, False)])
def judge_grouping_wins(answer, measured):
    """measured: {"all together", "affinity groups", "every task alone": mean test MSE over tasks and seeds};
    optional, to explain the outcome: "planted clusters", "clustering's groups", "random groups", "wide" (the
    other 2-group arms and controls, same means), "small groups" (test MSE of the tasks left in groups of one
    or two / their MSE all together) and "sizes" (the 2-group sizes of TAG's search, one string per seed)."""
    words = {"all together": "all together", "all": "all together", "together": "all together",
             "affinity groups": "affinity groups", "two groups": "affinity groups", "groups": "affinity groups",
             "2 groups": "affinity groups", "every task alone": "every task alone", "alone": "every task alone"}
    key = str(answer).lower().strip()
    if key not in words:
        raise ValueError(f"answer {answer!r}: say 'all together', 'affinity groups' or 'every task alone'")
    mse = {name: float(measured[name]) for name in ("all together", "affinity groups", "every task alone")}
    best = min(mse, key=mse.get)
    together, groups, alone = mse["all together"], mse["affinity groups"], mse["every task alone"]
    text = (f"Measured test MSE: all together {together:.4f}, two affinity groups (TAG's search) {groups:.4f} "
            f"({groups / together:.2f}× all together), every task alone {alone:.4f} ({alone / together:.2f}×). ")
    if "sizes" in measured:
        text += f"The search's group sizes, per seed: {', '.join(measured['sizes'])}. "
    other = {name: float(measured[name]) for name in ("planted clusters", "clustering's groups", "random groups", "wide")
             if name in measured}
    if other:
        text += "Other arms: " + ", ".join(f"{n} {v / together:.2f}×" for n, v in other.items()) + " all together. "
    planted, wide = other.get("planted clusters"), other.get("wide")
    if wide is not None:
        text += ("Two trunks have twice one trunk's parameters: the fair control for a split is the all-tasks "
                 "network with the same parameters (\"wide\" above). ")
    if planted is not None and wide is not None:
        text += (f"The planted clusters (3 + 3) scored {planted / wide:.2f}× that wide network: "
                 + ("the right split beat the same parameters spent on one wider network. " if planted < wide else
                    "the split did no better than spending its parameters on one wider network. "))
    if best == "all together":
        text += "One network for all six tasks beat the search's split on these seeds. "
        if planted is not None and planted < together:
            text += ("The planted clusters (3 + 3) beat all together (width 8) on these seeds; the search's groups "
                     "were other ones. ")
        elif planted is not None:
            text += ("Even the planted clusters (3 + 3) did not beat all together on these seeds: halving the "
                     "data per trunk cost at least as much as the other cluster's interference. ")
        if "small groups" in measured:
            small = float(measured["small groups"])
            text += (f"Tasks the search left in groups of one or two had {small:.2f}× their error all together"
                     + (": they train on 12 or 24 points. " if small > 1 else
                        ", less than all together: the search's split hurt the other tasks instead. "))
    elif best == "affinity groups":
        text += ("The search's two groups won on these seeds; compare them with the random split of the same sizes, "
                 "the planted clusters and the wide network before crediting the affinity. ")
    else:
        text += ("Every task alone won on these seeds, unusual here: look at the per-seed numbers for a seed where "
                 "a shared trunk failed. ")
    return words[key] == best, text.strip()


def _grouping_score(affinity, labels) -> float:
    """A partition's TAG score: the sum over tasks t of the mean affinity Z(i→t) over t's group mates i
    (0 for a task alone)."""
    n = len(labels)
    total = 0.0
    for t in range(n):
        mates = [i for i in range(n) if i != t and labels[i] == labels[t]]
        if mates:
            total += sum(float(affinity[i, t]) for i in mates) / len(mates)
    return total


def solution_best_grouping(affinity, n_groups):
    """TAG's search, restricted to partitions: every way to split the tasks into n_groups non-empty groups,
    scored by the sum over tasks of the mean affinity onto the task from its group mates (0 for a task alone);
    returns the best partition's labels (first task in group 0, groups numbered by first appearance)."""
    import itertools
    n = affinity.shape[0]
    best, best_score = None, -float("inf")
    for labels in itertools.product(range(n_groups), repeat=n):
        seen = []  # keep each partition once: groups numbered in order of first appearance
        for g in labels:
            if g not in seen:
                seen.append(g)
        if seen != list(range(n_groups)):
            continue
        score = _grouping_score(affinity, labels)
        if score > best_score + 1e-12:
            best, best_score = labels, score
    return best


@register("best-grouping", "TAG's search over groupings (partitions)", solution_best_grouping)
def check_best_grouping(answer) -> str | None:
    g = torch.Generator().manual_seed(0)
    cases = [torch.tensor([[0.0, 0.9, 0.1, 0.0], [0.8, 0.0, 0.0, 0.1], [0.0, 0.1, 0.0, 0.7], [0.1, 0.0, 0.9, 0.0]])]
    cases += [torch.randn(6, 6, generator=g) for _ in range(3)]
    for z in cases:
        for k in (2, 3):
            want = solution_best_grouping(z, k)
            got = answer(z.clone(), k)
            got = tuple(int(v) for v in (got.tolist() if isinstance(got, torch.Tensor) else got))
            if len(got) != z.shape[0]:
                return f"Return one group label per task ({z.shape[0]} labels), e.g. (0, 0, 1, 1)."
            if len(set(got)) != k:
                return f"With n_groups = {k}, use exactly {k} non-empty groups; yours has {len(set(got))}."
            canonical = {}
            got = tuple(canonical.setdefault(v, len(canonical)) for v in got)
            if got == want:
                continue
            rows = "\n".join("  " + " ".join(f"{v:+.2f}" for v in row) for row in z.tolist())
            mine, ours = _grouping_score(z, got), _grouping_score(z, want)
            return (f"For the affinity matrix (row i, column j: Z(i→j))\n{rows}\nand {k} groups, the best partition "
                    f"is {want} (score {ours:.3f}); yours, {got}, scores {mine:.3f}. The score of a partition is the "
                    "sum over tasks t of the mean of Z(i→t) over t's group mates i (0 for a task alone); "
                    "try every partition.")
    return None
