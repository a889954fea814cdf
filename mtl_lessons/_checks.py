"""Argument checks shared by every public helper: each error names the
parameter, the value received and what is allowed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return `value` if it is an int in [low, high], else raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r} must be an int")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name}={value} is out of range (allowed: {lo}..{hi})")
    return value


def check_float(name: str, value, *, low: float | None = None, high: float | None = None,
                low_open: bool = False) -> float:
    """Return `value` as a float if finite and in range, else raise naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}={value!r} must be a real number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value} must be finite")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"{name}={value} is out of range (allowed: {op} {low})")
    if high is not None and value > high:
        raise ValueError(f"{name}={value} is out of range (allowed: <= {high})")
    return value


def check_choice(name: str, value, allowed: Sequence) -> object:
    """Return `value` if it is one of `allowed`, else raise naming `name`."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed (allowed: {', '.join(map(repr, allowed))})")
    return value


def check_tensor(name: str, value, *, dim: int | None = None, shape: Iterable | None = None,
                 floating: bool | None = None) -> torch.Tensor:
    """Return `value` if it is a finite tensor of the given rank/shape; None in `shape` is any size."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if dim is not None and value.dim() != dim:
        raise ValueError(f"{name} has shape {tuple(value.shape)} but must have {dim} dimensions")
    if shape is not None:
        shape = tuple(shape)
        ok = len(shape) == value.dim() and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} has shape {tuple(value.shape)} but must have shape {want}")
    if floating is True and not value.is_floating_point():
        raise TypeError(f"{name} has dtype {value.dtype} but must be a floating-point tensor")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise ValueError(f"{name} contains non-finite values (nan or inf); all values must be finite")
    return value


def check_weights(name: str, value, n: int) -> torch.Tensor:
    """Return `value` as a float tensor of n non-negative finite weights."""
    w = torch.as_tensor(value, dtype=torch.float32) if not isinstance(value, torch.Tensor) else value
    if w.shape[-1:] != (n,):
        raise ValueError(f"{name} has shape {tuple(w.shape)} but must end in ({n},): one weight per task")
    if not torch.isfinite(w).all():
        raise ValueError(f"{name}={w.tolist()} contains non-finite values; weights must be finite")
    if (w < 0).any():
        raise ValueError(f"{name}={w.tolist()} contains a negative weight (allowed: weights >= 0)")
    return w
