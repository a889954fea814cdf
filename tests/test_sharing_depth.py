"""Sharing depth: the parameter-count formula, the soft-sharing penalty, the two-digit overlay,
the chapter-2 sweeps, and the chapter's training claims for seeds the notebook does not use."""

import numpy as np
import pytest
import torch

from mtl_lessons.data import make_digit_overlay
from mtl_lessons.experiments import SLIDERS
from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.experiments.sharing_depth import (CLAIMS, TUNED_LRS, digit_overlay_sweep, matched_width,
                                                  sharing_depth_explorer, sharing_depth_sweep)
from mtl_lessons.models import MultiTaskNet, count_parameters, sharing_parameter_count
from mtl_lessons.objectives import soft_sharing_penalty


# ---------------------------------------------------------------- parameter count

@pytest.mark.parametrize("shape", [(1, 8, 2, 8, 1), (96, 16, 2, 2, 10), (3, 5, 4, 3, 2), (2, 7, 1, 1, 1)])
def test_parameter_count_formula_matches_the_network(shape):
    for k in range(shape[2] + 1):
        assert sharing_parameter_count(*shape, sharing_depth=k) == count_parameters(MultiTaskNet(*shape, sharing_depth=k))


def test_each_shared_layer_saves_t_minus_one_copies():
    full = sharing_parameter_count(1, 8, 2, 8, sharing_depth=0)
    assert full - sharing_parameter_count(1, 8, 2, 8, sharing_depth=1) == 7 * (1 + 1) * 8
    assert full - sharing_parameter_count(1, 8, 2, 8, sharing_depth=2) == 7 * ((1 + 1) * 8 + (8 + 1) * 8)


def test_parameter_count_bad_input():
    with pytest.raises(ValueError, match=r"sharing_depth=3 is out of range \(allowed: 0..2\)"):
        sharing_parameter_count(1, 8, 2, 8, sharing_depth=3)
    with pytest.raises(ValueError, match="hidden=0"):
        sharing_parameter_count(1, 0, 2, 8, sharing_depth=1)
    with pytest.raises(TypeError, match="n_tasks=2.5 must be an int"):
        sharing_parameter_count(1, 8, 2, 2.5, sharing_depth=1)


# ---------------------------------------------------------------- soft sharing

def test_soft_sharing_penalty_is_zero_for_equal_copies_and_matches_pairwise_form():
    torch.manual_seed(0)
    params = [torch.randn(4, 3, 5), torch.randn(4, 1, 5)]
    same = [p[:1].expand_as(p) for p in params]
    assert soft_sharing_penalty(same).item() == pytest.approx(0.0, abs=1e-10)
    # sum_{s,t} ||theta_s - theta_t||^2 = 2T sum_t ||theta_t - theta_bar||^2
    pairwise = sum(((p[:, None] - p[None]) ** 2).sum() for p in params)
    assert soft_sharing_penalty(params).item() == pytest.approx(pairwise.item() / (2 * 4), rel=1e-5)


def test_soft_sharing_gradient_pulls_each_copy_to_the_mean():
    theta = torch.randn(5, 3, requires_grad=True)
    soft_sharing_penalty([theta]).backward()
    assert torch.allclose(theta.grad, 2 * (theta - theta.mean(0)).detach(), atol=1e-6)


def test_soft_sharing_penalty_keeps_batch_axes():
    stacked = torch.randn(6, 4, 3, 2)  # (models, n_tasks, ...)
    per_model = soft_sharing_penalty([stacked], task_dim=1)
    assert per_model.shape == (6,)
    assert torch.allclose(per_model[2], soft_sharing_penalty([stacked[2]]))


def test_soft_sharing_penalty_of_a_network_with_no_sharing():
    model = MultiTaskNet(1, 4, 2, 3, sharing_depth=0)
    assert soft_sharing_penalty(model.layers.parameters()).item() > 0


def test_soft_sharing_penalty_bad_input():
    with pytest.raises(ValueError, match="task_params is empty"):
        soft_sharing_penalty([])
    with pytest.raises(ValueError, match="task_dim=2 but task_params\\[0\\] has shape \\(3, 4\\)"):
        soft_sharing_penalty([torch.randn(3, 4)], task_dim=2)
    with pytest.raises(TypeError, match="task_params\\[0\\] must be a torch.Tensor"):
        soft_sharing_penalty([[1.0, 2.0]])
    with pytest.raises(ValueError, match="non-finite"):
        soft_sharing_penalty([torch.tensor([1.0, float("nan")])])


# ---------------------------------------------------------------- the two-digit overlay

def test_digit_overlay_shapes_labels_and_canvas():
    data = make_digit_overlay(50, 20, shift=4, seed=3)
    assert data.x_train.shape == (50, 8 * 12) and data.x_test.shape == (20, 96)
    assert data.y_train.shape == (50, 2) and data.y_train.dtype == torch.int64
    assert data.y_train.min() >= 0 and data.y_train.max() <= 9
    assert data.image_shape == (8, 12) and data.n_tasks == 2
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    # the four columns left of the overlap hold only the left digit, the four right of it only the right one
    images = data.x_train.reshape(50, 8, 12)
    assert images[:, :, :4].sum() > 0 and images[:, :, 8:].sum() > 0


def test_digit_overlay_without_overlap_is_two_digits_side_by_side():
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).reshape(len(digits.target), -1)
    data = make_digit_overlay(10, 5, shift=8, seed=0)
    canvas = data.x_train.reshape(10, 8, 16)
    left = canvas[:, :, :8].reshape(10, -1)
    for row, label in zip(left, data.y_train[:, 0]):  # each left half is one of the dataset's images, with its label
        match = (images == row).all(1)
        assert match.any() and label.item() in digits.target[match.numpy()]


def test_digit_overlay_is_seeded():
    a, b = make_digit_overlay(20, 10, seed=1), make_digit_overlay(20, 10, seed=1)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, make_digit_overlay(20, 10, seed=2).x_train)


def test_digit_overlay_bad_input():
    with pytest.raises(ValueError, match=r"shift=9 is out of range \(allowed: 0..8\)"):
        make_digit_overlay(10, 10, shift=9)
    with pytest.raises(ValueError, match="n_train=0"):
        make_digit_overlay(0, 10)


# ---------------------------------------------------------------- the sweeps

def test_sharing_depth_sweep_shapes_and_explorer():
    sweep = sharing_depth_sweep((0.0, 1.0), (4, 6), seeds=[0, 1], n_tasks=3, hidden=4, steps=3,
                                n_grid=10, progress=False)
    assert sweep.knobs["sharing_depth"] == (0, 1, 2)
    assert sweep.results["test_mse"].shape == (3, 2, 2, 2) and sweep.results["val_mse"].shape == (3, 2, 2, 2)
    assert sweep.results["fit"].shape == (3, 2, 2, 2, 3, 10)
    assert np.isnan(sweep.results["x_train"][0, 0, 0, 0, 0, 4:]).all()  # 4 points, padded to 6
    assert sweep.meta["n_params"] == [count_parameters(MultiTaskNet(1, 4, 2, 3, sharing_depth=k)) for k in range(3)]
    explorer = sharing_depth_explorer(sweep, value={"n_per_task": 4}, tasks=(0, 1))
    assert explorer.png.startswith(b"\x89PNG") and len(explorer._pngs) == 3 * 2 * 2
    explorer.update(sharing_depth=0, relatedness=0.0)
    assert explorer.sliders["sharing_depth"].value == 0


def test_sharing_depth_sweep_a_subset_of_depths_accepts_numpy_ints():
    sweep = sharing_depth_sweep((0.0,), (4,), seeds=[0], n_tasks=2, hidden=3, steps=2, n_grid=5,
                                depths=(np.int64(2),), progress=False)
    assert sweep.knobs["sharing_depth"] == (2,) and sweep.results["test_mse"].shape == (1, 1, 1, 1)
    assert sweep.meta["n_params"] == [sharing_parameter_count(1, 3, 2, 2, sharing_depth=2)]
    with pytest.raises(ValueError, match=r"depths=3 is out of range \(allowed: 0..2\)"):
        sharing_depth_sweep((0.0,), (4,), seeds=[0], depths=(3,), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"depths=\(\) has 0 values"):
        sharing_depth_sweep((0.0,), (4,), seeds=[0], depths=(), steps=1, progress=False)
    with pytest.raises(ValueError, match=r"depths=\(1, 1\) has repeated values"):
        sharing_depth_sweep((0.0,), (4,), seeds=[0], depths=(1, 1), steps=1, progress=False)


def test_shared_freq_makes_related_tasks_of_that_frequency():
    tasks = make_sinusoid_tasks(3, 5, relatedness=1.0, shared_freq=3.0, seed=2)
    amp, phase = tasks.params[:2]
    x = torch.linspace(-5, 5, 11)
    want = amp[:, None] * torch.sin(3.0 * x[None] + phase[:, None])
    assert torch.allclose(tasks.true_function(x), want, atol=1e-6)
    default = make_sinusoid_tasks(3, 5, seed=2)  # shared_freq=1 by default: the family as before
    assert torch.allclose(default.true_function(x), amp[:, None] * torch.sin(x[None] + phase[:, None]), atol=1e-6)
    with pytest.raises(ValueError, match="shared_freq=0.0"):
        make_sinusoid_tasks(3, 5, shared_freq=0.0)
    with pytest.raises(ValueError, match="shared_freq=50.0"):
        make_sinusoid_tasks(3, 5, shared_freq=50.0)


def test_matched_width_matches_the_parameter_count():
    assert matched_width(1, 8, 2, 8) == 23 and matched_width(96, 16, 2, 2, 10) == 27
    for shape in [(1, 8, 2, 8, 1), (96, 16, 2, 2, 10), (3, 5, 3, 4, 2)]:
        target = sharing_parameter_count(*shape, sharing_depth=0)
        w = matched_width(*shape)
        best = min(range(1, 200), key=lambda h: abs(sharing_parameter_count(*shape[:1], h, *shape[2:],
                                                                            sharing_depth=shape[2]) - target))
        assert w == best
    assert matched_width(1, 8, 2, 1) == 8  # one task: sharing changes nothing
    with pytest.raises(ValueError, match="hidden=0"):
        matched_width(1, 0, 2, 8)


def test_sharing_depth_sweep_bad_input():
    with pytest.raises(ValueError, match="relatedness=1.5"):
        sharing_depth_sweep((1.5,), (8,), seeds=[0], steps=1, progress=False)
    with pytest.raises(ValueError, match="n_per_task=0"):
        sharing_depth_sweep((1.0,), (0,), seeds=[0], steps=1, progress=False)


def test_digit_overlay_sweep_shapes():
    sweep = digit_overlay_sweep(hidden=(4,), seeds=[0], n_train=20, n_test=10, steps=2, progress=False)
    assert sweep.results["test_accuracy"].shape == (3, 1, 1, 2) and sweep.results["val_accuracy"].shape == (3, 1, 1, 2)
    assert sweep.meta["n_params"][(2, 4)] == sharing_parameter_count(96, 4, 2, 2, 10, sharing_depth=2)
    with pytest.raises(ValueError, match="hidden=0"):
        digit_overlay_sweep(hidden=(0,), seeds=[0], steps=1, progress=False)


def test_sharing_slider_is_registered():
    assert SLIDERS["sharing_depth"] == (sharing_depth_sweep, sharing_depth_explorer)


# ---------------------------------------------------------------- the chapter's claims, other seeds

def test_sharing_helps_related_tasks_and_hurts_unrelated_ones_at_equal_width():
    """Chapter 2's claims on seeds 30..34 (nbval uses 0..4, the other-seed notebook test 11..15), the notebook's CLAIMS."""
    sweep = sharing_depth_sweep((0.0, 1.0), (CLAIMS.few_points, CLAIMS.many_points), seeds=range(30, 35),
                                progress=False)
    _, related_seeds = sweep.curve("test_mse", "sharing_depth", relatedness=1.0, n_per_task=CLAIMS.few_points)
    geo = np.exp(np.log(related_seeds[0] / related_seeds[2]).mean())  # per-seed ratios, geometric mean
    assert geo >= CLAIMS.min_geo_ratio_related, related_seeds
    _, unrelated = sweep.curve("test_mse", "sharing_depth", relatedness=0.0, n_per_task=CLAIMS.many_points)
    unrelated = unrelated.mean(1)
    assert unrelated[2] / unrelated[0] >= CLAIMS.min_ratio_unrelated, unrelated

    # the controls: matched parameters (unrelated), equal difficulty (related at a high frequency)
    seeds = range(30, 35)
    matched = sharing_depth_sweep((0.0,), (CLAIMS.many_points,), seeds, hidden=matched_width(1, 8, 2, 8),
                                  depths=(2,), progress=False).results["test_mse"][0, 0, 0].mean()
    assert unrelated[0] / matched >= CLAIMS.min_ratio_matched, (unrelated[0], matched)
    hard = sharing_depth_sweep((1.0,), (CLAIMS.many_points,), seeds, depths=(0, 2), shared_freq=CLAIMS.hard_freq,
                               progress=False).results["test_mse"][:, 0, 0].mean(-1)
    assert unrelated[2] / unrelated[0] - hard[1] / hard[0] >= CLAIMS.min_penalty_gap, (unrelated, hard)


def test_the_two_main_claims_hold_with_each_depth_at_its_own_rate():
    """Chapter 2's claims 4 and 5 on seeds 30..34: each depth at its rate chosen on validation (per seed)."""
    tuned = sharing_depth_sweep((0.0, 1.0), (CLAIMS.few_points, CLAIMS.many_points), seeds=range(30, 35),
                                depths=(0, 2), lr=TUNED_LRS, progress=False)
    assert set(np.unique(tuned.results["lr"])) <= set(TUNED_LRS)
    _, related = tuned.curve("test_mse", "sharing_depth", relatedness=1.0, n_per_task=CLAIMS.few_points)
    assert np.exp(np.log(related[0] / related[1]).mean()) >= CLAIMS.min_geo_ratio_related_tuned, related
    _, unrelated = tuned.curve("test_mse", "sharing_depth", relatedness=0.0, n_per_task=CLAIMS.many_points)
    assert unrelated[1].mean() / unrelated[0].mean() >= CLAIMS.min_ratio_unrelated_tuned, unrelated


def test_a_sweep_over_rates_keeps_each_models_rate_chosen_on_validation():
    one = [sharing_depth_sweep((1.0,), (6,), seeds=[0, 1], n_tasks=3, hidden=4, steps=20, n_grid=5, lr=lr,
                               depths=(0, 2), progress=False) for lr in (0.01, 0.1)]
    both = sharing_depth_sweep((1.0,), (6,), seeds=[0, 1], n_tasks=3, hidden=4, steps=20, n_grid=5, lr=(0.01, 0.1),
                               depths=(0, 2), progress=False)
    val = np.stack([s.results["val_mse"] for s in one])  # (rates, k, r, n, seeds)
    pick = val.argmin(0)
    assert np.array_equal(both.results["lr"], np.array([0.01, 0.1])[pick])
    want = np.take_along_axis(np.stack([s.results["test_mse"] for s in one]), pick[None], 0)[0]
    assert np.allclose(both.results["test_mse"], want, rtol=1e-3, atol=1e-5)
    with pytest.raises(ValueError, match="lr"):
        sharing_depth_sweep((1.0,), (6,), seeds=[0], steps=1, lr=(0.01, -0.1), progress=False)


def test_overlay_cost_of_sharing_is_mostly_capacity():
    """Chapter 2's overlay claims on seeds 30..34: equal width costs >= 1.5 points, matched parameters most of it back."""
    h = CLAIMS.digit_hidden
    equal = digit_overlay_sweep(hidden=(h,), seeds=range(30, 35), depths=(0, 2), progress=False)
    wide = digit_overlay_sweep(hidden=(matched_width(96, h, 2, 2, 10),), seeds=range(30, 35), depths=(2,),
                               progress=False)
    acc = equal.results["test_accuracy"].mean(axis=(2, 3))[:, 0]  # (k=0, k=2)
    gap, gap_matched = acc[0] - acc[1], acc[0] - wide.results["test_accuracy"].mean()
    assert gap >= CLAIMS.min_digit_gap, gap
    assert gap_matched / gap <= CLAIMS.max_digit_matched_share, (gap, gap_matched)


def test_depth_k_net_exercise_hints():
    """Exercise 2.2: a network with every layer per task, or with no nonlinearity, is told what is off."""
    from torch import nn

    from mtl_lessons.exercises import feedback
    from mtl_lessons.exercises.sharing_depth import _DepthK

    assert feedback("depth-k-net", lambda d, h, n, t, k: MultiTaskNet(d, h, n, t, sharing_depth=k))[0] == "correct"
    assert "count of k = 0" in feedback("depth-k-net", lambda d, h, n, t, k: _DepthK(d, h, n, t, 0))[1]

    def linear(*args):
        net = _DepthK(*args)
        for block in net.modules():
            if isinstance(block, nn.Sequential):
                for i, m in enumerate(block):
                    if isinstance(m, nn.Tanh):
                        block[i] = nn.Identity()
        return net
    assert "linear in x" in feedback("depth-k-net", linear)[1]
