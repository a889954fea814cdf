"""`make handout`: one self-contained HTML page per chapter, and an index, for learners without Python.

Each notebook is executed (nbclient, through nbconvert's ExecutePreprocessor) with MTL_STATIC_HTML=1,
so every slider's display carries its kernel-free HTML (SweepExplorer.to_html); then widget state,
live-widget views and progress bars (tqdm's widgets and stderr) are stripped, and nbconvert's lab
page is written without require.js, the widget manager or mermaid. Math is rendered by MathJax 2
(npm package `mathjax`, pinned below) vendored into the output folder at build time: nothing is
fetched when a page is viewed.

    python -m mtl_lessons.handout [--out build/handout] [notebooks/00_welcome.ipynb ...]
    python -m mtl_lessons.handout --slides --out build/slides   # `make slides`: reveal.js decks, offline
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
from pathlib import Path

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


def clean(nb) -> None:
    """Strip widget state, live-widget views (kept: their static fallbacks) and progress bars, in place."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stderr":
                continue  # tqdm's text bars and warnings meant for a live session
            data = output.get("data")
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


def execute(path: Path, timeout: int = 1200):
    """The notebook at `path`, executed on a fresh kernel with kernel-free sliders, then cleaned."""
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    before = os.environ.get("MTL_STATIC_HTML")
    os.environ["MTL_STATIC_HTML"] = "1"  # the kernel inherits it: sliders are their kernel-free HTML
    try:
        ExecutePreprocessor(timeout=timeout, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(path.parent)}})
    finally:  # this process's own displays stay as they were (a live widget beside its PNG)
        if before is None:
            del os.environ["MTL_STATIC_HTML"]
        else:
            os.environ["MTL_STATIC_HTML"] = before
    clean(nb)
    return nb


def write_index(out: Path, entries: list[tuple[str, str]], what: str) -> None:
    items = "\n".join(f'<li><a href="{html.escape(name)}">{html.escape(title)}</a></li>' for name, title in entries)
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>mtl-lessons: " + what + "</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;line-height:1.5}</style>"
        "</head><body><h1>mtl-lessons: " + what + "</h1><p>Every chapter, executed, with its figures and sliders "
        "that move without Python. Open the pages from this folder; they need no network.</p>"
        f"<ol start=\"0\">\n{items}\n</ol></body></html>\n", encoding="utf-8")


def build(notebooks: list[Path], out: Path, *, cache: Path, timeout: int = 1200) -> list[Path]:
    """Execute, clean and export each notebook to out/<name>.html; write out/index.html. Returns the pages."""
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    vendor_mathjax(out, cache)
    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATES)], template_file="handout.html.j2",
                            mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}")
    return export_all(notebooks, out, exporter, suffix=".html", what="handout", timeout=timeout)


def export_all(notebooks: list[Path], out: Path, exporter, *, suffix: str, what: str, timeout: int,
               prepare=None) -> list[Path]:
    """Execute each notebook, `prepare(nb)` it if given, export it to out/<name><suffix>; write the index."""
    pages, entries = [], []
    for path in notebooks:
        start = time.perf_counter()
        nb = execute(path, timeout)
        if prepare is not None:
            prepare(nb)
        title = title_of(nb, path.stem)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
        # links between chapters stay inside the built folder
        body = re.sub(r'href="(\d\d_\w+)\.ipynb', lambda m: f'href="{m.group(1)}{suffix}', body)
        page = out / f"{path.stem}{suffix}"
        page.write_text(body, encoding="utf-8")
        pages.append(page)
        entries.append((page.name, title))
        print(f"    {page.name}: {page.stat().st_size / 1e6:.1f} MB, {time.perf_counter() - start:.0f} s", flush=True)
    write_index(out, entries, what)
    return pages


def mark_slides(nb) -> None:
    """A markdown cell that starts with a # or ## heading starts a slide; every other cell joins the current one."""
    for cell in nb.cells:
        cell.metadata.pop("slideshow", None)
        if cell.cell_type == "markdown" and re.match(r"##? ", cell.source.lstrip()):
            cell.metadata["slideshow"] = {"slide_type": "slide"}


def build_slides(notebooks: list[Path], out: Path, *, cache: Path, timeout: int = 1200) -> list[Path]:
    """reveal.js decks, one per notebook, in out/ (reveal.js, jQuery, require.js, MathJax vendored from npm)."""
    from nbconvert import SlidesExporter

    out.mkdir(parents=True, exist_ok=True)
    vendor_mathjax(out, cache)
    for spec, keep in SLIDES_NPM.items():
        vendor_npm(spec, keep, out / spec.split("@")[0], cache)
    exporter = SlidesExporter(extra_template_paths=[str(TEMPLATES)], template_file="slides.html.j2",
                              mathjax_url=f"mathjax/MathJax.js?config={MATHJAX_CONFIG}",
                              reveal_url_prefix="reveal.js", reveal_scroll=True, reveal_theme="white",  # white: local fonts only
                              jquery_url="jquery/dist/jquery.min.js", require_js_url="requirejs/require.js")
    return export_all(notebooks, out, exporter, suffix=".slides.html", what="slides", timeout=timeout,
                      prepare=mark_slides)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "handout")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / ".cache")
    parser.add_argument("--slides", action="store_true", help="reveal.js decks (## headings start slides)")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    print(f"==> the {'slides' if args.slides else 'handout'}: {len(notebooks)} notebooks into {args.out}", flush=True)
    (build_slides if args.slides else build)(notebooks, args.out, cache=args.cache)
    print(f"==> open {args.out / 'index.html'}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
