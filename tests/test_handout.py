"""`make handout` for one small notebook (00_welcome), opened in headless Chromium with the network off.

No request may leave the machine, no console error, no raw $...$ left (MathJax, vendored into the
output folder, rendered it), and the kernel-free slider's image changes when its input moves.
The build fetches MathJax with npm once (kept in build/.cache); without npm and no cached copy, skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_browser import offline_page  # noqa: E402

from mtl_lessons import handout  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / ".cache"
RAW_MATH = re.compile(r"\$[^$\s][^$]*\$")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cached = (CACHE / (handout.MATHJAX_NPM.replace("@", "-") + ".tgz")).exists()
    if not cached and shutil.which("npm") is None:
        pytest.skip("no npm and no cached MathJax: make handout needs npm once")
    out = tmp_path_factory.mktemp("handout")
    try:
        pages = handout.build([ROOT / "notebooks" / "00_welcome.ipynb"], out, cache=CACHE)
    except subprocess.CalledProcessError as error:  # npm could not reach its registry
        pytest.skip(f"npm could not fetch MathJax ({error}); make handout needs the npm registry once")
    return out, pages[0]


def test_handout_page_is_self_contained(built):
    out, page = built
    text = page.read_text(encoding="utf-8")
    assert (out / "index.html").read_text().count('href="00_welcome.html"') == 1
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', text), "a resource from the network"
    assert "application/vnd.jupyter.widget-state+json" not in text and "widget-view+json" not in text
    assert text.count('class="mtl-explorer"') == 1 and 'src="mathjax/MathJax.js' in text
    assert (out / "mathjax" / "MathJax.js").exists()


def test_browser_handout_offline_math_rendered_and_slider_moves(built):
    out, page_file = built
    shots = Path(os.environ.get("MTL_SCREENSHOTS") or out)
    with offline_page(viewport={"width": 1200, "height": 900}) as (page, leaving, errors):
        page.goto(page_file.as_uri())
        page.wait_for_function("window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                               "&& document.querySelectorAll('.mjx-chtml').length > 0", timeout=60_000)
        assert page.locator(".MathJax_Error, .mjx-merror").count() == 0, "MathJax could not render a formula"
        prose = page.locator(".jp-MarkdownOutput").all_inner_texts()
        raw = [m for text in prose for m in RAW_MATH.findall(text)]
        assert not raw, f"math left as raw TeX: {raw[:3]}"
        explorer = page.locator(".mtl-explorer")
        explorer.scroll_into_view_if_needed()
        view = explorer.locator(".mtl-view")
        first = view.get_attribute("src")
        knob = explorer.locator('input[data-knob="0"]')
        knob.focus()
        page.keyboard.press("ArrowLeft")
        assert view.get_attribute("src") != first, "moving the slider must change its figure"
        page.screenshot(path=str(shots / "handout_00_welcome_slider.png"))
        page.keyboard.press("ArrowRight")
        assert view.get_attribute("src") == first
        page.locator(".mjx-chtml").first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "handout_00_welcome_math.png"))
        assert not leaving, f"requests left the machine: {leaving}"
        assert not errors, errors
    print(f"screenshots in {shots}")


@pytest.fixture(scope="module")
def built_slides(tmp_path_factory):
    cached = all((CACHE / (spec.replace("@", "-") + ".tgz")).exists() for spec in [handout.MATHJAX_NPM, *handout.SLIDES_NPM])
    if not cached and shutil.which("npm") is None:
        pytest.skip("no npm and no cached reveal.js/MathJax: make slides needs npm once")
    out = tmp_path_factory.mktemp("slides")
    try:
        pages = handout.build_slides([ROOT / "notebooks" / "00_welcome.ipynb"], out, cache=CACHE)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"npm could not fetch reveal.js/MathJax ({error}); make slides needs the npm registry once")
    return out, pages[0]


def test_browser_slides_offline_one_slide_per_heading_and_slider_moves(built_slides):
    out, deck = built_slides
    text = deck.read_text(encoding="utf-8")
    assert not re.search(r'<(?:script|link|img)[^>]+(?:src|href)="(?:https?:)?//', text), "a resource from the network"
    headings = [line for line in text.splitlines() if re.match(r"<h[12] id=", line.strip())]
    shots = Path(os.environ.get("MTL_SCREENSHOTS") or out)
    with offline_page(viewport={"width": 1280, "height": 720}) as (page, leaving, errors):
        page.goto(deck.as_uri())
        page.wait_for_function("document.querySelector('.reveal.ready') !== null", timeout=60_000)
        n_slides = page.locator(".reveal .slides > section").count()
        assert n_slides >= 4 and n_slides == len(headings), (n_slides, len(headings))
        present = page.locator(".reveal .slides > section.present")
        first_slide = present.inner_text()
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(800)
        assert present.inner_text() != first_slide, "the arrow key moves to the next slide"
        for _ in range(n_slides):
            if present.locator(".mtl-explorer").count():
                break
            page.keyboard.press("ArrowRight")
            page.wait_for_timeout(800)
        explorer = page.locator("section.present .mtl-explorer")
        view = explorer.locator(".mtl-view")
        first = view.get_attribute("src")
        explorer.locator('input[data-knob="0"]').focus()
        page.keyboard.press("ArrowLeft")  # on a range input, the arrow moves the input, not the deck
        assert view.get_attribute("src") != first
        page.screenshot(path=str(shots / "slides_00_welcome_slider.png"))
        assert not leaving, f"requests left the machine: {leaving}"
        assert not errors, errors
