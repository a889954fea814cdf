"""Argument checks shared by every public helper: each error names the
parameter, the value received and what is allowed.

Natural forms are accepted: numpy integers and floats (and 0-d tensors) where a number is
expected, lists / tuples / ranges / 1-d arrays where a sequence is, numpy arrays where a
tensor is. Sizes that would exhaust a laptop's memory or time are refused at once, with
the limit (the LIMITS below).
"""

from __future__ import annotations

import dataclasses

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

# ---------------------------------------------------------------- limits
# Far above anything the course needs, far below what would swap or hang a laptop.
MAX_STEPS = 100_000  # training steps in one call (the course uses <= 1000)
MAX_ELEMENTS = 50_000_000  # numbers in one tensor the package builds (200 MB of float32)
MAX_PARAMETERS = 10_000_000  # parameters of one network (40 MB)
MAX_LAYERS = 1_000  # hidden layers of one network
MAX_GRID = 100_000  # grid points x seeds of one sweep (= models trained)
MAX_FIGURE_INCHES = 50.0  # one side of a figure
MAX_FIGURE_PIXELS = 25_000_000  # width x height in pixels (5000 x 5000)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar(value):
    """A 0-d (or one-element) tensor or array as a Python number; anything else unchanged."""
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        return value.item()
    return value


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return `value` as an int (numpy integers and 0-d integer tensors accepted) in [low, high]."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        hint = " (a whole number; use int(...) or round(...))" if isinstance(value, numbers.Real) else ""
        raise TypeError(f"{name}={_shown(value)} must be an int{hint}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name}={value} is out of range (allowed: {lo}..{hi})")
    return value


def check_float(name: str, value, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """Return `value` as a float if finite and in range (numpy numbers, 0-d tensors accepted)."""
    value = _scalar(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={_shown(value)} must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be finite")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name}={value} is out of range (allowed: {op} {low})")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} is out of range (allowed: <= {high})")
    return value


def check_bool(name: str, value) -> bool:
    """Return `value` if it is True or False (numpy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={_shown(value)} must be True or False")
    return bool(value)


def check_choice(name: str, value, allowed: Sequence) -> object:
    """Return `value` if it is one of `allowed`, else raise naming `name`."""
    try:
        ok = value in allowed
    except TypeError:  # e.g. an unhashable value
        ok = False
    if not ok or isinstance(value, bool):
        raise ValueError(f"{name}={_shown(value)} is not allowed (allowed: {', '.join(map(repr, allowed))})")
    return value


def check_sequence(name: str, value, *, item: Callable | None = None, min_len: int = 1,
                   max_len: int | None = None, distinct: bool = False, item_name: str | None = None) -> tuple:
    """Return `value` as a tuple: a list, tuple, range, 1-d array or tensor (not a str, number or dict).

    item(item_name, v) checks and converts every entry (e.g. check_int), so `seeds=np.arange(5)`
    gives a tuple of Python ints; its error says where: "lam=-1.0 is out of range (...) (lams[1])".
    """
    if isinstance(value, (torch.Tensor, np.ndarray)):
        if value.ndim != 1:
            raise ValueError(f"{name} has shape {tuple(value.shape)} but must be 1-d (a list of values)")
        value = value.tolist()
    if isinstance(value, (str, bytes, Mapping, set, frozenset)) or not isinstance(value, Iterable):
        example = f" such as [{_shown(value)}]" if isinstance(value, numbers.Number) else ""
        raise TypeError(f"{name}={_shown(value)} must be a sequence (a list, tuple, range or 1-d array){example}")
    values = tuple(value)
    if len(values) < min_len:
        raise ValueError(f"{name}={_shown(values)} has {len(values)} values (allowed: at least {min_len})")
    if max_len is not None and len(values) > max_len:
        raise ValueError(f"{name} has {len(values):,} values (allowed: at most {max_len:,})")
    if item is not None:
        checked = []
        for i, v in enumerate(values):
            try:
                checked.append(item(item_name or name, v))
            except (TypeError, ValueError) as error:
                raise type(error)(f"{error} ({name}[{i}])") from None
        values = tuple(checked)
    if distinct and len(set(values)) != len(values):
        raise ValueError(f"{name}={_shown(values)} has repeated values; they must be distinct")
    return values


def check_ints(name: str, value, *, low: int | None = None, high: int | None = None, min_len: int = 1,
               distinct: bool = False, item_name: str | None = None) -> tuple[int, ...]:
    """A sequence of ints in [low, high] (seeds, sizes), as a tuple of Python ints."""
    return check_sequence(name, value, item=lambda n, v: check_int(n, v, low=low, high=high), min_len=min_len,
                          distinct=distinct, item_name=item_name)


def check_floats(name: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, min_len: int = 1, distinct: bool = False,
                 item_name: str | None = None) -> tuple[float, ...]:
    """A sequence of finite floats in range (a grid of lam, relatedness), as a tuple of Python floats."""
    return check_sequence(name, value, item=lambda n, v: check_float(n, v, low=low, high=high, low_open=low_open),
                          min_len=min_len, distinct=distinct, item_name=item_name)


def check_settings(config_class, settings: dict, by: str) -> dict:
    """The keyword settings a grid function passes on to its config dataclass: an unknown name is refused
    with the names allowed (a typo never falls back silently to a default)."""
    allowed = [f.name for f in dataclasses.fields(config_class)]
    for name, value in settings.items():
        if name not in allowed:
            raise TypeError(f"{by} got {name}={value!r}, which is not one of its settings "
                            f"(allowed: {', '.join(allowed)})")
    return settings


def check_lrs(lrs, name: str = "lrs") -> tuple[float, ...]:
    """The learning rates a tuned arm chooses from: 1 to 8 distinct rates in (0, 1]."""
    lrs = check_floats(name, lrs, low=0.0, low_open=True, distinct=True)
    if not 1 <= len(lrs) <= 8 or max(lrs) > 1.0:
        raise ValueError(f"{name}={lrs} must be 1 to 8 learning rates in (0, 1] (the grid each arm chooses from)")
    return lrs


def check_size(what: str, n: int, limit: int, *, advice: str = "use smaller sizes") -> None:
    """Refuse at once a request of `n` units (numbers, parameters, models, ...) above `limit`."""
    if n > limit:
        raise ValueError(f"{what} would be {n:,}, more than this course allows ({limit:,}); {advice}")


def as_tensor(name: str, value) -> torch.Tensor:
    """`value` as a tensor: a tensor as is, a numpy array or a (non-ragged) list of numbers converted."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, bytes, Mapping)) or value is None or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a torch.Tensor (or a numpy array), got {type(value).__name__}")
    if isinstance(value, np.ndarray) and value.dtype == object:
        raise ValueError(f"{name} is a numpy array of Python objects (ragged?); give a numeric array or a tensor")
    try:
        return torch.as_tensor(np.asarray(value) if not isinstance(value, np.ndarray) else value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{name} cannot be read as a tensor ({error}); give a tensor, a numeric array, or a "
                         "list of numbers with the same length on every row") from None


def check_tensor(name: str, value, *, dim: int | None = None, shape: Iterable | None = None,
                 floating: bool | None = None, dtype: torch.dtype | None = None,
                 nonempty: bool = False, finite: bool = True) -> torch.Tensor:
    """Return `value` as a tensor of the given rank/shape; None in `shape` is any size.

    Numpy arrays and lists of numbers are converted. floating=True refuses integer tensors;
    dtype=torch.float32 also converts other floating dtypes (float64) to it. nonempty refuses
    a dimension of size 0; finite (default) refuses nan and inf.
    """
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        raise TypeError(f"{name} is a {type(value).__name__} of {len(value)} tensors; give one tensor "
                        f"(torch.stack({name}) if they have the same shape)")
    value = as_tensor(name, value)
    if dim is not None and value.dim() != dim:
        raise ValueError(f"{name} has shape {tuple(value.shape)} but must have {dim} dimensions")
    if shape is not None:
        shape = tuple(shape)
        ok = len(shape) == value.dim() and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {tuple(value.shape)} but must have shape {want}")
    if value.dtype == torch.bool and (floating or dtype is not None):
        value = value.float() if floating else value
    if floating is True and not value.is_floating_point():
        raise TypeError(f"{name} has dtype {value.dtype} but must be a floating-point tensor "
                        f"(pass {name}.float())")
    if dtype is not None and value.is_floating_point() and value.dtype != dtype:
        value = value.to(dtype)  # float64 -> float32: the models' dtype
    if nonempty and value.numel() == 0:
        raise ValueError(f"{name} has shape {tuple(value.shape)}: it is empty (every dimension needs size >= 1)")
    if finite and value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{name} contains non-finite values (nan or inf); all values must be finite")
    return value


def check_labels(name: str, value, n_classes: int | None = None) -> torch.Tensor:
    """Integer class labels in 0..n_classes-1, as int64 (int32 and numpy arrays converted)."""
    value = as_tensor(name, value)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} has dtype {value.dtype} but must hold integer class labels "
                        f"(pass {name}.long() if the values are whole numbers)")
    value = value.long()
    if value.numel() and value.min() < 0:
        raise ValueError(f"{name} contains the label {int(value.min())} (allowed: 0..{'n_classes-1' if n_classes is None else n_classes - 1})")
    if n_classes is not None and value.numel() and value.max() >= n_classes:
        raise ValueError(f"{name} contains the label {int(value.max())} but there are {n_classes} classes "
                         f"(allowed: 0..{n_classes - 1})")
    return value


def check_unit_interval(name: str, x: torch.Tensor) -> torch.Tensor:
    """Refuse pixel values outside [0, 1] (e.g. raw 0..16 or 0..255 intensities)."""
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"{name} has values in [{float(x.min()):g}, {float(x.max()):g}] but pixels must be in "
                         "[0, 1] (divide raw digits by 16, 8-bit images by 255)")
    return x


def check_weights(name: str, value, n: int) -> torch.Tensor:
    """Return `value` as a float tensor of n non-negative finite weights (lists, arrays accepted)."""
    w = as_tensor(name, value)
    if w.dtype == torch.bool or not (w.is_floating_point() or w.dtype in (torch.int8, torch.int16, torch.int32,
                                                                          torch.int64, torch.uint8)):
        raise TypeError(f"{name} has dtype {w.dtype} but must hold numbers (one weight per task)")
    w = w if w.is_floating_point() else w.float()
    if w.shape[-1:] != (n,):
        raise ValueError(f"{name} has shape {tuple(w.shape)} but must end in ({n},): one weight per task")
    if not torch.isfinite(w).all():
        raise ValueError(f"{name}={w.tolist()} contains non-finite values; weights must be finite")
    if (w < 0).any():
        raise ValueError(f"{name}={w.tolist()} contains a negative weight (allowed: weights >= 0)")
    return w


def check_factory(name: str, factory) -> Callable:
    """A function that builds one model when called with no arguments (not a class, not a model)."""
    if isinstance(factory, torch.nn.Module):
        raise TypeError(f"{name} is a model ({type(factory).__name__}); pass a function that builds one, "
                        f"e.g. lambda: MultiTaskNet(1, 16, 2, 3, sharing_depth=2)")
    if isinstance(factory, type):
        raise TypeError(f"{name}={factory.__name__} is a class; pass a function that builds one model, "
                        f"e.g. lambda: {factory.__name__}(...) with its arguments")
    if not callable(factory):
        raise TypeError(f"{name}={_shown(factory)} must be a function that builds one model")
    return factory


def check_figsize(figsize, dpi) -> tuple[tuple[float, float], int]:
    """A figure size (width, height) in inches and a dpi that fit in memory."""
    size = check_floats("figsize", figsize, low=0.0, high=MAX_FIGURE_INCHES, low_open=True, min_len=2)
    if len(size) != 2:
        raise ValueError(f"figsize={size} must be (width, height) in inches")
    dpi = check_int("dpi", dpi, low=10, high=1000)
    check_size("the figure's pixel count (figsize x dpi)", int(size[0] * dpi) * int(size[1] * dpi),
               MAX_FIGURE_PIXELS, advice="use a smaller figsize or dpi")
    return size, dpi


_KEYWORD_RULES = {  # the keyword arguments the experiments share, checked by name in one place
    "steps": lambda n, v: check_int(n, v, low=1, high=MAX_STEPS),
    "lr": lambda n, v: check_float(n, v, low=0.0, low_open=True),
    "hidden": lambda n, v: check_int(n, v, low=1),
    "n_layers": lambda n, v: check_int(n, v, low=1, high=MAX_LAYERS),
    "n_tasks": lambda n, v: check_int(n, v, low=1),
    "n_train": lambda n, v: check_int(n, v, low=1),
    "n_test": lambda n, v: check_int(n, v, low=1),
    "n_source": lambda n, v: check_int(n, v, low=10),
    "n_grid": lambda n, v: check_int(n, v, low=2, high=100_000),
    "noise": lambda n, v: check_float(n, v, low=0.0),
    "relatedness": lambda n, v: check_float(n, v, low=0.0, high=1.0),
    "shift": lambda n, v: check_int(n, v, low=0, high=8),
    "progress": check_bool,
}


def check_keywords(**kwargs) -> dict:
    """Check an experiment's shared keyword arguments by name (steps, lr, hidden, ...); return them converted."""
    return {name: _KEYWORD_RULES[name](name, value) for name, value in kwargs.items()}
