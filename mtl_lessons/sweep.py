"""Results grids: a `Sweep` holds results over a grid of knob values × seeds, looked up by the knob
values themselves (what the sliders and plots read). It trains nothing; `fit_many` fills it."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
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
        if not self.knobs:
            raise ValueError("knobs is empty; a sweep needs at least one knob")
        self.knobs = {name: tuple(values) for name, values in self.knobs.items()}
        for name, values in self.knobs.items():
            if len(values) == 0:
                raise ValueError(f"knob {name!r} has an empty grid; give it at least one value")
            if len(set(values)) != len(values):
                raise ValueError(f"knob {name!r} has repeated values {values}; grid values must be distinct")
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"knob {name!r} has a non-finite value {v}; grid values must be finite")
        self.seeds = tuple(self.seeds)
        if len(self.seeds) == 0:
            raise ValueError("seeds is empty; a sweep needs at least one seed")
        for name, array in self.results.items():
            self._check_result(name, array)

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
        array = np.asarray(array)
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

    def _result(self, name):
        if name not in self.results:
            raise KeyError(f"result {name!r} not in sweep (has: {list(self.results)})")
        return self.results[name]
