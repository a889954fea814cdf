"""Task weighting: lam weights, Pareto masks, the scalarisation toys, the competing tasks, the
chapter-3 sweep and explorer, plot_front, and the chapter's training claim for other seeds."""

import numpy as np
import pytest
import torch

from mtl_lessons.data import make_competing_tasks
from mtl_lessons.experiments import SLIDERS
from mtl_lessons.experiments.task_weighting import (CLAIMS, fresh_model_losses, head_only_runs, lam_weights,
                                                    scalarisation_toy, task_weighting_explorer, task_weighting_sweep)
from mtl_lessons.metrics import pareto_mask
from mtl_lessons.plots import plot_front


# ---------------------------------------------------------------- weights and Pareto masks

def test_lam_weights_keep_the_ratio_and_sum_to_one():
    w = lam_weights([0.0, 1.0, 4.0])
    assert w.shape == (3, 2)
    assert torch.allclose(w.sum(1), torch.ones(3))
    assert torch.allclose(w[1:, 1] / w[1:, 0], torch.tensor([1.0, 4.0]))
    assert torch.equal(w[0], torch.tensor([1.0, 0.0]))


def test_lam_weights_bad_input():
    with pytest.raises(ValueError, match=r"lam=-1.0 is out of range \(allowed: >= 0.0\)"):
        lam_weights([1.0, -1.0])
    with pytest.raises(ValueError, match="lam=inf must be finite"):
        lam_weights(float("inf"))


def test_pareto_mask_handles_ties_and_duplicates():
    points = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5], [0.2, 1.0], [0.5, 0.5]])
    assert pareto_mask(points).tolist() == [True, True, False, True, False, True]


def test_pareto_mask_agrees_with_brute_force():
    points = torch.rand(40, 3, generator=torch.Generator().manual_seed(1))
    brute = [not any((q <= p).all() and (q < p).any() for q in points) for p in points]
    assert pareto_mask(points).tolist() == brute


def test_pareto_mask_bad_input():
    with pytest.raises(ValueError, match="must have 2 dimensions"):
        pareto_mask(torch.rand(5))
    with pytest.raises(ValueError, match="non-finite"):
        pareto_mask([[0.0, float("nan")]])


# ---------------------------------------------------------------- the scalarisation toys

def test_convex_front_is_traced_without_gaps():
    toy = scalarisation_toy("convex")
    assert toy.largest_gap() < CLAIMS.convex_gap
    # the analytic minimiser of (1-a)(x-1)^2 + a(x+1)^2 is x = 1 - 2a
    assert np.allclose(toy.x[toy.reached], 1 - 2 * toy.alphas, atol=1e-3)


def test_concave_front_has_a_gap_no_weight_reaches():
    toy = scalarisation_toy("concave")
    assert pareto_mask(toy.front).all()
    assert toy.largest_gap() > CLAIMS.concave_gap
    middle = np.abs(toy.x[toy.reached]) < 0.8  # the balanced trade-offs
    assert not middle.any()


def test_scalarisation_toy_bad_input():
    with pytest.raises(ValueError, match="kind='linear' is not allowed"):
        scalarisation_toy("linear")
    with pytest.raises(ValueError, match="n_alpha=1"):
        scalarisation_toy(n_alpha=1)


# ---------------------------------------------------------------- data, sweep, explorer, plot

def test_competing_tasks():
    tasks = make_competing_tasks(12, 50, seed=4)
    assert tasks.x_train.shape == (2, 12, 1) and tasks.y_test.shape == (2, 50, 1)
    assert torch.allclose(tasks.true_function(tasks.x_test[0, :, 0]), tasks.y_test[..., 0])
    assert torch.equal(tasks.x_train, make_competing_tasks(12, 50, seed=4).x_train)
    with pytest.raises(ValueError, match="noise=-0.1"):
        make_competing_tasks(noise=-0.1)
    with pytest.raises(ValueError, match="n_train=0"):
        make_competing_tasks(0)


def test_task_weighting_sweep_shapes_and_explorer():
    sweep = task_weighting_sweep((0.5, 1.0, 2.0), seeds=[0, 1], steps=3, n_grid=20, progress=False)
    assert sweep.results["test_losses"].shape == (3, 2, 2)
    assert sweep.results["fit"].shape == (3, 2, 2, 20)
    assert sweep.results["x_train"].shape == (3, 2, 2, 16)
    explorer = task_weighting_explorer(sweep, value=2.0)
    assert explorer.png.startswith(b"\x89PNG") and len(explorer._pngs) == 3
    with pytest.raises(ValueError, match="lam=3.0 is not on the grid"):
        explorer.update(lam=3.0)


def test_task_weighting_sweep_bad_input():
    with pytest.raises(ValueError, match="optimizer='lbfgs'"):
        task_weighting_sweep((1.0,), seeds=[0], steps=1, optimizer="lbfgs", progress=False)
    with pytest.raises(ValueError, match="lam=-2.0"):
        task_weighting_sweep((-2.0, 1.0), seeds=[0], steps=1, progress=False)
    with pytest.raises(ValueError, match="repeated values"):
        task_weighting_sweep((1.0, 1.0), seeds=[0], steps=1, progress=False)


def test_plot_front():
    front = np.array([[0.0, 1.0], [0.5, 0.4], [1.0, 0.0]])
    ax = plot_front(front, samples=front[:, None, :].repeat(3, 1), highlight=1, label="front")
    assert ax.get_legend_handles_labels()[1] == ["front"]
    with pytest.raises(ValueError, match=r"front has shape \(3,\)"):
        plot_front(np.zeros(3))
    with pytest.raises(ValueError, match="highlight=5 is out of range"):
        plot_front(front, highlight=5)
    with pytest.raises(ValueError, match="samples has shape"):
        plot_front(front, samples=np.zeros((2, 3, 2)))


def test_weighting_slider_is_registered():
    assert SLIDERS["task_weighting"] == (task_weighting_sweep, task_weighting_explorer)


# ---------------------------------------------------------------- the chapter's claims, other seeds

def test_lam_trades_task_1_for_task_2():
    """Chapter 3's claim on seeds 40..44 (the notebook uses 0..4 and 11..15), same margins, a coarser grid."""
    sweep = task_weighting_sweep((0.1, 0.316, 1.0, 3.162, 10.0), seeds=range(40, 45), progress=False)
    losses = sweep.results["test_losses"]
    mean = losses.mean(1)
    step = np.diff(losses, axis=0)                     # per seed: the seeds are paired across lam
    assert (step[:, :, 0] > 0).mean() >= CLAIMS.step_share and (step[:, :, 1] < 0).mean() >= CLAIMS.step_share
    assert mean[-1, 0] / mean[0, 0] >= CLAIMS.l1_rise and mean[0, 1] / mean[-1, 1] >= CLAIMS.l2_fall


def test_a_longer_budget_leaves_the_trade_off_standing():
    """3.6 on seeds 40..44: at long_factor x the steps, L_1 still rises and L_2 still falls across the grid."""
    long = task_weighting_sweep((0.1, 10.0), seeds=range(40, 45), steps=CLAIMS.long_factor * 1000, progress=False)
    mean = long.results["test_losses"].mean(1)
    assert mean[-1, 0] / mean[0, 0] >= CLAIMS.l1_rise and mean[0, 1] / mean[-1, 1] >= CLAIMS.l2_fall


def test_fresh_models_feel_a_change_of_units():
    """3.3 on seeds 40..44: in centimetres L_2 dwarfs L_1; normalisation brings lam back within a factor."""
    c = CLAIMS.units_c
    metres, cm = fresh_model_losses(range(40, 45)), fresh_model_losses(range(40, 45), target_scale=(1.0, c))
    assert np.allclose(metres[:, 0], cm[:, 0])                      # task 1 did not change
    assert (cm[:, 1] / cm[:, 0] >= CLAIMS.units_ratio).all()
    factor = (c ** 2 * cm[:, 0] / cm[:, 1]) / (metres[:, 0] / metres[:, 1])
    assert np.maximum(factor, 1 / factor).max() <= CLAIMS.normalised_factor


def test_fresh_model_losses_bad_input():
    with pytest.raises(ValueError, match="target_scale"):
        fresh_model_losses([0], target_scale=(1.0, -2.0))
    with pytest.raises(ValueError, match=r"seeds=\(\) has 0 values"):
        fresh_model_losses([])


def test_adam_hides_lam_from_a_head_sgd_does_not():
    """3.4 on seeds 40..44: trunk frozen, SGD's head feels lam and Adam's does not; trained trunk, Adam feels it."""
    sgd = head_only_runs("sgd", (0.1, 10.0), range(40, 45), progress=False)[:, :, -1].mean(1)
    adam = head_only_runs("adam", (0.1, 10.0), range(40, 45), progress=False)
    trunk = head_only_runs("adam", (0.1, 10.0), range(40, 45), train_trunk=True, progress=False)[:, :, -1].mean(1)
    assert sgd[0] >= CLAIMS.sgd_ratio * sgd[1]
    assert np.abs(adam[0] - adam[1]).max() / adam.min() <= CLAIMS.adam_same
    assert trunk[0] >= CLAIMS.adam_trunk_ratio * trunk[1]


def test_numpy_seeds_and_lams_are_welcome():
    assert fresh_model_losses(np.arange(2)).shape == (2, 2)
    assert head_only_runs("sgd", np.array([0.1, 1.0]), np.arange(2), steps=2, progress=False).shape == (2, 2, 2)
    sweep = task_weighting_sweep(np.array([0.5, 2.0]), np.arange(2), steps=2, n_grid=5, progress=False)
    assert sweep.results["test_losses"].shape == (2, 2, 2)


def test_head_only_runs_bad_input():
    with pytest.raises(ValueError, match="optimizer='rmsprop'"):
        head_only_runs("rmsprop", progress=False)
    with pytest.raises(ValueError, match="seeds=.1, 1. has repeated values"):
        head_only_runs("sgd", seeds=[1, 1], progress=False)
    with pytest.raises(ValueError, match="lam=-1.0"):
        head_only_runs("sgd", lams=(-1.0,), progress=False)


def test_exercise_hints():
    from mtl_lessons.exercises import feedback
    from mtl_lessons.exercises.task_weighting import solution_head_gradient

    def without_lam(h, y2, w2, b2, lam):
        return solution_head_gradient(h, y2, w2, b2, 1.0)

    def summed(h, y2, w2, b2, lam):
        dw, db = solution_head_gradient(h, y2, w2, b2, lam)
        return dw * len(y2), db * len(y2)

    assert "gradient of L_2 alone" in feedback("head-gradient", without_lam)[1]
    assert "mean over the n" in feedback("head-gradient", summed)[1]
    assert "sign is flipped" in feedback("head-gradient", lambda *a: tuple(-v for v in solution_head_gradient(*a)))[1]


def test_convex_minimiser_exercise_hints():
    """Exercise 3.2: the sign error and right x* with wrong losses get their own hints."""
    from mtl_lessons.exercises import feedback
    from mtl_lessons.exercises.task_weighting import solution_convex_minimiser

    assert feedback("convex-minimiser", solution_convex_minimiser)[0] == "correct"
    assert "wrong sign" in feedback("convex-minimiser", lambda a: (2 * a - 1, a ** 2, (1 - a) ** 2))[1]
    assert "not the losses" in feedback("convex-minimiser", lambda a: (1 - 2 * a, a, 1 - a))[1]
