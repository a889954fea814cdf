"""The course's training claims, re-checked on seeds the notebooks do not use, with the notebook's
own thresholds (the CLAIMS objects of the experiment modules)."""

import numpy as np

from mtl_lessons.experiments.data_size import CLAIMS, data_size_sweep


def test_sharing_helps_with_few_points_and_both_fit_with_many():
    """Chapter 1 (Caruana 1997): with 8 points per task a shared trunk cuts held-out MSE by >= 1/4; with
    64 points both errors are below the noise variance. (That the ratio is smaller at 64 points is not
    claimed: on seeds 40..44 it was 1.53 at both sizes.)"""
    for first in (20, 40):
        sweep = data_size_sweep((CLAIMS.few_points, CLAIMS.many_points), range(first, first + 5), progress=False)
        shared, independent = sweep.results["test_mse_shared"], sweep.results["test_mse_independent"]
        assert np.isfinite(shared).all() and np.isfinite(independent).all()
        ratio = independent.mean(1) / shared.mean(1)  # (few, many)
        assert ratio[0] >= CLAIMS.min_ratio_few, f"seeds {first}..{first + 4}: ratio {ratio[0]:.2f}"
        worst = max(shared[1].mean(), independent[1].mean())
        assert worst < CLAIMS.max_mse_many_over_noise * sweep.meta["noise"] ** 2, f"seeds {first}..: {worst:.4f}"


def test_claim_thresholds_say_what_their_sentences_say():
    """A ratio r is a cut of 1 - 1/r: the notebook's 'at least a quarter' is ratio 4/3."""
    assert abs(CLAIMS.min_cut_few - 0.25) < 1e-12
    assert CLAIMS.max_mse_many_over_noise <= 1
