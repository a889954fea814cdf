"""fit_many trains every model exactly as fit trains it alone; Sweep lookups and errors."""

import math

import numpy as np
import pytest
import torch

from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.models import MultiTaskNet, freeze_layers
from mtl_lessons.schedules import Rates
from mtl_lessons.stack import ModelStack
from mtl_lessons.sweep import Sweep
from mtl_lessons.train import fit, fit_many, pad_tasks

SEEDS = [0, 1, 2]


def factory():
    return MultiTaskNet(1, 8, 2, 3, sharing_depth=1)


@pytest.fixture(scope="module")
def data():
    tasks = [make_sinusoid_tasks(3, 6, seed=s) for s in SEEDS]
    return tasks, torch.stack([t.x_train for t in tasks]), torch.stack([t.y_train for t in tasks])


@pytest.mark.parametrize("optimizer, steps, atol", [("sgd", 50, 1e-5), ("adam", 50, 1e-4)])
def test_vectorised_training_equals_training_each_model_alone(data, optimizer, steps, atol):
    tasks, x, y = data
    weights = torch.tensor([[1.0, 0.5, 2.0], [1.0, 1.0, 1.0], [0.1, 1.0, 3.0]])
    stack = ModelStack.from_factory(factory, SEEDS)
    history = fit_many(stack, (x, y), weights=weights, optimizer=optimizer, lr=0.02, steps=steps, progress=False)
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = factory()
        h = fit(alone, (tasks[i].x_train, tasks[i].y_train), weights=weights[i], optimizer=optimizer, lr=0.02,
                steps=steps, progress=False)
        assert np.allclose(history.task_losses[:, i], h.task_losses, atol=atol)
        for (name, p), q in zip(alone.named_parameters(), stack.model(i).parameters()):
            assert torch.allclose(p, q, atol=atol), name


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_vectorised_training_equals_alone_with_frozen_layers_and_sample_weights(data, optimizer):
    tasks, x, y = data
    mask = (torch.rand(x.shape[:3], generator=torch.Generator().manual_seed(0)) > 0.3).float()
    mask[..., 0] = 1.0  # every task keeps at least one example

    def frozen_factory():
        return freeze_layers(MultiTaskNet(1, 8, 2, 3, sharing_depth=1), 1)

    stack = ModelStack.from_factory(frozen_factory, SEEDS)
    history = fit_many(stack, (x, y, mask), optimizer=optimizer, lr=0.02, steps=30, progress=False)
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = frozen_factory()
        h = fit(alone, (tasks[i].x_train, tasks[i].y_train, mask[i]), optimizer=optimizer, lr=0.02,
                steps=30, progress=False)
        assert np.allclose(history.task_losses[:, i], h.task_losses, atol=1e-4)
        for (name, p), q in zip(alone.named_parameters(), stack.model(i).parameters()):
            assert torch.allclose(p, q, atol=1e-4), name


@pytest.mark.parametrize("sharing_depth, activation, out_features", [(0, "tanh", 1), (1, "relu", 2), (2, "tanh", 3)])
@pytest.mark.parametrize("same_inputs", [False, True])
def test_a_stack_computes_what_each_model_computes(sharing_depth, activation, out_features, same_inputs):
    def net():
        return MultiTaskNet(2, 5, 2, 3, out_features, sharing_depth=sharing_depth, activation=activation)

    stack = ModelStack.from_factory(net, [0, 1, 2, 3])
    x = torch.randn(4, 7, 2) if same_inputs else torch.randn(4, 3, 7, 2)  # (M, n, in) or (M, T, n, in)
    out = stack(x)
    assert out.shape == (4, 3, 7, out_features)
    for m in range(4):
        assert torch.allclose(out[m], stack.model(m)(x[m]), atol=1e-6)


def test_a_stack_of_any_module_runs_with_vmap():
    stack = ModelStack.from_factory(lambda: torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh()), [0, 1])
    x = torch.randn(2, 5, 2)
    for m in range(2):
        assert torch.allclose(stack(x)[m], stack.model(m)(x[m]), atol=1e-6)


def test_lr_scale_in_fit_many_equals_fit_model_by_model(data):
    """A rate of its own per parameter (and per model): fit_many equals fit model by model, and a scale of 0
    freezes, a scale of 1 changes nothing."""
    tasks, x, y = data
    per_model = torch.tensor([0.1, 1.0, 0.0])
    per_task = torch.tensor([[1.0, 0.5, 2.0], [1.0, 1.0, 1.0], [0.0, 3.0, 1.0]])  # heads.weight is (M, 3, ...)
    stack = ModelStack.from_factory(factory, SEEDS)
    before = stack.params["layers.0.weight"].detach().clone()
    fit_many(stack, (x, y), optimizer="sgd", steps=30, progress=False,
             lr=Rates(0.05, scale={"layers.0.weight": per_model, "heads.weight": per_task, "heads.bias": 0.5}))
    assert torch.equal(stack.params["layers.0.weight"][2], before[2])
    for i, seed in enumerate(SEEDS):
        torch.manual_seed(seed)
        alone = factory()
        fit(alone, (tasks[i].x_train, tasks[i].y_train), optimizer="sgd", steps=30, progress=False,
            lr=Rates(0.05, scale={"layers.0.weight": float(per_model[i]), "heads.weight": per_task[i], "heads.bias": 0.5}))
        for (name, p), q in zip(alone.named_parameters(), stack.model(i).parameters()):
            assert torch.allclose(p, q, atol=1e-6), name
    torch.manual_seed(0)
    plain, ones = factory(), factory()
    ones.load_state_dict(plain.state_dict())
    fit(plain, (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", lr=0.05, steps=10, progress=False)
    fit(ones, (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", steps=10, progress=False,
        lr=Rates(0.05, scale={name: 1.0 for name, _ in ones.named_parameters()}))
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), ones.parameters()))


@pytest.mark.parametrize("scale, optimizer, message", [
    ({"heads.weight": 0.1}, "adam", r"lr.scale needs optimizer='sgd'"),
    ({"nope": 0.1}, "sgd", r"lr.scale names 'nope'"),
    ({"heads.weight": -1.0}, "sgd", r"lr.scale\['heads.weight'\]=-1.0 is out of range"),
    ({"heads.weight": torch.ones(5)}, "sgd", r"has shape \(5,\)"),
    ({"heads.weight": float("nan")}, "sgd", "must be finite"),
    ([0.1], "sgd", r"lr.scale must be a dict"),
])
def test_lr_scale_bad_input(data, scale, optimizer, message):
    tasks, _, _ = data
    with pytest.raises((ValueError, TypeError), match=message):
        fit(factory(), (tasks[0].x_train, tasks[0].y_train), optimizer=optimizer, lr=Rates(0.1, scale=scale), steps=1,
            progress=False)


def test_frozen_parameters_stay_put(data):
    _, x, y = data
    stack = ModelStack.from_factory(lambda: freeze_layers(factory(), 1), SEEDS)
    before = {k: v.clone() for k, v in stack.params.items()}
    fit_many(stack, (x, y), optimizer="sgd", lr=0.1, steps=5, progress=False)
    assert torch.equal(stack.params["layers.0.weight"], before["layers.0.weight"])
    assert not torch.equal(stack.params["heads.weight"], before["heads.weight"])
    assert not stack.model(0).layers[0].weight.requires_grad


def test_training_is_deterministic(data):
    tasks, _, _ = data
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        runs.append(fit(factory(), (tasks[0].x_train, tasks[0].y_train), optimizer="adam", lr=0.01, steps=20,
                        progress=False).task_losses)
    assert np.array_equal(*runs)


def test_training_bad_input(data):
    tasks, x, y = data
    with pytest.raises(ValueError, match="optimizer='rmsprop' is not allowed"):
        fit(factory(), (tasks[0].x_train, tasks[0].y_train), optimizer="rmsprop", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr=0.0 is out of range"):
        fit(factory(), (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", lr=0.0, steps=1)
    with pytest.raises(ValueError, match="x contains non-finite"):
        fit(factory(), (tasks[0].x_train * float("nan"), tasks[0].y_train), optimizer="sgd", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="one row per model"):
        fit_many(ModelStack.from_factory(factory, [0, 1]), (x, y), optimizer="sgd", lr=0.1, steps=1)
    with pytest.raises(ValueError, match=r"x has shape \(3, 2, 6, 1\) but must be"):
        ModelStack.from_factory(factory, SEEDS)(x[:, :2])
    with pytest.raises(ValueError, match="models is empty"):
        ModelStack([])


def make_sweep():
    return Sweep({"lam": (0.1, 1.0, 10.0), "depth": (0, 2)}, seeds=(0, 1),
                 results={"err": np.arange(12.0).reshape(3, 2, 2)})


def test_sweep_lookup_and_curves():
    sweep = make_sweep()
    assert sweep.index(lam=1.0, depth=2) == (1, 1)
    assert sweep.at("err", lam=1.0, depth=2).tolist() == [6.0, 7.0]
    values, curve = sweep.curve("err", "lam", depth=0)
    assert values.tolist() == [0.1, 1.0, 10.0] and curve.shape == (3, 2)
    assert len(sweep.points()) == 6


@pytest.mark.parametrize("call, message", [
    (lambda s: s.at("err", lam=0.5, depth=0), r"lam=0.5 is not on the grid \(allowed: \(0.1, 1.0, 10.0\)\)"),
    (lambda s: s.at("err", lam=1.0), "point names knobs"),
    (lambda s: s.at("nope", lam=1.0, depth=0), "result 'nope' not in sweep"),
    (lambda s: s.curve("err", "width"), "along='width' is not a knob"),
    (lambda s: s.add("bad", np.zeros((3, 2, 5))), "must start with"),
])
def test_sweep_bad_lookups(call, message):
    with pytest.raises((ValueError, KeyError), match=message):
        call(make_sweep())


@pytest.mark.parametrize("knobs, seeds, results, message", [
    ({"lam": ()}, (0,), {}, "empty grid"),
    ({}, (0,), {}, "knobs is empty"),
    ({"lam": (1.0, math.nan)}, (0,), {}, "non-finite"),
    ({"lam": (1.0, 1.0)}, (0,), {}, "repeated"),
    ({"lam": (1.0, 2.0)}, (), {}, "seeds is empty"),
    ({"lam": (1.0, 2.0)}, (0, 1, 2), {"err": np.zeros((2, 2))}, "must start with"),  # mismatched seeds
])
def test_sweep_bad_construction(knobs, seeds, results, message):
    with pytest.raises(ValueError, match=message):
        Sweep(knobs, seeds, results)


def test_pad_tasks_pads_masks_and_keeps_dtypes():
    xs = [[torch.ones(2, 3), torch.ones(4, 3)], [torch.ones(1, 3), torch.ones(3, 3)]]
    ys = [[torch.tensor([1, 2]), torch.tensor([0, 1, 2, 3])], [torch.tensor([5]), torch.tensor([6, 7, 8])]]
    x, y, mask = pad_tasks(xs, ys)
    assert x.shape == (2, 2, 4, 3) and y.shape == (2, 2, 4) and y.dtype == torch.long
    assert mask.sum(-1).tolist() == [[2, 4], [1, 3]]
    assert torch.equal(y[1, 1], torch.tensor([6, 7, 8, 0])) and x[0, 0, 2:].abs().sum() == 0


@pytest.mark.parametrize("xs, ys, message", [
    ([], [], "must match and be non-empty"),
    ([[torch.ones(2, 1)]], [[torch.ones(2, 1)], [torch.ones(2, 1)]], "must match"),
    ([[torch.ones(2, 1)], [torch.ones(2, 1), torch.ones(2, 1)]], [[torch.ones(2, 1)]] * 2, "same number"),
    ([[torch.ones(2, 1)]], [[torch.ones(3, 1)]], r"xs\[0\]\[0\] has 2 examples but ys\[0\]\[0\] has 3"),
])
def test_pad_tasks_bad_input(xs, ys, message):
    with pytest.raises(ValueError, match=message):
        pad_tasks(xs, ys)


def test_training_leaves_torch_on_one_thread_and_never_raises_the_count_again():
    """Restoring 2+ threads would turn MKL's dynamic threading off (see stack.use_one_thread), which
    made every later small op in the kernel wait for a second thread: fit must not restore it."""
    import subprocess
    import sys
    code = ("import torch\n"
            "from mtl_lessons.models import MultiTaskNet\n"
            "from mtl_lessons.train import fit\n"
            "torch.set_num_threads(2)\n"
            "calls = []\n"
            "real = torch.set_num_threads\n"
            "torch.set_num_threads = lambda n: (calls.append(n), real(n))[1]\n"
            "net = MultiTaskNet(1, 4, 1, 2, 1, sharing_depth=1)\n"
            "x = torch.randn(2, 5, 1)\n"
            "fit(net, (x, x), optimizer=\"sgd\", lr=0.1, steps=2, progress=False)\n"
            "fit(net, (x, x), optimizer=\"sgd\", lr=0.1, steps=2, progress=False)\n"
            "print(torch.get_num_threads(), calls)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "1", out
    assert out[1:] == ["[1]"], f"set_num_threads was called with {out[1:]}: only one switch to 1 thread is allowed"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("sharing_depth", [0, 1, 2])
def test_shared_inputs_run_the_trunk_once_with_the_same_numbers(optimizer, sharing_depth):
    """x with a task dimension of 1 (every task sees the same inputs) gives the outputs and the trained
    parameters of x repeated for every task, in fit_many and in fit, with one loss per task and padding."""
    def net():
        return MultiTaskNet(3, 8, 2, 3, 3, sharing_depth=sharing_depth)

    g = torch.Generator().manual_seed(sharing_depth)
    x = torch.randn(4, 1, 11, 3, generator=g)
    y = torch.stack([torch.randint(0, 3, (4, 11), generator=g).float(),
                     torch.randint(0, 2, (4, 11), generator=g).float(), torch.randn(4, 11, generator=g)], 1)
    mask = torch.ones(4, 3, 11)
    mask[1, :, 7:] = 0.0  # a model with fewer examples (padding), as pad_tasks gives
    kw = dict(loss=("ce", "ce", "mse"), optimizer=optimizer, steps=40, progress=False,
              lr=[0.1, 0.3, 0.1, 0.05] if optimizer == "sgd" else 0.01, weights=[[1, 1, 0.3]] * 2 + [[1, 1, 1]] * 2)
    repeated, shared = (ModelStack.from_factory(net, [0, 1, 2, 3]) for _ in range(2))
    assert torch.allclose(shared(x), repeated(x.expand(-1, 3, -1, -1)), atol=1e-6)
    assert torch.allclose(shared(x[:, 0]), repeated(x.expand(-1, 3, -1, -1)), atol=1e-6)
    h_rep = fit_many(repeated, (x.expand(-1, 3, -1, -1).clone(), y, mask), **kw)
    h_shared = fit_many(shared, (x, y, mask), **kw)
    assert np.allclose(h_shared.task_losses, h_rep.task_losses, atol=1e-6)
    for name, p in repeated.params.items():
        assert torch.allclose(shared.params[name], p, atol=1e-6), name
    # fit: one model, x (1, n, in) against x repeated; and the model's own forward on (n, in) and (1, n, in)
    torch.manual_seed(0)
    a = net()
    b = net()
    b.load_state_dict(a.state_dict())
    one = dict(kw, lr=0.1 if optimizer == "sgd" else 0.01, weights=[1, 1, 0.3])
    fa = fit(a, (x[1].expand(3, -1, -1).clone(), y[1], mask[1]), **one)
    fb = fit(b, (x[1], y[1], mask[1]), **one)
    assert np.allclose(fa.task_losses, fb.task_losses, atol=1e-6)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=1e-6), name
    assert torch.allclose(a(x[1, 0]), a(x[1].expand(3, -1, -1)), atol=1e-6)
    assert torch.allclose(a(x[1]), a(x[1].expand(3, -1, -1)), atol=1e-6)


def test_shared_inputs_need_a_task_dimension_of_one_or_n_tasks():
    stack = ModelStack.from_factory(lambda: MultiTaskNet(3, 4, 2, 3, sharing_depth=1), [0])
    with pytest.raises(ValueError, match="must be"):
        stack(torch.randn(1, 2, 5, 3))
    with pytest.raises(ValueError, match="must be"):
        MultiTaskNet(3, 4, 2, 3, sharing_depth=1)(torch.randn(2, 5, 3))

def test_take_and_concat_equal_stacking_the_models_and_own_their_tensors():
    stack = ModelStack.from_factory(lambda: freeze_layers(factory(), 1), SEEDS)
    other = ModelStack.from_factory(lambda: freeze_layers(factory(), 1), [7])
    for got, models in ((stack.take([2, 0, 2]), [stack.model(i) for i in (2, 0, 2)]),
                        (ModelStack.concat([stack, other]), [*(stack.model(i) for i in range(3)), other.model(0)])):
        want = ModelStack(models)
        assert got.frozen == want.frozen == {"layers.0.weight", "layers.0.bias"}
        for name, p in want.params.items():
            assert torch.equal(got.params[name], p) and got.params[name].requires_grad == p.requires_grad
            assert got.params[name].is_leaf
        got.params["heads.weight"].data.add_(1.0)
    assert torch.equal(stack.params["heads.weight"], ModelStack([stack.model(i) for i in range(3)]).params["heads.weight"])
    with pytest.raises(ValueError, match="index=3 is out of range"):
        stack.take([3])
    with pytest.raises(ValueError, match="one set of frozen parameters"):
        ModelStack.concat([stack, ModelStack.from_factory(factory, [0])])
    with pytest.raises(ValueError, match="another architecture"):
        ModelStack.concat([stack, ModelStack.from_factory(lambda: MultiTaskNet(1, 4, 2, 3, sharing_depth=1), [0])])


def test_pad_tasks_output_feeds_fit_many_as_data():
    """pad_tasks' (x, y, sample_weights) is fit_many's data: padding changes nothing (the model alone, unpadded)."""
    xs = [[torch.randn(5, 1)], [torch.randn(3, 1)]]
    ys = [[torch.randn(5, 1)], [torch.randn(3, 1)]]
    stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 4, 1, 1, sharing_depth=1), [0, 1])
    many = fit_many(stack, pad_tasks(xs, ys), optimizer="sgd", lr=0.1, steps=5, progress=False)
    torch.manual_seed(1)
    alone = MultiTaskNet(1, 4, 1, 1, sharing_depth=1)
    one = fit(alone, (xs[1][0][None], ys[1][0][None]), optimizer="sgd", lr=0.1, steps=5, progress=False)
    assert np.allclose(many.task_losses[:, 1], one.task_losses, atol=1e-6)


class _Bar:
    """A stand-in for a tqdm shared by several calls: counts what it is advanced by."""

    def __init__(self):
        self.n = 0

    def update(self, n=1):
        self.n += n


def test_progress_takes_a_description_or_an_open_bar_and_record_its_every(data):
    """progress: a str names the bar; an open bar is advanced once per step, across calls. record=(f, every)
    records at 0, every, 2 every, ... and after the last step; the same run gives the same numbers."""
    tasks, x, y = data
    bar, histories = _Bar(), []
    for progress in (False, "a description", bar, bar):
        torch.manual_seed(0)
        histories.append(fit(factory(), (tasks[0].x_train, tasks[0].y_train), optimizer="sgd", lr=0.1, steps=7,
                             progress=progress, record=(lambda m: m.heads.bias.sum(), 3)))
    assert bar.n == 14
    assert histories[0].record_steps.tolist() == [0, 3, 6, 7]
    assert all(np.array_equal(h.task_losses, histories[0].task_losses) for h in histories)
    assert all(np.array_equal(h.records, histories[0].records) for h in histories)
    stack = ModelStack.from_factory(factory, SEEDS)
    fit_many(stack, (x, y), optimizer="sgd", lr=0.1, steps=4, progress=bar)
    assert bar.n == 18


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(data=[1, 2]), TypeError, r"data must be a tuple \(x, y\) or \(x, y, sample_weights\), got list"),
    (dict(data=(1,)), ValueError, r"data has 1 entries but must be \(x, y\) or \(x, y, sample_weights\)"),
    (dict(progress=3), TypeError, r"progress=3 must be True or False, a description \(str\) or a progress bar"),
    (dict(record=(lambda m: 1.0, 0)), ValueError, r"every=0 is out of range \(allowed: 1..2\)"),
    (dict(record=(lambda m: 1.0,)), ValueError, r"record is a tuple of 1 entries"),
    (dict(weights="equal"), TypeError, r"weights must be None, one weight per task .* or a weighting Strategy"),
    (dict(lr=Rates(0.1, schedule={"heads.weight": torch.ones(3)})), ValueError,
     r"lr.schedule\['heads.weight'\] has shape \(3,\) but its first axis must be the steps \(2\)"),
    (dict(lr=Rates("0.1")), TypeError, r"lr.lr='0.1' must be a real number"),
])
def test_fit_bad_new_forms(data, kwargs, error, message):
    tasks, _, _ = data
    args = dict(data=(tasks[0].x_train, tasks[0].y_train), optimizer="sgd", lr=0.1, steps=2, progress=False)
    args.update(kwargs)
    with pytest.raises(error, match=message):
        fit(factory(), args.pop("data"), **args)
