"""Matplotlib figures for the course. Every plot_* takes ax=None (then draws on a
new figure) and returns the Axes. Colours are Okabe & Ito's colour-blind-safe set."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

from mtl_lessons._checks import check_int
from mtl_lessons.sweep import Sweep

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


# Presenter style: figures readable from the back of a room. MTL_PRESENTER=1 (read when a figure is made,
# never at import) turns it on for the sliders; presenter_style() turns it on for a notebook's own figures.
PRESENTER_ENV = "MTL_PRESENTER"
PRESENTER_WIDTH_IN = 9.6  # inches: at PRESENTER_DPI, 1920 px, a 16:9 slide's width, crisp at 2x zoom;
PRESENTER_DPI = 200       # narrow in inches, so a 16 pt label is about 2.3 % of the figure's width
PRESENTER_RC = {
    "font.size": 16, "axes.titlesize": 17, "axes.labelsize": 16, "xtick.labelsize": 15, "ytick.labelsize": 15,
    "legend.fontsize": 14, "legend.title_fontsize": 14, "figure.titlesize": 18,
    "lines.linewidth": 2.8, "lines.markersize": 9, "axes.linewidth": 1.4, "grid.linewidth": 1.0,
    "xtick.major.width": 1.4, "ytick.major.width": 1.4, "xtick.major.size": 6, "ytick.major.size": 6,
    "patch.linewidth": 1.4, "figure.dpi": PRESENTER_DPI,  # savefig.dpi stays "figure": the explorer sets its own
    "figure.figsize": (PRESENTER_WIDTH_IN, PRESENTER_WIDTH_IN * 9 / 16 * 0.75),
}


def plain_ticks(axis) -> None:
    """Tick labels of a log axis as plain numbers (0.01, 1, 100) instead of 10⁻²: text, not math text,
    which matplotlib parses again on every figure (the slowest part of drawing a slider's figure)."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def presenter_on() -> bool:
    """Whether the environment variable MTL_PRESENTER asks for the presenter style (1/true/yes/on)."""
    return os.environ.get(PRESENTER_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@contextmanager
def presenter_style(on: bool | None = None) -> Iterator[bool]:
    """Projector-ready rcParams (larger fonts and markers, thicker lines, 200 dpi) inside the block.

    on=None follows MTL_PRESENTER; on=True/False forces it. Learner defaults are untouched outside.

        >>> with presenter_style(True) as on:
        ...     font_size = plt.rcParams["font.size"]   # a figure drawn here gets the projector sizes
        >>> on, font_size
        (True, 16.0)
    """
    if on is None:
        on = presenter_on()
    elif not isinstance(on, bool):
        raise TypeError(f"on must be True, False or None (follow ${PRESENTER_ENV}), got {on!r}")
    with plt.rc_context(PRESENTER_RC if on else {}):
        yield on


PRESENTER_MIN_FONT = 11  # points: explicit small sizes (a legend's fontsize=7) are raised to this
PRESENTER_MIN_LW = 2.0
PRESENTER_MIN_MS = 7.0


def raise_to_presenter_floor(fig) -> None:
    """Raise every text, data line and marker of `fig` drawn with an explicit small size to the presenter floor;
    arrows (ax.annotate's arrowprops, FancyArrowPatch) to the presenter line width."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.text import Annotation, Text

    for text in fig.findobj(Text):
        if text.get_text() and text.get_fontsize() < PRESENTER_MIN_FONT:
            text.set_fontsize(PRESENTER_MIN_FONT)
    for ax in fig.axes:
        for line in ax.get_lines():
            if line.get_linestyle() not in ("None", "", " ") and line.get_linewidth() < PRESENTER_MIN_LW:
                line.set_linewidth(PRESENTER_MIN_LW)
            if line.get_marker() not in (None, "None", "", " ") and line.get_markersize() < PRESENTER_MIN_MS:
                line.set_markersize(PRESENTER_MIN_MS)
    # an annotation's arrow is not among the figure's children: findobj reaches it through the annotation
    arrows = fig.findobj(FancyArrowPatch) + [a.arrow_patch for a in fig.findobj(Annotation) if a.arrow_patch]
    for arrow in arrows:
        if arrow.get_linewidth() < PRESENTER_RC["lines.linewidth"]:
            arrow.set_linewidth(PRESENTER_RC["lines.linewidth"])


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__} "
                        "(with plt.subplots(1, 2), pass one of the axes: ax=axes[0])")
    return ax


def _array(name: str, value, *, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """`value` (tensor, array, list) as a float array of the given rank, non-empty and (if finite) without nan/inf."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (a tensor, an array or a list of equal-length rows), "
                         f"got {type(value).__name__}") from None
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} has shape {array.shape} but must have {ndim} dimensions")
    if array.size == 0:
        raise ValueError(f"{name} has shape {array.shape}: it is empty")
    if finite and not np.isfinite(array).all():
        raise ValueError(f"{name} contains nan or inf; all values must be finite")
    return array


def plot_seed_band(values, samples, *, ax=None, label: str | None = None, color: str = PALETTE[0],
                   highlight=None, marker: str = "o"):
    """Mean over seeds with a ±1 sd band; `samples` is (len(values), n_seeds). Marks `highlight` if given."""
    ax = _axes(ax)
    values = _array("values", values, ndim=1)
    samples = _array("samples", samples)
    if samples.ndim != 2 or samples.shape[0] != len(values):
        raise ValueError(f"samples has shape {samples.shape} but must be ({len(values)}, n_seeds)")
    if highlight is not None and not np.isclose(values, float(highlight)).any():
        raise ValueError(f"highlight={highlight!r} is not one of values (allowed: {values.tolist()})")
    mean, sd = samples.mean(1), samples.std(1)
    ax.plot(values, mean, marker=marker, ms=4, color=color, label=label)
    ax.fill_between(values, mean - sd, mean + sd, color=color, alpha=0.2, lw=0)
    if highlight is not None:
        i = int(np.argmin(np.abs(values - float(highlight))))
        ax.plot(values[i], mean[i], marker=marker, ms=11, mfc="none", mew=2, color=color)
    return ax


def plot_task_fits(x_train, y_train, x_grid, predictions, *, truth=None, ax=None, tasks=None,
                   labels: tuple[str, ...] = ("model",), linestyles: tuple[str, ...] = ("-", ":", "--")):
    """Training points and fitted curves for some tasks, one colour per task.

    x_train, y_train: (n_tasks, n); x_grid: (n_grid,); predictions: a list of (n_tasks, n_grid)
    arrays (one per model, named by `labels`); truth: (n_tasks, n_grid) drawn thin and grey.
    """
    ax = _axes(ax)
    # nan in x_train / y_train marks padding (tasks of different sizes) and is not drawn
    x_train, y_train = _array("x_train", x_train, ndim=2, finite=False), _array("y_train", y_train, ndim=2, finite=False)
    x_grid = _array("x_grid", x_grid, ndim=1)
    if x_train.shape != y_train.shape:
        raise ValueError(f"x_train {x_train.shape} and y_train {y_train.shape} must have one shape (n_tasks, n)")
    if isinstance(predictions, (np.ndarray, torch.Tensor)):
        raise TypeError("predictions must be a list of (n_tasks, n_grid) arrays, one per model; "
                        "for one model wrap it: [pred]")
    if isinstance(labels, str):
        raise TypeError(f"labels={labels!r} must be a tuple of names, one per prediction, e.g. ({labels!r},)")
    predictions = [_array(f"predictions[{i}]", p, ndim=2) for i, p in enumerate(predictions)]
    if len(predictions) != len(labels):
        raise ValueError(f"predictions has {len(predictions)} entries but labels has {len(labels)}")
    if len(predictions) > len(linestyles):
        raise ValueError(f"predictions has {len(predictions)} entries but there are only {len(linestyles)} "
                         "linestyles; pass more linestyles")
    for i, p in enumerate(predictions):
        if p.shape != (len(x_train), len(x_grid)):
            raise ValueError(f"predictions[{i}] has shape {p.shape} but must be ({len(x_train)}, {len(x_grid)}) "
                             "(n_tasks, n_grid)")
    if truth is not None:
        truth = _array("truth", truth, ndim=2)
        if truth.shape != (len(x_train), len(x_grid)):
            raise ValueError(f"truth has shape {truth.shape} but must be ({len(x_train)}, {len(x_grid)})")
    n_tasks = len(x_train)
    tasks = range(n_tasks) if tasks is None else [check_int("tasks[]", t, low=0, high=n_tasks - 1) for t in tasks]
    for j, t in enumerate(tasks):
        color = PALETTE[j % len(PALETTE)]
        if truth is not None:
            ax.plot(x_grid, truth[t], color="0.6", lw=1)
        for pred, style in zip(predictions, linestyles):
            ax.plot(x_grid, pred[t], color=color, ls=style, lw=1.6)
        ax.plot(x_train[t], y_train[t], "o", color=color, ms=5, mec="white", mew=0.8)
    # a legend for the line styles, in black
    for label, style in zip(labels, linestyles):
        ax.plot([], [], color="black", ls=style, label=label)
    if truth is not None:
        ax.plot([], [], color="0.6", label="true function")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def plot_history(task_losses, *, ax=None, task_names=None, logy: bool = True):
    """Training loss per task against step; task_losses is (steps, n_tasks)."""
    ax = _axes(ax)
    task_losses = getattr(task_losses, "task_losses", task_losses)  # a History is fine too
    task_losses = _array("task_losses", task_losses, finite=False)  # a diverged run (inf, nan) shows its gap
    if task_losses.ndim == 3:
        raise ValueError(f"task_losses has shape {task_losses.shape}: a fit_many history (steps, n_models, "
                         "n_tasks); plot one model's, e.g. history.task_losses[:, 0]")
    if task_losses.ndim != 2:
        raise ValueError(f"task_losses has shape {task_losses.shape} but must be (steps, n_tasks)")
    if task_names is not None and (isinstance(task_names, str) or len(task_names) != task_losses.shape[1]):
        raise ValueError(f"task_names={task_names!r} must give one name per task ({task_losses.shape[1]})")
    names = task_names or [f"task {t}" for t in range(task_losses.shape[1])]
    for t, name in enumerate(names):  # past the palette's length, dashed lines tell tasks apart
        style = "-" if t < len(PALETTE) else "--"
        ax.plot(task_losses[:, t], color=PALETTE[t % len(PALETTE)], ls=style, label=name, lw=1.2)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="training loss")
    ax.legend(fontsize=8, ncols=2)
    return ax


def plot_front(front, *, samples=None, highlight=None, ax=None, color: str = PALETTE[6],
               label: str | None = None, marker: str = "o", highlight_color: str = PALETTE[4]):
    """A front of two losses: `front` (n, 2) points in sweep order, joined by a line.

    samples (n, n_seeds, 2) adds each seed's point as a small dot; `highlight` (an index)
    circles one point of the front.
    """
    ax = _axes(ax)
    front = _array("front", front)
    if front.ndim != 2 or front.shape[1] != 2:
        raise ValueError(f"front has shape {front.shape} but must be (n_points, 2)")
    if samples is not None:
        samples = _array("samples", samples)
        if samples.ndim != 3 or samples.shape[0] != len(front) or samples.shape[2] != 2:
            raise ValueError(f"samples has shape {samples.shape} but must be ({len(front)}, n_seeds, 2)")
        ax.scatter(samples[..., 0].ravel(), samples[..., 1].ravel(), s=6, color=color, alpha=0.3, lw=0)
    ax.plot(front[:, 0], front[:, 1], marker=marker, ms=4, color=color, label=label)
    if highlight is not None:
        if isinstance(highlight, float):
            raise TypeError(f"highlight={highlight!r} must be an int, the index of a point of front "
                            "(to mark a grid value v, pass its index, e.g. list(lams).index(v))")
        highlight = check_int("highlight", highlight, low=0, high=len(front) - 1)
        ax.plot(*front[highlight], marker=marker, ms=12, mfc="none", mew=2, color=highlight_color)
    return ax


def log_ticks(ax, values, axis: str = "x") -> None:
    """A log axis with a tick at each grid value, labelled plainly (0.01, not mathtext 10^-2: also 25 % faster)."""
    getattr(ax, f"set_{axis}ticks")(values, [f"{v:g}" for v in values])
    getattr(ax, f"{axis}axis").set_minor_locator(NullLocator())


def plot_fits_at(sweep, point: dict, fits: tuple[str, ...], *, labels: tuple[str, ...], truth="truth",
                 tasks=None, ax=None):
    """plot_task_fits for the first seed at one grid point of a sweep of one-input regressions: its results
    x_train, y_train (nan: padding) and the named `fits`, its meta x_grid, and `truth` (a result's name, or
    the (n_tasks, n_grid) array itself)."""
    Sweep.require(sweep, results=["x_train", "y_train", *fits], meta=["x_grid"], by="plot_fits_at")

    def first(name):
        return sweep.at(name, **point)[0]

    truth = first(truth) if isinstance(truth, str) else truth
    return plot_task_fits(first("x_train"), first("y_train"), sweep.meta["x_grid"], [first(f) for f in fits],
                          truth=truth, tasks=tasks, labels=labels, ax=ax)
