"""A chapter's finding, checked on the number it was measured as, with the threshold shown.

Every experiment module keeps its thresholds in one frozen dataclass, CLAIMS; the notebook and the
tests read them from there. `check_claim` is how a notebook checks one:

    >>> from mtl_lessons.claims import check_claim
    >>> check_claim(CLAIMS, "adapt_gain", 0.067, ">=", "fine-tuning − source model")   # doctest: +SKIP
    ✓ fine-tuning − source model = 0.067, claimed ≥ 0.04 (margin +0.027)

It prints the measured value beside the threshold, and raises AssertionError naming the claim when
the value falls on the wrong side. When the environment variable MTL_CLAIMS_LOG names a file, each
check also appends one JSON line there (chapter, claim, value, threshold, direction): the claims report
(`make claims`, tools/claims_report.py) runs every notebook over many seeds this way and prints each
claim's mean, sd and worst value against its threshold. With MTL_CLAIMS_SOFT=1 a failed check is
recorded and printed but does not stop the notebook (the report sees every claim of a run).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import fields, is_dataclass

AT_LEAST = (">=", "≥")
AT_MOST = ("<=", "≤")


def _number(name: str, value) -> float:
    """A float from a Python or numpy number, or a one-element numpy array or torch tensor (never a bool:
    True/False, np.bool_ or a bool array or tensor is a yes/no, not a measured number)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    is_bool = str(getattr(value, "dtype", "")) in ("bool", "torch.bool")
    if hasattr(value, "shape") and hasattr(value, "item") and math.prod(value.shape) == 1 and not is_bool:
        return float(value.item())
    raise TypeError(f"{name} must be a single number (a float, or a one-element array or tensor), "
                    f"got {name}={value!r} ({type(value).__name__})")


def check_claim(claims, name: str, value, direction: str = ">=", what: str = "") -> bool:
    """Check that `value` is on the claimed side of `getattr(claims, name)`; print both; return True.

    claims: an experiment module's CLAIMS (a dataclass instance); name: one of its fields.
    direction: ">=" (or "≥", the value must be at least the threshold) or "<=" ("≤", at most).
    what: how the notebook names the measured quantity (defaults to the claim's name).
    Raises AssertionError if the claim does not hold (unless MTL_CLAIMS_SOFT=1; then returns False),
    ValueError / TypeError for an unknown claim, direction or a value that is not one finite number.
    """
    if not is_dataclass(claims) or isinstance(claims, type):
        raise TypeError(f"claims must be an experiment module's CLAIMS (a dataclass instance), "
                        f"got claims={claims!r} ({type(claims).__name__})")
    known = [f.name for f in fields(claims)]
    if name not in known:
        raise ValueError(f"name={name!r} is not a claim of {type(claims).__name__}; its claims are {known}")
    if direction not in AT_LEAST + AT_MOST:
        raise ValueError(f"direction={direction!r}: use '>=' (or '≥') or '<=' (or '≤')")
    threshold = _number(f"{type(claims).__name__}.{name}", getattr(claims, name))
    value = _number("value", value)
    if not math.isfinite(value):
        raise ValueError(f"value must be a finite number, got value={value}: the measured value of claim {name!r} "
                         f"is {value}, not a number a claim can rest on")
    at_most = direction in AT_MOST
    margin = threshold - value if at_most else value - threshold
    holds = margin >= 0
    sign = "≤" if at_most else "≥"
    label = what or name
    print(f"{'✓' if holds else '✗'} {label} = {value:.3f}, claimed {sign} {threshold:g} (margin {margin:+.3f})")
    _log(claims, name, value, threshold, at_most, label)
    if not holds and os.environ.get("MTL_CLAIMS_SOFT") != "1":
        raise AssertionError(f"claim {type(claims).__name__}.{name} does not hold here: {label} = {value:.4f}, "
                             f"claimed {sign} {threshold:g}")
    return holds


def _log(claims, name, value, threshold, at_most, label) -> None:
    path = os.environ.get("MTL_CLAIMS_LOG")
    if not path:
        return
    record = {"module": type(claims).__module__, "claims": type(claims).__name__, "claim": name, "what": label,
              "value": value, "threshold": threshold, "direction": "<=" if at_most else ">=",
              "seed": os.environ.get("MTL_CLAIMS_SEED")}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
