"""The course's training claims, re-checked on seeds the notebooks do not use, with the notebook's
own thresholds (the CLAIMS objects of the experiment modules)."""

import numpy as np

from mtl_lessons.experiments.multitask_objective import CLAIMS, data_size_sweep, tuned_comparison


def test_sharing_helps_with_few_points_and_both_fit_with_many():
    """Chapter 1 (Caruana 1997): with 8 points per task the shared trunk has the lower held-out MSE in at
    least 4 of 5 seeds; with 64 points both errors are below the noise variance. (That the ratio is
    smaller at 64 points is not claimed: for SEED = 2 it was 1.34 at 8 points and 1.42 at 64.)"""
    for first in (20, 40):
        sweep = data_size_sweep((CLAIMS.few_points, CLAIMS.many_points), range(first, first + 5), progress=False)
        shared, independent = sweep.results["test_mse_shared"], sweep.results["test_mse_independent"]
        assert np.isfinite(shared).all() and np.isfinite(independent).all()
        share = (shared[0] < independent[0]).mean()  # paired, seed by seed
        assert share >= CLAIMS.min_share_few, f"seeds {first}..{first + 4}: shared lower in {share:.0%} of seeds"
        worst = max(shared[1].mean(), independent[1].mean())
        assert worst < CLAIMS.max_mse_many_over_noise * sweep.meta["noise"] ** 2, f"seeds {first}..: {worst:.4f}"


def test_sharing_helps_with_few_points_when_each_architecture_is_tuned():
    """Chapter 1, each architecture its own rate and stopping step chosen on validation per seed and task,
    seeds 20..24 (nbval uses 0..4, the other-seed notebook test 11..15): shared lower in at least 4 of 5
    seeds and the ratio of the mean test MSEs (independent / shared) at least 1.2."""
    tuned = tuned_comparison((CLAIMS.few_points,), range(20, 25), progress=False)
    shared, independent = tuned.results["test_mse_shared"][0], tuned.results["test_mse_independent"][0]
    assert np.isfinite(shared).all() and np.isfinite(independent).all()
    assert (shared < independent).mean() >= CLAIMS.min_share_few_tuned, (shared, independent)
    assert independent.mean() / shared.mean() >= CLAIMS.min_ratio_few_tuned, (shared, independent)
    # the choice is made on validation: each (seed, task)'s chosen (rate, step) has the lowest validation MSE
    # recorded for that task, and lies on the grid
    for name in ("shared", "independent"):
        curves = tuned.results[f"val_curve_{name}"][0]  # (seeds, tasks, rates, records)
        assert np.array_equal(tuned.results[f"val_mse_{name}"][0], curves.min(axis=(-2, -1)))
        assert set(np.unique(tuned.results[f"lr_{name}"])) <= set(tuned.meta["lrs"])
        assert (tuned.results[f"step_{name}"] <= tuned.meta["max_steps"]).all()


def test_claim_thresholds_say_what_their_sentences_say():
    """'In at least 4 of 5 seeds' is a share of 0.8; 'below the noise variance' is a ratio of at most 1."""
    assert abs(CLAIMS.min_share_few - 0.8) < 1e-12
    assert CLAIMS.max_mse_many_over_noise <= 1
