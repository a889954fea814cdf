"""Every weighting strategy: one shared property test, GradNorm on a hand-derived case, what the
training hook does with the weights, fit_many = fit model by model, and bad inputs."""

import numpy as np
import pytest
import torch

from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.gradients import cosine_matrix, mgda, mgda_weights, mgda_weights_from_gramian, pcgrad
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit, fit_many
from mtl_lessons.weighting import (MGDA, DynamicWeightAverage, FixedWeights, GradNorm, PCGrad, Strategy,
                                   UncertaintyWeighting)

ALL = [FixedWeights, UncertaintyWeighting, DynamicWeightAverage, GradNorm, PCGrad, MGDA]


def run(strategy, losses, gramians):
    """Feed a strategy a sequence of (M, T) losses and (M, T, T) Gramians; return the (steps, M, T) weights."""
    strategy.start(*losses[0].shape)
    return torch.stack([strategy.weights(l, g if strategy.uses_gramian else None).detach()
                        for l, g in zip(losses, gramians)])


def random_inputs(steps=6, m=3, t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    losses = [torch.rand(m, t, generator=g) + 0.1 for _ in range(steps)]
    jac = [torch.randn(m, t, 9, generator=g) for _ in range(steps)]
    return losses, [j @ j.transpose(1, 2) for j in jac]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_strategy_gives_finite_weights_of_the_right_shape(cls):
    w = run(cls(), *random_inputs())
    assert w.shape == (6, 3, 4) and torch.isfinite(w).all() and (w >= 0).all()


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_identical_tasks_get_equal_weights(cls):
    losses = [torch.full((2, 3), v) for v in (1.0, 0.8, 0.7, 0.65)]
    gramians = [torch.full((2, 3, 3), v) for v in (2.0, 1.5, 1.2, 1.0)]  # identical gradients: G all equal
    w = run(cls(), losses, gramians)
    assert torch.allclose(w, w[..., :1].expand_as(w)), w


@pytest.mark.parametrize("cls", [MGDA], ids=lambda c: c.__name__)
def test_no_shared_step_on_a_zero_gradient(cls):
    """MGDA: a zero gradient is in the convex hull, so the min-norm direction is 0 (Pareto-stationary)."""
    losses, gramians = random_inputs(steps=1)
    jac = torch.randn(3, 4, 9)
    jac[:, 2] = 0
    g = jac @ jac.transpose(1, 2)
    w = run(cls(), losses, [g])[0]
    assert torch.allclose((w[:, None, :] @ jac)[:, 0], torch.zeros(3, 9), atol=1e-6)


def test_mgda_is_permutation_equivariant_and_scale_invariant():
    _, (g, *_) = random_inputs()
    perm = torch.tensor([2, 0, 3, 1])
    w = mgda_weights_from_gramian(g)
    assert torch.allclose(mgda_weights_from_gramian(g[:, perm][:, :, perm]), w[:, perm], atol=1e-5)
    assert torch.allclose(mgda_weights_from_gramian(7.0 * g), w, atol=1e-5)


def test_dwa_weights_ignore_each_task_s_loss_scale():
    """DWA reads ratios of a task's own losses, so multiplying a task's loss by a constant changes nothing."""
    losses, gramians = random_inputs()
    scale = torch.tensor([1.0, 100.0, 0.01, 3.0])
    a = run(DynamicWeightAverage(period=2), losses, gramians)
    b = run(DynamicWeightAverage(period=2), [l * scale for l in losses], gramians)
    assert torch.allclose(a, b, atol=1e-5) and not torch.allclose(a, torch.ones_like(a))


def test_uncertainty_weighting_optimum_is_one_over_twice_the_loss():
    """d/ds (½ e^{-s} L + ½ s) = 0 at e^s = L: gradient descent on s alone lands there."""
    strategy = UncertaintyWeighting()
    strategy.start(1, 3)
    losses = torch.tensor([[0.02, 1.0, 50.0]])
    opt = torch.optim.Adam(strategy.parameters(), lr=0.05)
    for _ in range(3000):
        opt.zero_grad()
        ((strategy.weights(losses, None) * losses).sum() + strategy.penalty().sum()).backward()
        opt.step()
    assert torch.allclose(strategy.weights(losses, None).detach(), 1 / (2 * losses), rtol=1e-3)


def test_gradnorm_hand_derived_case():
    """Two tasks, alpha = 1, lr = 0.1, |g| = (2, 1) (Gramian diagonal (4, 1)), losses (1, 4) then (0.5, 4).

    Step 1 uses w = (1, 1): G = (2, 1), mean 1.5, r = (1, 1), target (1.5, 1.5); sign(G - target) =
    (+, -), so w <- (1 - 0.1*2, 1 + 0.1*1) = (0.8, 1.1), renormalised to sum 2: (16/19, 22/19).
    Step 2 uses (16/19, 22/19): G = (32/19, 22/19), mean 27/19; L/L0 = (0.5, 1), r = (2/3, 4/3),
    target = (18/19, 36/19); signs (+, -): w <- (16/19 - 0.2, 22/19 + 0.1) = (12.2/19, 23.9/19),
    sum 36.1/19, renormalised: (24.4/36.1, 47.8/36.1).
    """
    strategy = GradNorm(alpha=1.0, lr=0.1)
    g = torch.tensor([[[4.0, 0.0], [0.0, 1.0]]])
    w = run(strategy, [torch.tensor([[1.0, 4.0]]), torch.tensor([[0.5, 4.0]]), torch.tensor([[0.5, 4.0]])], [g] * 3)
    want = torch.tensor([[1.0, 1.0], [16 / 19, 22 / 19], [24.4 / 36.1, 47.8 / 36.1]])
    assert torch.allclose(w[:, 0], want, atol=1e-6)


def test_gradnorm_alpha_zero_pulls_toward_equal_gradient_norms():
    strategy = GradNorm(alpha=0.0, lr=0.01)
    g = torch.tensor([[[9.0, 0.0], [0.0, 1.0]]])  # |g| = (3, 1)
    losses = [torch.tensor([[1.0, 1.0]])] * 400
    w = run(strategy, losses, [g] * 400)[-1, 0]
    assert abs(w[0] * 3 - w[1] * 1) < 0.1 and torch.isclose(w.sum(), torch.tensor(2.0))


# ---------------------------------------------------------------- the hook in fit / fit_many

def factory():
    return MultiTaskNet(1, 8, 2, 3, sharing_depth=1)


@pytest.mark.parametrize("strategy, direction", [(PCGrad(seed=0), "pcgrad"), (MGDA(), "mgda")])
def test_gradient_strategies_step_shared_parameters_along_the_combined_direction(strategy, direction):
    """One SGD step: shared layer moves by -lr * pcgrad / mgda of the per-task gradients; heads by their own."""
    data = make_sinusoid_tasks(3, 6, seed=0)
    torch.manual_seed(0)
    model = factory()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    losses = ((model(data.x_train) - data.y_train) ** 2).mean(dim=(1, 2))
    shared = [model.layers[0].weight, model.layers[0].bias]
    grads = torch.stack([torch.cat([g.flatten() for g in torch.autograd.grad(losses[t], shared, retain_graph=True)])
                         for t in range(3)])
    head = torch.autograd.grad(losses.sum(), [model.heads.weight])[0]
    want = pcgrad(grads, generator=torch.Generator().manual_seed(0)) if direction == "pcgrad" else mgda(grads)
    fit(model, (data.x_train, data.y_train), optimizer="sgd", lr=0.1, steps=1, progress=False, weights=strategy)
    moved = torch.cat([(before[n] - p.detach()).flatten() for n, p in model.named_parameters() if n.startswith("layers.0")])
    assert torch.allclose(moved, 0.1 * want, atol=1e-6)
    assert torch.allclose(before["heads.weight"] - model.heads.weight.detach(), 0.1 * head, atol=1e-6)


def test_equal_weighting_strategy_is_the_plain_sum():
    data = make_sinusoid_tasks(3, 6, seed=0)
    runs = []
    for kwargs in ({}, {"weights": FixedWeights()}, {"weights": [1.0, 1.0, 1.0]}):
        torch.manual_seed(0)
        runs.append(fit(factory(), (data.x_train, data.y_train), optimizer="adam", lr=0.01, steps=20,
                        progress=False, **kwargs).task_losses)
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize("make", [lambda s: FixedWeights([1.0, 0.5, 2.0]), lambda s: UncertaintyWeighting(),
                                  lambda s: DynamicWeightAverage(period=3), lambda s: GradNorm(),
                                  lambda s: PCGrad(seed=s), lambda s: MGDA()],
                         ids=["fixed", "uncertainty", "dwa", "gradnorm", "pcgrad", "mgda"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_many_with_a_strategy_equals_fit_model_by_model(make, optimizer):
    seeds = [0, 1, 2]
    tasks = [make_sinusoid_tasks(3, 6, seed=s) for s in seeds]
    x, y = torch.stack([t.x_train for t in tasks]), torch.stack([t.y_train for t in tasks])
    stack = ModelStack.from_factory(factory, seeds)
    many = fit_many(stack, (x, y), optimizer=optimizer, lr=0.02, steps=30, progress=False, weights=make(0))
    for i, seed in enumerate(seeds):
        torch.manual_seed(seed)
        alone = factory()
        one = fit(alone, (tasks[i].x_train, tasks[i].y_train), optimizer=optimizer, lr=0.02, steps=30,
                  progress=False, weights=make(i))  # PCGrad: model i of a stack draws from seed + i
        assert np.allclose(many.task_losses[:, i], one.task_losses, atol=1e-4)
        assert np.allclose(many.weights[:, i], one.weights, atol=1e-4)
        for (name, p), q in zip(alone.named_parameters(), stack.model(i).parameters()):
            assert torch.allclose(p, q, atol=1e-4), name


# ---------------------------------------------------------------- bad inputs

def _fit(**kwargs):
    data = make_sinusoid_tasks(3, 6, seed=0)
    return fit(factory(), (data.x_train, data.y_train), optimizer="sgd", lr=0.1, steps=1, progress=False, **kwargs)


BAD_INPUTS = [  # (callable, kwargs, exception, message fragment)
    (pcgrad, {"grads": torch.ones(3)}, ValueError, "grads has shape (3,) but must have 2 dimensions"),
    (pcgrad, {"grads": torch.ones(2, 3, dtype=torch.long)}, TypeError, "must be a floating-point tensor"),
    (pcgrad, {"grads": torch.ones(2, 3), "generator": 5}, TypeError, "generator must be a torch.Generator"),
    (mgda, {"grads": torch.tensor([[1.0, float("nan")]])}, ValueError, "grads contains non-finite"),
    (mgda, {"grads": torch.zeros(0, 3)}, ValueError, "at least one task"),
    (mgda_weights, {"grads": "g"}, TypeError, "grads"),
    (cosine_matrix, {"grads": torch.tensor([[float("inf"), 0.0]])}, ValueError, "non-finite"),
    (UncertaintyWeighting, {"init": float("nan")}, ValueError, "init=nan must be finite"),
    (DynamicWeightAverage, {"temperature": 0.0}, ValueError, "temperature=0.0 is out of range"),
    (DynamicWeightAverage, {"period": 0}, ValueError, "period=0 is out of range"),
    (GradNorm, {"alpha": -1.0}, ValueError, "alpha=-1.0 is out of range"),
    (GradNorm, {"lr": 0.0}, ValueError, "lr=0.0 is out of range"),
    (PCGrad, {"seed": -1}, ValueError, "seed=-1 is out of range"),
    (_fit, {"weights": "pcgrad"}, TypeError, "weights must be None, one weight per task (a list, array or tensor) "
                                             "or a weighting Strategy (mtl_lessons.weighting, e.g. UncertaintyWeighting()), got str"),
    (_fit, {"weights": MGDA}, TypeError, "weights=MGDA is a class; give a strategy, e.g. weights=MGDA()"),
    (_fit, {"weights": FixedWeights([1.0, -1.0, 1.0])}, ValueError, "contains a negative weight"),
    (_fit, {"weights": FixedWeights([1.0, 1.0])}, ValueError, "must end in (3,)"),
]


@pytest.mark.parametrize("call, kwargs, error, fragment", BAD_INPUTS,
                         ids=[f"{c.__name__}-{'-'.join(k)}" for c, k, _, _ in BAD_INPUTS])
def test_bad_inputs(call, kwargs, error, fragment):
    with pytest.raises(error) as info:
        call(**kwargs)
    assert fragment in str(info.value)


def test_strategy_base_is_abstract():
    s = Strategy()
    s.start(1, 2)
    with pytest.raises(NotImplementedError):
        s.weights(torch.ones(1, 2), None)
    assert "MGDA()" == repr(MGDA()) and "GradNorm(alpha=1.5" in repr(GradNorm())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_many_with_one_learning_rate_per_model_equals_separate_runs(optimizer):
    tasks = make_sinusoid_tasks(3, 6, seed=0)
    x, y = tasks.x_train.expand(2, -1, -1, -1), tasks.y_train.expand(2, -1, -1, -1)
    both = ModelStack.from_factory(factory, [0, 0])
    fit_many(both, (x, y), optimizer=optimizer, lr=[0.01, 0.05], steps=20, progress=False, weights=UncertaintyWeighting())
    for i, lr in enumerate((0.01, 0.05)):
        alone = ModelStack.from_factory(factory, [0])
        fit_many(alone, (x[:1], y[:1]), optimizer=optimizer, lr=lr, steps=20, progress=False, weights=UncertaintyWeighting())
        for name in alone.params:
            assert torch.allclose(both.params[name][i], alone.params[name][0], atol=1e-5), name


def test_one_registry_of_strategies_with_the_course_settings():
    from mtl_lessons.weighting import STRATEGIES, Strategy, make_strategy
    made = {name: make_strategy(name) for name in STRATEGIES}
    assert all(isinstance(s, Strategy) for s in made.values())
    assert (made["dwa"].temperature, made["dwa"].period) == (2.0, 10)  # the DWA the chapters train
    assert make_strategy("uncertainty") is not made["uncertainty"]  # fresh state for every run
