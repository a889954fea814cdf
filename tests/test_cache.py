"""The opt-in cache of trained grids (MTL_CACHE): off by default, exact round trip, keyed by arguments and code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtl_lessons import sweep as sweep_module
from mtl_lessons.sweep import CACHE_ENV, Sweep, cached

CALLS = []


@cached
def toy_sweep(lams=(0.1, 1.0), seeds=range(2), *, steps: int = 3, progress: bool = True) -> Sweep:
    CALLS.append((tuple(lams), tuple(seeds), steps))
    rng = np.random.default_rng(steps)
    s = Sweep({"lam": tuple(lams)}, tuple(seeds),
              {"acc": rng.random((len(lams), len(seeds))).astype(np.float32),
               "count": np.arange(len(lams) * len(seeds), dtype=np.int64).reshape(len(lams), len(seeds))})
    s.meta.update(x_grid=np.linspace(0, 1, 5), truth=torch.arange(3.0), steps=steps, name="toy",
                  controls={"frozen": {"test": np.ones(2)}, 3: (1, 2.5)}, nothing=None, flags=[True, False])
    return s


@pytest.fixture
def cache(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "grids"))
    return tmp_path / "grids"


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    return type(a) is type(b) and a == b


def test_off_by_default_every_call_trains(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    toy_sweep(), toy_sweep()
    assert len(CALLS) == 2 and not any(tmp_path.iterdir())
    monkeypatch.setenv(CACHE_ENV, "0")
    toy_sweep()
    assert len(CALLS) == 3 and not any(tmp_path.iterdir())


def test_second_call_reads_the_same_grid(cache, capsys):
    first = toy_sweep(progress=False)
    second = toy_sweep(progress=True)  # the progress bar is not part of the key
    assert len(CALLS) == 1, "the second call must not train"
    assert "read from" in capsys.readouterr().out
    assert second.knobs == first.knobs and second.seeds == first.seeds
    assert same(first.results, second.results) and same(first.meta, second.meta)
    files = list(cache.glob("toy_sweep-*.pt"))
    assert len(files) == 1
    torch.load(files[0], weights_only=True)  # safe to load: tensors, numbers, strings and containers only


def test_the_key_is_every_argument_in_plain_form(cache):
    toy_sweep(seeds=range(2))
    toy_sweep(seeds=(0, 1))
    toy_sweep(seeds=np.arange(2))
    toy_sweep((np.float64(0.1), 1.0))
    assert len(CALLS) == 1, "range(2), (0, 1) and np.arange(2) are the same seeds"
    toy_sweep(steps=4)
    toy_sweep(lams=(0.1, 1.0, 10.0))
    assert len(CALLS) == 3, "other arguments are another grid"


def test_a_change_to_the_code_trains_again(cache, monkeypatch):
    toy_sweep()
    monkeypatch.setattr(sweep_module, "_code_digest", lambda: "another version")
    toy_sweep()
    assert len(CALLS) == 2


def test_a_damaged_file_is_trained_again_and_replaced(cache, capsys):
    toy_sweep()
    (path,) = cache.glob("toy_sweep-*.pt")
    path.write_bytes(b"not a torch file")
    again = toy_sweep()
    assert len(CALLS) == 2 and "could not read" in capsys.readouterr().out
    assert isinstance(again, Sweep)
    toy_sweep()
    assert len(CALLS) == 2, "the damaged file was replaced"


def test_a_file_named_as_the_folder_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "a_file"
    target.write_text("x")
    monkeypatch.setenv(CACHE_ENV, str(target))
    with pytest.raises(ValueError, match="MTL_CACHE.*names a file"):
        toy_sweep()


def test_every_sweep_function_of_the_course_is_cached():
    import inspect

    import mtl_lessons.experiments as experiments

    for name, module in inspect.getmembers(experiments, inspect.ismodule):
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fname.endswith("_sweep") and fn.__module__ == module.__name__:
                assert hasattr(fn, "__wrapped__"), f"{module.__name__}.{fname} is not @cached"
