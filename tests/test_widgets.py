"""SweepExplorer: moves look up and swap the picture; off-grid values fail clearly; static fallback."""

import numpy as np
import pytest

from mtl_lessons.sweep import Sweep
from mtl_lessons.widgets import SweepExplorer


def make_explorer(**kwargs):
    sweep = Sweep({"lam": (0.1, 1.0, 10.0), "depth": (0, 1)}, seeds=(0, 1),
                  results={"err": np.arange(12.0).reshape(3, 2, 2)})
    calls = []

    def draw(axes, point):
        calls.append(dict(point))
        axes[0].plot([0, 1], [0, sweep.at("err", **point).mean()])
        axes[0].set_title(str(point))

    return SweepExplorer(sweep, draw, ncols=1, figsize=(3, 2), **kwargs), calls


def test_every_reachable_point_is_drawn_once_up_front():
    explorer, calls = make_explorer()
    assert len(calls) == 6 and len(explorer._pngs) == 6
    explorer.sliders["lam"].value = 10.0  # what a drag does
    explorer.sliders["depth"].value = 1
    assert len(calls) == 6, "a move must not redraw: it looks the picture up"
    assert explorer.point == {"lam": 10.0, "depth": 1}


def test_a_move_changes_the_picture_and_back():
    explorer, _ = make_explorer(value={"lam": 1.0})
    first = explorer.image.value
    explorer.sliders["lam"].value = 10.0
    assert explorer.image.value != first
    explorer.update(lam=1.0)
    assert explorer.image.value == first and explorer.sliders["lam"].value == 1.0


def test_knobs_without_sliders_stay_fixed_and_only_reachable_points_are_drawn():
    explorer, calls = make_explorer(knobs=["lam"], value={"depth": 1})
    assert list(explorer.sliders) == ["lam"] and len(calls) == 3
    assert all(c["depth"] == 1 for c in calls)


def test_lazy_rendering():
    explorer, calls = make_explorer(prerender=False)
    assert len(calls) == 1
    explorer.update(lam=10.0)
    explorer.update(lam=10.0)
    assert len(calls) == 2


def test_off_grid_and_unknown_knobs_fail_clearly():
    explorer, _ = make_explorer()
    with pytest.raises(ValueError, match=r"lam=0.5 is not on the grid \(allowed: \(0.1, 1.0, 10.0\)\)"):
        explorer.update(lam=0.5)
    with pytest.raises(ValueError, match="point names knobs"):
        explorer.update(width=3)
    with pytest.raises(ValueError, match="not a knob of the sweep"):
        make_explorer(knobs=["width"])
    with pytest.raises(ValueError, match="lam=3.0 is not on the grid"):
        make_explorer(value={"lam": 3.0})


def test_display_carries_the_widget_and_a_static_png():
    explorer, _ = make_explorer()
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"].startswith("iVBOR")  # base64 of the PNG signature


def test_in_a_notebook_only_the_default_is_drawn_before_showing_then_the_rest_while_idle():
    """With a running event loop (a kernel's), the explorer shows after one figure; the others are
    drawn between loop iterations, nearest the current point first, each once; a move to a point not
    drawn yet draws it at once."""
    import asyncio

    sweep = Sweep({"lam": tuple(range(7))}, seeds=(0,), results={"err": np.arange(7.0).reshape(7, 1)})
    calls = []

    def draw(axes, point):
        calls.append(point["lam"])
        axes[0].plot([0, 1], [0, point["lam"]])

    async def in_kernel():
        explorer = SweepExplorer(sweep, draw, value={"lam": 3}, ncols=1, figsize=(2, 1.5))
        assert calls == [3] and not explorer.all_drawn
        explorer.sliders["lam"].value = 6  # before the background reaches it: drawn now
        assert calls[-1] == 6 and explorer.image.value == explorer.render({"lam": 6})
        for _ in range(200):
            if explorer.all_drawn:
                break
            await asyncio.sleep(0.01)
        return explorer

    explorer = asyncio.run(in_kernel())
    assert explorer.all_drawn and sorted(calls) == list(range(7)), calls
    assert calls[:2] == [3, 6] and calls[2] == 5, f"nearest the current point (6) first, got {calls}"
    explorer.sliders["lam"].value = 0
    assert len(calls) == 7, "a move to a drawn point must not redraw"


def test_bench_reports_every_slider_figure():
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))  # benchmarks are a tool
    from bench import slider_figures

    def sweep_fn(progress=True):
        return Sweep({"lam": (0.1, 1.0, 10.0)}, seeds=(0,), results={"err": np.arange(3.0).reshape(3, 1)})

    def explorer_fn(sweep):
        return SweepExplorer(sweep, lambda axes, point: axes[0].plot([0, 1], [0, point["lam"]]), ncols=1,
                             figsize=(2, 1.5))

    figures = slider_figures("toy", sweep_fn, explorer_fn, passes=1)
    names = {name.split(".")[0] for name in figures}
    assert names == {"precompute_s", "first_figure_s", "time_to_slider_s", "train_and_slider_s", "render_s", "draw_p50_ms",
                     "draw_max_ms", "callback_p50_ms", "callback_p95_ms"}
    assert figures["time_to_slider_s.toy"] == figures["first_figure_s.toy"]
    assert figures["train_and_slider_s.toy"] == figures["precompute_s.toy"] + figures["first_figure_s.toy"]
    assert np.isfinite(figures["draw_max_ms.toy"]), "the other two figures are drawn in the background"


def test_a_callback_in_another_thread_and_the_background_never_mix_figures():
    """JupyterLab runs widget callbacks in a kernel subshell thread while the background drawing runs on
    the main thread's event loop: every grid point must still get its own figure."""
    import asyncio
    import threading
    import time

    sweep = Sweep({"lam": tuple(range(8))}, seeds=(0,), results={"err": np.arange(8.0).reshape(8, 1)})

    def draw(axes, point):
        axes[0].plot(np.arange(50), np.sin(np.arange(50) * (1 + point["lam"])))
        time.sleep(0.05)  # lets the other thread in, as a slow draw on a busy machine would
        axes[0].set_title(f"lam {point['lam']}")

    reference = SweepExplorer(sweep, draw, value={"lam": 0}, ncols=1, figsize=(3, 2))  # no loop: all up front

    async def in_kernel():
        explorer = SweepExplorer(sweep, draw, value={"lam": 0}, ncols=1, figsize=(3, 2))
        await asyncio.sleep(0.4)  # the background starts drawing
        mover = threading.Thread(target=lambda: [explorer.update(lam=v) for v in (7, 6, 5, 4, 3, 2, 1)])
        mover.start()
        while mover.is_alive() or not explorer.all_drawn:
            await asyncio.sleep(0.01)
        return explorer

    explorer = asyncio.run(in_kernel())
    for v in range(8):
        assert explorer.render({"lam": v}) == reference.render({"lam": v}), f"lam={v} got another point's figure"
