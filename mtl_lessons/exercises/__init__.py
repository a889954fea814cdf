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
The exercises themselves live one module per topic (multitask_objective.py, ...), imported at the end.

The checker is fair to the learner's code, in one place (`feedback`), whatever the exercise:
- what the answer returns is normalised before its checker sees it: a float64 tensor becomes
  float32, a numpy array or a Python / numpy number a tensor, a list of numbers a tensor, so a
  correct answer passes whatever its dtype or container;
- an answer that returns None is told it forgot `return`; one that raises is told what it raised
  and on which line of *its* code; if the checker itself cannot use the answer (a wrong shape it did
  not foresee), the message describes what the answer returned, never the checker's traceback;
- an answer that never returns is stopped after TIME_LIMIT seconds with a message, and the kernel
  stays usable. This uses SIGALRM (signal.setitimer), which exists on Linux and macOS and only in
  the main thread, where a Jupyter kernel runs cells. On Windows (or off the main thread) there is
  no time limit: interrupt the kernel (the ■ button) to stop a runaway answer.
"""

from __future__ import annotations

import contextlib
import inspect
import linecache
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

TIME_LIMIT = 5.0  # seconds a check may take before the learner's code is stopped


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
    if not isinstance(key, str):
        raise TypeError(f"key={key!r} must be the exercise's name, a str (allowed: {', '.join(sorted(EXERCISES))})")
    if key in PREDICTIONS:
        raise ValueError(f"key={key!r} is a prediction: use predict({key!r}, your_prediction, measured=...)")
    if key not in EXERCISES:
        raise ValueError(f"key={key!r} is not an exercise (allowed: {', '.join(sorted(EXERCISES))})")
    return EXERCISES[key]


class _AnswerFailed(Exception):
    """The learner's function raised or returned nothing: `message` says so, about their code."""

    def __init__(self, message: str, not_attempted: bool = False):
        super().__init__(message)
        self.message, self.not_attempted = message, not_attempted


class _TimeUp(BaseException):  # not an Exception: a learner's `except Exception` must not swallow it
    pass


def _normalise(result):
    """What the answer returned, in the form the checkers compare: float32 tensors for numbers."""
    if isinstance(result, torch.Tensor):
        return result.float() if result.is_floating_point() and result.dtype != torch.float32 else result
    if isinstance(result, (bool, np.bool_)):
        return bool(result)
    if isinstance(result, np.integer):
        return int(result)
    if isinstance(result, (float, np.floating)):
        return torch.tensor(float(result))
    if isinstance(result, np.ndarray) and result.dtype != object:
        tensor = torch.from_numpy(np.ascontiguousarray(result))
        return tensor.float() if tensor.is_floating_point() else tensor
    if isinstance(result, (list, tuple)) and result and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in result):
        return tuple(int(v) for v in result)  # counts stay counts: (frozen, trained) is not a tensor
    if isinstance(result, (list, tuple)) and result and all(
            isinstance(v, (int, float, bool, np.number, np.bool_))
            or (isinstance(v, torch.Tensor) and v.dim() == 0) for v in result):
        try:
            tensor = torch.stack([torch.as_tensor(v) for v in result])
        except (TypeError, RuntimeError):
            return result
        return tensor.float() if tensor.is_floating_point() else tensor
    return result


def _where(error: BaseException, answer) -> str:
    """' (line N: `code`)' of the learner's function where `error` was raised, if it can be found."""
    code = getattr(answer, "__code__", None)
    if code is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return ""
    frame = frames[-1]
    line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
    offset = frame.lineno - code.co_firstlineno + 1
    return f" (line {offset} of {getattr(answer, '__name__', 'your function')}: `{line}`)" if line else ""


def _guarded(answer):
    """The learner's function, with its result normalised and its failures told apart from the checker's."""
    def call(*args, **kwargs):
        try:
            result = answer(*args, **kwargs)
        except NotImplementedError:
            raise _AnswerFailed("", not_attempted=True) from None
        except Exception as error:
            raise _AnswerFailed(f"Your code raised {type(error).__name__}: {error}{_where(error, answer)}") from None
        if result is None:
            raise _AnswerFailed("Your function returned None: did you forget the `return` statement?")
        return _normalise(result)
    call.__name__ = getattr(answer, "__name__", "answer")
    return call


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raise _TimeUp in this thread after `seconds`, where SIGALRM exists and this is the main thread."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)  # and again every 0.5 s, should a bare except swallow one
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _arity_hint(exercise: Exercise, answer) -> str | None:
    """A hint if the answer cannot take the arguments the solution takes."""
    try:
        wanted = list(inspect.signature(exercise.solution).parameters)
        inspect.signature(answer).bind(*wanted)
    except TypeError:
        return (f"Your function must take {len(wanted)} argument(s), ({', '.join(wanted)}); "
                f"yours takes {inspect.signature(answer)}.")
    except ValueError:  # no signature (a builtin): let the call decide
        return None
    return None


def feedback(key: str, answer) -> tuple[str, str]:
    """(status, message) for an answer; status is 'correct', 'wrong' or 'not attempted'."""
    exercise = _get(key)
    if answer is Ellipsis:
        return "not attempted", "Not attempted yet: write your function, then check it."
    if not callable(answer) or isinstance(answer, type):
        return "wrong", (f"check() needs your function itself, e.g. check({key!r}, my_function), not what it "
                         f"returns (got {_describe(answer)}).")
    hint = _arity_hint(exercise, answer)
    if hint:
        return "wrong", hint
    try:
        with _time_limit(TIME_LIMIT):
            hint = exercise.checker(_guarded(answer))
    except _TimeUp:
        return "wrong", (f"Your code did not finish within {TIME_LIMIT:g} s and was stopped. Is there a loop that "
                         "never ends (a `while` whose condition stays true), or far more work than needed?")
    except _AnswerFailed as failed:
        if failed.not_attempted:
            return "not attempted", "Not attempted yet: replace the `raise NotImplementedError` with your code."
        return "wrong", failed.message
    except Exception as error:  # the checker could not use the answer's result: describe the result, not the checker
        return "wrong", (f"Your function ran, but its result could not be compared with the expected one "
                         f"({type(error).__name__}: {error}). Check that it returns what the exercise asks for "
                         "(its type and shape).")
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
    if not isinstance(key, str) or key not in PREDICTIONS:
        raise ValueError(f"key={key!r} is not a prediction exercise (allowed: {', '.join(sorted(PREDICTIONS))})")
    exercise = PREDICTIONS[key]
    if answer is Ellipsis:
        print(f"✏️ {exercise.title}: not attempted yet: replace the `...` with your prediction, then run the "
              "experiment and this cell again.")
        return None
    answer, measured = (v.item() if isinstance(v, (np.generic, torch.Tensor)) and np.ndim(v) == 0 else v
                        for v in (answer, measured))  # numpy / 0-d tensor numbers as Python numbers
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
from mtl_lessons.exercises import multitask_objective  # noqa: E402,F401
from mtl_lessons.exercises import sharing_depth  # noqa: E402,F401
from mtl_lessons.exercises import transfer_objective  # noqa: E402,F401
from mtl_lessons.exercises import task_weighting  # noqa: E402,F401
from mtl_lessons.exercises import transferability  # noqa: E402,F401
from mtl_lessons.exercises import learned_weights  # noqa: E402,F401
from mtl_lessons.exercises import conflicting_gradients  # noqa: E402,F401
from mtl_lessons.exercises import mtl_vs_transfer  # noqa: E402,F401
from mtl_lessons.exercises import finetuning  # noqa: E402,F401
from mtl_lessons.exercises import negative_transfer  # noqa: E402,F401
from mtl_lessons.exercises import model_selection  # noqa: E402,F401
