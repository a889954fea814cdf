"""`make handout`: one self-contained HTML page per chapter, and an index, for learners without Python.

Each notebook is executed (nbclient; two kernels at once by default) on a kernel whose startup line turns
on mtl_lessons.widgets.STATIC_EXPORT, so every slider's display carries its kernel-free HTML
(SweepExplorer.to_html); then widget state, live-widget views (so the page shows that HTML) and progress
bars (tqdm's widgets and stderr) are stripped, and nbconvert's lab
page is written without require.js, the widget manager or mermaid. Math is rendered by MathJax 2
(npm package `mathjax`, pinned below) vendored into the output folder at build time: nothing is
fetched when a page is viewed. Links between chapters (NN_name.ipynb#heading) go to the other page's
heading, and in the decks to the slide that holds it (reveal.js's #/slide-id).

    python tools/handout.py [--out build/handout] [notebooks/00_welcome.ipynb ...]
    python tools/handout.py --slides --out build/slides   # `make slides`: reveal.js decks, offline
    python tools/handout.py --out build/handout --slides-out build/slides   # both, one execution each
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from pathlib import Path

from mtl_lessons.plots import PRESENTER_ENV
from mtl_lessons.widgets import PRESENTER_HTML_MIME

ROOT = Path(__file__).resolve().parent.parent
MATHJAX_NPM = "mathjax@2.7.9"  # MathJax 2: the API nbconvert's page configures (MathJax.Hub.Config)
MATHJAX_CONFIG = "TeX-AMS_CHTML-full,Safe"
# what the configuration above loads; the rest of the package (73 MB unpacked) is left out
MATHJAX_KEEP = ("MathJax.js", "LICENSE", "config/TeX-AMS_CHTML-full.js", "config/Safe.js", "extensions/", "jax/input/TeX/",
                "jax/output/CommonHTML/", "jax/element/", "fonts/HTML-CSS/TeX/woff/")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# the slides' reveal.js (the version nbconvert's template is written for), jQuery and require.js it loads
SLIDES_NPM = {"reveal.js@4.0.2": ("dist/", "plugin/notes/", "LICENSE"), "jquery@3.7.1": ("dist/jquery.min.js", "LICENSE.txt"),
              "requirejs@2.3.7": ("require.js",)}


def npm_tarball(spec: str, cache: Path) -> Path:
    """The npm package `spec` (name@version) as a tarball in `cache`, fetched with `npm pack` once."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / (spec.replace("@", "-").replace("/", "-") + ".tgz")
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"this build needs npm (Node.js) once, to fetch {spec} from the npm registry: "
                             "install Node.js (https://nodejs.org, or apt-get install npm) and run it again")
        print(f"==> {spec} from the npm registry (once; kept in {cache})", flush=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            subprocess.run([npm, "pack", spec, "--prefer-offline", "--silent", "--pack-destination", tmp],
                           check=True, stdout=subprocess.DEVNULL)
            (packed,) = Path(tmp).glob("*.tgz")
            packed.rename(tarball)
    return tarball


def vendor_npm(spec: str, keep: tuple[str, ...], target: Path, cache: Path) -> Path:
    """Copy the files of npm package `spec` whose paths start with one of `keep` into `target` (once)."""
    if target.exists():
        return target
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(npm_tarball(spec, cache)) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.startswith("package/")
                   and m.name[len("package/"):].startswith(keep)]
        for m in members:
            m.name = m.name[len("package/"):]
        archive.extractall(tmp, members=members, filter="data")
    tmp.rename(target)
    return target


def vendor_mathjax(out: Path, cache: Path) -> Path:
    """Copy the parts of the pinned MathJax npm package that the pages use into out/mathjax."""
    return vendor_npm(MATHJAX_NPM, MATHJAX_KEEP, out / "mathjax", cache)


def clean(nb, *, presenter: bool = False) -> None:
    """Strip widget state, live-widget views (kept: their static fallbacks) and progress bars, in place.

    A slider's presenter-style copy (widgets.PRESENTER_COPY) becomes its text/html if `presenter`, else is dropped.
    """
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stderr":
                continue  # tqdm's text bars and warnings meant for a live session
            data = output.get("data")
            if data is not None and PRESENTER_HTML_MIME in data:
                twin = data.pop(PRESENTER_HTML_MIME)
                if presenter:
                    data["text/html"] = twin
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                data.pop(WIDGET_STATE, None)
                if set(data) <= {"text/plain"}:
                    continue  # a widget with no static form (a progress bar): its repr would only confuse
            kept.append(output)
        cell.outputs = kept


def title_of(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


TEMPLATES = Path(__file__).parent / "handout_templates"


def execute_all(notebooks: list[Path], *, presenter_copy: bool = False, presenter: bool | None = None, jobs: int = 2,
                timeout: int = 1200) -> list:
    """Each notebook executed on a fresh kernel (`jobs` kernels at once), not yet cleaned.

    Each kernel starts with widgets.STATIC_EXPORT on (every slider's display carries its kernel-free HTML)
    and, if `presenter_copy`, widgets.PRESENTER_COPY (a presenter-style copy too); it gets MTL_PRESENTER
    unless `presenter` is None. This process's environment and modules are left alone.
    """
    import asyncio

    import nbformat
    from nbclient import NotebookClient

    env = dict(os.environ)
    if presenter is not None:
        env[PRESENTER_ENV] = "1" if presenter else "0"
    # the kernel's startup line, run before the first cell: the package reads no environment variable for this
    switches = f"import mtl_lessons.widgets as w; w.STATIC_EXPORT = True; w.PRESENTER_COPY = {presenter_copy}; del w"
    startup = [f"--IPKernelApp.exec_lines={switches}"]

    async def run(path: Path, slots: asyncio.Semaphore):
        async with slots:
            start = time.perf_counter()
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(nb, timeout=timeout, kernel_name="python3", extra_arguments=startup,
                                    resources={"metadata": {"path": str(path.parent)}})
            await client.async_execute(env=env)  # env: the kernel's whole environment
            print(f"    {path.name} executed in {time.perf_counter() - start:.0f} s", flush=True)
            return nb

    async def run_all():
        slots = asyncio.Semaphore(max(1, int(jobs)))
        return await asyncio.gather(*(run(path, slots) for path in notebooks))

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop here (a script, make handout)
        return asyncio.run(run_all())
    # called where an event loop already runs (a notebook, or Playwright's sync API in the tests):
    # asyncio.run refuses to nest, so the kernels are driven from a thread with a loop of its own
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_all()).result()


def write_index(out: Path, entries: list[tuple[str, str]], what: str) -> None:
    items = "\n".join(f'<li><a href="{html.escape(name)}">{html.escape(title)}</a></li>' for name, title in entries)
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mtl-lessons: " + what + "</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;line-height:1.5}</style>"
        "</head><body><h1>mtl-lessons: " + what + "</h1><p>Every chapter, executed, with its figures and sliders "
        "that move without Python. Open the pages from this folder; they need no network.</p>"
        f"<ol start=\"0\">\n{items}\n</ol></body></html>\n", encoding="utf-8")


def handout_exporter():
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATES)], template_file="handout.html.j2",
                        mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}")


def slides_exporter():
    from nbconvert import SlidesExporter

    return SlidesExporter(extra_template_paths=[str(TEMPLATES)], template_file="slides.html.j2",
                          mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}",
                          reveal_url_prefix="reveal.js", reveal_scroll=True, reveal_theme="white",  # white: local fonts only
                          jquery_url="jquery/dist/jquery.min.js", require_js_url="requirejs/require.js")


def vendor_slides(out: Path, cache: Path) -> None:
    """reveal.js, jQuery, require.js and MathJax, vendored from npm into out/."""
    vendor_mathjax(out, cache)
    for spec, keep in SLIDES_NPM.items():
        vendor_npm(spec, keep, out / spec.split("@")[0], cache)


def build(notebooks: list[Path], out: Path, *, cache: Path, timeout: int = 1200, jobs: int = 2) -> list[Path]:
    """Execute, clean and export each notebook to out/<name>.html; write out/index.html. Returns the pages."""
    out.mkdir(parents=True, exist_ok=True)
    vendor_mathjax(out, cache)
    executed = execute_all(notebooks, timeout=timeout, jobs=jobs)
    return export_all(notebooks, executed, out, handout_exporter(), slides=False)


def build_slides(notebooks: list[Path], out: Path, *, cache: Path, timeout: int = 1200, jobs: int = 2) -> list[Path]:
    """reveal.js decks, one per notebook, in out/ (presenter style; reveal.js, jQuery, require.js, MathJax from npm)."""
    out.mkdir(parents=True, exist_ok=True)
    vendor_slides(out, cache)
    executed = execute_all(notebooks, timeout=timeout, jobs=jobs, presenter=True)
    return export_all(notebooks, executed, out, slides_exporter(), slides=True)


def build_both(notebooks: list[Path], out: Path, slides_out: Path, *, cache: Path, timeout: int = 1200,
               jobs: int = 2) -> tuple[list[Path], list[Path]]:
    """The handout and the decks from ONE execution per notebook: each slider also draws a presenter-style copy."""
    import copy

    for folder in (out, slides_out):
        folder.mkdir(parents=True, exist_ok=True)
    vendor_mathjax(out, cache)
    vendor_slides(slides_out, cache)
    executed = execute_all(notebooks, presenter_copy=True, presenter=False, timeout=timeout, jobs=jobs)
    for_slides = [copy.deepcopy(nb) for nb in executed]
    pages = export_all(notebooks, executed, out, handout_exporter(), slides=False)
    decks = export_all(notebooks, for_slides, slides_out, slides_exporter(), slides=True)
    return pages, decks


CHAPTER_LINK = re.compile(r'href="(\d\d_\w+)\.ipynb(?:#([^"]*))?"')
SAME_PAGE_LINK = re.compile(r'href="#([^/"][^"]*)"')
SECTION_TAG = re.compile(r"<section\b[^>]*>|</section>")
HEADING_ID = re.compile(r'<h[1-6] id="([^"]*)"')


def _anchor(text: str) -> str:
    """A heading id or link fragment as the text it names: nbconvert writes both HTML-escaped and %-encoded."""
    return urllib.parse.unquote(html.unescape(text))


def slide_ids(body: str) -> tuple[str, dict[str, str]]:
    """Give each slide's <section> the id of its first heading (reveal.js's #/id goes to that slide).

    The id moves from the heading to the slide (the innermost <section>: the one reveal.js calls current),
    decoded. Returns the deck and, for every heading in it, heading id -> the id of the slide that holds it.
    """
    slides, depth, start = [], 0, 0
    for tag in SECTION_TAG.finditer(body):
        if tag.group().startswith("</"):
            depth -= 1
            if depth == 0:
                slides.append((start, tag.end()))
        else:
            if depth == 0:
                start = tag.start()
            depth += 1
    parts, slide_of, done = [], {}, 0
    for start, end in slides:
        slide = body[start:end]
        ids = HEADING_ID.findall(slide)
        if ids:
            slide = slide.replace(f' id="{ids[0]}"', "", 1)
            inner = [m.start() for m in re.finditer(r"<section\b", slide)][:2][-1]  # nbconvert nests a subslide
            slide = slide[:inner] + f'<section id="{html.escape(_anchor(ids[0]))}"' + slide[inner + len("<section"):]
            slide_of.update((_anchor(i), _anchor(ids[0])) for i in ids)
        parts += [body[done:start], slide]
        done = end
    return "".join(parts) + body[done:], slide_of


def rewrite_links(body: str, slides: bool, anchors: dict[str, dict[str, str]], own: str) -> str:
    """Links between chapters (NN_name.ipynb#heading) stay inside the built folder.

    In the handout they go to the page's heading; in a deck, to the slide that holds it (reveal.js #/slide-id);
    `anchors` maps each deck's name to its heading -> slide ids (from slide_ids).
    """
    suffix = ".slides.html" if slides else ".html"

    def to_slide(name: str, fragment: str) -> str:
        target = anchors.get(name, {}).get(_anchor(fragment))
        if target is None:
            print(f"    warning: {own}: no heading {fragment!r} in {name}", flush=True)
            return ""
        return "#/" + urllib.parse.quote(target, safe="")

    def chapter(m: re.Match) -> str:
        name, fragment = m.group(1), m.group(2)
        if not fragment:
            return f'href="{name}{suffix}"'
        return f'href="{name}{suffix}{to_slide(name, fragment) if slides else "#" + fragment}"'

    body = CHAPTER_LINK.sub(chapter, body)
    if slides:  # a link to a heading of the same deck (the headings' own anchor links included)
        body = SAME_PAGE_LINK.sub(lambda m: f'href="{to_slide(own, m.group(1)) or "#"}"', body)
    return body


def export_all(notebooks: list[Path], executed: list, out: Path, exporter, *, slides: bool) -> list[Path]:
    """Clean each executed notebook (and mark its slides), export it to out/; link the chapters; write the index."""
    suffix, what = (".slides.html", "slides") if slides else (".html", "handout")
    bodies, anchors, entries = {}, {}, []
    for path, nb in zip(notebooks, executed):
        clean(nb, presenter=slides)
        if slides:
            mark_slides(nb)
        title = title_of(nb, path.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        if slides:
            body, anchors[path.stem] = slide_ids(body)
        bodies[path.stem] = body
        entries.append((f"{path.stem}{suffix}", title))
    pages = []
    for name, body in bodies.items():
        page = out / f"{name}{suffix}"
        page.write_text(rewrite_links(body, slides, anchors, name), encoding="utf-8")
        pages.append(page)
        print(f"    {page.name}: {page.stat().st_size / 1e6:.1f} MB", flush=True)
    write_index(out, entries, what)
    return pages


def mark_slides(nb) -> None:
    """A markdown cell that starts with a # or ## heading starts a slide; every other cell joins the current one."""
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
        if cell.cell_type == "markdown" and re.match(r"##? ", cell.source.lstrip()):
            cell.metadata["slideshow"] = {"slide_type": "slide"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "handout")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / ".cache")
    parser.add_argument("--slides", action="store_true", help="reveal.js decks (## headings start slides)")
    parser.add_argument("--slides-out", type=Path, help="the handout in --out AND the decks here, from one execution")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at once (default 2)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    what = "handout and slides" if args.slides_out else "slides" if args.slides else "handout"
    print(f"==> the {what}: {len(notebooks)} notebooks into {args.out}, {args.jobs} at once", flush=True)
    if args.slides_out:
        build_both(notebooks, args.out, args.slides_out, cache=args.cache, jobs=args.jobs)
        print(f"==> open {args.out / 'index.html'} and {args.slides_out / 'index.html'}", flush=True)
        return
    (build_slides if args.slides else build)(notebooks, args.out, cache=args.cache, jobs=args.jobs)
    print(f"==> open {args.out / 'index.html'}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
