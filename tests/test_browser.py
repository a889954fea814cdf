"""Every notebook in real JupyterLab, in headless Chromium: it runs clean, its widgets render and respond.

nbval runs no browser. These tests open each notebook of notebooks/ the way a learner does: a
`jupyter lab` from the course environment (127.0.0.1, free port, random token, settings and a copy
of the notebooks in a temporary folder), Debian's Chromium driven by Playwright, Run → Run All
Cells. Then they fail on error outputs, tracebacks, "Error displaying widget", widgets left as text,
console errors and requests leaving the machine; move every slider (keyboard on its handle, so the
kernel callback runs) and check its figure changed and nothing piled up. A screenshot per notebook
goes to $MTL_SCREENSHOTS (default: a new temporary folder), printed at the end of the run.

Needs Debian's `chromium` (apt-get install chromium) or MTL_CHROMIUM=/path/to/chromium; without it the
tests skip, except under CI=true, where they must run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _labserver import LabServer, descendants, kill_survivors, snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_ENABLE = "sudo apt-get install chromium (Debian/Ubuntu), or set MTL_CHROMIUM=/path/to/chromium"
RUN_TIMEOUT = float(os.environ.get("MTL_BROWSER_RUN_TIMEOUT", 600))  # seconds for Run All, per notebook
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# a widget's Python repr, which is what shows when the page could not render the widget itself
WIDGET_REPR = re.compile(r"\b(?:\w*Slider|Dropdown|ToggleButtons|RadioButtons|Select\w*|\w*Progress|Checkbox|"
                         r"Button|Text|Label|HTML)\((?:value|options|index|description|children|layout|style)="
                         r"|\b[VH]?Box\((?:children=|\))|\bImage\(value=b|\binteractive\(children=|\bOutput\((?:\)|outputs=|layout=)")
LOADING = "Loading widget..."  # what ipywidgets shows until the view renders
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


def find_chromium() -> str | None:
    """MTL_CHROMIUM, else the binary Debian's chromium package installs (not its /usr/bin shell wrapper)."""
    explicit = os.environ.get("MTL_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = find_chromium()


@contextlib.contextmanager
def offline_page(**context_options):
    """A headless Chromium page with the network off: yields (page, leaving, errors), where `leaving` collects
    every request for anything but a file:// or data: URL (each is aborted) and `errors` the console errors,
    page errors and failed requests. Skips without Chromium (fails under CI)."""
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail(f"no Chromium under CI: {HOW_TO_ENABLE}")
        pytest.skip(f"no Chromium: {HOW_TO_ENABLE}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(**context_options)
            context.set_offline(True)
            leaving, errors = [], []
            context.route(re.compile(r"^(?!file:|data:)"), lambda route: (leaving.append(route.request.url), route.abort()))
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            yield page, leaving, errors
        finally:
            browser.close()
BROWSER_OFF = CHROMIUM is None and not IN_CI  # on a learner's machine without Chromium: one skip, see the end


# ----------------------------------------------------------------------------------------------------------
# Report: per-notebook time and the screenshot folder, printed at the end of the run.

class _Report:
    def __init__(self, folder: Path):
        self.folder = folder
        self.seconds: dict[str, tuple[float, str]] = {}

    def add(self, name: str, seconds: float, status: str, phases: dict[str, float]) -> None:
        self.seconds[name] = (seconds, status + " in %.1f s (%s)" % (
            seconds, ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())))

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("notebooks in JupyterLab + headless Chromium")
        for name, (_seconds, line) in sorted(self.seconds.items()):
            terminalreporter.write_line(f"{name}: {line}")
        terminalreporter.write_line(f"screenshots (one per notebook): {self.folder}")


@pytest.fixture(scope="session")
def report(request):
    folder = os.environ.get("MTL_SCREENSHOTS")
    folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="mtl-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    plugin = _Report(folder.resolve())
    request.config.pluginmanager.register(plugin, "mtl-browser-report")
    return plugin


# ----------------------------------------------------------------------------------------------------------
# The browser: one headless Chromium for this module, a fresh context (profile) per notebook.

@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail(f"CI=true but Chromium was not found; under CI the browser tests must run, never skip. "
                    f"Fix: {HOW_TO_ENABLE}")
    from playwright.sync_api import sync_playwright

    def terminated(signum, frame):  # so that a SIGTERM (a CI timeout) still runs the cleanup below
        raise KeyboardInterrupt("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread
        previous = None
    me = os.getpid()
    before = descendants(me)
    playwright = sync_playwright().start()
    started = {}
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        started = snapshot(descendants(me) - before)  # Playwright's driver and Chromium's processes
        yield browser
        browser.close()
    finally:
        started.update(snapshot(descendants(me) - before))
        playwright.stop()
        kill_survivors(started)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------------------------------------
# What the page shows, read in one go.

PAGE_STATE_JS = r"""
() => {
  const hash = (s) => { let h = 5381; for (let i = 0; i < s.length; i++) h = ((h * 33) ^ s.charCodeAt(i)) >>> 0;
                        return s.length + ':' + h.toString(16); };
  const panel = [...document.querySelectorAll('.jp-NotebookPanel')].find(p => !p.classList.contains('lm-mod-hidden'));
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-Cell')].map((cell) => {
    const prompt = cell.querySelector('.jp-InputPrompt');
    const area = cell.querySelector('.jp-Cell-outputArea');
    const outputs = area ? [...area.querySelectorAll(':scope > .jp-OutputArea-child')].map((child) => {
      const out = child.querySelector('.jp-OutputArea-output');
      // rendermime sets data-mime-type; the widget renderer does not, but draws a .jupyter-widgets root
      const mime = !out ? null : (out.getAttribute('data-mime-type') ||
                   (out.querySelector('.jupyter-widgets') ? 'application/vnd.jupyter.widget-view+json' : null));
      return {mime,
              text: ((out || child).textContent || '').slice(0, 2000),
              images: [...child.querySelectorAll('img')].map(img => hash(img.getAttribute('src') || '')),
              sliders: child.querySelectorAll('.widget-slider').length};
    }) : [];
    return {code: cell.classList.contains('jp-CodeCell'), prompt: prompt ? prompt.textContent.trim() : '', outputs};
  });
  return {status: indicator ? indicator.getAttribute('data-status') : null, cells};
}
"""


def page_state(page) -> dict:
    state = page.evaluate(PAGE_STATE_JS)
    assert state is not None, "no notebook panel is open"
    return state


def executed(prompt: str) -> bool:
    return re.fullmatch(r"\[\d+\]:", prompt) is not None


def wait_until_run(page, expected: list[int], timeout: float) -> dict:
    """Wait until every code cell in `expected` shows an execution count and the kernel is idle,
    or Run All stopped on an error (a cell has an error output and nothing is queued)."""
    deadline = time.monotonic() + timeout
    while True:
        state = page_state(page)
        prompts = [c["prompt"] for c in state["cells"]]
        busy = any("*" in p for p in prompts)
        done = all(executed(prompts[i]) for i in expected)
        errored = any(o["mime"] == "application/vnd.jupyter.stderr" and "Traceback" in o["text"]
                      for c in state["cells"] for o in c["outputs"])
        if state["status"] == "idle" and not busy and (done or errored):
            return state
        if state["status"] == "dead":
            pytest.fail("the kernel died during Run All")
        if time.monotonic() > deadline:
            running = [i for i, p in enumerate(prompts) if "*" in p]
            pytest.fail(f"Run All did not finish in {timeout:.0f} s (kernel {state['status']!r}, "
                        f"cells still running or queued: {running})")
        time.sleep(0.5)


def describe(cell_index: int, source: str) -> str:
    first = next((line for line in source.splitlines() if line.strip()), "")
    return f"cell {cell_index} ({first[:60]!r})"


# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_in_jupyterlab(notebook, browser, report):
    t0 = time.monotonic()
    phases: dict[str, float] = {}
    status = "FAILED"
    try:
        problems, log = run_notebook_in_lab(notebook, browser, report.folder / f"{notebook.stem}.png", phases)
        assert not problems, (f"{notebook.name} in JupyterLab:\n- " + "\n- ".join(problems)
                              + f"\n(JupyterLab's log ends with:\n{log})")
        status = "passed"
    finally:
        report.add(notebook.name, time.monotonic() - t0, status, phases)


def run_notebook_in_lab(notebook: Path, browser, screenshot: Path, phases: dict) -> tuple[list[str], str]:
    """Open `notebook` in a fresh JupyterLab, Run All, check it, move its sliders, take a screenshot.
    Returns what is wrong (empty: nothing) and the end of JupyterLab's log; `phases` gets the timings."""
    import nbformat

    source_nb = nbformat.read(notebook, as_version=4)
    sources = [c.source for c in source_nb.cells]
    expected = [i for i, c in enumerate(source_nb.cells) if c.cell_type == "code" and c.source.strip()]
    guard_log = Path(os.environ["MTL_NETGUARD_LOG"]) if os.environ.get("MTL_NETGUARD_LOG") else None
    guard_before = guard_log.read_text() if guard_log and guard_log.exists() else ""

    problems: list[str] = []
    console_errors: list[str] = []
    blocked: list[str] = []
    clock = [time.monotonic()]

    def lap(name):
        now = time.monotonic()
        phases[name] = now - clock[0]
        clock[0] = now

    server = LabServer([notebook])
    context = session = None
    try:
        # 1. the server, and the notebook's session (kernel) created before the page opens
        server.start()
        session = server.start_session(notebook.name)

        # 2. the page; nothing may leave 127.0.0.1
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, service_workers="block")

        def guard(route):
            url = urllib.parse.urlsplit(route.request.url)
            if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in LOCAL_HOSTS:
                blocked.append(route.request.url)
                route.abort()
            else:
                route.continue_()

        context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/)"), guard)  # only requests leaving 127.0.0.1
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and console_errors.append(
            f"{m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"))
        page.on("pageerror", lambda e: console_errors.append(f"uncaught: {e}"))

        page.goto(server.url(f"/lab/tree/{urllib.parse.quote(notebook.name)}"), wait_until="domcontentloaded")
        page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=90_000)
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        deadline = time.monotonic() + 30
        while (n_cells := cells.count()) != len(sources) and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert n_cells == len(sources), f"JupyterLab shows {n_cells} cells, the notebook has {len(sources)}"
        lap("open")

        # Run → Run All Cells, from the menu, as a learner does; wait for every cell
        click_menu(page, "Run", "Run All Cells")
        state = wait_until_run(page, expected, RUN_TIMEOUT)
        lap("run all")

        # 3. errors, tracebacks, widgets that did not render: as the kernel sent them (saved to the
        # temporary copy) and as the page shows them
        page.keyboard.press("Escape")
        click_menu(page, "File", "Save Notebook")
        saved = wait_for_save(server, notebook.name, state)
        deadline = time.monotonic() + 10  # a widget view may still be loading for a moment
        while any(LOADING in o["text"] for c in state["cells"] for o in c["outputs"]) and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            state = page_state(page)
        for i, (cell, shown) in enumerate(zip(saved["cells"], state["cells"])):
            where = describe(i, sources[i])
            if i in expected and not executed(shown["prompt"]):
                problems.append(f"{where} did not run (Run All stopped before it)")
            for o in shown["outputs"]:
                if o["mime"] == "application/vnd.jupyter.stderr":
                    problems.append(f"{where}: error output:\n{o['text'][:1500]}")
                elif "Traceback" in o["text"]:
                    problems.append(f"{where}: a traceback:\n{o['text'][:1500]}")
                elif "Error displaying widget" in o["text"] or LOADING in o["text"]:
                    problems.append(f"{where}: a widget did not render: {o['text'][:300]!r}")
                elif WIDGET_REPR.search(o["text"]) and not o["sliders"]:
                    problems.append(f"{where}: a widget shows as plain text: {o['text'][:200]!r}")
            for k, out in enumerate(cell.get("outputs", [])):
                if out["output_type"] == "error" and not any(p.startswith(where) for p in problems):
                    problems.append(f"{where}: {out['ename']}: {out['evalue']}")
                if WIDGET_MIME not in out.get("data", {}):
                    continue
                view = shown["outputs"][k] if k < len(shown["outputs"]) else None
                # a widget closed after use (a finished tqdm bar with leave=False) leaves an empty output
                closed = view is not None and view["mime"] is None and not view["text"].strip()
                failed = view is not None and ("Error displaying widget" in view["text"] or LOADING in view["text"])
                if view is None or not (view["mime"] == WIDGET_MIME or closed or failed):
                    got = "nothing" if view is None else f"{view['mime']}: {view['text'][:200]!r}"
                    problems.append(f"{where}: the kernel sent a widget, JupyterLab rendered {got} instead "
                                    "(is the jupyterlab_widgets extension installed and loaded?)")
        lap("checks")

        # 4. every slider: move it, its figure must change, nothing may pile up
        sliders = page.locator(".jp-NotebookPanel .jp-Cell-outputArea .widget-slider")
        first_slider_cell = None
        for s in range(sliders.count()):
            problem, cell_index = move_slider(page, sliders.nth(s), s, sources)
            if problem:
                problems.append(problem)
            if first_slider_cell is None:
                first_slider_cell = cell_index
        # figures other than the default are drawn lazily: every grid point of the first slider must show one
        if sliders.count():
            problems.extend(walk_slider(page, sliders.nth(0), 0, sources))
        lap("sliders")

        # 5. a screenshot: the first slider's output after the move, else the last cell
        take_screenshot(page, screenshot, first_slider_cell)
        if console_errors:
            problems.append("browser console errors:\n  " + "\n  ".join(console_errors[:20]))
        if blocked:
            problems.append("the page tried to reach the network (blocked):\n  " + "\n  ".join(blocked[:20]))
        guard_after = guard_log.read_text() if guard_log and guard_log.exists() else ""
        if guard_after != guard_before:
            problems.append("JupyterLab or its kernel tried to reach the network:\n" + guard_after[len(guard_before):])
    finally:
        if context is not None:
            context.close()
        if session is not None:
            try:
                server.api("DELETE", f"/api/sessions/{session['id']}")  # shut the kernel down cleanly
            except OSError:
                pass
        log = server.log_tail()
        server.cleanup()
        lap("close")
    return problems, log


def click_menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(menu)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def wait_for_save(server: LabServer, name: str, state: dict, timeout: float = 30) -> dict:
    """The saved copy, once its execution counts are the ones the page shows."""
    shown = [int(c["prompt"][1:-2]) if executed(c["prompt"]) else None for c in state["cells"]]
    deadline = time.monotonic() + timeout
    while True:
        try:
            nb = server.notebook(name)
        except json.JSONDecodeError:  # caught mid-write: JupyterLab is still saving the file
            nb = {"cells": []}
        counts = [c.get("execution_count") if c["cell_type"] == "code" else None for c in nb["cells"]]
        if counts == shown:
            return nb
        if time.monotonic() > deadline:
            pytest.fail(f"File → Save Notebook did not save {name} within {timeout:.0f} s "
                        f"(execution counts on disk {counts}, on the page {shown})")
        time.sleep(0.25)


def output_images(state: dict, cell_index: int) -> list[str]:
    return [img for o in state["cells"][cell_index]["outputs"] for img in o["images"]]


def move_slider(page, slider, s: int, sources: list[str]) -> tuple[str | None, int | None]:
    """Move slider `s` one step with the keyboard; return (problem or None, its cell index)."""
    cell_index = slider.evaluate(
        "el => [...el.closest('.jp-Notebook').querySelectorAll('.jp-Cell')].indexOf(el.closest('.jp-Cell'))")
    where = f"slider {s} in {describe(cell_index, sources[cell_index])}"
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    if handle.count() == 0:
        return f"{where}: no slider handle (.noUi-handle) rendered", cell_index
    handle.scroll_into_view_if_needed()
    before = page_state(page)
    before_readout = readout.inner_text() if readout.count() else None
    now, high = (handle.get_attribute(a) for a in ("aria-valuenow", "aria-valuemax"))
    key = "ArrowLeft" if now is not None and high is not None and float(now) >= float(high) else "ArrowRight"
    handle.focus()
    page.keyboard.press(key)
    # the readout changes in the browser; the figure only changes once the kernel's callback has answered
    deadline = time.monotonic() + 20
    while True:
        after = page_state(page)
        changed = output_images(after, cell_index) != output_images(before, cell_index)
        if changed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    after_readout = readout.inner_text() if readout.count() else None
    if after_readout == before_readout:
        return f"{where}: pressing {key} on its handle did not move it (readout stays {before_readout!r})", cell_index
    if not changed:
        return (f"{where}: moved from {before_readout!r} to {after_readout!r} but its figure did not change "
                "within 20 s (the kernel callback did not update the image)"), cell_index
    time.sleep(1.0)  # give a figure that would pile up the time to appear
    after = page_state(page)
    for i, (b, a) in enumerate(zip(before["cells"], after["cells"])):
        n_before, n_after = len(b["outputs"]), len(a["outputs"])
        images_before, images_after = len(output_images(before, i)), len(output_images(after, i))
        if n_after != n_before or images_after != images_before:
            return (f"{where}: after the move {describe(i, sources[i])} went from {n_before} outputs / "
                    f"{images_before} images to {n_after} / {images_after}: figures pile up"), cell_index
    return None, cell_index


IMAGES_LOADED_JS = """el => [...el.closest('.jp-Cell').querySelectorAll('.jp-Cell-outputArea img')]
                          .every(img => img.complete && img.naturalWidth > 0)"""


def walk_slider(page, slider, s: int, sources: list[str]) -> list[str]:
    """Step slider `s` to its last value, then back to its first: every grid point is visited, and each
    step must show a new, loaded figure (the explorer draws a point on its first visit if needed)."""
    cell_index = slider.evaluate(
        "el => [...el.closest('.jp-Notebook').querySelectorAll('.jp-Cell')].indexOf(el.closest('.jp-Cell'))")
    handle = slider.locator(".noUi-handle").first
    readout = slider.locator(".widget-readout").first
    problems = []
    for key, end in (("ArrowRight", "aria-valuemax"), ("ArrowLeft", "aria-valuemin")):
        while not problems and float(handle.get_attribute("aria-valuenow")) != float(handle.get_attribute(end)):
            before = output_images(page_state(page), cell_index)
            before_readout = readout.inner_text()
            handle.focus()
            page.keyboard.press(key)
            deadline = time.monotonic() + 20
            while output_images(page_state(page), cell_index) == before and time.monotonic() < deadline:
                time.sleep(0.1)
            where = (f"slider {s} in {describe(cell_index, sources[cell_index])}, {key} from "
                     f"{before_readout!r} to {readout.inner_text()!r}")
            if output_images(page_state(page), cell_index) == before:
                problems.append(f"{where}: the figure did not change within 20 s")
                continue
            deadline = time.monotonic() + 5
            while not slider.evaluate(IMAGES_LOADED_JS) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not slider.evaluate(IMAGES_LOADED_JS):
                problems.append(f"{where}: the new figure did not load within 5 s")
    return problems


def take_screenshot(page, path: Path, cell_index: int | None) -> None:
    """The viewport with the slider's output (or the notebook's last cell) at the top, file browser folded."""
    tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if tab.count():
        tab.first.click()  # fold the file browser: more room for the notebook
    cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    target = cells.nth(cell_index).locator(".jp-Cell-outputArea") if cell_index is not None else cells.last
    target.scroll_into_view_if_needed()
    target.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)
    page.screenshot(path=str(path))


# ----------------------------------------------------------------------------------------------------------
# The check itself is tested: a notebook with every failure a learner could meet must be caught.

BROKEN_CELLS = [
    "SEED = 0",
    '''import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display


def png(k):
    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([0, 1], [0, k])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


print(repr(widgets.IntSlider()))  # a widget left as text''',
    # a widget whose model the page never gets
    '''display({"application/vnd.jupyter.widget-view+json": {"model_id": "0" * 32, "version_major": 2,
          "version_minor": 0}, "text/plain": "a widget"}, raw=True)''',
    # a slider whose figure never changes
    '''frozen = widgets.SelectionSlider(options=[1, 2, 3], description="frozen")
display(widgets.VBox([frozen, widgets.Image(value=png(1), format="png")]))''',
    # a slider that adds a figure on every move
    '''piling = widgets.IntSlider(min=1, max=3, description="piling")
out = widgets.Output()
with out:
    display(widgets.Image(value=png(1), format="png"))
piling.observe(lambda change: out.append_display_data(widgets.Image(value=png(change["new"]), format="png")),
               names="value")
display(widgets.VBox([piling, out]))''',
    "1 / 0",
    'print("never runs")',
]


def test_browser_check_catches_broken_notebooks(browser, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in BROKEN_CELLS])
    nb.cells[0].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    problems, _log = run_notebook_in_lab(path, browser, tmp_path / "broken.png", {})
    report = "\n".join(problems)
    for cell, expected in [(1, "a widget shows as plain text"), (2, "a widget did not render"),
                           (3, "figure did not change"), (4, "figures pile up"), (5, "ZeroDivisionError"),
                           (6, "did not run")]:
        assert any((p.startswith(f"cell {cell} ") or f" in cell {cell} " in p) and expected in p for p in problems), \
            f"cell {cell}: {expected!r} not reported; the check reported:\n{report}"


if BROWSER_OFF:  # one clear line in the run instead of a skip per notebook
    for _name in [name for name in globals() if name.startswith("test_")]:
        del globals()[_name]

    # the id carries the hint, so that even `pytest -v` without -rs prints it on the SKIPPED line
    @pytest.mark.parametrize("hint", [HOW_TO_ENABLE], ids=["to enable: " + HOW_TO_ENABLE])
    def test_notebooks_in_jupyterlab_skipped_no_chromium(hint):
        pytest.skip(f"browser tests skipped: Chromium not found; to run them: {hint}")
