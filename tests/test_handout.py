"""`make handout` and `make slides` for every chapter, opened in headless Chromium with the network off.

One module-scoped build (handout.build_both) executes each notebook once, two kernels at a time; every
slider draws its figures twice, learner style for the handout and presenter style for the decks. Then,
for every page and every deck: no request leaves the machine, no console error, no raw $...$ left (MathJax,
vendored into the output folder, rendered it), every kernel-free slider's image changes when its input
moves and comes back when it moves back; the index links every chapter; links between chapters go to the
heading (handout) or to the slide that holds it (decks). The build fetches MathJax and reveal.js with npm
once (kept in build/.cache); without npm and no cached copy, skip. Screenshots go to $MTL_SCREENSHOTS.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tools"))  # the builder is a tool, not part of the learners' package
import handout  # noqa: E402
from test_browser import offline_page  # noqa: E402

from mtl_lessons import widgets  # noqa: E402

CACHE = ROOT / "build" / ".cache"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]
RAW_MATH = re.compile(r"\$[^$\s][^$]*\$")
NETWORK_RESOURCE = re.compile(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="(?:https?:)?//')
EXPLORER = 'class="mtl-explorer"'
# the figure an explorer shows, as a short fingerprint (comparing 100 kB data: URLs over CDP is slow)
FINGERPRINT = "v => { let h = 0; const s = v.src; for (let i = 0; i < s.length; i += 3) h = (h * 31 + s.charCodeAt(i)) | 0; " \
              "return h + ':' + s.length; }"


def shots() -> Path | None:
    folder = os.environ.get("MTL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) if folder else None


def need_npm() -> None:
    specs = [handout.MATHJAX_NPM, *handout.SLIDES_NPM]
    cached = all((CACHE / (spec.replace("@", "-") + ".tgz")).exists() for spec in specs)
    if not cached and shutil.which("npm") is None:
        pytest.skip("no npm and no cached MathJax/reveal.js: make handout and make slides need npm once")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    need_npm()
    out = tmp_path_factory.mktemp("built")
    start, cpu = time.perf_counter(), time.process_time()
    try:
        pages, decks = handout.build_both(NOTEBOOKS, out / "handout", out / "slides", cache=CACHE, jobs=2)
    except subprocess.CalledProcessError as error:  # npm could not reach its registry
        pytest.skip(f"npm could not fetch MathJax/reveal.js ({error}); the builds need the npm registry once")
    print(f"built {len(pages)} pages and {len(decks)} decks in {time.perf_counter() - start:.0f} s "
          f"(this process: {time.process_time() - cpu:.0f} s CPU)")
    return out, {p.name.split(".")[0]: p for p in pages}, {d.name.split(".")[0]: d for d in decks}


@pytest.fixture(scope="module")
def browser_page():
    """One offline Chromium page for the module's pages; the tests clear its request and error lists."""
    with offline_page(viewport={"width": 1200, "height": 900}) as trio:
        yield trio


def png_width(data_url: str) -> int:
    """The width of a base64 PNG data: URL, from its IHDR header."""
    head = base64.b64decode(data_url.split(",", 1)[1][:32])
    return struct.unpack(">I", head[16:20])[0]


def test_every_chapter_is_built_self_contained_with_its_sliders(built):
    out, pages, decks = built
    assert sorted(pages) == sorted(decks) == NAMES, "every chapter has a page and a deck"
    for folder, suffix in ((out / "handout", ".html"), (out / "slides", ".slides.html")):
        index = (folder / "index.html").read_text(encoding="utf-8")
        for name in NAMES:
            assert index.count(f'href="{name}{suffix}"') == 1, f"{folder.name}/index.html must link {name}"
    for name in NAMES:
        page, deck = pages[name].read_text(encoding="utf-8"), decks[name].read_text(encoding="utf-8")
        for text in (page, deck):
            assert not NETWORK_RESOURCE.search(text), f"{name}: a resource from the network"
            assert "widget-state+json" not in text and "widget-view+json" not in text and "presenter+html" not in text
            assert 'src="mathjax/MathJax.js' in text
        assert page.count(EXPLORER) == deck.count(EXPLORER) >= 1, f"{name}: every slider in the page and the deck"
        # the deck's sliders are presenter style (1920 px wide), the handout's learner style
        page_views = re.findall(r'class="mtl-view"[^>]*src="(data:image/png;base64,[^"]+)"', page)
        deck_views = re.findall(r'class="mtl-view"[^>]*src="(data:image/png;base64,[^"]+)"', deck)
        assert all(png_width(v) < 1920 for v in page_views), name
        assert all(abs(png_width(v) - 1920) <= 20 for v in deck_views), (name, [png_width(v) for v in deck_views])
    for folder in ("handout/mathjax", "slides/mathjax", "slides/reveal.js", "slides/jquery", "slides/requirejs"):
        assert any((out / folder).iterdir()), folder
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in [*pages.values(), *decks.values()]}
    for folder in ("handout/mathjax", "slides/mathjax", "slides/reveal.js", "slides/jquery", "slides/requirejs"):
        sizes[folder + "/"] = sum(f.stat().st_size for f in (out / folder).rglob("*") if f.is_file())
    print("\n".join(f"{size / 1e6:6.2f} MB  {name}" for name, size in sizes.items()))


def heading_text(page: str, anchor: str) -> str:
    """The text of the heading whose id is `anchor` (as nbconvert wrote it) in a handout page."""
    m = re.search(rf'<h[1-6] id="{re.escape(anchor)}">(.*?)<a class="anchor-link"', page, re.S)
    assert m, f"no heading {anchor!r}"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


def test_links_between_chapters_go_to_the_heading_and_to_its_slide(built):
    out, pages, decks = built
    texts = {name: pages[name].read_text(encoding="utf-8") for name in NAMES}
    deck_texts = {name: decks[name].read_text(encoding="utf-8") for name in NAMES}
    n_links = 0
    for name in NAMES:
        assert ".ipynb" not in "".join(re.findall(r'href="([^"]*)"', texts[name] + deck_texts[name])), name
        for target, anchor in re.findall(r'href="(\d\d_\w+)\.html#([^"]+)"', texts[name]):
            assert target in texts, f"{name}: a link to {target}, which is not built"
            assert f'id="{anchor}"' in texts[target], f"{name}: a link to {target}#{anchor}, which has no such heading"
            n_links += 1
        for target, anchor in re.findall(r'href="(\d\d_\w+)\.slides\.html#/([^"]+)"', deck_texts[name]):
            slide = html.escape(urllib.parse.unquote(anchor))
            assert target in deck_texts, f"{name}: a link to {target}, which is not built"
            assert f'<section id="{slide}"' in deck_texts[target], f"{name}: a link to {target}#/{anchor}, no such slide"
            n_links += 1
    assert n_links >= 2, "the chapters link each other's sections"


def test_browser_a_link_to_another_chapters_section(built, browser_page):
    out, pages, decks = built
    page, leaving, errors = browser_page
    leaving.clear(), errors.clear()
    source = pages["00_welcome"].read_text(encoding="utf-8")
    target, anchor = re.search(r'href="(\d\d_\w+)\.html#([^"]+)"', source).groups()
    heading = heading_text(pages[target].read_text(encoding="utf-8"), anchor)
    # the handout: the link opens the other page at the heading
    page.goto(pages["00_welcome"].as_uri())
    check_math(page, ".jp-MarkdownOutput")  # (leaving a page while MathJax loads its fonts aborts them: errors)
    link = page.locator(f'a[href="{target}.html#{anchor}"]').first
    link.scroll_into_view_if_needed()
    link.click()
    page.wait_for_url(f"**/{target}.html#*")
    page.wait_for_function("document.readyState === 'complete'")
    top = page.evaluate("a => { const e = document.getElementById(decodeURIComponent(location.hash.slice(1))) "
                        "|| document.getElementById(location.hash.slice(1)); return e && [e.textContent, "
                        "e.getBoundingClientRect().top]; }", None)
    assert top is not None and heading in top[0], (heading, top)
    check_math(page, ".jp-MarkdownOutput")
    # the deck: the same link, clicked on its slide, shows the slide that holds that heading
    page.goto(decks["00_welcome"].as_uri())
    page.wait_for_function("document.querySelector('.reveal.ready') !== null", timeout=60_000)
    check_math(page, ".reveal .slides .jp-MarkdownOutput")
    link = page.locator(f'a[href^="{target}.slides.html#/"]').first
    show_slide(page, link)
    link.click()
    page.wait_for_url(f"**/{target}.slides.html#/*")
    page.wait_for_function("document.querySelector('.reveal.ready') !== null", timeout=60_000)
    page.wait_for_timeout(900)
    assert heading in page.locator(".reveal .slides > section.present").text_content()  # (the theme upper-cases)
    check_math(page, ".reveal .slides .jp-MarkdownOutput")
    assert not leaving and not errors, (leaving, errors)


def show_slide(page, element) -> None:
    """Go to the slide that holds `element` (reveal.js follows the URL's #/h) and wait for its transition."""
    element.evaluate("x => { const slides = Array.from(document.querySelectorAll('.reveal .slides > section')); "
                     "location.hash = '#/' + slides.indexOf(x.closest('.reveal .slides > section')); }")
    element.evaluate("x => new Promise(done => { const t = () => x.closest('section.present') && "
                     "!document.querySelector('.reveal .slides').classList.contains('transitioning') ? done() : "
                     "setTimeout(t, 50); t(); })")
    page.wait_for_timeout(900)  # the slide transition


def move_every_knob(page, explorer) -> int:
    """Move each input of a kernel-free slider one step (keyboard) and back: its figure changes, then returns."""
    view = explorer.locator(".mtl-view")
    first = view.evaluate(FINGERPRINT)
    knobs = explorer.locator("input[data-knob]")
    for k in range(knobs.count()):
        knob = knobs.nth(k)
        forward, back = ("ArrowLeft", "ArrowRight") if knob.input_value() == knob.get_attribute("max") \
            else ("ArrowRight", "ArrowLeft")
        knob.focus()
        page.keyboard.press(forward)
        assert view.evaluate(FINGERPRINT) != first, f"moving knob {k} must change the figure"
        page.keyboard.press(back)
        assert view.evaluate(FINGERPRINT) == first, f"moving knob {k} back must bring the figure back"
    return knobs.count()


def check_math(page, selector: str) -> None:
    page.wait_for_function("window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                           "&& document.querySelectorAll('.mjx-chtml').length > 0", timeout=60_000)
    assert page.locator(".MathJax_Error, .mjx-merror").count() == 0, "MathJax could not render a formula"
    prose = page.locator(selector).evaluate_all("els => els.map(e => e.textContent)")
    raw = [m for text in prose for m in RAW_MATH.findall(text)]
    assert not raw, f"math left as raw TeX: {raw[:3]}"


@pytest.mark.parametrize("name", NAMES)
def test_browser_handout_page_offline(built, browser_page, name):
    out, pages, _ = built
    page, leaving, errors = browser_page
    leaving.clear(), errors.clear()
    page.set_viewport_size({"width": 1200, "height": 900})
    page.goto(pages[name].as_uri())
    check_math(page, ".jp-MarkdownOutput")
    explorers = page.locator(".mtl-explorer")
    assert explorers.count() >= 1
    for e in range(explorers.count()):
        explorer = explorers.nth(e)
        explorer.scroll_into_view_if_needed()
        assert move_every_knob(page, explorer) >= 1
    if shots():
        explorers.first.scroll_into_view_if_needed()
        page.screenshot(path=str(shots() / f"handout_{name}_slider.png"))
    assert not leaving, f"requests left the machine: {leaving}"
    assert not errors, errors


@pytest.mark.parametrize("name", NAMES)
def test_browser_deck_offline(built, browser_page, name):
    _, _, decks = built
    page, leaving, errors = browser_page
    leaving.clear(), errors.clear()
    deck = decks[name]
    cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
    starts = [c.cell_type == "markdown" and re.match(r"##? ", c.source.lstrip()) is not None for c in cells]
    n_headings = sum(starts) + (not starts[0])  # the first cell starts a slide whatever it is
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(deck.as_uri())
    page.wait_for_function("document.querySelector('.reveal.ready') !== null", timeout=60_000)
    n_slides = page.locator(".reveal .slides > section").count()
    assert n_slides >= 2 and n_slides == n_headings, ("one slide per # or ## heading", n_slides, n_headings)
    check_math(page, ".reveal .slides .jp-MarkdownOutput")
    present = page.locator(".reveal .slides > section.present")
    first_slide = present.inner_text()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(800)
    assert present.inner_text() != first_slide, "the arrow key moves to the next slide"
    explorers = page.locator(".reveal .mtl-explorer")
    assert explorers.count() >= 1
    for e in range(explorers.count()):
        explorer = explorers.nth(e)
        show_slide(page, explorer)
        assert explorer.is_visible(), "the slider's slide is showing"
        assert move_every_knob(page, explorer) >= 1  # on a range input the arrow keys move the input, not the deck
        if e == 0 and shots():
            explorer.locator(".mtl-view").scroll_into_view_if_needed()
            page.screenshot(path=str(shots() / f"slides_{name}_slider.png"))
    assert not leaving, f"requests left the machine: {leaving}"
    assert not errors, errors


def test_make_handout_and_make_slides_each_build_alone(tmp_path):
    """`make handout` and `make slides` (one build each, as the Makefile runs them) for chapter 0."""
    need_npm()
    welcome = [str(ROOT / "notebooks" / "00_welcome.ipynb")]
    handout.main(["--out", str(tmp_path / "handout"), "--cache", str(CACHE), *welcome])
    handout.main(["--slides", "--out", str(tmp_path / "slides"), "--cache", str(CACHE), *welcome])
    page = (tmp_path / "handout" / "00_welcome.html").read_text(encoding="utf-8")
    deck = (tmp_path / "slides" / "00_welcome.slides.html").read_text(encoding="utf-8")
    for text in (page, deck):
        assert text.count(EXPLORER) == 1 and not NETWORK_RESOURCE.search(text)
    assert png_width(re.search(r'class="mtl-view"[^>]*src="([^"]+)"', page).group(1)) < 1920
    assert abs(png_width(re.search(r'class="mtl-view"[^>]*src="([^"]+)"', deck).group(1)) - 1920) <= 20
    assert (tmp_path / "slides" / "reveal.js" / "dist" / "reveal.js").exists()
    assert 'href="00_welcome.slides.html"' in (tmp_path / "slides" / "index.html").read_text(encoding="utf-8")


# --- fast checks of the pieces, no execution -------------------------------------------------------------

def test_presenter_copy_goes_to_the_deck_and_is_dropped_from_the_handout():
    assert handout.PRESENTER_HTML_MIME == widgets.PRESENTER_HTML_MIME
    def notebook():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("explorer", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<p>learner</p>", "image/png": "AAAA", "text/plain": "x",
                                  handout.PRESENTER_HTML_MIME: "<p>presenter</p>"})])]
        return nb
    for presenter, shown in ((False, "<p>learner</p>"), (True, "<p>presenter</p>")):
        nb = notebook()
        handout.clean(nb, presenter=presenter)
        data = nb.cells[0].outputs[0]["data"]
        assert data["text/html"] == shown and handout.PRESENTER_HTML_MIME not in data


def test_slide_ids_and_links_point_at_the_slide_that_holds_a_heading():
    deck = ('<div class="slides"><section>\n<section>\n<h1 id="A-%CE%BB">A λ<a class="anchor-link" href="#A-%CE%BB">¶</a></h1>'
            '<h3 id="A.1">A.1</h3>\n</section>\n</section>\n<section>\n<section>\n<h2 id="B">B</h2>'
            '<a href="#A.1">up</a> <a href="01_x.ipynb#C">C</a> <a href="01_x.ipynb">x</a>\n</section>\n</section></div>')
    body, slide_of = handout.slide_ids(deck)
    assert slide_of == {"A-λ": "A-λ", "A.1": "A-λ", "B": "B"}
    assert body.count('<section id="A-λ">') == 1 and '<h1 id=' not in body and '<h3 id="A.1">' in body
    linked = handout.rewrite_links(body, True, {"00_x": slide_of, "01_x": {"C": "C0"}}, "00_x")
    assert 'href="#/A-%CE%BB"' in linked and 'href="#/A-%CE%BB">up' in linked
    assert 'href="01_x.slides.html#/C0"' in linked and 'href="01_x.slides.html"' in linked
    page = handout.rewrite_links('<a href="01_x.ipynb#C-%CE%BB">', False, {}, "00_x")
    assert page == '<a href="01_x.html#C-%CE%BB">'


def test_notebooks_execute_where_an_event_loop_already_runs():
    """Playwright's sync API (the browser tests) and a notebook keep an event loop running: execute_all
    must still run the kernels there (asyncio.run cannot nest), not fail. The kernel's startup line turns the
    static export on there (the slider carries its kernel-free HTML), not in this process."""
    import asyncio

    async def inside_a_loop():
        return handout.execute_all([ROOT / "notebooks" / "00_welcome.ipynb"], jobs=1)

    from concurrent.futures import ThreadPoolExecutor

    # a thread of its own for this test's loop: in the full suite Playwright's loop already runs here
    with ThreadPoolExecutor(1) as pool:
        (nb,) = pool.submit(asyncio.run, inside_a_loop()).result()
    assert any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    sliders = [o["data"] for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
               if {"image/png", "application/vnd.jupyter.widget-view+json"} <= set(o.get("data", {}))]
    assert len(sliders) == 1 and sliders[0]["text/html"].startswith('<div class="mtl-explorer"')
    assert widgets.PRESENTER_HTML_MIME not in sliders[0], "a presenter copy only when asked (build_both)"
    assert not widgets.STATIC_EXPORT, "the switch is the kernel's, not this process's"
