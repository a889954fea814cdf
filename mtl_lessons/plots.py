"""Matplotlib figures for the course. Every plot_* takes ax=None (then draws on a
new figure) and returns the Axes. Colours are Okabe & Ito's colour-blind-safe set."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    return ax


def plot_seed_band(values, samples, *, ax=None, label: str | None = None, color: str = PALETTE[0],
                   highlight=None, marker: str = "o"):
    """Mean over seeds with a ±1 sd band; `samples` is (len(values), n_seeds). Marks `highlight` if given."""
    ax = _axes(ax)
    values = np.asarray(values, dtype=float)
    samples = np.asarray(samples, dtype=float)
    if samples.ndim != 2 or samples.shape[0] != len(values):
        raise ValueError(f"samples has shape {samples.shape} but must be ({len(values)}, n_seeds)")
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
    tasks = range(len(x_train)) if tasks is None else tasks
    if len(predictions) != len(labels):
        raise ValueError(f"predictions has {len(predictions)} entries but labels has {len(labels)}")
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
    task_losses = np.asarray(task_losses)
    if task_losses.ndim != 2:
        raise ValueError(f"task_losses has shape {task_losses.shape} but must be (steps, n_tasks)")
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
    front = np.asarray(front, dtype=float)
    if front.ndim != 2 or front.shape[1] != 2:
        raise ValueError(f"front has shape {front.shape} but must be (n_points, 2)")
    if samples is not None:
        samples = np.asarray(samples, dtype=float)
        if samples.ndim != 3 or samples.shape[0] != len(front) or samples.shape[2] != 2:
            raise ValueError(f"samples has shape {samples.shape} but must be ({len(front)}, n_seeds, 2)")
        ax.scatter(samples[..., 0].ravel(), samples[..., 1].ravel(), s=6, color=color, alpha=0.3, lw=0)
    ax.plot(front[:, 0], front[:, 1], marker=marker, ms=4, color=color, label=label)
    if highlight is not None:
        if not 0 <= int(highlight) < len(front):
            raise ValueError(f"highlight={highlight} is out of range (allowed: 0..{len(front) - 1})")
        ax.plot(*front[int(highlight)], marker=marker, ms=12, mfc="none", mew=2, color=highlight_color)
    return ax
