"""The course's training claims, re-checked on seeds the notebooks do not use, with a margin."""

import numpy as np

from mtl_lessons.experiments.data_size import data_size_sweep


def test_sharing_helps_with_few_points_and_the_gap_closes():
    """Chapter 1 (Caruana 1997): with 8 points per task a shared trunk cuts held-out MSE by >= 30%."""
    for first in (20, 40):
        sweep = data_size_sweep((8, 64), range(first, first + 5), progress=False)
        shared, independent = sweep.results["test_mse_shared"], sweep.results["test_mse_independent"]
        ratio = independent[0].mean() / shared[0].mean()
        assert ratio >= 1.3, f"seeds {first}..{first + 4}: ratio {ratio:.2f}"
        gap_few, gap_many = (independent[0] - shared[0]).mean(), abs((independent[1] - shared[1]).mean())
        assert gap_many < 0.1 * gap_few
        assert np.isfinite(shared).all() and np.isfinite(independent).all()
