"""Exercises: a checker that gives a specific hint, and a solution a learner can reveal.

In a notebook:

    def multitask_objective(per_example_losses, weights):
        ...                                   # the learner's answer
    check("weighted-objective", multitask_objective)   # prints "Correct" or a hint
    reveal("weighted-objective")                       # shows the solution's source

A checker returns None when the answer is right and a hint (str) when it is not.
An untouched answer raises NotImplementedError, which `check` reports as "not
attempted yet", so a notebook runs green before the learner writes anything.
Every registered solution is run through its checker by the tests.

Predict-then-run exercises ask for a prediction *before* an experiment runs, and judge it
against the measured result after:

    my_prediction = ...                       # the learner writes e.g. "deeper" or 0.3 here, first
    sweep = ...                               # the experiment runs
    predict("depth-helps", my_prediction, measured=best_depth)   # verdict and the why

An untouched prediction (`...`) is reported as "not attempted yet". Each prediction registers
examples (answer, measured, right or not) that the tests run through its judge.
The exercises themselves live one module per topic (objective.py, ...), imported at the end.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    """One exercise: its key, a title, the checker and the reference solution."""

    key: str
    title: str
    checker: Callable[[object], str | None]
    solution: Callable


EXERCISES: dict[str, Exercise] = {}


def register(key: str, title: str, solution: Callable):
    """Decorator: register `checker` under `key` with its solution."""
    def wrap(checker):
        if key in EXERCISES:
            raise ValueError(f"exercise key {key!r} is already registered")
        EXERCISES[key] = Exercise(key, title, checker, solution)
        return checker
    return wrap


def _get(key: str) -> Exercise:
    if key in PREDICTIONS:
        raise ValueError(f"key={key!r} is a prediction: use predict({key!r}, your_prediction, measured=...)")
    if key not in EXERCISES:
        raise ValueError(f"key={key!r} is not an exercise (allowed: {', '.join(sorted(EXERCISES))})")
    return EXERCISES[key]


def feedback(key: str, answer) -> tuple[str, str]:
    """(status, message) for an answer; status is 'correct', 'wrong' or 'not attempted'."""
    exercise = _get(key)
    try:
        hint = exercise.checker(answer)
    except NotImplementedError:
        return "not attempted", "Not attempted yet: replace the `raise NotImplementedError` with your code."
    except Exception as error:  # the learner's code failed: say where, do not crash the notebook
        return "wrong", f"Your code raised {type(error).__name__}: {error}"
    if hint is None:
        return "correct", "Correct!"
    return "wrong", hint


def check(key: str, answer) -> bool:
    """Check an answer, print the verdict and a hint, and return whether it is correct."""
    status, message = feedback(key, answer)
    mark = {"correct": "✅", "wrong": "❌", "not attempted": "✏️"}[status]
    print(f"{mark} {_get(key).title}: {message}")
    return status == "correct"


@dataclass(frozen=True)
class Prediction:
    """A predict-then-run exercise: `judge(answer, measured)` returns (right, explanation)."""

    key: str
    title: str
    judge: Callable[[object, object], tuple[bool, str]]
    examples: tuple[tuple[object, object, bool], ...]  # (answer, measured, right?) the tests check


PREDICTIONS: dict[str, Prediction] = {}


def register_prediction(key: str, title: str, examples):
    """Decorator: register `judge(answer, measured) -> (right, explanation)` under `key`."""
    def wrap(judge):
        if key in PREDICTIONS or key in EXERCISES:
            raise ValueError(f"exercise key {key!r} is already registered")
        PREDICTIONS[key] = Prediction(key, title, judge, tuple(examples))
        return judge
    return wrap


def predict(key: str, answer, measured) -> bool | None:
    """Judge a prediction against the measured result, print the verdict and why, return whether it was right.

    Returns None (and says so) while the prediction is still `...`.
    """
    if key not in PREDICTIONS:
        raise ValueError(f"key={key!r} is not a prediction exercise (allowed: {', '.join(sorted(PREDICTIONS))})")
    exercise = PREDICTIONS[key]
    if answer is Ellipsis:
        print(f"✏️ {exercise.title}: not attempted yet: replace the `...` with your prediction, then run the "
              "experiment and this cell again.")
        return None
    try:
        right, explanation = exercise.judge(answer, measured)
    except (TypeError, ValueError) as error:  # an answer of the wrong form: say what form is wanted
        print(f"❌ {exercise.title}: {error}")
        return False
    print(f"{'✅' if right else '❌'} {exercise.title}: {'Right' if right else 'Not quite'}. {explanation}")
    return bool(right)


def reveal(key: str) -> str:
    """Print (and return) the source of the reference solution."""
    source = inspect.getsource(_get(key).solution)
    print(source)
    return source


# the exercise modules register themselves on import
from mtl_lessons.exercises import objective  # noqa: E402,F401
from mtl_lessons.exercises import sharing  # noqa: E402,F401
from mtl_lessons.exercises import transfer  # noqa: E402,F401
from mtl_lessons.exercises import weighting  # noqa: E402,F401
from mtl_lessons.exercises import transferability  # noqa: E402,F401
from mtl_lessons.exercises import learned_weights  # noqa: E402,F401
from mtl_lessons.exercises import conflicting_gradients  # noqa: E402,F401
