"""Chapter 11 helpers: the two-cluster tasks, the lookahead affinity (against the first-order formula and
a hand-made lookahead), groupings, fit_many's record, counted backward passes, the choice of each network's
rate on validation, and the chapter's claims (CLAIMS, the notebook's thresholds) on held-out seeds 30-34 (and
40-44 for 11.1), outside the seeds 0..23 the thresholds were calibrated on.

Every network chooses its Adam rate and step on validation. Measured over seeds 0..23 (groups of five as the
notebook runs them; worst group in CLAIMS' comments): multi-task beat target only on 24 of 24 seeds (worst group
5 of 5); the frozen trunk's geometric-mean ratio to target only was 1.75 to 6.2 over groups of five; every task
alone lost to all together on 24 (5 of 5). The affinity gap is an observation (not re-checked here)."""

import numpy as np
import pytest
import torch

from mtl_lessons.affinity import affinity_groups, canonical, lookahead_affinity, random_partition, search_groups
from mtl_lessons.data import make_cluster_tasks
from mtl_lessons.experiments.mtl_vs_transfer import (CLAIMS, GroupingConfig, _fit_tuned, _matched_hidden, backward_cost,
                                                   grouping_sweep, transfer_vs_multitask)
from mtl_lessons.metrics import geometric_mean_ratio, share_below
from mtl_lessons.models import MultiTaskNet, sharing_parameter_count
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit_many
from mtl_lessons.weighting import MGDA, PCGrad, UncertaintyWeighting


def test_cluster_tasks_shapes_and_clusters():
    d = make_cluster_tasks(2, 5, n_val=7, n_test=9, seed=3)
    assert d.x_train.shape == d.y_train.shape == (4, 5, 1)
    assert d.x_val.shape == (4, 7, 1) and d.x_test.shape == (4, 9, 1) and d.cluster == (0, 0, 1, 1)
    again = make_cluster_tasks(2, 5, n_val=7, n_test=9, seed=3)
    assert torch.equal(d.y_train, again.y_train)  # seeded
    clean = make_cluster_tasks(2, 5, noise=0.0, spread=0.0, seed=3)
    # spread 0: the tasks of a cluster are one function A sin(nu x + phi), seen at different points
    for a, b in ((0, 1), (2, 3)):
        nu = (1.0, 1.5)[clean.cluster[a]]
        basis = lambda xs: torch.cat([torch.sin(nu * xs), torch.cos(nu * xs)], 1)  # noqa: E731
        ca = torch.linalg.lstsq(basis(clean.x_test[a]), clean.y_test[a]).solution
        cb = torch.linalg.lstsq(basis(clean.x_test[b]), clean.y_test[b]).solution
        assert torch.allclose(ca, cb, atol=1e-4)


def _small_stack(seeds=(0, 1), n_tasks=3):
    return ModelStack.from_factory(lambda: MultiTaskNet(1, 4, 2, n_tasks, sharing_depth=1), seeds)


def test_lookahead_affinity_by_hand():
    d = make_cluster_tasks(2, 6, seed=0)
    stack = _small_stack((0,), n_tasks=4)
    x, y = d.x_train[None], d.y_train[None]
    z = lookahead_affinity(stack, x, y, lr=0.05)[0]
    model = stack.model(0)
    losses = lambda m: ((m(d.x_train) - d.y_train) ** 2).mean((1, 2))  # noqa: E731
    base = losses(model).detach()
    for i in range(4):
        m = stack.model(0)
        grads = torch.autograd.grad(losses(m)[i], list(m.layers[0].parameters()))
        with torch.no_grad():
            for p, g in zip(m.layers[0].parameters(), grads):  # only the shared layer steps
                p -= 0.05 * g
            assert torch.allclose(z[i], 1 - losses(m) / base, atol=1e-5)


def test_lookahead_affinity_first_order_at_small_steps():
    d = make_cluster_tasks(2, 6, seed=1)
    stack = _small_stack((0,), n_tasks=4)
    lr = 1e-2  # small enough for first order, large enough for float32's 1 - L'/L
    z = lookahead_affinity(stack, d.x_train[None], d.y_train[None], lr=lr)[0].double()
    m = stack.model(0)
    losses = ((m(d.x_train) - d.y_train) ** 2).mean((1, 2))
    g = torch.stack([torch.cat([p.reshape(-1) for p in torch.autograd.grad(losses[t], list(m.layers[0].parameters()),
                                                                           retain_graph=True)]) for t in range(4)])
    first = lr * (g @ g.T) / losses.detach()[None, :]
    first = first.double()
    assert (z - first).abs().max() <= CLAIMS.max_first_order_error * first.abs().max()


def test_affinity_groups_recovers_blocks_and_edges():
    z = torch.tensor([[1.0, 0.9, 0.1, 0.0], [0.8, 1.0, 0.0, 0.1], [0.0, 0.1, 1.0, 0.7], [0.1, 0.0, 0.9, 1.0]])
    assert affinity_groups(z, 2) == (0, 0, 1, 1)
    assert affinity_groups(z, 1) == (0, 0, 0, 0) and affinity_groups(z, 4) == (0, 1, 2, 3)
    assert affinity_groups(z.numpy(), np.int64(2)) == (0, 0, 1, 1)


def test_search_groups_matches_the_exercise_and_finds_blocks():
    from mtl_lessons.exercises.mtl_vs_transfer import solution_best_grouping
    z = torch.tensor([[0.0, 0.9, 0.1, 0.0], [0.8, 0.0, 0.0, 0.1], [0.0, 0.1, 0.0, 0.7], [0.1, 0.0, 0.9, 0.0]])
    assert search_groups(z, 2) == (0, 0, 1, 1)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        r = torch.randn(6, 6, generator=g)
        for k in (2, 3):
            assert search_groups(r, k) == solution_best_grouping(r, k)
    with pytest.raises(ValueError, match="n_groups"):
        search_groups(z, 5)


def test_grouping_judge_explains_the_planted_split():
    from mtl_lessons.exercises.mtl_vs_transfer import judge_grouping_wins
    base = {"all together": 1.0, "affinity groups": 1.3, "every task alone": 2.0, "sizes": ["4+2", "5+1"]}
    right, text = judge_grouping_wins("all together", {**base, "planted clusters": 0.9, "wide": 0.8})
    assert right and "planted clusters (3 + 3) beat all together" in text and "4+2" in text
    assert "did no better than spending its parameters on one wider network" in text and "Even" not in text
    right, text = judge_grouping_wins("all together", {**base, "planted clusters": 0.9, "wide": 0.95})
    assert "beat the same parameters spent on one wider network" in text
    right, text = judge_grouping_wins("groups", {**base, "planted clusters": 1.1})
    assert not right and "Even the planted clusters" in text
    right, text = judge_grouping_wins("all together", {**base, "small groups": 0.9})
    assert "less than all together" in text and "12 or 24 points" not in text


def test_random_partition_keeps_sizes():
    labels = random_partition([4, 2], 6, seed=3)
    assert sorted(np.bincount(labels)) == [2, 4] and labels[0] == 0


def test_canonical_numbers_groups_by_first_appearance():
    assert canonical(np.array([2, 2, 1, 3])) == (0, 0, 1, 2) and canonical([5]) == (0,)


def test_grouping_config_checks_its_settings():
    cfg = GroupingConfig(steps=30, every=100, lrs=[0.01])
    assert cfg.every == 30 and cfg.lrs == (0.01,)  # every > steps: the last step only
    with pytest.raises(ValueError, match="lrs"):
        GroupingConfig(lrs=(0.01, 0.01))
    with pytest.raises(TypeError, match="step"):
        GroupingConfig(step=5)


def test_matched_hidden_matches_two_trunks():
    h = _matched_hidden(8, 2, 6, n_trunks=2)
    two = 2 * sharing_parameter_count(1, 8, 2, 6, sharing_depth=2) - 6 * 9
    counts = {w: sharing_parameter_count(1, w, 2, 6, sharing_depth=2) for w in (h - 1, h, h + 1)}
    assert min(counts, key=lambda w: abs(counts[w] - two)) == h


def test_fit_many_record_runs_before_every_step_and_after_the_last():
    """What measures the lookahead affinity during training: record(stack) sees the stack before each step."""
    stack = _small_stack()
    d = make_cluster_tasks(2, 4, seed=0)
    x, y = d.x_train[:3].expand(2, -1, -1, -1), d.y_train[:3].expand(2, -1, -1, -1)
    seen, before = [], stack.params["heads.weight"].detach().clone()

    def record(s):
        seen.append(s.params["heads.weight"].detach().clone())
        return 0.0

    history = fit_many(stack, (x, y), optimizer="sgd", lr=0.1, steps=3, record=record, progress=False)
    assert history.record_steps.tolist() == [0, 1, 2, 3] and len(seen) == 4
    assert torch.equal(seen[0], before) and not torch.equal(seen[1], before)  # nothing had moved before step 0
    with pytest.raises(TypeError, match="record must be a function"):
        fit_many(stack, (x, y), optimizer="sgd", lr=0.1, steps=1, record=3, progress=False)


def test_backward_passes_are_counted():
    cost = backward_cost({"sum": None, "uw": UncertaintyWeighting(), "pcgrad": PCGrad(), "mgda": MGDA()},
                         n_tasks=3, n_models=2, steps=2)
    assert [cost[k]["passes"] for k in ("sum", "uw", "pcgrad", "mgda")] == [1, 1, 3, 3]
    assert all(c["seconds"] > 0 for c in cost.values())


def test_each_network_keeps_its_best_rate_and_step():
    d = make_cluster_tasks(1, 8, seed=2)  # two tasks
    x, y = d.x_train[None], d.y_train[None]
    lrs = (1e-4, 0.02)
    stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 4, 1, 2, sharing_depth=1), [0] * len(lrs))
    val, test, rate, step = _fit_tuned(stack, (x, y), (d.x_val[None], d.y_val[None]), (d.x_test[None], d.y_test[None]),
                                       lrs=lrs, steps=40, select=[[1.0, 0.0]], every=10, progress=False)
    assert rate.tolist() == [1] and step[0] in (10, 20, 30, 40)  # a rate of 1e-4 barely moves in 40 steps
    with torch.no_grad():  # the model at rate 0.02, after the last step: the record at step 40
        final = ((stack.model(1)(d.x_val) - d.y_val) ** 2).mean((1, 2))
    assert val[0, 0] <= final[0] + 1e-6


# ---------------------------------------------------------------- the claims, on other seeds

# held out: the claims report calibrates on 0..23; 11.2 trains ~20 networks x 3 rates per seed, one group of five
GROUP_SEEDS, BOTH_WAYS_SEEDS = [list(range(30, 35))], [list(range(30, 35)), list(range(40, 45))]


@pytest.fixture(scope="module", params=GROUP_SEEDS, ids=lambda s: f"seeds {s[0]}-{s[-1]}")
def groups(request):
    return grouping_sweep(request.param, progress=False)


@pytest.fixture(scope="module", params=BOTH_WAYS_SEEDS, ids=lambda s: f"seeds {s[0]}-{s[-1]}")
def both_ways(request):
    return transfer_vs_multitask(request.param, n_target=6, steps=300, progress=False)


def test_claim_alone_is_worst(groups):
    alone, together = groups.at("test_mse", n_groups=6), groups.at("test_mse", n_groups=1)
    assert share_below(together, alone) >= CLAIMS.min_share_alone, (alone, together)


def test_claim_both_ways_beat_the_target_alone(both_ways):
    alone = both_ways["target only"]["target"]
    assert share_below(both_ways["multi-task"]["target"], alone) >= CLAIMS.min_share_multitask
    frozen = both_ways["frozen trunk + new head"]["target"]
    assert geometric_mean_ratio(alone, frozen) >= CLAIMS.min_gm_frozen, (alone, frozen)


def test_share_below():
    assert share_below([1.0, 3.0, 2.0, 0.5, 1.0], [2.0, 2.0, 2.0, 1.0, 1.0]) == 0.4  # ties do not count


def test_geometric_mean_ratio():
    assert abs(geometric_mean_ratio([4.0, 1.0], [1.0, 4.0]) - 1.0) < 1e-12
    assert abs(geometric_mean_ratio([2.0, 8.0], [1.0, 1.0]) - 4.0) < 1e-12


def test_best_grouping_exercise():
    from mtl_lessons.exercises import EXERCISES, feedback
    solution = EXERCISES["best-grouping"].solution
    z = torch.tensor([[0.0, 0.9, 0.1, 0.0], [0.8, 0.0, 0.0, 0.1], [0.0, 0.1, 0.0, 0.7], [0.1, 0.0, 0.9, 0.0]])
    assert solution(z, 2) == (0, 0, 1, 1) and solution(z, 3) in {(0, 0, 1, 2), (0, 1, 2, 2)}
    assert "try every partition" in feedback("best-grouping", lambda a, k: tuple([0] * (len(a) - k + 1) + list(range(1, k))))[1]
    assert "exactly" in feedback("best-grouping", lambda a, k: (0,) * len(a))[1]
    grouped = lambda a, k: affinity_groups(a, k)  # noqa: E731 - the chapter's clustering is not the search
    assert feedback("best-grouping", grouped)[0] in ("correct", "wrong")
