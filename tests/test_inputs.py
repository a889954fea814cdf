"""What a learner will actually pass, over the whole public API: one row per case.

A row is `row(id, call, error, fragment)`: `call` runs one public function; `error` is the exception
type it must raise (with `fragment` in its message), or None when the input is a natural form that
must be accepted. Add a row whenever a public function lands: the ids start with the module.
"""

from __future__ import annotations

import functools
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mtl_lessons import _checks  # noqa: E402
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # benchmarks are a tool
from bench import slider_figures, strategy_step_times, sweep_speedup  # noqa: E402
from mtl_lessons.data import load_penguin_tasks  # noqa: E402
from mtl_lessons.data import (add_pixel_noise, load_digits_split, load_transfer_digits,  # noqa: E402
                              make_competing_tasks, make_digit_overlay, make_sinusoid_tasks, take_labels)
from mtl_lessons.exercises import EXERCISES, TIME_LIMIT, check, feedback, predict, reveal  # noqa: E402
from mtl_lessons.experiments.multitask_objective import data_size_explorer, data_size_sweep, tuned_comparison  # noqa: E402
from mtl_lessons.experiments.finetuning import (claims_hold, finetuning_explorer,  # noqa: E402
                                                finetuning_sweep, measured, practice_schedules)
from mtl_lessons.experiments.conflicting_gradients import angle_explorer, below_front_line, front_noise  # noqa: E402
from mtl_lessons.exercises.negative_transfer import l2_sp_cost_outcome  # noqa: E402
from mtl_lessons.claims import check_claim  # noqa: E402
from mtl_lessons.competing import scaled_tasks, train_competing  # noqa: E402
from mtl_lessons.experiments.learned_weights import (gradnorm_alpha_sweep, learned_weights_explorer,  # noqa: E402
                                                     learned_weights_sweep, plot_gradnorm_alpha)
from mtl_lessons.experiments.negative_transfer import (negative_transfer_data,  # noqa: E402
                                                        negative_transfer_explorer, negative_transfer_gap,
                                                        negative_transfer_sweep, ntg_table, shuffle_labels)
from mtl_lessons.experiments.model_selection import (accuracy_vs_f1_case, cv_choice, delta_m_table,  # noqa: E402
                                                     penguin_cv_explorer, penguin_cv_sweep, sparse_vs_tuned)
from mtl_lessons.data import penguin_cv_sets, standardise  # noqa: E402
from mtl_lessons.metrics import geometric_mean_ratio, macro_f1_many, share_below  # noqa: E402
from mtl_lessons.experiments.sharing_depth import (digit_overlay_sweep, sharing_depth_explorer,  # noqa: E402
                                                   sharing_depth_sweep)
from mtl_lessons.affinity import affinity_groups, lookahead_affinity, random_partition  # noqa: E402
from mtl_lessons.data import make_cluster_tasks  # noqa: E402
from mtl_lessons.experiments.mtl_vs_transfer import (backward_cost, grouping_explorer, grouping_sweep,  # noqa: E402
                                                   transfer_vs_multitask)
from mtl_lessons.experiments.task_weighting import (lam_weights, scalarisation_toy,  # noqa: E402
                                                    task_weighting_explorer, task_weighting_sweep)
from mtl_lessons.experiments.transfer_objective import transfer_lambda_explorer, transfer_lambda_sweep  # noqa: E402
from mtl_lessons.experiments.transferability import (recovered_fraction, transferability_explorer,  # noqa: E402
                                                     transferability_sweep)
from mtl_lessons.metrics import choose_on_validation, delta_m, pareto_mask, per_task_accuracy, per_task_mse  # noqa: E402
from mtl_lessons.models import (MultiTaskNet, TaskLinear, copy_layers, count_parameters,  # noqa: E402
                                freeze_layers, sharing_parameter_count)
from mtl_lessons.objectives import (joint_transfer_objective, l2_sp_penalty, multitask_objective,  # noqa: E402
                                    soft_sharing_penalty, task_losses)
from mtl_lessons.schedules import (Rates, discriminative_scales, gradual_unfreezing, layer_schedule,  # noqa: E402
                                   slanted_triangular)
from mtl_lessons.plots import plot_fits_at, plot_front, plot_history, plot_seed_band, plot_task_fits, presenter_style  # noqa: E402
from mtl_lessons.sweep import Sweep
from mtl_lessons.stack import ModelStack, transfer_stack
from mtl_lessons.train import fit, fit_many, pad_tasks
from mtl_lessons.transfer import joint_accuracies, joint_weights  # noqa: E402
from mtl_lessons.weighting import MGDA, UncertaintyWeighting
from mtl_lessons.widgets import SweepExplorer, grid_value  # noqa: E402

# ---------------------------------------------------------------- small, cheap inputs


def net(k=1, n_tasks=3):
    return MultiTaskNet(1, 4, 2, n_tasks, sharing_depth=k)


def cnet():
    return MultiTaskNet(4, 4, 1, 1, 3, sharing_depth=1)  # 3 classes


def stack(n=2):
    return ModelStack.from_factory(net, list(range(n)))


def frozen_net():
    return freeze_layers(MultiTaskNet(1, 4, 2, 1, sharing_depth=2), 2)


TD10 = load_transfer_digits(10, n_source=10, seed=0)
G = torch.Generator().manual_seed(0)
X, Y = torch.randn(3, 5, 1, generator=G), torch.randn(3, 5, 1, generator=G)  # fit: 3 tasks, 5 points
X4, Y4 = X.expand(2, -1, -1, -1).clone(), Y.expand(2, -1, -1, -1).clone()  # fit_many: 2 models
XC, YC = torch.rand(1, 6, 4, generator=G), torch.tensor([[0, 1, 2, 0, 1, 2]])  # 3 classes
FIT = dict(optimizer="sgd", lr=0.1, steps=2, progress=False)
NAN = torch.tensor(float("nan"))
LOGITS, LABELS = torch.randn(2, 4, 3, generator=G), torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])
PIX = torch.rand(4, 64, generator=G)
PARAMS = [torch.randn(3, 2, 4, generator=G), torch.randn(3, 1, 4, generator=G)]  # (tasks, ...) each


def sweep(**kw):
    return Sweep({"lam": (0.1, 1.0, 10.0)}, (0, 1), {"err": np.zeros((3, 2))}, **kw)


def explorer(**kw):
    return SweepExplorer(sweep(), lambda axes, point: axes[0].plot([0, 1]), prerender=False, ncols=1,
                         figsize=(2, 2), **kw)


# one small run of every experiment, shared by the explorer rows (a few seconds in all)
@functools.cache
def small(name):
    quick = dict(seeds=[0], steps=2, progress=False)
    if name == "multitask_objective":  # two tasks, a grid without today's default (8)
        return data_size_sweep((4, 6), n_tasks=2, n_grid=10, **quick)
    if name == "sharing_depth":  # no relatedness 1.0, no 8 points
        return sharing_depth_sweep((0.5,), (4,), n_tasks=2, n_layers=1, n_grid=10, **quick)
    if name == "task_weighting":  # no lam = 1
        return task_weighting_sweep((0.5, 2.0), n_grid=10, **quick)
    if name == "transfer_objective":
        return transfer_lambda_sweep((0.5,), (10,), hidden=4, n_layers=1, **{**quick, "steps": 1})
    if name == "mtl_vs_transfer":  # one seed, two steps
        return grouping_sweep(**quick)
    if name == "negative_transfer":  # no lam = 1, no 30 labels, one source
        return negative_transfer_sweep((0.5,), (10,), sources=("mild",), hidden=4, n_layers=1, **{**quick, "steps": 1})
    if name == "model_selection":  # the baseline's point only, two folds
        return penguin_cv_sweep((1.0,), (0,), (0.1,), n_folds=2, hidden=2, **quick)
    if name == "transferability":  # no depth 2
        return transferability_sweep(hidden=4, n_layers=1, **{**quick, "steps": 1})
    if name == "finetuning":  # no stage 20, no 30 labels
        return finetuning_sweep((0, 2), (10,), hidden=4, n_source=20, **{**quick, "steps": 10, "record_every": 5})
    raise KeyError(name)


def drawn(make):
    """Run an explorer-building call and close its figure."""
    def call():
        result = make()
        plt.close("all")
        return result
    return call


def fb(key, answer, status, fragment=""):
    """A row for the exercise checker: feedback(key, answer) must give `status` and a message with `fragment`."""
    def call():
        got, message = feedback(key, answer)
        assert got == status and fragment in message, (got, message)
    return call


def solution(key):
    return EXERCISES[key].solution


def as_float64(key):
    """The reference solution, with every tensor it returns turned into float64."""
    def answer(*args):
        out = solution(key)(*args)
        return out.double() if isinstance(out, torch.Tensor) and out.is_floating_point() else out
    return answer


def as_numpy(key):
    def answer(*args):
        out = solution(key)(*args)
        return out.detach().numpy().astype(np.float64) if isinstance(out, torch.Tensor) else np.asarray(out)
    return answer


def no_return(*args):
    solution("weighted-objective")(*args)


def raises_inside(per_example_losses, weights):
    return per_example_losses[10]


def never_returns(per_example_losses, weights):
    while True:
        pass


def swallows_interrupts(per_example_losses, weights):
    while True:
        try:
            time.sleep(0.1)
        except Exception:
            pass


def wrong_shape(per_example_losses, weights):
    return torch.stack([l.mean() for l in per_example_losses]) * weights


def row(id, call, error=None, fragment=""):
    return pytest.param(call, error, fragment, id=id)


# ---------------------------------------------------------------- the table: one row per case

@dataclass(frozen=True)
class Claims:
    """A toy CLAIMS for the check_claim rows (no chapter's: nothing these rows log can pass for a chapter's)."""

    tolerance: float = 1e-5
    beyond_front_max: float = 0.1


CG_CLAIMS = Claims()


@pytest.fixture(autouse=True)
def _no_claims_log(monkeypatch):
    """check_claim's behaviour must not depend on the environment: no log file, no soft failures."""
    monkeypatch.delenv("MTL_CLAIMS_LOG", raising=False)
    monkeypatch.delenv("MTL_CLAIMS_SOFT", raising=False)

CASES = [
    # _checks: the shared rules
    row("checks: int accepts np.int64", lambda: _checks.check_int("n", np.int64(3))),
    row("checks: int accepts 0-d int tensor", lambda: _checks.check_int("n", torch.tensor(3))),
    row("checks: int refuses float", lambda: _checks.check_int("n", 3.5), TypeError, "n=3.5 must be an int"),
    row("checks: int refuses bool", lambda: _checks.check_int("n", True), TypeError, "n=True must be an int"),
    row("checks: int refuses np.bool_", lambda: _checks.check_int("n", np.bool_(True)), TypeError, "must be an int"),
    row("checks: int refuses str", lambda: _checks.check_int("n", "3"), TypeError, "n='3' must be an int"),
    row("checks: int refuses None", lambda: _checks.check_int("n", None), TypeError, "n=None must be an int"),
    row("checks: float accepts np.float32", lambda: _checks.check_float("x", np.float32(0.1))),
    row("checks: float accepts 0-d tensor", lambda: _checks.check_float("x", torch.tensor(0.1))),
    row("checks: float refuses nan", lambda: _checks.check_float("x", float("nan")), ValueError, "must be finite"),
    row("checks: float refuses 0-d nan tensor", lambda: _checks.check_float("x", NAN), ValueError, "must be finite"),
    row("checks: float refuses 1-d tensor", lambda: _checks.check_float("x", torch.ones(2)), TypeError, "real number"),
    row("checks: sequence refuses int", lambda: _checks.check_ints("seeds", 5), TypeError, "seeds=5 must be a sequence"),
    row("checks: sequence refuses str", lambda: _checks.check_ints("seeds", "012"), TypeError, "must be a sequence"),
    row("checks: sequence refuses set", lambda: _checks.check_ints("seeds", {0, 1}), TypeError, "must be a sequence"),
    row("checks: sequence refuses empty", lambda: _checks.check_ints("seeds", []), ValueError, "at least 1"),
    row("checks: sequence refuses 2-d array", lambda: _checks.check_ints("seeds", np.zeros((2, 2), int)), ValueError, "1-d"),
    row("checks: sequence accepts np.arange", lambda: _checks.check_ints("seeds", np.arange(3))),
    row("checks: sequence accepts range", lambda: _checks.check_ints("seeds", range(3))),
    row("checks: tensor refuses a list of tensors", lambda: _checks.check_tensor("x", [X, X]), TypeError, "torch.stack"),
    row("checks: tensor refuses ragged list", lambda: _checks.check_tensor("x", [[1, 2], [3]]), ValueError, "same length"),
    row("checks: tensor refuses a str", lambda: _checks.check_tensor("x", "abc"), TypeError, "x must be a torch.Tensor"),
    row("checks: tensor converts numpy", lambda: _checks.check_tensor("x", np.ones(3))),
    row("checks: labels refuse floats", lambda: _checks.check_labels("y", torch.ones(3)), TypeError, "integer class labels"),
    row("checks: labels refuse negatives", lambda: _checks.check_labels("y", torch.tensor([-1, 0])), ValueError, "label -1"),
    row("checks: factory refuses class", lambda: _checks.check_factory("factory", MultiTaskNet), TypeError, "is a class"),
    row("checks: figsize refuses 1e5 inches", lambda: _checks.check_figsize((1e5, 3), 80), ValueError, "figsize"),
    row("checks: figsize refuses huge pixel count", lambda: _checks.check_figsize((50, 50), 1000), ValueError, "pixel count"),
    row("checks: choice refuses unhashable", lambda: _checks.check_choice("loss", ["mse"], ("mse", "ce")), ValueError, "not allowed"),

    # data
    row("data: sinusoids accept np.int64 seed", lambda: make_sinusoid_tasks(seed=np.int64(3))),
    row("data: sinusoids accept np.float32 noise", lambda: make_sinusoid_tasks(noise=np.float32(0.1))),
    row("data: sinusoids accept 0-d tensor sizes", lambda: make_sinusoid_tasks(torch.tensor(2), torch.tensor(4))),
    row("data: sinusoids refuse str seed", lambda: make_sinusoid_tasks(seed="3"), TypeError, "seed='3' must be an int"),
    row("data: sinusoids refuse None noise", lambda: make_sinusoid_tasks(noise=None), TypeError, "noise=None"),
    row("data: sinusoids refuse bool n_tasks", lambda: make_sinusoid_tasks(True), TypeError, "n_tasks=True"),
    row("data: sinusoids refuse float n_train", lambda: make_sinusoid_tasks(n_train=8.5), TypeError, "n_train=8.5"),
    row("data: sinusoids refuse relatedness 2", lambda: make_sinusoid_tasks(relatedness=2), ValueError, "relatedness=2.0"),
    row("data: sinusoids refuse inf noise", lambda: make_sinusoid_tasks(noise=math.inf), ValueError, "finite"),
    row("data: sinusoids refuse n_train=10**9", lambda: make_sinusoid_tasks(n_train=10**9), ValueError, "more than this course allows"),
    row("data: sinusoids refuse n_tasks=0", lambda: make_sinusoid_tasks(0), ValueError, "n_tasks=0 is out of range"),
    row("data: true_function accepts numpy", lambda: make_sinusoid_tasks(2).true_function(np.linspace(-1, 1, 5))),
    row("data: true_function refuses nan", lambda: make_sinusoid_tasks(2).true_function(NAN.expand(3)), ValueError, "non-finite"),
    row("data: true_function refuses empty", lambda: make_sinusoid_tasks(2).true_function(torch.zeros(0)), ValueError, "empty"),
    row("data: digits accept a list of np ints", lambda: load_digits_split([np.int64(3), np.int64(5)])),
    row("data: digits accept a range", lambda: load_digits_split(range(4))),
    row("data: digits refuse an int", lambda: load_digits_split(3), TypeError, "classes=3 must be a sequence"),
    row("data: digits refuse digit 12", lambda: load_digits_split((1, 12)), ValueError, "allowed: 0..9"),
    row("data: digits refuse one class", lambda: load_digits_split((1,)), ValueError, "at least two"),
    row("data: digits refuse str test_size", lambda: load_digits_split(test_size="0.3"), TypeError, "test_size='0.3'"),
    row("data: digits refuse test_size 1", lambda: load_digits_split(test_size=1.0), ValueError, "test_size=1.0"),
    row("data: take_labels accepts numpy", lambda: take_labels(np.random.rand(20, 3), np.arange(20) % 2, 4)),
    row("data: take_labels refuses float labels", lambda: take_labels(PIX, torch.ones(4), 2), TypeError, "integer class labels"),
    row("data: take_labels refuses mismatched rows", lambda: take_labels(PIX, torch.tensor([0, 1]), 2), ValueError, "must match"),
    row("data: take_labels refuses too many", lambda: take_labels(PIX, torch.tensor([0, 1, 0, 1]), 9), ValueError, "n_labels=9"),
    row("data: overlay accepts np.int64 shift", lambda: make_digit_overlay(10, 10, n_val=10, shift=np.int64(2))),
    row("data: overlay refuses shift 9", lambda: make_digit_overlay(10, 10, shift=9), ValueError, "shift=9"),
    row("data: overlay refuses n_train=10**9", lambda: make_digit_overlay(10**9), ValueError, "more than this course allows"),
    row("data: pixel noise accepts float64", lambda: add_pixel_noise(PIX.double(), 0.1)),
    row("data: pixel noise accepts numpy", lambda: add_pixel_noise(PIX.numpy(), 0.1)),
    row("data: pixel noise refuses 0..16 pixels", lambda: add_pixel_noise(PIX * 16, 0.1), ValueError, "[0, 1]"),
    row("data: pixel noise refuses nan pixels", lambda: add_pixel_noise(PIX * NAN, 0.1), ValueError, "non-finite"),
    row("data: pixel noise refuses int pixels", lambda: add_pixel_noise(torch.ones(2, 3, dtype=torch.long), 0.1), TypeError, "floating"),
    row("data: transfer digits accept np seed", lambda: load_transfer_digits(10, n_source=20, seed=np.int64(1))),
    row("data: transfer digits refuse n_target 5", lambda: load_transfer_digits(5), ValueError, "n_target=5"),
    row("data: transfer digits refuse str noise", lambda: load_transfer_digits(noise="high"), TypeError, "noise='high'"),
    row("data: competing accept np sizes", lambda: make_competing_tasks(np.int32(8), np.int64(20))),
    row("data: competing refuse n_train=10**9", lambda: make_competing_tasks(10**9), ValueError, "more than this course allows"),
    row("data: competing refuse negative noise", lambda: make_competing_tasks(noise=-0.1), ValueError, "noise=-0.1"),
    row("data: penguins accept np seed and np.float64 sizes", lambda: load_penguin_tasks(test_size=np.float64(0.2), seed=np.int64(3))),
    row("data: penguins refuse test_size 0.9", lambda: load_penguin_tasks(test_size=0.9), ValueError, "test_size=0.9"),
    row("data: penguins refuse sizes leaving nothing", lambda: load_penguin_tasks(test_size=0.45, val_size=0.45), ValueError, "too little to train on"),
    row("data: penguins refuse str seed", lambda: load_penguin_tasks(seed="1"), TypeError, "seed='1'"),
    row("data: penguin_cv_sets refuses 1 fold", lambda: penguin_cv_sets(0, 1), ValueError, "n_folds=1"),
    row("data: penguin_cv_sets refuses a negative seed", lambda: penguin_cv_sets(-1, 3), ValueError, "seed=-1"),

    # models
    row("models: net accepts np ints", lambda: MultiTaskNet(np.int64(1), np.int32(4), 2, 3, sharing_depth=np.int64(1))),
    row("models: net refuses sharing_depth 5", lambda: net(k=5), ValueError, "sharing_depth=5 is out of range (allowed: 0..2)"),
    row("models: net refuses float hidden", lambda: MultiTaskNet(1, 4.0, 2, 3, sharing_depth=1), TypeError, "hidden=4.0"),
    row("models: net refuses str activation", lambda: MultiTaskNet(1, 4, 2, 3, sharing_depth=1, activation="gelu"), ValueError, "activation='gelu'"),
    row("models: net refuses n_layers=10**6", lambda: MultiTaskNet(1, 4, 10**6, 3, sharing_depth=0), ValueError, "n_layers=1000000 is out of range"),
    row("models: net refuses 10**9 parameters", lambda: MultiTaskNet(1, 10**5, 2, 3, sharing_depth=0), ValueError, "parameter count"),
    row("models: net refuses None n_tasks", lambda: MultiTaskNet(1, 4, 2, None, sharing_depth=0), TypeError, "n_tasks=None"),
    row("models: forward converts float64", lambda: net()(X.double())),
    row("models: forward converts numpy float64", lambda: net()(X.numpy().astype(np.float64))),
    row("models: forward accepts (batch, in)", lambda: net()(torch.randn(5, 1))),
    row("models: forward refuses wrong task count", lambda: net()(torch.randn(2, 5, 1)), ValueError, "must be (batch, 1) or (3, batch, 1)"),
    row("models: forward refuses wrong in_features", lambda: net()(torch.randn(3, 5, 2)), ValueError, "(3, batch, 1)"),
    row("models: forward refuses a str", lambda: net()("x"), TypeError, "x must be a torch.Tensor"),
    row("models: task linear refuses 0 tasks", lambda: TaskLinear(0, 2, 2), ValueError, "n_tasks=0"),
    row("models: count refuses a class", lambda: count_parameters(MultiTaskNet), TypeError, "model must be a torch.nn.Module"),
    row("models: copy accepts np n_layers", lambda: copy_layers(net(), net(), np.int64(1))),
    row("models: copy refuses widths that differ", lambda: copy_layers(net(), MultiTaskNet(1, 8, 2, 3, sharing_depth=1), 1), ValueError, "same widths"),
    row("models: copy refuses different sharing", lambda: copy_layers(net(k=0), net(k=2), 1), ValueError, "same sharing_depth"),
    row("models: copy refuses a state dict", lambda: copy_layers(net().state_dict(), net(), 1), TypeError, "source must be a MultiTaskNet"),
    row("models: copy refuses too many layers", lambda: copy_layers(net(), net(), 3), ValueError, "n_copied=3 is out of range"),
    row("models: freeze refuses float", lambda: freeze_layers(net(), 1.0), TypeError, "frozen_depth=1.0"),
    row("models: freeze refuses nn.Linear", lambda: freeze_layers(torch.nn.Linear(1, 1), 1), TypeError, "MultiTaskNet"),
    row("models: count formula accepts np ints", lambda: sharing_parameter_count(*np.array([1, 4, 2, 3]), sharing_depth=np.int64(1))),
    row("models: count formula, n_layers=10**9, no list", lambda: sharing_parameter_count(1, 4, 10**9, 3, sharing_depth=0)),
    row("models: count formula refuses depth > layers", lambda: sharing_parameter_count(1, 4, 2, 3, sharing_depth=3), ValueError, "sharing_depth=3"),

    # objectives
    row("objectives: task_losses converts float64 y", lambda: task_losses(Y, Y.double())),
    row("objectives: task_losses accepts numpy", lambda: task_losses(Y.numpy(), Y.numpy())),
    row("objectives: task_losses refuses shape mismatch", lambda: task_losses(Y, Y[:2]), ValueError, "must match pred's"),
    row("objectives: task_losses refuses empty", lambda: task_losses(Y[:, :0], Y[:, :0]), ValueError, "empty"),
    row("objectives: task_losses refuses nan", lambda: task_losses(Y * NAN, Y), ValueError, "non-finite"),
    row("objectives: task_losses refuses label 3 of 3", lambda: task_losses(LOGITS, LABELS + 1, loss="ce"), ValueError, "label 3 but there are 3 classes"),
    row("objectives: task_losses refuses float labels", lambda: task_losses(LOGITS, LABELS.float(), loss="ce"), TypeError, "integer class labels"),
    row("objectives: task_losses accepts int32 labels", lambda: task_losses(LOGITS, LABELS.int(), loss="ce")),
    row("objectives: task_losses refuses loss 'MSE'", lambda: task_losses(Y, Y, loss="MSE"), ValueError, "loss='MSE' is not allowed"),
    row("objectives: task_losses accepts bool mask", lambda: task_losses(Y, Y, sample_weights=torch.ones(3, 5, dtype=torch.bool))),
    row("objectives: objective accepts list weights", lambda: multitask_objective(torch.ones(3), [1, 2, 3])),
    row("objectives: objective accepts numpy weights", lambda: multitask_objective(torch.ones(3), np.array([1.0, 2, 3]))),
    row("objectives: objective refuses 2 weights for 3 tasks", lambda: multitask_objective(torch.ones(3), [1, 2]), ValueError, "one weight per task"),
    row("objectives: objective refuses ragged weights", lambda: multitask_objective(torch.ones(3), [[1, 2], [3]]), ValueError, "cannot be read"),
    row("objectives: objective refuses str weights", lambda: multitask_objective(torch.ones(3), "equal"), TypeError, "weights must be"),
    row("objectives: objective refuses negative", lambda: multitask_objective(torch.ones(3), [1, -1, 1]), ValueError, "negative weight"),
    row("objectives: objective refuses 0 tasks", lambda: multitask_objective(torch.ones(0)), ValueError, "at least one task"),
    row("objectives: joint accepts np lam", lambda: joint_transfer_objective(torch.tensor(1.0), torch.tensor(2.0), np.float32(0.5))),
    row("objectives: joint refuses negative lam", lambda: joint_transfer_objective(torch.tensor(1.0), torch.tensor(2.0), -1), ValueError, "lam=-1.0"),
    row("objectives: joint refuses mismatched losses", lambda: joint_transfer_objective(torch.ones(3), torch.ones(2), 1.0), ValueError, "must match"),
    row("objectives: joint refuses nan loss", lambda: joint_transfer_objective(NAN, torch.tensor(1.0), 1.0), ValueError, "non-finite"),
    row("objectives: soft sharing refuses one tensor", lambda: soft_sharing_penalty(PARAMS[0]), TypeError, "one tensor"),
    row("objectives: soft sharing refuses a model", lambda: soft_sharing_penalty(net(0)), TypeError, "model.layers.parameters()"),
    row("objectives: soft sharing refuses task_dim 3", lambda: soft_sharing_penalty(PARAMS, task_dim=3), ValueError, "task_dim=3"),
    row("objectives: soft sharing refuses float task_dim", lambda: soft_sharing_penalty(PARAMS, task_dim=0.5), TypeError, "task_dim=0.5"),
    row("objectives: soft sharing refuses task counts that differ", lambda: soft_sharing_penalty([PARAMS[0], PARAMS[1][:2]]), ValueError, "must agree"),
    row("objectives: soft sharing refuses empty", lambda: soft_sharing_penalty([]), ValueError, "empty"),
    row("objectives: soft sharing accepts a generator", lambda: soft_sharing_penalty(net(0).layers.parameters())),
    row("objectives: l2-sp refuses a model as source", lambda: l2_sp_penalty(net(), net(), alpha=1, beta=1), TypeError, "source.state_dict()"),
    row("objectives: l2-sp refuses a wrong head prefix", lambda: l2_sp_penalty(net(), net().state_dict(), alpha=1, beta=1, head_prefix="head."), ValueError, "matches no parameter"),
    row("objectives: l2-sp refuses str alpha", lambda: l2_sp_penalty(net(), net().state_dict(), alpha="1", beta=1), TypeError, "alpha='1'"),
    row("objectives: l2-sp refuses another architecture", lambda: l2_sp_penalty(net(), MultiTaskNet(1, 8, 2, 3, sharing_depth=1).state_dict(), alpha=1, beta=1), ValueError, "has shape"),
    row("objectives: l2-sp accepts np alpha", lambda: l2_sp_penalty(net(), net().state_dict(), alpha=np.float64(0.1), beta=np.float32(0.1))),

    # metrics
    row("metrics: mse converts float64", lambda: per_task_mse(Y.double(), Y)),
    row("metrics: mse accepts numpy", lambda: per_task_mse(Y.numpy(), Y.numpy())),
    row("metrics: mse refuses 2-d", lambda: per_task_mse(Y[0], Y[0]), ValueError, "(..., n_tasks, n, out)"),
    row("metrics: mse refuses empty", lambda: per_task_mse(Y[:, :0], Y[:, :0]), ValueError, "empty"),
    row("metrics: mse refuses inf", lambda: per_task_mse(Y / 0, Y), ValueError, "non-finite"),
    row("metrics: mse refuses int targets", lambda: per_task_mse(Y, Y.long()), TypeError, "floating"),
    row("metrics: accuracy refuses label 3 of 3", lambda: per_task_accuracy(LOGITS[None], LABELS[None] + 1), ValueError, "label 3 but there are 3 classes"),
    row("metrics: accuracy refuses negative label", lambda: per_task_accuracy(LOGITS[None], LABELS[None] - 1), ValueError, "label -1"),
    row("metrics: accuracy refuses 2-d logits", lambda: per_task_accuracy(LOGITS[0], LABELS[0]), ValueError, "(..., n_tasks, n, classes)"),
    row("metrics: accuracy accepts float64 + numpy labels", lambda: per_task_accuracy(LOGITS[None].double(), LABELS[None].numpy())),
    row("metrics: accuracy refuses empty", lambda: per_task_accuracy(LOGITS[None, :, :0], LABELS[None, :, :0]), ValueError, "empty"),
    row("metrics: delta_m accepts a tuple", lambda: delta_m(torch.ones(2), torch.ones(2), (True, False))),
    row("metrics: delta_m refuses a bool for a list", lambda: delta_m(torch.ones(2), torch.ones(2), True), TypeError, "lower_is_better=True must be a sequence"),
    row("metrics: delta_m refuses str entries", lambda: delta_m(torch.ones(2), torch.ones(2), ["low", "high"]), TypeError, "True/False"),
    row("metrics: delta_m refuses wrong length", lambda: delta_m(torch.ones(2), torch.ones(2), [True]), ValueError, "1 entries but there are 2"),
    row("metrics: delta_m refuses zero baseline", lambda: delta_m(torch.ones(2), torch.zeros(2), [True, True]), ValueError, "zero"),
    row("metrics: pareto accepts a list", lambda: pareto_mask([[0, 1], [1, 0]])),
    row("metrics: pareto refuses 1-d", lambda: pareto_mask([0, 1]), ValueError, "2 dimensions"),
    row("metrics: pareto refuses nan", lambda: pareto_mask([[0, float("nan")]]), ValueError, "non-finite"),
    row("metrics: pareto refuses empty", lambda: pareto_mask(np.zeros((0, 2))), ValueError, "empty"),

    # train
    row("train: fit converts float64 x and y", lambda: fit(net(), (X.double(), Y.double()), **FIT)),
    row("train: fit converts numpy x and y", lambda: fit(net(), (X.numpy(), Y.numpy()), **FIT)),
    row("train: fit accepts np.int64 steps", lambda: fit(net(), (X, Y), **{**FIT, "steps": np.int64(2)})),
    row("train: fit accepts np.float32 lr", lambda: fit(net(), (X, Y), **{**FIT, "lr": np.float32(0.1)})),
    row("train: fit accepts numpy weights", lambda: fit(net(), (X, Y), weights=np.array([1.0, 2, 3]), **FIT)),
    row("train: fit refuses a class", lambda: fit(MultiTaskNet, (X, Y), **FIT), TypeError, "got MultiTaskNet"),
    row("train: fit refuses steps=10**12", lambda: fit(net(), (X, Y), **{**FIT, "steps": 10**12}), ValueError, "steps=1000000000000 is out of range"),
    row("train: fit refuses str lr", lambda: fit(net(), (X, Y), **{**FIT, "lr": "0.1"}), TypeError, "lr='0.1'"),
    row("train: fit refuses nan x", lambda: fit(net(), (X * NAN, Y), **FIT), ValueError, "x contains non-finite"),
    row("train: fit refuses empty task", lambda: fit(net(), (X[:, :0], Y[:, :0]), **FIT), ValueError, "empty"),
    row("train: fit refuses 2-d x", lambda: fit(net(), (X[0], Y[0]), **FIT), ValueError, "x[None]"),
    row("train: fit refuses y of other tasks", lambda: fit(net(), (X, Y[:2]), **FIT), ValueError, "must agree"),
    row("train: fit refuses every parameter frozen", lambda: fit(frozen_net().requires_grad_(False), (X[:1], Y[:1]), **FIT), ValueError, "is frozen"),
    row("train: fit refuses all-zero weights", lambda: fit(net(), (X, Y), weights=[0, 0, 0], **FIT), ValueError, "all zero"),
    row("train: fit refuses weights of 2 tasks", lambda: fit(net(), (X, Y), weights=[1, 1], **FIT), ValueError, "one weight per task"),
    row("train: fit refuses label out of range", lambda: fit(cnet(), (XC, YC + 1), loss="ce", **FIT), ValueError, "label 3 but there are 3 classes"),
    row("train: fit refuses float labels", lambda: fit(cnet(), (XC, YC.float()), loss="ce", **FIT), TypeError, "integer class labels"),
    row("train: fit accepts numpy int labels", lambda: fit(cnet(), (XC.numpy(), YC.numpy()), loss="ce", **FIT)),
    row("train: fit refuses progress=3", lambda: fit(net(), (X, Y), **{**FIT, "progress": 3}), TypeError, "progress=3 must be True or False, a description (str) or a progress bar"),
    row("train: fit refuses progress=None", lambda: fit(net(), (X, Y), **{**FIT, "progress": None}), TypeError, "progress=None must be True or False"),
    row("train: fit refuses progress='no' (a yes or no, not a description)", lambda: fit(net(), (X, Y), **{**FIT, "progress": "no"}), ValueError, "progress='no' looks like a yes or no: give True or False"),
    row("train: fit refuses a rate for a frozen parameter, as fit_many does", lambda: fit(freeze_layers(net(), 1), (X, Y), **{**FIT, "lr": Rates(0.1, scale={"layers.0.weight": 0.5})}), ValueError, "names 'layers.0.weight', which is not a trainable parameter"),
    row("train: fit accepts a description for progress", lambda: fit(net(), (X, Y), **{**FIT, "progress": "fitting"})),
    row("train: fit refuses a list for data", lambda: fit(net(), [X, Y], **FIT), TypeError, "data must be a tuple (x, y) or (x, y, sample_weights), got list"),
    row("train: fit refuses x alone for data", lambda: fit(net(), X, **FIT), TypeError, "data must be a tuple (x, y) or (x, y, sample_weights), got Tensor"),
    row("train: fit refuses data of 4 entries", lambda: fit(net(), (X, Y, None, None), **FIT), ValueError, "data has 4 entries but must be (x, y) or (x, y, sample_weights)"),
    row("train: fit_many refuses data of 1 entry", lambda: fit_many(stack(), (X4,), **FIT), ValueError, "data has 1 entries but must be (x, y) or (x, y, sample_weights)"),
    row("train: fit refuses a str for weights", lambda: fit(net(), (X, Y), weights="equal", **FIT), TypeError, "weights must be None, one weight per task (a list, array or tensor) or a weighting Strategy"),
    row("train: fit refuses a strategy class for weights", lambda: fit(net(), (X, Y), weights=UncertaintyWeighting, **FIT), TypeError, "weights=UncertaintyWeighting is a class; give a strategy, e.g. weights=UncertaintyWeighting()"),
    row("train: fit refuses a Rates with a bad scale key", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, scale={"nope": 0.1})}), ValueError, "lr.scale names 'nope', which is not a trainable parameter of the model (allowed: "),
    row("train: fit refuses a Rates with a str lr", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates("0.1")}), TypeError, "lr.lr='0.1' must be a real number"),
    row("train: fit refuses a Rates scale with Adam", lambda: fit(net(), (X, Y), **{**FIT, "optimizer": "adam", "lr": Rates(0.1, scale={"heads.weight": 0.5})}), ValueError, "lr.scale needs optimizer='sgd'"),
    row("train: fit_many refuses a Rates scale of 3 models", lambda: fit_many(stack(), (X4, Y4), **{**FIT, "lr": Rates(0.1, scale={"heads.weight": torch.ones(3)})}), ValueError, "lr.scale['heads.weight'] has shape (3,)"),
    row("train: fit refuses sample_weights with an empty task", lambda: fit(net(), (X, Y, torch.zeros(3, 5)), **FIT), ValueError, "at least one example"),
    row("train: stack accepts np.arange seeds", lambda: ModelStack.from_factory(net, np.arange(3))),
    row("train: stack accepts a tuple of seeds", lambda: ModelStack.from_factory(net, (0, 1))),
    row("train: stack refuses a class as factory", lambda: ModelStack.from_factory(MultiTaskNet, [0]), TypeError, "is a class"),
    row("train: stack refuses a model as factory", lambda: ModelStack.from_factory(net(), [0]), TypeError, "is a model"),
    row("train: stack refuses an int for seeds", lambda: ModelStack.from_factory(net, 5), TypeError, "seeds=5 must be a sequence"),
    row("train: stack refuses empty seeds", lambda: ModelStack.from_factory(net, []), ValueError, "seeds=() has 0 values"),
    row("train: stack refuses negative seed", lambda: ModelStack.from_factory(net, [-1]), ValueError, "seeds=-1 is out of range (allowed: 0..inf) (seeds[0])"),
    row("train: stack refuses a factory with no return", lambda: ModelStack.from_factory(lambda: None, [0]), TypeError, "forget `return`"),
    row("train: stack refuses 10**6 seeds", lambda: ModelStack.from_factory(net, range(10**6)), ValueError, "more than this course allows"),
    row("train: stack refuses one model", lambda: ModelStack(net()), TypeError, "[model]"),
    row("train: stack refuses mixed architectures", lambda: ModelStack([net(0), net(2)]), ValueError, "same architecture"),
    row("train: stack call converts float64", lambda: stack()(X4.double())),
    row("train: stack call refuses wrong model count", lambda: stack()(X4[:1]), ValueError, "number of models, 2"),
    row("train: stack model refuses index 2", lambda: stack().model(2), ValueError, "index=2 is out of range"),
    row("train: stack model accepts np index", lambda: stack().model(np.int64(1))),
    row("train: fit_many converts float64", lambda: fit_many(stack(), (X4.double(), Y4.double()), **FIT)),
    row("train: fit_many accepts (M, T) numpy weights", lambda: fit_many(stack(), (X4, Y4), weights=np.ones((2, 3)), **FIT)),
    row("train: fit_many refuses a model for a stack", lambda: fit_many(net(), (X4, Y4), **FIT), TypeError, "ModelStack.from_factory"),
    row("train: fit_many refuses 3-d x", lambda: fit_many(stack(), (X, Y), **FIT), ValueError, "(n_models, n_tasks, n, in)"),
    row("train: fit_many refuses weights for 3 models", lambda: fit_many(stack(), (X4, Y4), weights=np.ones((3, 3)), **FIT), ValueError, "weights has shape (3, 3)"),
    row("train: fit one loss per task accepts a list and numpy y", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], np.stack([np.zeros(5), np.ones(5)])), loss=["ce", "mse"], **FIT)),
    row("train: fit one loss per task refuses a wrong count", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.zeros(2, 5)), loss=("ce",), **FIT), ValueError, "loss has 1 entries"),
    row("train: fit one loss per task refuses a bad name", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.zeros(2, 5)), loss=("ce", "l1"), **FIT), ValueError, "loss[1]='l1'"),
    row("train: fit one loss per task refuses a fractional label", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.full((2, 5), 0.5)), loss=("ce", "mse"), **FIT), ValueError, "not an integer in 0..2"),
    row("train: fit one loss per task refuses label 3 of 3 classes", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.full((2, 5), 3.0)), loss=("ce", "mse"), **FIT), ValueError, "not an integer in 0..2"),
    row("train: fit one loss per task refuses (T, n, 1) targets", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.zeros(2, 5, 1)), loss=("ce", "mse"), **FIT), ValueError, "must be (2, 5)"),
    row("train: fit one loss per task refuses NaN", lambda: fit(MultiTaskNet(1, 4, 1, 2, 3, sharing_depth=1), (X[:2], torch.stack([torch.zeros(5), torch.full((5,), float("nan"))])), loss=("ce", "mse"), **FIT), ValueError, "non-finite"),
    row("train: fit_many refuses frozen stack", lambda: fit_many(ModelStack.from_factory(lambda: frozen_net().requires_grad_(False), [0]), (X4[:1, :1], Y4[:1, :1]), **FIT), ValueError, "is frozen"),
    row("train: fit_many refuses steps=10**12", lambda: fit_many(stack(), (X4, Y4), **{**FIT, "steps": 10**12}), ValueError, "steps="),
    row("train: pad_tasks accepts numpy tasks", lambda: pad_tasks([[np.ones((2, 1)), np.ones((3, 1))]], [[np.ones((2, 1)), np.ones((3, 1))]])),
    row("train: pad_tasks refuses a tensor for a task list", lambda: pad_tasks([X], [Y]), TypeError, "xs[0] must be a list of tensors"),
    row("train: pad_tasks refuses an empty task", lambda: pad_tasks([[torch.ones(0, 1)]], [[torch.ones(0, 1)]]), ValueError, "empty"),
    row("train: pad_tasks refuses ragged features", lambda: pad_tasks([[torch.ones(2, 1), torch.ones(2, 3)]], [[torch.ones(2, 1)] * 2]), ValueError, "same shape"),
    row("train: pad_tasks refuses an int", lambda: pad_tasks(3, 3), TypeError, "xs=3 must be a sequence"),
    row("train: sweep accepts np.arange seeds", lambda: Sweep({"lam": np.array([0.1, 1.0])}, np.arange(2))),
    row("train: sweep refuses an int for a grid", lambda: Sweep({"lam": 5}, (0,)), TypeError, "must be a sequence"),
    row("train: sweep refuses a list of knobs", lambda: Sweep(["lam"], (0,)), TypeError, "knobs must be a dict"),
    row("train: sweep refuses str seeds", lambda: Sweep({"lam": (1.0,)}, "01"), TypeError, "seeds='01'"),
    row("weighting: make_strategy refuses an unknown name", lambda: __import__("mtl_lessons.weighting", fromlist=["x"]).make_strategy("dwa_period_1"), ValueError, "method='dwa_period_1' is not allowed"),
    row("train: sweep refuses a huge grid", lambda: Sweep({"a": range(1000), "b": range(1000)}, (0,)), ValueError, "more than this course allows"),
    row("train: sweep refuses a zero-size grid", lambda: Sweep({"lam": ()}, (0,)), ValueError, "empty grid"),
    row("train: sweep finds np.float64 values", lambda: sweep().at("err", lam=np.float64(1.0))),
    row("train: sweep names a missing result", lambda: sweep().require(results=["fit"], by="x_explorer"), ValueError, "needs the result 'fit'"),
    row("train: sweep names a missing knob", lambda: sweep().require(knobs=["n_target"], by="x_explorer"), ValueError, "needs the knob 'n_target'"),
    row("train: sweep runs refuses an unknown knob to leave out", lambda: sweep().runs(without="depth"), ValueError, "without='depth' is not a knob of this sweep (allowed: ['lam'])"),
    row("train: sweep fill refuses an unknown repeated_along", lambda: sweep().fill("b", [0.5, 0.7], repeated_along="depth"), ValueError, "repeated_along='depth' is not a knob of this sweep (allowed: ['lam'])"),
    row("train: sweep fill refuses a repeated_along result of the wrong length", lambda: sweep().fill("b", [0.5, 0.7, 0.9], repeated_along="lam"), ValueError, "'b' has shape (3,) but must start with 2 (allowed: one entry per run of Sweep.runs(without='lam')"),
    row("train: sweep require refuses a dict", lambda: Sweep.require({}, by="x_explorer"), TypeError, "sweep must be a Sweep (for x_explorer), got dict"),
    row("train: transfer_stack refuses a class", lambda: transfer_stack(stack(), MultiTaskNet, 1, source_index=[0], seeds=[0], freeze=True), TypeError, "is a class"),
    row("train: transfer_stack refuses freeze='yes'", lambda: transfer_stack(stack(), net, 1, source_index=[0], seeds=[0], freeze="yes"), TypeError, "freeze='yes'"),
    row("train: transfer_stack refuses index 5", lambda: transfer_stack(stack(), net, 1, source_index=[5], seeds=[0], freeze=True), ValueError, "source_index=5 is out of range (allowed: 0..1) (source_index[0])"),
    row("train: transfer_stack accepts np arrays", lambda: transfer_stack(stack(), net, 1, source_index=np.array([0, 1]), seeds=np.arange(2), freeze=False)),
    row("train: with_frozen names a parameter the stack lacks", lambda: stack().with_frozen(["layers.9.weight"]), ValueError, "not parameters of the stack"),
    row("metrics: choose_on_validation refuses an axis val lacks", lambda: choose_on_validation([[1.0, 2.0]], axes=(2,)), ValueError, "axes=(2,) must name distinct axes of val, which has 2"),
    row("metrics: choose_on_validation refuses the same axis twice", lambda: choose_on_validation([[1.0, 2.0]], axes=(1, -1)), ValueError, "axes=(1, -1) must name distinct axes"),
    row("metrics: choose_on_validation refuses ties='middle'", lambda: choose_on_validation([[1.0, 2.0]], axes=(-1,), ties="middle"), ValueError, "ties='middle' must be 'first' or 'last'"),
    row("metrics: share_below refuses unpaired seeds", lambda: share_below([1.0, 2.0, 3.0], [2.0]), ValueError, "better (3,) and worse (1,) must be non-empty and of one shape"),
    row("metrics: share_below accepts lists", lambda: share_below([1.0, 3.0], [2.0, 2.0])),
    row("metrics: geometric_mean_ratio refuses a zero error", lambda: geometric_mean_ratio([1.0, 2.0], [0.0, 1.0]), ValueError, "worse and better must be positive"),
    row("metrics: geometric_mean_ratio refuses empty arrays", lambda: geometric_mean_ratio([], []), ValueError, "worse (0,) and better (0,) must be non-empty"),
    row("train: transfer_stack refuses widths that differ", lambda: transfer_stack(stack(), lambda: MultiTaskNet(1, 8, 2, 3, sharing_depth=1), 1, source_index=[0], seeds=[0], freeze=True), ValueError, "same widths"),

    row("train: fit accepts a numpy Rates.schedule", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, schedule={"heads.weight": np.linspace(1, 0, 2)})})),
    row("train: fit refuses a Rates.schedule of the wrong length", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, schedule={"heads.weight": np.ones(3)})}), ValueError, "lr.schedule['heads.weight'] has shape (3,) but its first axis must be the steps (2)"),
    row("train: fit refuses a Rates.schedule with Adam", lambda: fit(net(), (X, Y), **{**FIT, "optimizer": "adam", "lr": Rates(0.1, schedule={"heads.weight": np.ones(2)})}), ValueError, "lr.schedule needs optimizer='sgd'"),
    row("train: fit refuses a negative Rates.schedule", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, schedule={"heads.weight": -np.ones(2)})}), ValueError, "lr.schedule['heads.weight'] has a negative entry"),
    row("train: fit refuses a nan Rates.schedule", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, schedule={"heads.weight": [1.0, float("nan")]})}), ValueError, "nan"),
    row("train: fit refuses a Rates.schedule list", lambda: fit(net(), (X, Y), **{**FIT, "lr": Rates(0.1, schedule=[1.0, 1.0])}), TypeError, "lr.schedule must be a dict"),
    row("train: fit accepts a record returning numpy", lambda: fit(net(), (X, Y), record=lambda m: np.float32(1.0), **FIT)),
    row("train: fit refuses a record that is not callable", lambda: fit(net(), (X, Y), record="acc", **FIT), TypeError, "record must be a function"),
    row("train: fit refuses record every=0", lambda: fit(net(), (X, Y), record=(lambda m: 1.0, 0), **FIT), ValueError, "record=(record, every): every=0 is out of range (allowed: 1..2)"),
    row("train: fit refuses a record tuple of 3", lambda: fit(net(), (X, Y), record=(lambda m: 1.0, 1, 2), **FIT), ValueError, "record is a tuple of 3 entries but must be record(model) or (record, every)"),
    row("train: fit refuses a fractional record every", lambda: fit(net(), (X, Y), record=(lambda m: 1.0, 1.5), **FIT), TypeError, "every=1.5 must be an int"),
    row("train: fit refuses a record returning nan", lambda: fit(net(), (X, Y), record=lambda m: NAN, **FIT), ValueError, "finite numbers"),
    row("train: fit_many accepts np.int64 record every", lambda: fit_many(stack(), (X4, Y4), record=(lambda s: np.zeros(2), np.int64(1)), **FIT)),
    row("train: fit_many refuses a per-model Rates.schedule for 3 models", lambda: fit_many(stack(), (X4, Y4), **{**FIT, "lr": Rates(0.1, schedule={"heads.weight": np.ones((2, 3))})}), ValueError, "lr.schedule['heads.weight'] has shape (2, 3)"),

    # schedules
    row("schedules: discriminative accepts np.float64", lambda: discriminative_scales(np.int64(2), np.float64(2.6))),
    row("schedules: discriminative refuses factor < 1", lambda: discriminative_scales(2, 0.5), ValueError, "factor=0.5 is out of range"),
    row("schedules: discriminative refuses str", lambda: discriminative_scales(2, "2.6"), TypeError, "factor='2.6'"),
    row("schedules: discriminative refuses 10**6 layers", lambda: discriminative_scales(10**6, 2.6), ValueError, "n_layers=1000000 is out of range"),
    row("schedules: slanted triangular accepts np.int64 steps", lambda: slanted_triangular(np.int64(20), cut_frac=np.float32(0.25))),
    row("schedules: slanted triangular refuses cut_frac=1", lambda: slanted_triangular(20, cut_frac=1.0), ValueError, "cut_frac=1.0"),
    row("schedules: slanted triangular refuses too few steps", lambda: slanted_triangular(5), ValueError, "no rising steps"),
    row("schedules: slanted triangular refuses 10**9 steps", lambda: slanted_triangular(10**9), ValueError, "steps=1000000000 is out of range"),
    row("schedules: slanted triangular refuses ratio < 1", lambda: slanted_triangular(20, ratio=0.5), ValueError, "ratio=0.5"),
    row("schedules: gradual unfreezing accepts numpy ints", lambda: gradual_unfreezing(np.int64(10), np.int32(2), np.int64(3))),
    row("schedules: gradual unfreezing refuses stages past the end", lambda: gradual_unfreezing(10, 2, 5), ValueError, "after all 10 steps"),
    row("schedules: gradual unfreezing refuses a float stage", lambda: gradual_unfreezing(10, 2, 2.5), TypeError, "stage_steps=2.5"),
    row("schedules: layer_schedule accepts numpy", lambda: layer_schedule(net(), np.ones((4, 3)))),
    row("schedules: layer_schedule accepts a stack", lambda: layer_schedule(stack(), np.ones((4, 2, 3)))),
    row("schedules: layer_schedule refuses a wrong last axis", lambda: layer_schedule(net(), np.ones(4)), ValueError, "last axis must hold one scale per hidden layer and one for the heads (3)"),
    row("schedules: layer_schedule refuses a plain Linear", lambda: layer_schedule(torch.nn.Linear(2, 2), np.ones(3)), TypeError, "MultiTaskNet"),
    row("schedules: layer_schedule refuses nan", lambda: layer_schedule(net(), [1.0, float("nan"), 1.0]), ValueError, "nan"),

    # plots
    row("plots: plot_fits_at refuses a dict for a sweep", lambda: plot_fits_at({}, {"lam": 1.0}, ("fit",), labels=("a",)), TypeError, "sweep must be a Sweep (for plot_fits_at), got dict"),
    row("plots: plot_fits_at names a missing result", lambda: plot_fits_at(sweep(), {"lam": 1.0}, ("fit",), labels=("a",)), ValueError, "plot_fits_at needs the result 'x_train'"),
    row("plots: seed band accepts tensors", drawn(lambda: plot_seed_band(torch.arange(3.0), torch.ones(3, 2)))),
    row("plots: seed band refuses highlight off values", drawn(lambda: plot_seed_band([1, 2, 3], np.ones((3, 2)), highlight=2.5)), ValueError, "highlight=2.5 is not one of values"),
    row("plots: seed band refuses nan samples", drawn(lambda: plot_seed_band([1, 2], [[1, np.nan], [1, 1]])), ValueError, "nan or inf"),
    row("plots: seed band refuses empty", drawn(lambda: plot_seed_band([], np.ones((0, 2)))), ValueError, "empty"),
    row("plots: seed band refuses ax=list", drawn(lambda: plot_seed_band([1], [[1]], ax=[1])), TypeError, "ax must be a matplotlib Axes"),
    row("plots: front refuses a lam value as highlight", drawn(lambda: plot_front(np.ones((3, 2)), highlight=0.3)), TypeError, "highlight=0.3 must be an int"),
    row("plots: front accepts np.int64 highlight", drawn(lambda: plot_front(np.ones((3, 2)), highlight=np.int64(1)))),
    row("plots: front refuses highlight 3", drawn(lambda: plot_front(np.ones((3, 2)), highlight=3)), ValueError, "highlight=3 is out of range"),
    row("plots: front refuses (n, 3)", drawn(lambda: plot_front(np.ones((3, 3)))), ValueError, "(n_points, 2)"),
    row("plots: history accepts a History", drawn(lambda: plot_history(fit(net(), (X, Y), **FIT)))),
    row("plots: history refuses a fit_many history", drawn(lambda: plot_history(np.ones((5, 2, 3)))), ValueError, "history.task_losses[:, 0]"),
    row("plots: history refuses names of the wrong length", drawn(lambda: plot_history(np.ones((5, 3)), task_names=["a"])), ValueError, "one name per task"),
    row("plots: history refuses 0 steps", drawn(lambda: plot_history(np.ones((0, 3)))), ValueError, "empty"),
    row("plots: task fits refuse task 3 of 2", drawn(lambda: plot_task_fits(np.ones((2, 4)), np.ones((2, 4)), np.arange(5.0), [np.ones((2, 5))], tasks=[3])), ValueError, "tasks[]=3 is out of range"),
    row("plots: task fits refuse one bare prediction", drawn(lambda: plot_task_fits(np.ones((2, 4)), np.ones((2, 4)), np.arange(5.0), np.ones((2, 5)))), TypeError, "[pred]"),
    row("plots: task fits refuse a str label", drawn(lambda: plot_task_fits(np.ones((2, 4)), np.ones((2, 4)), np.arange(5.0), [np.ones((2, 5))], labels="model")), TypeError, "('model',)"),
    row("plots: task fits refuse 4 predictions, 3 styles", drawn(lambda: plot_task_fits(np.ones((2, 4)), np.ones((2, 4)), np.arange(5.0), [np.ones((2, 5))] * 4, labels=tuple("abcd"))), ValueError, "linestyles"),
    row("plots: task fits refuse a prediction of the wrong grid", drawn(lambda: plot_task_fits(np.ones((2, 4)), np.ones((2, 4)), np.arange(5.0), [np.ones((2, 6))])), ValueError, "predictions[0] has shape (2, 6)"),
    row("plots: task fits accept nan padding", drawn(lambda: plot_task_fits(np.array([[1, np.nan]]), np.array([[1, np.nan]]), np.arange(5.0), [np.ones((1, 5))]))),

    # widgets
    row("widgets: explorer accepts np.float64 value", drawn(lambda: explorer(value={"lam": np.float64(1.0)}))),
    row("widgets: explorer refuses a value off the grid", drawn(lambda: explorer(value={"lam": 2.0})), ValueError, "lam=2.0 is not on the grid"),
    row("widgets: explorer refuses an unknown knob in value", drawn(lambda: explorer(value={"depth": 1})), ValueError, "value names 'depth'"),
    row("widgets: explorer refuses a bare value", drawn(lambda: explorer(value=1.0)), TypeError, "must be a dict"),
    row("widgets: explorer refuses a figure of 10**5 inches", drawn(lambda: SweepExplorer(sweep(), print, figsize=(1e5, 3))), ValueError, "figsize"),
    row("widgets: explorer refuses a dict for a sweep", drawn(lambda: SweepExplorer({"lam": (1,)}, print)), TypeError, "sweep must be a Sweep"),
    row("widgets: explorer refuses draw=None", drawn(lambda: SweepExplorer(sweep(), None)), TypeError, "draw must be a function"),
    row("widgets: explorer refuses ncols=0", drawn(lambda: explorer(ncols=0) if False else SweepExplorer(sweep(), print, ncols=0)), ValueError, "ncols=0"),
    row("widgets: explorer refuses 10**4 figures up front", drawn(lambda: SweepExplorer(Sweep({"a": range(100), "b": range(100)}, (0,)), print)), ValueError, "prerender=False"),
    row("widgets: explorer refuses static_html='yes'", drawn(lambda: explorer(static_html="yes")), TypeError, "static_html='yes'"),
    row("widgets: explorer accepts np.bool_ static_html", drawn(lambda: explorer(static_html=np.bool_(True)).to_html())),
    row("plots: presenter_style refuses on='yes'", lambda: presenter_style("yes").__enter__(), TypeError, "on must be"),
    row("widgets: grid_value takes the nearest", lambda: grid_value(sweep(), "lam", 2.0) == 1.0 or pytest.fail("not nearest")),

    # experiments: natural forms, small grids, other sliders' sweeps
    row("experiments: cluster tasks accept np.int64 sizes", lambda: make_cluster_tasks(np.int64(2), np.int64(4))),
    row("experiments: cluster tasks refuse one frequency", lambda: make_cluster_tasks(freqs=(1.0,)), ValueError, "must be two frequencies"),
    row("experiments: cluster tasks refuse a str frequency", lambda: make_cluster_tasks(freqs=("1", 2.0)), TypeError, "freqs"),
    row("experiments: cluster tasks refuse spread 2", lambda: make_cluster_tasks(spread=2.0), ValueError, "spread=2.0 is out of range"),
    row("experiments: cluster tasks refuse 10**6 points", lambda: make_cluster_tasks(n_train=10**6), ValueError, "n_train=1000000 is out of range"),
    row("experiments: affinity refuses lr=0", lambda: lookahead_affinity(stack(), torch.zeros(2, 3, 4, 1), torch.zeros(2, 3, 4, 1), lr=0.0), ValueError, "lr=0.0"),
    row("experiments: affinity refuses a model", lambda: lookahead_affinity(net(), X, X, lr=0.1), TypeError, "stack must be a ModelStack"),
    row("experiments: affinity refuses x without the model axis", lambda: lookahead_affinity(stack(), torch.zeros(3, 4, 1), torch.zeros(3, 4, 1), lr=0.1), ValueError, "x"),
    row("experiments: affinity groups accept numpy", lambda: affinity_groups(np.eye(3), 2)),
    row("experiments: affinity groups refuse a non-square matrix", lambda: affinity_groups(torch.ones(2, 3), 1), ValueError, "must be square"),
    row("experiments: affinity groups refuse nan", lambda: affinity_groups(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1), ValueError, "non-finite"),
    row("experiments: affinity groups refuse 4 groups of 3 tasks", lambda: affinity_groups(torch.eye(3), 4), ValueError, "n_groups=4 is out of range"),
    row("experiments: random partition refuses too many tasks", lambda: random_partition([2, 2], 3, seed=0), ValueError, "sizes"),
    row("experiments: grouping sweep refuses 10**6 seeds", lambda: grouping_sweep(range(10**6)), ValueError, "the number of seeds would be 1,000,000"),
    row("experiments: grouping sweep refuses n_groups without 2", lambda: grouping_sweep([0], n_groups=(1, 3), progress=False), ValueError, "must include 2"),
    row("experiments: grouping sweep refuses lookahead_lr=-1", lambda: grouping_sweep([0], lookahead_lr=-1.0), ValueError, "lookahead_lr=-1.0"),
    row("experiments: grouping sweep refuses every=0", lambda: grouping_sweep([0], every=0), ValueError, "every=0 is out of range"),
    row("experiments: grouping sweep refuses a rate of 0", lambda: grouping_sweep([0], lrs=(0.0, 0.02)), ValueError, "lrs"),
    row("experiments: grouping sweep refuses an unknown setting", lambda: grouping_sweep([0], step=5), TypeError, "step"),
    row("experiments: grouping explorer, one seed", drawn(lambda: grouping_explorer(small("mtl_vs_transfer")))),
    row("experiments: grouping explorer refuses a lam sweep", drawn(lambda: grouping_explorer(small("task_weighting"))), ValueError, "needs the knob 'n_groups'"),
    row("experiments: grouping explorer refuses 5 groups", drawn(lambda: grouping_explorer(small("mtl_vs_transfer"), value={"n_groups": 5})), ValueError, "n_groups=5 is not on the grid"),
    row("experiments: both ways refuse n_target > n_train", lambda: transfer_vs_multitask([0], n_target=20), ValueError, "n_target=20 is out of range"),
    row("experiments: both ways refuse repeated seeds", lambda: transfer_vs_multitask([1, 1]), ValueError, "repeated"),
    row("experiments: backward cost refuses a list", lambda: backward_cost([None]), TypeError, "must be a non-empty dict"),
    row("experiments: backward cost refuses one task", lambda: backward_cost({"sum": None}, n_tasks=1), ValueError, "n_tasks=1 is out of range"),
    row("train: fit_many refuses a progress bar without update", lambda: fit_many(stack(), (torch.zeros(2, 3, 4, 1), torch.zeros(2, 3, 4, 1)), **{**FIT, "progress": object()}), TypeError, "must be True or False, a description (str) or a progress bar (anything with .update(n)"),
    row("experiments: data size with 2 tasks, no 8 on the grid", drawn(lambda: data_size_explorer(small("multitask_objective")))),
    row("experiments: data size explorer refuses task 2 of 2", drawn(lambda: data_size_explorer(small("multitask_objective"), tasks=(2,))), ValueError, "tasks=2 is out of range (allowed: 0..1) (tasks[0])"),
    row("experiments: data size explorer refuses an off-grid value", drawn(lambda: data_size_explorer(small("multitask_objective"), value=8)), ValueError, "n_per_task=8 is not on the grid"),
    row("experiments: data size explorer refuses a lam sweep", drawn(lambda: data_size_explorer(small("task_weighting"))), ValueError, "needs the knob 'n_per_task'"),
    row("experiments: data size sweep refuses an int grid", lambda: data_size_sweep(8), TypeError, "n_per_task=8 must be a sequence"),
    row("experiments: tuned comparison refuses a rate of 0", lambda: tuned_comparison((8,), lrs=(0.01, 0.0)), ValueError, "lrs=0.0 is out of range (allowed: > 0.0) (lrs[1])"),
    row("experiments: tuned comparison refuses a rate above 1", lambda: tuned_comparison((8,), lrs=(0.01, 2.0)), ValueError, "lrs=(0.01, 2.0) must be 1 to 8 learning rates in (0, 1]"),
    row("experiments: tuned comparison refuses record_every > max_steps", lambda: tuned_comparison((8,), max_steps=100, record_every=200), ValueError, "record_every=200 is out of range (allowed: 1..100)"),
    row("experiments: tuned comparison refuses a fractional record_every", lambda: tuned_comparison((8,), record_every=2.5), TypeError, "record_every=2.5 must be an int"),
    row("experiments: data size sweep refuses steps=10**12", lambda: data_size_sweep(steps=10**12), ValueError, "steps="),
    row("experiments: data size sweep refuses empty seeds", lambda: data_size_sweep(seeds=[]), ValueError, "seeds=() has 0 values"),
    row("experiments: sharing depth, no 1.0 / 8 on the grid", drawn(lambda: sharing_depth_explorer(small("sharing_depth")))),
    row("experiments: sharing depth explorer refuses a lam sweep", drawn(lambda: sharing_depth_explorer(small("task_weighting"))), ValueError, "needs the knob 'sharing_depth'"),
    row("experiments: sharing depth sweep refuses n_layers=10**6", lambda: sharing_depth_sweep(n_layers=10**6), ValueError, "n_layers=1000000 is out of range"),
    row("experiments: sharing depth sweep refuses relatedness 2", lambda: sharing_depth_sweep((2.0,)), ValueError, "relatedness=2.0 is out of range (allowed: <= 1.0) (relatedness[0])"),
    row("experiments: sharing depth sweep refuses a negative rate among several", lambda: sharing_depth_sweep((1.0,), lr=(0.01, -1.0)), ValueError, "lr=-1.0 is out of range (allowed: > 0.0) (lr[1])"),
    row("experiments: overlay sweep refuses a str width", lambda: digit_overlay_sweep(("16",)), TypeError, "hidden='16' must be an int (hidden[0])"),
    row("experiments: task weighting, no lam = 1 on the grid", drawn(lambda: task_weighting_explorer(small("task_weighting")))),
    row("experiments: task weighting explorer refuses a depth sweep", drawn(lambda: task_weighting_explorer(small("transferability"))), ValueError, "needs the knob 'lam'"),
    row("experiments: task weighting sweep refuses negative lam", lambda: task_weighting_sweep((-1.0,)), ValueError, "lam=-1.0 is out of range (allowed: >= 0.0) (lams[0])"),
    row("experiments: task weighting sweep refuses a zero-size grid", lambda: task_weighting_sweep(()), ValueError, "has 0 values"),
    row("experiments: lam_weights accepts numpy", lambda: lam_weights(np.array([0.5, 2.0]))),
    row("experiments: lam_weights refuses nan", lambda: lam_weights([float("nan")]), ValueError, "finite"),
    row("experiments: scalarisation toy refuses n_x=10**12", lambda: scalarisation_toy(n_x=10**12), ValueError, "more than this course allows"),
    row("experiments: transfer lambda with one value each", drawn(lambda: transfer_lambda_explorer(small("transfer_objective")))),
    row("experiments: transfer lambda explorer refuses a depth sweep", drawn(lambda: transfer_lambda_explorer(small("transferability"))), ValueError, "needs the knob 'lam'"),
    row("experiments: transfer lambda sweep refuses n_target 5", lambda: transfer_lambda_sweep(n_target=(5,)), ValueError, "n_target=5 is out of range (allowed: 10..inf) (n_target[0])"),
    row("experiments: transfer lambda sweep refuses an unknown setting", lambda: transfer_lambda_sweep(hiden=4), TypeError, "transfer_lambda_sweep got hiden=4, which is not one of its settings"),
    row("experiments: joint_accuracies refuses a list of tensors", lambda: joint_accuracies([torch.zeros(3)], [1.0], [0]), TypeError, "data must be a list of TransferDigits"),
    row("experiments: joint_accuracies refuses mismatched lengths", lambda: joint_accuracies([TD10, TD10], [1.0], [0]), ValueError, "data has 2 entries, lams 1"),
    row("experiments: joint_accuracies refuses lam 0", lambda: joint_accuracies([TD10], [0.0], [0]), ValueError, "lam=0.0"),
    row("experiments: joint_accuracies refuses an unknown variant", lambda: joint_accuracies([TD10], [1.0], [0], variants=("adam",)), ValueError, "variants=('adam',)"),
    row("experiments: joint_accuracies accepts numpy lams and seeds", lambda: joint_accuracies([TD10], np.array([1.0]), np.array([0]), hidden=4, n_layers=1, steps=1, progress=False, variants=["joint"])),
    row("experiments: shuffle_labels accepts numpy labels and a numpy fraction", lambda: shuffle_labels(np.arange(10), np.float64(0.5), seed=np.int64(1))),
    row("experiments: shuffle_labels refuses float labels", lambda: shuffle_labels(torch.rand(5), 0.5), TypeError, "integer class labels"),
    row("experiments: shuffle_labels refuses fraction 1.5", lambda: shuffle_labels(torch.arange(5), 1.5), ValueError, "fraction=1.5"),
    row("experiments: shuffle_labels refuses a 2-d y", lambda: shuffle_labels(torch.zeros(2, 3, dtype=torch.long), 0.5), ValueError, "y has shape"),
    row("experiments: negative_transfer_data refuses an unknown source", lambda: negative_transfer_data("random", 10), ValueError, "source='random' is not a source"),
    row("experiments: negative_transfer_data refuses n_target 5", lambda: negative_transfer_data("mild", 5), ValueError, "n_target=5"),
    row("experiments: negative_transfer_gap accepts tensors", lambda: negative_transfer_gap(torch.tensor([0.5]), torch.tensor([0.6]))),
    row("experiments: negative_transfer_gap refuses percentages", lambda: negative_transfer_gap([50.0], [60.0]), ValueError, "every value must be in [0, 1]"),
    row("experiments: negative_transfer_gap refuses nan", lambda: negative_transfer_gap([float("nan")], [0.5]), ValueError, "finite"),
    row("experiments: negative_transfer_gap refuses different shapes", lambda: negative_transfer_gap([0.5, 0.5], [0.5]), ValueError, "same shape"),
    row("experiments: negative transfer sweep refuses an unknown source", lambda: negative_transfer_sweep(sources=("noisy",)), ValueError, "source='noisy' is not allowed"),
    row("experiments: negative transfer sweep refuses repeated sources", lambda: negative_transfer_sweep(sources=("mild", "mild")), ValueError, "repeated"),
    row("experiments: negative transfer sweep refuses lam 0", lambda: negative_transfer_sweep(lams=(0.0,)), ValueError, "lam=0.0"),
    row("experiments: negative transfer sweep refuses n_target 5", lambda: negative_transfer_sweep(n_target=(5,)), ValueError, "n_target=5"),
    row("experiments: negative transfer sweep refuses repeated seeds", lambda: negative_transfer_sweep(seeds=(1, 1)), ValueError, "seeds"),
    row("experiments: negative transfer sweep refuses a negative alpha", lambda: negative_transfer_sweep(alpha=-1.0), ValueError, "alpha=-1.0"),
    row("experiments: negative transfer sweep refuses l2sp_lr 0", lambda: negative_transfer_sweep(l2sp_lr=0), ValueError, "l2sp_lr=0"),
    row("experiments: negative transfer sweep refuses a huge grid", lambda: negative_transfer_sweep(seeds=range(10**6)), ValueError, "more than this course allows"),
    row("experiments: negative transfer with one value each", drawn(lambda: negative_transfer_explorer(small("negative_transfer")))),
    row("experiments: negative transfer explorer refuses a depth sweep", drawn(lambda: negative_transfer_explorer(small("transferability"))), ValueError, "needs the knob 'source'"),
    row("experiments: negative transfer explorer refuses a dict", lambda: negative_transfer_explorer({}), TypeError, "must be a Sweep"),
    row("experiments: ntg_table refuses another experiment's sweep", lambda: ntg_table(small("transferability"), "joint"), ValueError, "ntg_table needs the result 'acc_joint'"),
    row("experiments: ntg_table refuses an unknown knob", lambda: ntg_table(small("negative_transfer"), "joint_heads", depth=1), ValueError, "no knob 'depth'"),
    row("experiments: ntg_table accepts a numpy value on the grid", lambda: ntg_table(small("negative_transfer"), "joint_heads", lam=np.float64(0.5))),
    row("experiments: ntg_table refuses a value off the grid", lambda: ntg_table(small("negative_transfer"), "joint_heads", lam=3.0), ValueError, "lam=3.0 is not on the grid"),
    row("experiments: joint_weights refuses str", lambda: joint_weights("1"), TypeError, "lam='1'"),
    row("experiments: transferability, no depth 2 on the grid", drawn(lambda: transferability_explorer(small("transferability")))),
    row("experiments: transferability explorer refuses a lam sweep", drawn(lambda: transferability_explorer(small("task_weighting"))), ValueError, "needs the knob 'frozen_depth'"),
    row("experiments: transferability sweep refuses str seeds", lambda: transferability_sweep(seeds="abc"), TypeError, "seeds='abc'"),
    row("experiments: recovered fraction refuses 1-d", lambda: recovered_fraction([1.0], [0.5], [0.8]), ValueError, "(n_depths, n_seeds)"),
    row("experiments: finetuning, no stage 20 and one label count", drawn(lambda: finetuning_explorer(small("finetuning")))),
    row("experiments: finetuning explorer refuses a lam sweep", drawn(lambda: finetuning_explorer(small("task_weighting"))), ValueError, "needs the knob 'stage_steps'"),
    row("experiments: finetuning explorer refuses a dict", lambda: finetuning_explorer({}), TypeError, "sweep must be a Sweep"),
    row("experiments: finetuning sweep refuses a stage past the end", lambda: finetuning_sweep((0, 60)), ValueError, "after all 100 steps"),
    row("experiments: finetuning sweep refuses n_target 5", lambda: finetuning_sweep(n_target=(5,)), ValueError, "n_target=5 is out of range"),
    row("experiments: finetuning sweep refuses str seeds", lambda: finetuning_sweep(seeds="abc"), TypeError, "seeds='abc'"),
    row("experiments: finetuning sweep refuses 10**6 steps", lambda: finetuning_sweep(steps=10**6), ValueError, "steps=1000000 is out of range"),
    row("experiments: finetuning sweep refuses repeated stages", lambda: finetuning_sweep((0, 0)), ValueError, "stages"),
    row("experiments: finetuning sweep refuses trunk_lr_scale 0", lambda: finetuning_sweep(trunk_lr_scale=0.0), ValueError, "trunk_lr_scale=0.0"),
    row("experiments: measured refuses a sweep without 100 labels", lambda: measured(small("finetuning")), ValueError, "n_target=100 on the grid"),
    row("experiments: measured refuses a lam sweep", lambda: measured(small("task_weighting")), ValueError, "needs the knob 'stage_steps'"),
    row("experiments: claims_hold refuses an unknown claim", lambda: claims_hold({"nope": 1.0}), AttributeError, "nope"),
    row("experiments: practice schedules accept np.int64", lambda: practice_schedules(np.int64(10), np.int64(2), stage_steps=np.int64(3))),
    row("experiments: practice schedules refuse trunk_scale 0", lambda: practice_schedules(100, 2, trunk_scale=0.0), ValueError, "trunk_scale=0.0"),
    row("experiments: GradNorm alphas refuse a negative alpha", lambda: gradnorm_alpha_sweep((-1.0,)), ValueError, "alphas=-1.0 is out of range (allowed: >= 0.0) (alphas[0])"),
    row("experiments: GradNorm alphas refuse repeated alphas", lambda: gradnorm_alpha_sweep((0.5, 0.5)), ValueError, "has repeated values"),
    row("experiments: GradNorm alphas refuse ratio 0", lambda: gradnorm_alpha_sweep(ratios=(0.0,)), ValueError, "ratios=0.0 is out of range"),
    row("experiments: GradNorm alphas accept numpy alphas", lambda: gradnorm_alpha_sweep(np.array([0, 1]), (1.0,), [0], steps=2, progress=False)),
    row("experiments: GradNorm alpha figure refuses a lam sweep", drawn(lambda: plot_gradnorm_alpha(small("task_weighting"))), ValueError, "needs the knob 'alpha'"),
    row("experiments: learned weights sweep refuses every=0", lambda: learned_weights_sweep(every=0), ValueError, "every=0 is out of range (allowed: 1..inf)"),
    row("experiments: learned weights explorer refuses a lam sweep", drawn(lambda: learned_weights_explorer(small("task_weighting"))), ValueError, "needs the knob 'method'"),
    row("experiments: angle explorer refuses a lam sweep", drawn(lambda: angle_explorer(small("task_weighting"))), ValueError, "needs the knob 'angle'"),
    row("experiments: front_noise accepts nested lists", lambda: front_noise({"lambdas": [0.0, 0.2, 0.8, 1.0], "test": [[[1.0, 2.0]], [[1.0, 1.0]], [[0.5, 2.0]], [[2.0, 1.0]]], "val": [[[1.0, 2.0]], [[1.0, 1.0]], [[0.5, 2.0]], [[2.0, 1.0]]]})),
    row("competing: scaled_tasks refuses a scale given as text", lambda: scaled_tasks(0, "10"), TypeError, "scale='10' must be a real number"),
    row("competing: scaled_tasks refuses scale 0", lambda: scaled_tasks(0, 0.0), ValueError, "scale=0.0 is out of range (allowed: > 0.0)"),
    row("competing: train_competing refuses runs without a seed", lambda: train_competing([{"lr": 0.1}], None, hidden=1, lr=0.1, steps=2), ValueError, "runs=[{'lr': 0.1}] must be a non-empty list of {'seed': s, ...} dicts"),
    row("competing: train_competing refuses a strategy class", lambda: train_competing([{"seed": 0}], MGDA, hidden=1, lr=0.1, steps=2), TypeError, "strategy=MGDA is a class; give a strategy, e.g. MGDA()"),
    row("competing: train_competing refuses a strategy's name", lambda: train_competing([{"seed": 0}], "mgda", hidden=1, lr=0.1, steps=2), TypeError, "strategy must be a Strategy or a function (stack, x, y) returning one, got 'mgda'"),
    row("competing: train_competing refuses a negative ratio", lambda: train_competing([{"seed": 0, "loss_ratio": -1.0}], None, hidden=1, lr=0.1, steps=2), ValueError, "loss_ratio=-1.0 is out of range (allowed: > 0.0)"),
    row("experiments: front_noise refuses a bare array", lambda: front_noise(np.ones((3, 2, 2))), TypeError, "must be choose_rates' 'front'"),
    row("experiments: front_noise refuses one interior λ", lambda: front_noise({"lambdas": (0.0, 0.5, 1.0), "test": np.ones((3, 2, 2)), "val": np.ones((3, 2, 2))}), ValueError, "at least 2 strictly between 0 and 1"),
    row("experiments: front_noise refuses test and val of different shapes", lambda: front_noise({"lambdas": (0.2, 0.8), "test": np.ones((2, 2, 2)), "val": np.ones((2, 3, 2))}), ValueError, "must both be (λs, seeds, 2)"),
    row("experiments: below_front_line accepts tensors", lambda: below_front_line(torch.tensor([0.15, 0.1]), torch.tensor([[0.1, 0.2], [0.2, 0.1]]))),
    row("experiments: below_front_line refuses a one-number point", lambda: below_front_line([0.1], [[0.1, 0.2]]), ValueError, "point has shape (1,)"),
    row("experiments: below_front_line refuses an empty front", lambda: below_front_line([0.1, 0.1], []), ValueError, "front has shape (0,)"),
    row("experiments: below_front_line refuses a zero loss", lambda: below_front_line([0.0, 0.1], [[0.1, 0.2], [0.2, 0.1]]), ValueError, "positive losses"),
    row("exercises: l2_sp_cost_outcome accepts numpy costs", lambda: l2_sp_cost_outcome(np.float64(0.01), np.float32(0.03))),
    row("exercises: l2_sp_cost_outcome refuses a str", lambda: l2_sp_cost_outcome("0.01", 0.03), TypeError, "cost_helpful='0.01'"),
    row("exercises: l2_sp_cost_outcome refuses nan", lambda: l2_sp_cost_outcome(0.01, float("nan")), ValueError, "cost_harmful=nan must be finite"),
    row("exercises: l2_sp_cost_outcome refuses a negative tol", lambda: l2_sp_cost_outcome(0.01, 0.03, tol=-0.1), ValueError, "tol=-0.1 is out of range"),
    row("experiments: model selection explorer on a one-point grid", drawn(lambda: penguin_cv_explorer(small("model_selection")))),
    row("experiments: model selection explorer refuses a lam sweep", drawn(lambda: penguin_cv_explorer(small("task_weighting"))), ValueError, "needs the knob"),
    row("experiments: model selection sweep accepts np grids", lambda: penguin_cv_sweep(np.array([1.0]), np.array([0]), (np.float64(0.1),), seeds=np.arange(1), n_folds=np.int64(2), hidden=2, steps=1, progress=False)),
    row("experiments: model selection sweep refuses depth 3 of 2", lambda: penguin_cv_sweep(depths=(3,)), ValueError, "depths"),
    row("experiments: model selection sweep refuses 1 fold", lambda: penguin_cv_sweep(n_folds=1), ValueError, "n_folds=1"),
    row("experiments: model selection sweep refuses a zero lam", lambda: penguin_cv_sweep(lams=(0.0, 1.0)), ValueError, "lam"),
    row("experiments: delta_m_table refuses an unknown kind", lambda: delta_m_table(small("model_selection"), "train"), ValueError, "kind='train'"),
    row("experiments: cv_choice works on a one-point grid", lambda: cv_choice(small("model_selection"))),
    row("experiments: sparse_vs_tuned works on a one-point grid", lambda: sparse_vs_tuned(small("model_selection"))),
    row("experiments: delta_m_table refuses a grid without the baseline", lambda: delta_m_table(penguin_cv_sweep((0.3,), (1,), (0.1,), seeds=[0], n_folds=2, hidden=2, steps=1, progress=False), "cv"), ValueError, "baseline"),
    row("experiments: accuracy_vs_f1_case accepts np ints", lambda: accuracy_vs_f1_case(np.int64(1), feature=np.int64(0))),
    row("experiments: accuracy_vs_f1_case refuses feature 3", lambda: accuracy_vs_f1_case(feature=3), ValueError, "feature=3"),
    row("experiments: standardise uses the fit rows only", lambda: standardise(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0]]))[1].item() == 0.0 or (_ for _ in ()).throw(AssertionError)),
    row("experiments: macro_f1_many accepts numpy labels", lambda: macro_f1_many(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]), np.array([0, 0, 1, 1]), 2)),

    # bench
    row("bench: speed-up refuses n_models=10**6", lambda: sweep_speedup(10**6), ValueError, "n_models=1000000 is out of range"),
    row("bench: speed-up refuses str steps", lambda: sweep_speedup(steps="200"), TypeError, "steps='200'"),
    row("bench: step times refuse one task", lambda: strategy_step_times(n_tasks=1), ValueError, "n_tasks=1 is out of range (allowed: 2..10)"),
    row("bench: step times refuse str steps", lambda: strategy_step_times(steps="5"), TypeError, "steps='5' must be an int"),
    row("bench: slider figures refuse passes=0", lambda: slider_figures("x", None, None, passes=0), ValueError, "passes=0"),

    # exercises: the checker is fair
    row("exercises: float64 answer accepted", fb("weighted-objective", as_float64("weighted-objective"), "correct")),
    row("exercises: Python float answer accepted", fb("weighted-objective", lambda *a: float(solution("weighted-objective")(*a)), "correct")),
    row("exercises: float64 head gradient accepted", fb("head-gradient", as_float64("head-gradient"), "correct")),
    row("exercises: list of counts accepted", fb("frozen-and-trained", lambda *a: list(solution("frozen-and-trained")(*a)), "correct")),
    row("exercises: numpy bool mask accepted", fb("pareto-optimal", as_numpy("pareto-optimal"), "correct")),
    row("exercises: np.int64 count accepted", fb("parameter-count", lambda *a: np.int64(solution("parameter-count")(*a)), "correct")),
    row("exercises: float64 soft sharing accepted", fb("soft-sharing", as_float64("soft-sharing"), "correct")),
    row("exercises: float64 l2-sp accepted", fb("l2-sp", as_float64("l2-sp"), "correct")),
    row("exercises: float64 training-step losses accepted", fb("training-step", as_float64("training-step"), "correct")),
    row("exercises: numpy array of counts accepted", fb("frozen-and-trained", as_numpy("frozen-and-trained"), "correct")),
    row("exercises: a forgotten return is named", fb("weighted-objective", no_return, "wrong", "forget the `return`")),
    row("exercises: an exception in the answer is the answer's", fb("weighted-objective", raises_inside, "wrong", "Your code raised IndexError")),
    row("exercises: a wrong shape gets a hint", fb("weighted-objective", wrong_shape, "wrong", "0-dimensional")),
    row("exercises: a wrong argument count gets a hint", fb("weighted-objective", lambda losses: 0, "wrong", "must take 2 argument")),
    row("exercises: a result instead of a function", fb("weighted-objective", torch.tensor(1.0), "wrong", "your function itself")),
    row("exercises: an endless loop is stopped", fb("weighted-objective", never_returns, "wrong", f"within {TIME_LIMIT:g} s")),
    row("exercises: an endless loop that swallows Exception is stopped", fb("weighted-objective", swallows_interrupts, "wrong", "was stopped")),
    row("exercises: the untouched cell is not attempted", fb("soft-sharing", ..., "not attempted")),
    row("exercises: Δm's error-rate term as the accuracy's gets a hint", fb("delta-m-error-rate", lambda a, b: 100 * (a - b) / b, "wrong", "term of the *accuracy*")),
    row("exercises: Δm's error-rate term with the sign flipped gets a hint", fb("delta-m-error-rate", lambda a, b: -solution("delta-m-error-rate")(a, b), "wrong", "sign is the wrong way")),
    row("exercises: Δm's error-rate term as a fraction gets a hint", fb("delta-m-error-rate", lambda a, b: solution("delta-m-error-rate")(a, b) / 100, "wrong", "multiply")),
    row("exercises: Δm's error-rate term with numpy numbers accepted", fb("delta-m-error-rate", lambda a, b: np.float64(solution("delta-m-error-rate")(a, b)), "correct")),
    row("exercises: cv-optimism refuses a number", lambda: predict("cv-optimism", 1.5, 1.0) is False or (_ for _ in ()).throw(AssertionError)),
    row("exercises: check refuses a non-str key", lambda: check(3, print), TypeError, "key=3 must be the exercise's name"),
    row("exercises: reveal refuses an unknown key", lambda: reveal("nope"), ValueError, "key='nope' is not an exercise"),
    row("exercises: predict refuses an unknown key", lambda: predict(["x"], 1, 1), ValueError, "is not a prediction exercise"),
    row("exercises: numpy STLR accepted", fb("stlr-schedule", as_numpy("stlr-schedule"), "correct")),
    row("exercises: a list of floats for STLR accepted", fb("stlr-schedule", lambda *a: solution("stlr-schedule")(*a).tolist(), "correct")),
    row("exercises: STLR peak one step late", fb("stlr-schedule", lambda s, c, r: torch.roll(solution("stlr-schedule")(s, c, r), 1), "wrong", "must be at step cut")),
    row("exercises: STLR that starts at 0", fb("stlr-schedule", lambda s, c, r: solution("stlr-schedule")(s, c, r) * r / (r - 1) - 1 / (r - 1), "wrong", "1/ratio")),
    row("exercises: predict refuses an unknown stage answer", lambda: predict("long-unfreezing-stages", "worse", (0.4, 0.9)), None),
    row("exercises: predict LP-FT accepts np.float64", lambda: predict("lp-ft-distortion", "farther", np.float64(2.0)), None),
    # claims.check_claim: a chapter's claim, checked on one measured number (a toy CLAIMS above: beyond_front_max 0.1)
    row("claims: unknown claim name", lambda: check_claim(CG_CLAIMS, "nope", 0.0, "<="), ValueError, "name='nope' is not a claim of Claims; its claims are ['tolerance', 'beyond_front_max']"),
    row("claims: bad direction", lambda: check_claim(CG_CLAIMS, "beyond_front_max", 0.0, ">"), ValueError, "direction='>': use '>=' (or '≥') or '<=' (or '≤')"),
    row("claims: direction in words", lambda: check_claim(CG_CLAIMS, "beyond_front_max", 0.0, "at most"), ValueError, "direction='at most': use '>='"),
    row("claims: NaN value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", float("nan"), "<="), ValueError, "value must be a finite number, got value=nan"),
    row("claims: NaN tensor value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", NAN, "<="), ValueError, "value must be a finite number, got value=nan"),
    row("claims: infinite value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", -np.inf, "<="), ValueError, "value must be a finite number, got value=-inf"),
    row("claims: array value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", np.zeros(3), "<="), TypeError, "value must be a single number (a float, or a one-element array or tensor), got value=array([0., 0., 0.]) (ndarray)"),
    row("claims: tensor of 2 values", lambda: check_claim(CG_CLAIMS, "beyond_front_max", torch.zeros(2), "<="), TypeError, "got value=tensor([0., 0.]) (Tensor)"),
    row("claims: string value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", "0.05", "<="), TypeError, "value must be a single number (a float, or a one-element array or tensor), got value='0.05' (str)"),
    row("claims: bool value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", True, "<="), TypeError, "got value=True (bool)"),
    row("claims: np.bool_ value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", np.bool_(False), "<="), TypeError, "got value=np.False_ (bool"),
    row("claims: bool tensor value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", torch.tensor(False), "<="), TypeError, "got value=tensor(False) (Tensor)"),
    row("claims: bool array value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", np.array([True]), "<="), TypeError, "got value=array([ True]) (ndarray)"),
    row("claims: None value", lambda: check_claim(CG_CLAIMS, "beyond_front_max", None, "<="), TypeError, "got value=None (NoneType)"),
    row("claims: a dict instead of CLAIMS", lambda: check_claim({"beyond_front_max": 0.1}, "beyond_front_max", 0.0, "<="), TypeError, "claims must be an experiment module's CLAIMS (a dataclass instance), got claims={'beyond_front_max': 0.1} (dict)"),
    row("claims: the CLAIMS class, not its instance", lambda: check_claim(type(CG_CLAIMS), "beyond_front_max", 0.0, "<="), TypeError, "(a dataclass instance), got claims=<class"),
    row("claims: np.float64 accepted", lambda: check_claim(CG_CLAIMS, "beyond_front_max", np.float64(0.0), "<=")),
    row("claims: 0-d tensor accepted", lambda: check_claim(CG_CLAIMS, "beyond_front_max", torch.tensor(0.0), "≤")),
    row("claims: one-element array accepted", lambda: check_claim(CG_CLAIMS, "beyond_front_max", np.array([0.0]), "<=")),
    row("claims: a claim that fails names it", lambda: check_claim(CG_CLAIMS, "beyond_front_max", 0.5, "<="), AssertionError, "claim Claims.beyond_front_max does not hold here"),
]


@pytest.mark.parametrize("call, error, fragment", CASES)
def test_input(call, error, fragment):
    if error is None:
        call()
        return
    with pytest.raises(error) as info:
        call()
    assert fragment in str(info.value), f"{type(info.value).__name__}: {info.value}"


def test_the_table_is_large_and_covers_every_module():
    modules = {case.id.split(":")[0] for case in CASES}
    assert len(CASES) >= 150 and modules >= {"checks", "data", "models", "objectives", "metrics", "train",
                                             "plots", "widgets", "experiments", "exercises"}


def test_the_kernel_is_usable_after_a_stopped_answer():
    import signal
    before = signal.getsignal(signal.SIGALRM)
    feedback("weighted-objective", never_returns)
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert feedback("weighted-objective", solution("weighted-objective"))[0] == "correct"
