"""Chapter 7 helpers: recovered_fraction, the AnB/BnB grid (copy, freeze, shapes) and the chapter's
claims on seeds the notebook does not use."""

import numpy as np
import pytest
import torch

from mtl_lessons.experiments.transferability import VARIANTS, recovered_fraction, transferability_sweep
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.train import ModelStack, fit_many, transfer_stack


def test_recovered_fraction_by_hand():
    base = np.array([[1.0, 0.9], [1.0, 0.9]])         # mean 0.95
    frozen = np.array([[0.85, 0.85], [0.55, 0.55]])   # losses 0.10 and 0.40
    tuned = np.array([[0.9, 0.9], [0.85, 0.85]])      # gains 0.05 and 0.30
    assert np.allclose(recovered_fraction(base, frozen, tuned), [0.5, 0.75])


def test_recovered_fraction_bad_input():
    with pytest.raises(ValueError, match="must have one shape"):
        recovered_fraction(np.ones((2, 3)), np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="loses nothing"):
        recovered_fraction(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)))


def test_sweep_bad_input():
    with pytest.raises(ValueError, match="n_layers=0"):
        transferability_sweep(seeds=[0], n_layers=0, progress=False)
    with pytest.raises(ValueError, match="lr=0.0"):
        transferability_sweep(seeds=[0], lr=0.0, progress=False)


def test_frozen_copied_layers_stay_through_training_and_a_file(tmp_path):
    """AnB at n=2 built the chapter's way: state dict to disk, weights_only load, copy, freeze, train."""
    def net():
        return MultiTaskNet(8, 6, 3, 1, 4, sharing_depth=3)

    torch.manual_seed(0)
    source = net()
    torch.save(source.state_dict(), tmp_path / "a.pt")
    state = torch.load(tmp_path / "a.pt", weights_only=True)
    loaded = net()
    loaded.load_state_dict(state)
    stack = transfer_stack(ModelStack([loaded]), net, 2, source_index=[0], seeds=[9], freeze=True)
    fit_many(stack, torch.randn(1, 1, 30, 8), torch.randint(0, 4, (1, 1, 30)), loss="ce", optimizer="adam",
             lr=0.05, steps=15, progress=False)
    trained = stack.model(0)
    for d in range(2):
        assert torch.equal(trained.layers[d].weight, source.layers[d].weight)
        assert not trained.layers[d].weight.requires_grad
    assert not torch.equal(trained.layers[2].weight, source.layers[2].weight)
    assert not torch.equal(trained.heads.weight, source.heads.weight)


@pytest.fixture(scope="module")
def small_sweep():
    # seeds the notebook does not use (it uses SEED..SEED+4 with SEED = 0 or 11)
    return transferability_sweep(seeds=range(40, 44), hidden=32, n_layers=4, progress=False)


def test_sweep_shapes_and_n0_is_the_baseline(small_sweep):
    assert small_sweep.knobs["frozen_depth"] == (0, 1, 2, 3, 4)
    for name in (*VARIANTS, "acc_base_B"):
        assert small_sweep.results[name].shape == (5, 4)
        assert np.array_equal(small_sweep.results[name][0], small_sweep.results["acc_base_B"][0])
    assert small_sweep.meta["acc_base_A"].mean() > 0.95


def test_claims_hold_for_other_seeds(small_sweep):
    r = small_sweep.results
    anb = r["acc_AnB"].mean(1)
    assert anb[-1] <= anb[1] - 0.20                          # frozen transfer falls with depth
    assert (np.diff(anb) <= 0.015).all()
    recovered = recovered_fraction(r["acc_base_B"][1:], r["acc_AnB"][1:], r["acc_AnB+"][1:])
    assert (recovered[1:] >= 0.70).all()                     # fine-tuning recovers most of it
    assert (r["acc_base_B"].mean(1) - r["acc_AnB+"].mean(1)).max() <= 0.03
    assert (r["acc_AnB+"].mean(1) - r["acc_base_B"].mean(1)).max() < 0.01   # no +2 points at this scale


def test_exercise_hints():
    from mtl_lessons.exercises import feedback

    def without_weights_only(source, target, n, path):
        torch.save(source.state_dict(), path)
        state = torch.load(path, weights_only=False)
        target.load_state_dict({k: v for k, v in state.items() if k.startswith("layers.")
                                and int(k.split(".")[1]) < n}, strict=False)
        return target

    def per_seed_ratio(base, frozen, tuned):
        return np.mean((tuned - frozen) / (base - frozen), axis=1)

    assert "weights_only=True" in feedback("transplant-layers", without_weights_only)[1]
    assert "per-seed ratios" in feedback("recovered-fraction", per_seed_ratio)[1]
    assert "share still lost" in feedback("recovered-fraction",
                                          lambda b, f, t: 1 - recovered_fraction(b, f, t))[1]
