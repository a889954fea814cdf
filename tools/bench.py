"""Benchmarks behind the README's Performance section: `make bench` (python tools/bench.py).

Prints one figure per line as `name: value`:
  load_1min_start, load_1min_end    the machine's 1-minute load average (2 cores: above 2 means
                                    every figure below is slower than on an idle machine)
  sweep_speedup, sweep_vectorised_s, sweep_loop_s   32 tiny MLPs trained at once (fit_many) vs one
                                                    after another (fit), medians of several repeats
  sweep_speedup_cpu          the same ratio in CPU time (both run on one thread): steadier under load
Per slider (<slider> is its notebook), the explorer runs on an asyncio event loop, as in a kernel:
  precompute_s.<slider>      the training cell: time to train the slider's grid (its sweep function,
                             notebook defaults), under a progress bar
  first_figure_s.<slider>    time to build the explorer and draw its default figure
  time_to_slider_s.<slider>  the explorer cell, from its start to the slider on screen: first_figure_s
                             (every notebook trains its grid in the cell before, except chapter 5,
                             whose grid is 0.02 s of arithmetic)
  train_and_slider_s.<slider>  precompute_s + first_figure_s: both cells, one after the other
  render_s.<slider>          time until every other figure is drawn, while the kernel is idle
  draw_p50_ms.<slider>, draw_max_ms.<slider>
                             time to draw one figure: what a first visit costs before its figure is drawn
  callback_p50_ms.<slider>, callback_p95_ms.<slider>
                             in-kernel time of the slider's callback once drawn (set the value, look up,
                             show), over every grid value, several passes
  step_ms.fixed              one training step of fit_many with FixedWeights (the reference), ms
  gramian_ms_per_step, gramian_cost_ratio
                             the Gramian's cost per step: FixedWeights that also computes the Gramian
                             (one backward pass per task) minus plain FixedWeights, and the ratio
  step_ratio.<strategy>      each strategy's step time / FixedWeights' step time, same stack and data
                             (strategy_step_times: interleaved in one run, medians of several repeats)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from mtl_lessons._checks import MAX_STEPS, check_int
from mtl_lessons.data import make_sinusoid_tasks
from mtl_lessons.models import MultiTaskNet
from mtl_lessons.stack import ModelStack
from mtl_lessons.train import fit, fit_many
from mtl_lessons.weighting import FixedWeights


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def cpu_timed(fn) -> tuple[float, float]:
    """Wall and CPU seconds of fn(); on a busy machine the CPU time moves much less than the wall time."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def sweep_speedup(n_models: int = 32, steps: int = 200, repeats: int = 3) -> dict[str, float]:
    """Median wall time of training n_models tiny MLPs vectorised vs in a Python loop (same models, same data)."""
    n_models = check_int("n_models", n_models, low=1, high=1_000)
    steps = check_int("steps", steps, low=1, high=MAX_STEPS)
    repeats = check_int("repeats", repeats, low=1, high=100)
    seeds = list(range(n_models))
    tasks = [make_sinusoid_tasks(4, 16, seed=s) for s in seeds]
    x = torch.stack([t.x_train for t in tasks])
    y = torch.stack([t.y_train for t in tasks])

    def factory():
        return MultiTaskNet(1, 16, 2, 4, sharing_depth=2)

    def vectorised():
        fit_many(ModelStack.from_factory(factory, seeds), (x, y), optimizer="adam", lr=1e-2, steps=steps, progress=False)

    def loop():
        for seed, task in zip(seeds, tasks):
            torch.manual_seed(seed)
            fit(factory(), (task.x_train, task.y_train), optimizer="adam", lr=1e-2, steps=steps, progress=False)

    vectorised(), loop()  # warm-up: the first run pays one-off costs (allocator, kernels' first calls)
    vec, seq = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        vec.append(cpu_timed(vectorised))
        seq.append(cpu_timed(loop))
    (v, v_cpu), (s, s_cpu) = (tuple(statistics.median(t[i] for t in runs) for i in (0, 1)) for runs in (vec, seq))
    return {"sweep_speedup": s / v, "sweep_vectorised_s": v, "sweep_loop_s": s,
            "sweep_speedup_cpu": s_cpu / v_cpu, "sweep_models": n_models}


def slider_figures(name: str, sweep_fn, explorer_fn, passes: int = 5) -> dict[str, float]:
    """Precompute, time-to-slider, drawing and callback-latency figures for one registered slider."""
    passes = check_int("passes", passes, low=1, high=100)
    return asyncio.run(_slider_figures(name, sweep_fn, explorer_fn, passes))


async def _slider_figures(name: str, sweep_fn, explorer_fn, passes: int) -> dict[str, float]:
    # a running event loop, as in a Jupyter kernel: the explorer draws its default figure, then the
    # others whenever the loop is idle (here: while this coroutine sleeps)
    precompute, sweep = timed(lambda: sweep_fn(progress=False))
    with contextlib.redirect_stderr(io.StringIO()):  # a progress bar would garble the figures
        first, explorer = timed(lambda: explorer_fn(sweep))
    draws = []
    render = explorer.render

    def timed_render(point):
        cached = explorer.sweep.index(**point) in explorer._pngs
        seconds, png = timed(lambda: render(point))
        if not cached:
            draws.append(seconds)
        return png

    explorer.render = timed_render
    start = time.perf_counter()
    while not explorer.all_drawn:
        await asyncio.sleep(0.005)
    background = time.perf_counter() - start
    latencies = []
    for _ in range(passes):
        for knob, slider in explorer.sliders.items():
            for value in sweep.knobs[knob]:
                if value == slider.value:
                    continue
                start = time.perf_counter()
                slider.value = value  # fires the same observer a drag in JupyterLab fires
                latencies.append(time.perf_counter() - start)
                assert explorer.point[knob] == value
    ms = np.array(latencies) * 1e3
    draw_ms = np.array(draws or [np.nan]) * 1e3
    return {f"precompute_s.{name}": precompute, f"first_figure_s.{name}": first,
            f"time_to_slider_s.{name}": first, f"train_and_slider_s.{name}": precompute + first,
            f"render_s.{name}": background,
            f"draw_p50_ms.{name}": float(np.median(draw_ms)), f"draw_max_ms.{name}": float(draw_ms.max()),
            f"callback_p50_ms.{name}": float(np.percentile(ms, 50)),
            f"callback_p95_ms.{name}": float(np.percentile(ms, 95))}


class _GramianOnly(FixedWeights):
    """Equal weights, but the loop computes the Gramian every step (and the weights ignore it)."""

    uses_gramian = True


def strategy_step_times(n_models: int = 32, n_tasks: int = 4, steps: int = 50, repeats: int = 5) -> dict[str, float]:
    """Median step time of fit_many per weighting strategy, relative to fixed weights (same stack, same data).

    All strategies run one after another in each repeat (so they see the same machine load); the
    ratios are medians over the repeats of each repeat's ratio. The Gramian's cost is the step time
    of equal weights that also compute the Gramian, minus that of plain equal weights.
    """
    from mtl_lessons.weighting import STRATEGIES

    n_models = check_int("n_models", n_models, low=1, high=1_000)
    n_tasks = check_int("n_tasks", n_tasks, low=2, high=10)
    steps = check_int("steps", steps, low=1, high=MAX_STEPS)
    repeats = check_int("repeats", repeats, low=1, high=100)
    seeds = list(range(n_models))
    tasks = [make_sinusoid_tasks(n_tasks, 16, seed=s) for s in seeds]
    x = torch.stack([t.x_train for t in tasks])
    y = torch.stack([t.y_train for t in tasks])
    makers = {"fixed": FixedWeights, "gramian_only": _GramianOnly,
              **{name: make for name, make in STRATEGIES.items() if name != "equal"}}

    def run(make):
        stack = ModelStack.from_factory(lambda: MultiTaskNet(1, 16, 2, n_tasks, sharing_depth=2), seeds)
        return timed(lambda: fit_many(stack, (x, y), optimizer="adam", lr=1e-2, steps=steps,
                                      weights=make(), progress=False))[0] / steps

    run(FixedWeights)  # warm-up
    times = {name: [] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            times[name].append(run(make))
    fixed = np.array(times["fixed"])
    ratio = {name: float(np.median(np.array(t) / fixed)) for name, t in times.items()}
    gramian = np.array(times["gramian_only"]) - fixed
    out = {"step_ms.fixed": float(np.median(fixed)) * 1e3, "gramian_ms_per_step": float(np.median(gramian)) * 1e3,
           "gramian_cost_ratio": ratio["gramian_only"], "step_models": n_models, "step_tasks": n_tasks}
    out.update({f"step_ratio.{name}": r for name, r in ratio.items() if name not in ("fixed", "gramian_only")})
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the speed-up timing (median)")
    parser.add_argument("--only", default=None, help="only sliders whose name contains this")
    parser.add_argument("--runs", type=int, default=1,
                        help="run everything this many times and print each figure's median (and its range)")
    parser.add_argument("--busy", action="store_true",
                        help="keep one core busy with a second process while measuring (a learner's laptop "
                             "running something else)")
    args = parser.parse_args(argv)
    runs = check_int("--runs", args.runs, low=1, high=20)
    busy = (subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None)
    try:
        print(f"busy: {int(args.busy)}", flush=True)
        print(f"load_1min_start: {os.getloadavg()[0]:.3g}", flush=True)
        measured: dict[str, list[float]] = {}
        for run in range(runs):
            for name, value in one_run(args.repeats, args.only).items():
                measured.setdefault(name, []).append(value)
                if runs == 1:
                    print(f"{name}: {value:.3g}", flush=True)
            if runs > 1:
                print(f"# run {run + 1} of {runs} done", flush=True)
        if runs > 1:
            print(f"runs: {runs}")
            for name, values in measured.items():
                print(f"{name}: {statistics.median(values):.3g}")
                print(f"{name}.range: {min(values):.3g}-{max(values):.3g}")
        print(f"load_1min_end: {os.getloadavg()[0]:.3g}", flush=True)
    finally:
        if busy is not None:
            busy.kill()


def one_run(repeats: int, only: str | None) -> dict[str, float]:
    """Every figure once: the sweep speed-up, the strategies' step times, then each slider."""
    from mtl_lessons.experiments import SLIDERS

    # a notebook has imported scikit-learn (its data loaders use it) before its training cell runs:
    # its one-off import (~0.8 s) is not part of any grid's training time
    import sklearn.datasets  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    figures = {**sweep_speedup(repeats=repeats), **strategy_step_times(repeats=max(repeats, 3))}
    for name, (sweep_fn, explorer_fn) in SLIDERS.items():
        if not only or only in name:
            figures.update(slider_figures(name, sweep_fn, explorer_fn))
    return figures


if __name__ == "__main__":
    main()
