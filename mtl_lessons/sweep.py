"""Results grids: a `Sweep` holds results over a grid of knob values × seeds, looked up by the knob
values themselves (what the sliders and plots read). It trains nothing; `fit_many` fills it."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

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

    def points(self) -> list[dict]:
        """Every grid point as a {knob: value} dict, in grid order."""
        names = list(self.knobs)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.knobs.values())]

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
        made by another experiment's function, given to the wrong explorer)."""
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
