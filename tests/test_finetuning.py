"""Chapter 8 helpers: per-step rates (Rates.schedule) and records in fit / fit_many, the schedules
against their formulas, early stopping, the rate chosen on validation, and the chapter's claims on
other seeds.

Measured (finetuning_sweep defaults, one run over seeds 0-23, every group of five consecutive seeds
SEED..SEED+4 for SEED = 0..19, rates re-chosen per group): each claim's mean over the groups, sd, and the
worst group against CLAIMS: source head - source model with 10 labels 0.063 +- 0.012, worst 0.031
(>= 0.015); best new-head practice on the pretrained trunk - source model -0.044 +- 0.015, worst -0.010
(<= 0.01); pretraining gain shrinks 0.078 +- 0.023, worst 0.041 (>= 0.015); best literature practice -
fine-tuning 0.005 +- 0.005, worst 0.012 (<= 0.025); 40-step stages at rate 1 below all at once 0.475 +-
0.076, worst 0.293 (>= 0.2); the x0.1 control above them 0.421 +- 0.074, worst 0.255 (>= 0.15); the
control within 0.013 +- 0.005, worst 0.023 (<= 0.04) of all at once at x0.1; 10 labels 0.013 +- 0.007,
worst 0.029 (<= 0.05); LP-FT / late start trunk distance at 0.1 0.76 +- 0.02, worst 0.80 (<= 0.85);
LP-FT / fine-tuning at 1.0 2.03 +- 0.14, worst 1.84 (>= 1.5); LP-FT - fine-tuning OOD, largest over rates
<= 1: -0.002 +- 0.005, worst 0.006 (<= 0.02), at 1.0 fine-tuning - LP-FT 0.060 +- 0.012, worst 0.040
(>= 0.02); source head / new head trunk distance at 1.0 2.09 +- 0.14, worst 1.84 (>= 1.5); early stopping
(rate and step chosen together) gain 0.001 +- 0.004, worst 0.009 (<= 0.015).
"""

import math

import numpy as np
import pytest
import torch

from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.experiments.finetuning import (CLAIMS, PRACTICES, claims_hold, finetuning_explorer,
                                                finetuning_sweep, measured, practice_schedules)
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.schedules import Rates, discriminative_scales, gradual_unfreezing, layer_schedule, slanted_triangular
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit, fit_many

SEEDS = [0, 1, 2]
STEPS = 24


def factory():
    return MultiTaskNet(1, 8, 2, 3, sharing_depth=2)


@pytest.fixture(scope="module")
def data():
    tasks = [make_sinusoid_tasks(3, 6, seed=s) for s in SEEDS]
    return tasks, torch.stack([t.x_train for t in tasks]), torch.stack([t.y_train for t in tasks])


# ---------------------------------------------------------------- Rates.schedule and record in the training loops

def test_lr_schedule_in_fit_many_equals_fit_model_by_model(data):
    """A grid of schedules (one per model, per layer and step) trained at once equals each trained alone."""
    tasks, x, y = data
    per_layer = torch.stack([discriminative_scales(2, 2.6) * slanted_triangular(STEPS)[:, None],
                             gradual_unfreezing(STEPS, 2, 8),
                             torch.ones(STEPS, 3)], dim=1)  # (steps, M, 3)
    stack = ModelStack.from_factory(factory, SEEDS)
    history = fit_many(stack, (x, y), optimizer="sgd", lr=Rates(0.1, schedule=layer_schedule(stack, per_layer)),
                       steps=STEPS, progress=False, record=(lambda s: s.params["heads.bias"].sum((1, 2, 3)), 5))
    assert history.records.shape == (6, 3) and history.record_steps.tolist() == [0, 5, 10, 15, 20, 24]
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = factory()
        h = fit(alone, (tasks[i].x_train, tasks[i].y_train), optimizer="sgd", steps=STEPS, progress=False,
                lr=Rates(0.1, schedule=layer_schedule(alone, per_layer[:, i])), record=(lambda m: m.heads.bias.sum(), 5))
        assert np.allclose(history.task_losses[:, i], h.task_losses, atol=1e-5)
        assert np.allclose(history.records[:, i], h.records, atol=1e-5)
        for (name, p), q in zip(alone.named_parameters(), stack.model(i).parameters()):
            assert torch.allclose(p, q, atol=1e-5), name


def test_a_zero_scale_freezes_a_layer_for_those_steps(data):
    """Gradual unfreezing: layer 0 does not move before its stage, and moves after it."""
    tasks, _, _ = data
    torch.manual_seed(0)
    model = factory()
    start = model.layers[0].weight.detach().clone()
    schedule = layer_schedule(model, gradual_unfreezing(STEPS, 2, 10))  # layer 0 from step 20
    h = fit(model, (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", lr=Rates(0.1, schedule=schedule), steps=STEPS,
            progress=False, record=(lambda m: (m.layers[0].weight - start).abs().max(), 4))
    moved = dict(zip(h.record_steps.tolist(), h.records.tolist()))
    assert moved[20] == 0.0 and moved[24] > 0.0


def test_a_schedule_of_ones_changes_nothing(data):
    tasks, _, _ = data
    runs = []
    for schedule in (None, "ones"):
        torch.manual_seed(0)
        model = factory()
        lr_schedule = None if schedule is None else {n: np.ones(STEPS) for n, _ in model.named_parameters()}
        runs.append(fit(model, (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", steps=STEPS,
                        lr=Rates(0.1, schedule=lr_schedule), progress=False).task_losses)
    assert np.allclose(*runs, atol=1e-6)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=Rates(0.1, schedule={"heads.weight": torch.ones(STEPS)}), optimizer="adam"), ValueError,
     r"lr.schedule needs optimizer='sgd'"),
    (dict(lr=Rates(0.1, schedule={"nope": torch.ones(STEPS)})), ValueError, r"lr.schedule names 'nope'"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": torch.ones(STEPS - 1)})), ValueError,
     r"first axis must be the steps \(24\)"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": 1.0})), ValueError, "first axis must be the steps"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": -torch.ones(STEPS)})), ValueError, "negative entry"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": torch.full((STEPS,), math.nan)})), ValueError, "nan"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": torch.ones(STEPS, 5)})), ValueError, "has shape"),
    (dict(lr=Rates(0.1, schedule=[1.0])), TypeError, r"lr.schedule must be a dict"),
    (dict(record=3), TypeError, "record must be a function"),
    (dict(record=(lambda m: 1.0, 0)), ValueError, "every=0"),
    (dict(record=(lambda m: 1.0, STEPS + 1)), ValueError, "every=25"),
    (dict(record=lambda m: math.nan), ValueError, "finite numbers"),
])
def test_fit_schedule_and_record_bad_input(data, kwargs, error, match):
    tasks, _, _ = data
    torch.manual_seed(0)
    model = factory()
    before = [p.detach().clone() for p in model.parameters()]
    args = {**dict(optimizer="sgd", lr=0.1, steps=STEPS, progress=False), **kwargs}
    with pytest.raises(error, match=match):
        fit(model, (tasks[0].x_train, tasks[0].y_train), **args)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before)), "refused before any step"


def test_fit_many_schedule_per_model_bad_shape(data):
    _, x, y = data
    stack = ModelStack.from_factory(factory, SEEDS)
    with pytest.raises(ValueError, match=r"lr.schedule\['heads.weight'\] has shape \(24, 2\)"):
        fit_many(stack, (x, y), optimizer="sgd", steps=STEPS, progress=False,
                 lr=Rates(0.1, schedule={"heads.weight": torch.ones(STEPS, 2)}))
    fit_many(stack, (x, y), optimizer="sgd", steps=STEPS, progress=False,  # (steps,): the same for all
             lr=Rates(0.1, schedule={"heads.weight": np.linspace(1, 0, STEPS)}))


# ---------------------------------------------------------------- the schedules against their formulas

def test_discriminative_scales_divide_by_the_factor_per_layer():
    s = discriminative_scales(3, 2.6)
    assert torch.allclose(s, torch.tensor([2.6 ** -3, 2.6 ** -2, 2.6 ** -1, 1.0]))
    assert torch.equal(discriminative_scales(2, 1.0), torch.ones(3))


def test_slanted_triangular_matches_ulmfit_eq_3():
    s = slanted_triangular(100, cut_frac=0.1, ratio=32)
    assert s.shape == (100,) and int(s.argmax()) == 10 and math.isclose(s.max().item(), 1.0, rel_tol=1e-6)
    assert math.isclose(s[0].item(), 1 / 32, rel_tol=1e-6)
    assert math.isclose(s[5].item(), (1 + 0.5 * 31) / 32, rel_tol=1e-6)          # halfway up
    assert math.isclose(s[55].item(), (1 + 0.5 * 31) / 32, rel_tol=1e-6)         # halfway down: p = 1 - 45/90
    assert (s[:11].diff() > 0).all() and (s[10:].diff() < 0).all()


def test_gradual_unfreezing_last_layer_first():
    g = gradual_unfreezing(10, 2, 3)
    assert g[:, 2].tolist() == [1.0] * 10                      # the head from the start
    assert g[:, 1].tolist() == [0.0] * 3 + [1.0] * 7            # the top hidden layer after one stage
    assert g[:, 0].tolist() == [0.0] * 6 + [1.0] * 4            # the next one after two
    assert torch.equal(gradual_unfreezing(5, 3, 0), torch.ones(5, 4))


@pytest.mark.parametrize("call, error, match", [
    (lambda: discriminative_scales(2, 0.5), ValueError, "factor=0.5"),
    (lambda: discriminative_scales(0, 2.6), ValueError, "n_layers=0"),
    (lambda: slanted_triangular(100, cut_frac=0.0), ValueError, "cut_frac=0.0"),
    (lambda: slanted_triangular(100, cut_frac=1.0), ValueError, "cut_frac=1.0"),
    (lambda: slanted_triangular(5, cut_frac=0.1), ValueError, "no rising steps"),
    (lambda: slanted_triangular(100, ratio=0.5), ValueError, "ratio=0.5"),
    (lambda: slanted_triangular(10 ** 9), ValueError, "steps=1000000000"),
    (lambda: gradual_unfreezing(10, 2, 5), ValueError, "after all 10 steps"),
    (lambda: gradual_unfreezing(10, 2, -1), ValueError, "stage_steps=-1"),
    (lambda: layer_schedule(torch.nn.Linear(2, 2), torch.ones(3)), TypeError, "MultiTaskNet"),
    (lambda: layer_schedule(factory(), torch.ones(4)), ValueError, r"last axis must hold one scale per hidden layer"),
    (lambda: layer_schedule(factory(), torch.ones(3, dtype=torch.long)), TypeError, "floating"),
])
def test_schedules_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_practice_schedules_shapes_and_lp_ft():
    s = practice_schedules(10, 2, stage_steps=3)
    assert set(s) == set(PRACTICES) - {"source"} and all(v.shape == (10, 3) for v in s.values())
    assert s["lp_ft"][:5, :2].sum() == 0 and s["lp_ft"][5:].min() == 1 and s["linear_probe"][:, :2].sum() == 0
    assert s["late_start"][:5].sum() == 0 and s["late_start"][5:].min() == 1   # LP-FT without the probe


# ---------------------------------------------------------------- the chapter's claims, on other seeds

@pytest.fixture(scope="module")
def small_sweep():
    return finetuning_sweep(stages=(0, 40), n_target=(10, 100), seeds=(0,), n_source=50, hidden=8, steps=100,
                            progress=False)


def test_sweep_shapes_and_explorer(small_sweep):
    sweep = small_sweep
    assert sweep.results["acc_unfreeze"].shape == (2, 2, 1)
    assert sweep.results["curve_val_finetune"].shape == (2, 2, 1, 6)
    assert sweep.results["acc_finetune_by_rate"].shape == (2, 2, 1, 4)
    assert sweep.results["curve_val_finetune_by_rate"].shape == (2, 2, 1, 6, 4)
    # stage 0 at rate 1.0 is plain fine-tuning at rate 1.0: the same model; the slow version at stage 0
    # (rate x0.1 from step 0) is plain fine-tuning at rate 0.1
    fast, slow = sweep.meta["rates"].index(1.0), sweep.meta["rates"].index(0.1)
    assert np.array_equal(sweep.results["acc_unfreeze"][0], sweep.results["acc_finetune_by_rate"][0, ..., fast])
    assert np.allclose(sweep.results["acc_unfreeze_slow"][0], sweep.results["acc_finetune_by_rate"][0, ..., slow],
                       atol=0.01)
    assert np.all(sweep.results["dist_linear_probe"] == 0)
    # the practice's results are those at the rate with the best mean validation accuracy
    for name, rates in sweep.meta["chosen_rate"].items():
        for j, rate in enumerate(rates):
            b = sweep.meta["rates"].index(rate)
            val = sweep.results[f"val_{name}_by_rate"][0, j].mean(0)
            assert val[b] == val.max() and np.all(val[b + 1:] < val.max())   # ties: the larger rate
            assert np.array_equal(sweep.results[f"acc_{name}"][:, j], sweep.results[f"acc_{name}_by_rate"][:, j, :, b])
    explorer = finetuning_explorer(sweep, value={"stage_steps": 40, "n_target": 100})
    first = explorer.png
    explorer.update(stage_steps=0)
    assert explorer.png != first
    with pytest.raises(ValueError, match="needs the knob 'stage_steps'"):
        from mtl_lessons.sweep import Sweep
        finetuning_explorer(Sweep({"lam": (1.0,)}, (0,)))


@pytest.mark.parametrize("kwargs, match", [
    (dict(stages=(0, 60)), "after all 100 steps"),
    (dict(n_target=(5,)), "n_target=5"),
    (dict(seeds=(-1,)), "seeds"),
    (dict(factor=0.5), "factor=0.5"),
    (dict(record_every=0), "record_every=0"),
    (dict(stages=(0, 0)), "stages"),
    (dict(rates=(0.1, -1.0)), "rate"),
    (dict(join_scale=0.0), "join_scale=0.0"),
])
def test_sweep_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        finetuning_sweep(**kwargs)


@pytest.mark.parametrize("seeds", [range(20, 25), range(30, 35)])
def test_claims_hold_on_other_seeds(seeds):
    numbers = measured(finetuning_sweep(seeds=seeds, progress=False))
    failed = {name: round(numbers[name], 3) for name, ok in claims_hold(numbers).items() if not ok}
    assert not failed, f"claims that failed for seeds {list(seeds)}: {failed} (thresholds: {CLAIMS})"


def test_the_slider_is_registered():
    from mtl_lessons.experiments import SLIDERS
    assert SLIDERS["finetuning"] == (finetuning_sweep, finetuning_explorer)
