"""Notebooks are committed clean, start with a `parameters` cell (after an optional `install` cell), and pass
for another seed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
ALLOWED_NOTEBOOK_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags"}
OTHER_SEED = 11


def read(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_clean(path):
    nb = read(path)
    nbformat.validate(nb)
    assert set(nb.metadata) <= ALLOWED_NOTEBOOK_METADATA, f"stray notebook metadata: {set(nb.metadata)}"
    for i, cell in enumerate(nb.cells):
        assert set(cell.metadata) <= ALLOWED_CELL_METADATA, f"cell {i}: stray metadata {set(cell.metadata)}"
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {i} has stored outputs; commit notebooks without outputs"
            assert cell.execution_count is None, f"cell {i} has an execution count"


def code_cells(nb) -> list:
    """The code cells after the optional first cell tagged `install` (Colab's install cell, a no-op elsewhere)."""
    code = [c for c in nb.cells if c.cell_type == "code"]
    return code[1:] if code and "install" in code[0].metadata.get("tags", []) else code


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_tagged_parameters(path):
    code = code_cells(read(path))
    assert code and "parameters" in code[0].metadata.get("tags", []), \
        "the first code cell (after an optional `install` cell) must be tagged `parameters`"
    assert re.search(r"^SEED\s*=", code[0].source, re.M), "the parameters cell must set SEED"
    assert not any("install" in c.metadata.get("tags", []) for c in code), "only the first code cell may be tagged `install`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_passes_for_another_seed(path):
    """Run the notebook top to bottom with SEED injected after the parameters cell (as papermill does)."""
    nb = read(path)
    parameters = nb.cells.index(code_cells(nb)[0])
    nb.cells.insert(parameters + 1, nbformat.v4.new_code_cell(f"SEED = {OTHER_SEED}  # injected by the test"))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()


def test_install_cell_is_the_one_in_the_readme():
    """The README's Colab cell, chapter 0's first code cell and the README's links name the same repository."""
    readme = (NOTEBOOKS[0].parent.parent / "README.md").read_text()
    welcome = next(p for p in NOTEBOOKS if p.name == "00_welcome.ipynb")
    cell = next(c for c in read(welcome).cells if c.cell_type == "code")
    assert "install" in cell.metadata.get("tags", []), "chapter 0 starts with the install cell"
    assert f"```python\n{cell.source}\n```" in readme, "the README's Colab cell differs from chapter 0's first cell"
    repo = re.search(r'REPO = "https://github\.com/([^"]+)"', cell.source).group(1)
    links = re.findall(r"^\[(?:repo|colab|binder)\]: \S*?(?:github\.com|/gh|/github)/([^/\s]+/[^/\s]+)", readme, re.M)
    assert len(links) == 3 and set(links) == {repo}, (links, repo)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_claims_are_checked_with_their_numbers_shown(path):
    """A learner reads numbers, not threshold names: no markdown cell names a `CLAIMS.x` threshold, and every
    claim is checked by check_claim (which prints the measured value beside the threshold), not by a bare
    assert comparing a number with a CLAIMS threshold (a tolerance of an identity, `rtol=CLAIMS.x`, may stay)."""
    nb = read(path)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            assert "`CLAIMS." not in cell.source, f"cell {i}: write the threshold's number, not its name"
        elif cell.cell_type == "code":
            compares = r"\s*assert\b.*([<>]=?\s*\(?\s*CLAIMS\.|CLAIMS\.\w+\s*[<>])"
            bare = [line for line in cell.source.splitlines() if re.match(compares, line)]
            assert not bare, f"cell {i}: check a claim with check_claim(CLAIMS, name, value, ...): {bare[0]}"


def test_links_between_chapters_name_a_heading_that_exists():
    """A link `NN_name.ipynb#Heading-text` must name a heading of that notebook (JupyterLab's anchor: the
    heading's text with spaces as dashes); renumbering a section must not leave a dead link behind."""
    headings = {}
    for path in NOTEBOOKS:
        headings[path.stem] = {m.group(1).strip().replace(" ", "-") for cell in read(path).cells
                               if cell.cell_type == "markdown"
                               for m in re.finditer(r"^#+\s+(.*)$", cell.source, re.M)}
    dead = [f"{path.name} cell {i}: {target}#{anchor}" for path in NOTEBOOKS
            for i, cell in enumerate(read(path).cells) if cell.cell_type == "markdown"
            for target, anchor in re.findall(r"\((\d\d_\w+)\.ipynb#([^)\s]+)\)", cell.source)
            if anchor not in headings.get(target, set())]
    assert not dead, "links to headings that do not exist: " + "; ".join(dead)
