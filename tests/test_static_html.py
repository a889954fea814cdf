"""Kernel-free sliders (SweepExplorer.to_html) and the presenter style (MTL_PRESENTER)."""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from mtl_lessons import widgets
from mtl_lessons.plots import PRESENTER_DPI, PRESENTER_MIN_FONT, PRESENTER_WIDTH_IN, presenter_style
from mtl_lessons.sweep import Sweep
from mtl_lessons.widgets import PRESENTER_HTML_MIME, SweepExplorer

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_explorer(**kwargs):
    sweep = Sweep({"lam": (0.1, 1.0, 10.0), "depth": (0, 1)}, seeds=(0, 1),
                  results={"err": np.arange(12.0).reshape(3, 2, 2)})

    def draw(axes, point):
        axes[0].plot([0, 1], [0, sweep.at("err", **point).mean()], lw=1, marker="o", ms=3, label="err")
        axes[0].set_title(str(point), fontsize=7)
        axes[0].legend(fontsize=7)

    return SweepExplorer(sweep, draw, ncols=1, figsize=(3, 2), **kwargs)


def test_to_html_embeds_every_figure_and_an_input_per_knob_and_no_url():
    explorer = make_explorer(value={"lam": 1.0})
    page = explorer.to_html()
    store = re.search(r'<div class="mtl-store"[^>]*>(.*?)</div>', page, re.S).group(1)
    keys = re.findall(r'<img data-key="(\d+,\d+)" alt="" src="data:image/png;base64,', store)
    assert sorted(keys) == sorted(f"{i},{j}" for i in range(3) for j in range(2)), "one image per grid point"
    assert len(set(re.findall(r'src="(data:[^"]+)"', store))) == 6, "the six figures differ"
    assert len(re.findall(r'<input type="range" data-knob="\d"', page)) == 2
    assert not re.search(r"https?://", page), "a kernel-free slider must fetch nothing"
    assert 'data-knob="0" min="0" max="2" step="1" value="1"' in page  # starts at lam=1.0


def test_one_knob_slider_reaches_only_its_points():
    explorer = make_explorer(knobs=["lam"], value={"depth": 1})
    page = explorer.to_html()
    assert sorted(re.findall(r'data-key="(\d+)"', page)) == ["0", "1", "2"]


def test_the_display_carries_html_only_when_asked(monkeypatch):
    monkeypatch.setenv("MTL_STATIC_HTML", "1")  # the old environment switch: read no more
    assert set(make_explorer()._repr_mimebundle_()) == {WIDGET_VIEW, "image/png", "text/plain"}
    both = make_explorer(static_html=True)._repr_mimebundle_()
    assert set(both) == {"text/html", "image/png", WIDGET_VIEW, "text/plain"}
    assert both["text/html"].startswith('<div class="mtl-explorer"')
    monkeypatch.setattr(widgets, "STATIC_EXPORT", True)  # a static export's kernel (tools/handout.py)
    assert set(make_explorer()._repr_mimebundle_()) == {"text/html", "image/png", WIDGET_VIEW, "text/plain"}
    assert set(make_explorer(static_html=False)._repr_mimebundle_()) == {WIDGET_VIEW, "image/png", "text/plain"}
    with pytest.raises(TypeError, match="static_html"):
        make_explorer(static_html="yes")


def png_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def test_presenter_style_is_read_when_the_figure_is_made_and_learner_defaults_stay(monkeypatch):
    monkeypatch.delenv("MTL_PRESENTER", raising=False)
    learner = make_explorer()
    assert png_size(learner.png) == (240, 160)  # 3 x 2 in at 80 dpi, as before
    font = plt.rcParams["font.size"]
    monkeypatch.setenv("MTL_PRESENTER", "1")
    presenter = make_explorer()
    width, height = png_size(presenter.png)
    assert width == round(PRESENTER_WIDTH_IN * PRESENTER_DPI) == 1920 and abs(height / width - 2 / 3) < 0.01
    assert plt.rcParams["font.size"] == font, "the style must not leak out of the drawing"
    # the floor: the explicit 7 pt title and legend, 1 pt line and 3 pt markers are raised
    ax = presenter.axes[0]
    assert ax.title.get_fontsize() >= PRESENTER_MIN_FONT and ax.get_legend().get_texts()[0].get_fontsize() >= PRESENTER_MIN_FONT
    assert ax.get_lines()[0].get_linewidth() >= 2 and ax.get_lines()[0].get_markersize() >= 7
    assert learner.axes[0].title.get_fontsize() == 7


def test_presenter_floor_thickens_annotation_arrows_to_the_presenter_line_width():
    from matplotlib.patches import FancyArrowPatch

    from mtl_lessons.plots import PRESENTER_RC, raise_to_presenter_floor
    fig, ax = plt.subplots()
    thin = ax.annotate("", xy=(1, 1), xytext=(0, 0), arrowprops=dict(arrowstyle="->", lw=1))
    patch = ax.add_patch(FancyArrowPatch((0, 0), (1, 0), arrowstyle="->", lw=0.5))
    thick = ax.annotate("", xy=(0, 1), xytext=(0, 0), arrowprops=dict(arrowstyle="->", lw=5))
    raise_to_presenter_floor(fig)
    plt.close(fig)
    assert thin.arrow_patch.get_linewidth() == patch.get_linewidth() == PRESENTER_RC["lines.linewidth"]
    assert thick.arrow_patch.get_linewidth() == 5, "a thicker arrow keeps its width"


def test_static_export_with_presenter_copy_carries_both_styles(monkeypatch):
    monkeypatch.delenv("MTL_PRESENTER", raising=False)
    monkeypatch.setattr(widgets, "STATIC_EXPORT", True)  # handout.build_both: one execution, both styles
    monkeypatch.setattr(widgets, "PRESENTER_COPY", True)
    explorer = make_explorer(value={"lam": 1.0})
    bundle = explorer._repr_mimebundle_()
    assert {"text/html", PRESENTER_HTML_MIME, "image/png"} <= set(bundle) and not explorer.presenter

    def widths(page):
        return {png_size(base64.b64decode(b))[0] for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)}
    assert widths(bundle["text/html"]) == {240} and widths(bundle[PRESENTER_HTML_MIME]) == {1920}
    assert 'value="1"' in bundle[PRESENTER_HTML_MIME], "the copy starts at the same point"
    assert PRESENTER_HTML_MIME not in make_explorer(static_html=True)._repr_mimebundle_(), "only on the switch"
    monkeypatch.setattr(widgets, "PRESENTER_COPY", False)
    assert PRESENTER_HTML_MIME not in make_explorer()._repr_mimebundle_()
    monkeypatch.setattr(widgets, "STATIC_EXPORT", False)
    monkeypatch.setattr(widgets, "PRESENTER_COPY", True)  # a copy of a slider the display does not carry: none
    assert PRESENTER_HTML_MIME not in make_explorer()._repr_mimebundle_()
    with pytest.raises(TypeError, match="presenter"):
        make_explorer(presenter="yes")


def test_presenter_style_context():
    before = dict(plt.rcParams)
    with presenter_style(True) as on:
        assert on and plt.rcParams["font.size"] > before["font.size"] and plt.rcParams["figure.dpi"] == PRESENTER_DPI
    assert plt.rcParams["font.size"] == before["font.size"]
    with presenter_style(False) as on:
        assert not on and plt.rcParams["font.size"] == before["font.size"]
    with pytest.raises(TypeError, match="on must be"):
        with presenter_style("yes"):
            pass


def test_importing_the_package_changes_no_rcparams():
    import subprocess
    code = ("import matplotlib as m; before = dict(m.rcParams); import mtl_lessons, mtl_lessons.widgets, "
            "mtl_lessons.plots; after = dict(m.rcParams); print(before == after)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"MTL_PRESENTER": "1", "PATH": ""}, check=True)
    assert out.stdout.strip() == "True"



def test_browser_kernel_free_slider_moves_offline(tmp_path):
    from test_browser import offline_page
    page_file = tmp_path / "explorer.html"
    page_file.write_text("<!doctype html><html><body>" + make_explorer(value={"lam": 0.1}).to_html() + "</body></html>")
    with offline_page() as (page, leaving, errors):
        page.goto(page_file.as_uri())
        view = page.locator(".mtl-view")
        first = view.get_attribute("src")
        lam = page.locator('input[data-knob="0"]')
        lam.focus()
        page.keyboard.press("ArrowRight")
        assert view.get_attribute("src") != first, "moving the input must change the figure"
        assert page.locator("output").first.text_content() == "1"
        page.keyboard.press("ArrowLeft")
        assert view.get_attribute("src") == first
        page.locator('input[data-knob="1"]').focus()
        page.keyboard.press("ArrowRight")
        assert view.get_attribute("src") != first, "the second knob moves the figure too"
        assert not leaving and not errors, (leaving, errors)


@pytest.mark.parametrize("presenter", [False, True], ids=["learner", "presenter"])
@pytest.mark.parametrize("name", ["transfer_objective", "finetuning", "negative_transfer"])
def test_dense_explorers_keep_legends_off_the_data_and_labels_apart(name, presenter, monkeypatch):
    """Chapters 6, 8, 9: no legend on an axes, no title or axis label overlapping another or cut off."""
    from test_inputs import small

    from mtl_lessons.experiments import finetuning, negative_transfer, transfer_objective
    monkeypatch.setenv("MTL_PRESENTER", "1" if presenter else "0")
    make = {"transfer_objective": transfer_objective.transfer_lambda_explorer, "finetuning": finetuning.finetuning_explorer,
            "negative_transfer": negative_transfer.negative_transfer_explorer}[name]
    explorer = make(small(name))
    fig = explorer.fig
    for point in explorer.reachable:
        explorer.render(point)
        with presenter_style(explorer.presenter):  # as the explorer draws
            fig.draw_without_rendering()  # every artist in its place
        renderer = fig._get_renderer()
        panels = [ax.get_window_extent(renderer) for ax in explorer.axes]
        legends = [*fig.legends, *(ax.get_legend() for ax in explorer.axes if ax.get_legend())]
        assert legends
        for legend in legends:
            box = legend.get_window_extent(renderer)
            assert not any(box.overlaps(panel) for panel in panels), f"a legend covers a panel at {point}"
            assert fig.bbox.contains(box.x0 + 1, box.y0 + 1) and fig.bbox.contains(box.x1 - 1, box.y1 - 1)
        labels = [(i, text.get_window_extent(renderer)) for i, ax in enumerate(explorer.axes)
                  for text in (ax.title, ax.xaxis.label, ax.yaxis.label) if text.get_text()]
        for i, box in labels:
            assert fig.bbox.x0 <= box.x0 + 1 and box.x1 - 1 <= fig.bbox.x1 and box.y1 - 1 <= fig.bbox.y1, \
                f"a label is cut off at {point}"
            for j, other in labels:
                assert i == j or not box.overlaps(other), f"labels of panels {i} and {j} overlap at {point}"
