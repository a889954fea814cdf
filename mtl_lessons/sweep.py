"""Results grids: a `Sweep` holds results over a grid of knob values × seeds, looked up by the knob
values themselves (what the sliders and plots read). It trains nothing: an experiment trains one model
per run of `runs()` and hands the flat results back with `fill`."""

from __future__ import annotations

import functools
import hashlib
import inspect
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from mtl_lessons._checks import MAX_GRID, check_ints, check_sequence, check_size


@dataclass(repr=False)
class Sweep:
    """Results over a grid of knob values × seeds, indexed by the knob values themselves.

    knobs:   knob name -> its grid values, in slider order (e.g. {"lam": (0.1, 1.0, 10.0)})
    seeds:   the seeds every grid point was trained with
    results: name -> array of shape (*[len(v) for v in knobs.values()], len(seeds), *extra)
    meta:    anything shared by the whole grid
    """

    knobs: dict[str, tuple]
    seeds: tuple[int, ...]
    results: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)  # what does not vary over the grid (e.g. the x of a plot)

    def __post_init__(self):
        if not isinstance(self.knobs, dict):
            raise TypeError(f"knobs must be a dict (knob name -> grid values), got {type(self.knobs).__name__}")
        if not self.knobs:
            raise ValueError("knobs is empty; a sweep needs at least one knob")
        knobs = {}
        for name, values in self.knobs.items():
            if not isinstance(name, str):
                raise TypeError(f"knob name {name!r} must be a str")
            values = check_sequence(f"knob {name!r}", values, min_len=0)
            if len(values) == 0:
                raise ValueError(f"knob {name!r} has an empty grid; give it at least one value")
            knobs[name] = tuple(v.item() if isinstance(v, (np.generic, torch.Tensor)) else v for v in values)
        self.knobs = knobs
        for name, values in self.knobs.items():
            if len(set(values)) != len(values):
                raise ValueError(f"knob {name!r} has repeated values {values}; grid values must be distinct")
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"knob {name!r} has a non-finite value {v}; grid values must be finite")
        self.seeds = check_ints("seeds", self.seeds, low=0, min_len=0)
        if len(self.seeds) == 0:
            raise ValueError("seeds is empty; a sweep needs at least one seed")
        check_size("the sweep's size (grid points x seeds)", math.prod(self.grid_shape) * len(self.seeds), MAX_GRID)
        if not isinstance(self.results, dict) or not isinstance(self.meta, dict):
            raise TypeError("results and meta must be dicts")
        self.results = {name: np.asarray(array) for name, array in self.results.items()}
        for name, array in self.results.items():
            self._check_result(name, array)

    def __repr__(self) -> str:
        """One line a learner can read after training: the grid, the seeds and the result names."""
        def values(v):
            return ", ".join(map(str, v)) if len(v) <= 6 else f"{v[0]}, {v[1]}, ..., {v[-1]}"

        knobs = " × ".join(f"{k} ({values(v)})" for k, v in self.knobs.items())
        names = ", ".join(list(self.results)[:8]) + (", ..." if len(self.results) > 8 else "")
        return (f"Sweep: {math.prod(self.grid_shape)} grid points = {knobs}, each with {len(self.seeds)} "
                f"seed{'s' * (len(self.seeds) != 1)}; results: {names or 'none yet'}")

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.knobs.values())

    def _check_result(self, name, array):
        want = self.grid_shape + (len(self.seeds),)
        if tuple(array.shape[:len(want)]) != want:
            raise ValueError(f"result {name!r} has shape {tuple(array.shape)} but must start with {want} "
                             f"(one entry per {', '.join(self.knobs)} value and per seed)")

    def add(self, name: str, array) -> None:
        """Store a result array (grid dims, seed dim, then any extra dims)."""
        if not isinstance(name, str):
            raise TypeError(f"name={name!r} must be a str")
        array = np.asarray(array.detach().cpu() if isinstance(array, torch.Tensor) else array)
        self._check_result(name, array)
        self.results[name] = array

    def runs(self, *, without=()) -> list[dict]:
        """Every training run of the grid, one per (grid point, seed), as {knob: value, ..., "seed": s}.

        The order is the grid's own: knobs in slider order with the last knob changing fastest, and the
        seed fastest of all (for knobs lam=(0.1, 1) and seeds (0, 1): lam 0.1 seed 0, lam 0.1 seed 1,
        lam 1 seed 0, lam 1 seed 1). Train the runs in this order, then hand the flat results to `fill`.
        without: knobs a result does not depend on (e.g. a baseline that ignores lam): the runs of the grid
        without them, in the same order; `fill(..., repeated_along=...)` takes their results back.

        >>> sweep = Sweep({"lam": (0.1, 1.0)}, seeds=(0, 1))
        >>> [(run["lam"], run["seed"]) for run in sweep.runs()]
        [(0.1, 0), (0.1, 1), (1.0, 0), (1.0, 1)]
        >>> sweep.runs(without="lam")
        [{'seed': 0}, {'seed': 1}]
        """
        return [{**point, "seed": seed} for point in self.points(without=without) for seed in self.seeds]

    def fill(self, name: str, flat, *, repeated_along=()) -> None:
        """Store a result given flat, one entry per run in `runs()` order: shape (len(runs()), *extra)
        becomes (*grid_shape, n_seeds, *extra). A result that does not depend on some knobs comes as one
        entry per run of `runs(without=those)` with `repeated_along=those`: the same numbers at each of
        their values.

        >>> sweep = Sweep({"lam": (0.1, 1.0)}, seeds=(0, 1))
        >>> sweep.fill("score", [run["lam"] * 10 + run["seed"] for run in sweep.runs()])
        >>> sweep.at("score", lam=1.0)
        array([10., 11.])
        >>> sweep.fill("baseline", [0.5, 0.7], repeated_along="lam")   # one per seed, the same at every lam
        >>> sweep.at("baseline", lam=0.1)
        array([0.5, 0.7])
        """
        flat = np.asarray(flat.detach().cpu() if isinstance(flat, torch.Tensor) else flat)
        sub_runs = self.runs(without=self._knob_names("repeated_along", repeated_along))
        if flat.ndim == 0 or flat.shape[0] != len(sub_runs):
            raise ValueError(f"result {name!r} has shape {flat.shape} but must start with {len(sub_runs)} (allowed: "
                             f"one entry per run of Sweep.runs(without={repeated_along!r}), grid points x seeds)")
        if repeated_along:  # each run of the whole grid takes the entry of its run without those knobs
            where = {tuple(run.values()): i for i, run in enumerate(sub_runs)}
            flat = flat[[where[tuple(run[k] for k in sub_runs[0])] for run in self.runs()]]
        self.add(name, flat.reshape(*self.grid_shape, len(self.seeds), *flat.shape[1:]))

    def _knob_names(self, what: str, names) -> tuple[str, ...]:
        names = (names,) if isinstance(names, str) else tuple(names)
        for name in names:
            if name not in self.knobs:
                raise ValueError(f"{what}={name!r} is not a knob of this sweep (allowed: {list(self.knobs)})")
        return names

    def points(self, *, without=()) -> list[dict]:
        """Every grid point as a {knob: value} dict, in grid order (the last knob fastest); without: knobs left out."""
        without = self._knob_names("without", without)
        knobs = {k: v for k, v in self.knobs.items() if k not in without}
        return [dict(zip(knobs, combo)) for combo in itertools.product(*knobs.values())]

    def index(self, **point) -> tuple[int, ...]:
        """Grid indices of a point given by knob values; every knob must be given and on the grid."""
        if set(point) != set(self.knobs):
            raise ValueError(f"point names knobs {sorted(point)} but the sweep's knobs are {list(self.knobs)}")
        idx = []
        for name, values in self.knobs.items():
            try:
                idx.append(values.index(point[name]))
            except ValueError:
                raise ValueError(f"{name}={point[name]!r} is not on the grid (allowed: {values})") from None
        return tuple(idx)

    def at(self, result: str, **point) -> np.ndarray:
        """One result at one grid point: shape (n_seeds, *extra)."""
        return self._result(result)[self.index(**point)]

    def curve(self, result: str, along: str, **fixed) -> tuple[np.ndarray, np.ndarray]:
        """A result along one knob with the others fixed: (values of `along`, array (len, n_seeds, *extra))."""
        if along not in self.knobs:
            raise ValueError(f"along={along!r} is not a knob (allowed: {list(self.knobs)})")
        rows = [self.at(result, **{**fixed, along: v}) for v in self.knobs[along]]
        return np.asarray(self.knobs[along]), np.stack(rows)

    def require(self, *, knobs=(), results=(), meta=(), by: str = "this explorer") -> "Sweep":
        """Raise a clear error unless the sweep has these knobs, results and meta entries (e.g. a sweep
        made by another experiment's function, given to the wrong explorer). Called as
        `Sweep.require(sweep, ...)` it also refuses what is not a Sweep at all."""
        if not isinstance(self, Sweep):
            raise TypeError(f"sweep must be a Sweep (for {by}), got {type(self).__name__}")
        for kind, wanted, have in (("knob", knobs, self.knobs), ("result", results, self.results),
                                   ("meta entry", meta, self.meta)):
            missing = [k for k in wanted if k not in have]
            if missing:
                raise ValueError(f"{by} needs the {kind} {missing[0]!r}, which this sweep does not have "
                                 f"(its {kind}s: {list(have)}); was the sweep made by another experiment?")
        return self

    def _result(self, name):
        if name not in self.results:
            raise KeyError(f"result {name!r} not in sweep (has: {list(self.results)})")
        return self.results[name]


# ---- an opt-in cache of trained grids on disk (restart-and-run-all in class: the second run is instant) ----

CACHE_ENV = "MTL_CACHE"  # unset, "" or "0": off; "1": ~/.cache/mtl-lessons (or $XDG_CACHE_HOME); else a folder


def cache_dir() -> Path | None:
    """The folder trained grids are cached in, or None (the default: every grid is trained)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value in ("", "0"):
        return None
    folder = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mtl-lessons" if value == "1"
              else Path(value).expanduser())
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{CACHE_ENV}={value!r} names a file, not a folder: set it to 1 (the default folder "
                         f"~/.cache/mtl-lessons), to a folder, or to 0 (no cache)")
    return folder


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """A digest of the package's own source (its version is in __init__.py) and of the torch and numpy
    versions it runs on: any change retrains."""
    digest = hashlib.sha256(f"torch {torch.__version__} numpy {np.__version__}".encode())
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _plain(value):
    """Arguments as plain values for the cache key: range(3), (0, 1, 2), np.arange(3) all key the same."""
    if isinstance(value, (np.generic, torch.Tensor)) and np.ndim(value) == 0:
        return value.item()
    if isinstance(value, (range, list, tuple, np.ndarray, torch.Tensor)):
        return [_plain(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} cannot key the cache")


def _encode(value):
    """A Sweep's contents as what torch.load(weights_only=True) reads back: tensors, numbers, str, containers."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__numpy__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {"__dict__": [(_encode(k), _encode(v)) for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"__tuple__" if isinstance(value, tuple) else "__list__": [_encode(v) for v in value]}
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    raise TypeError(f"{type(value).__name__} cannot be cached")


def _decode(value):
    if isinstance(value, dict):
        (kind, inner), = value.items()
        if kind == "__numpy__":
            return inner.numpy()
        if kind == "__dict__":
            return {_decode(k): _decode(v) for k, v in inner}
        return (tuple if kind == "__tuple__" else list)(_decode(v) for v in inner)
    return value


def cached(fn):
    """Keep what a sweep function returns on disk when MTL_CACHE is set; the same call later loads it.

    The key is the function, every argument but `progress`, and a digest of the package's source
    and of the torch and numpy versions: a change to any of them trains again. Files are read with
    torch.load(weights_only=True). Off by default: learners see every grid trained.
    """
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        folder = cache_dir()
        if folder is None:
            return fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = {k: v for k, v in bound.arguments.items() if k != "progress"}
        try:
            key = json.dumps([fn.__module__, fn.__qualname__, _plain(arguments), _code_digest()], sort_keys=True)
        except TypeError:
            return fn(*args, **kwargs)  # an argument the key cannot hold: train, as without the cache
        path = folder / f"{fn.__name__}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
        if path.exists():
            try:
                saved = _decode(torch.load(path, weights_only=True))
                sweep = Sweep(saved["knobs"], saved["seeds"], saved["results"], saved["meta"])
            except Exception as error:  # a truncated or foreign file: train again and overwrite it
                print(f"{CACHE_ENV}: could not read {path} ({type(error).__name__}); training again")
            else:
                print(f"{fn.__name__}: the trained grid is read from {path} ({CACHE_ENV} is set); "
                      f"unset {CACHE_ENV} to train it again")
                return sweep
        sweep = fn(*args, **kwargs)
        try:
            payload = _encode({"knobs": sweep.knobs, "seeds": tuple(sweep.seeds), "results": sweep.results,
                               "meta": sweep.meta})
        except TypeError as error:
            print(f"{CACHE_ENV}: {fn.__name__}'s grid is not cached ({error})")
            return sweep
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(payload, partial)
        os.replace(partial, path)  # whole or not at all, even if two kernels write at once
        return sweep

    return wrapper
