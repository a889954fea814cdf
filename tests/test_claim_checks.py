"""check_claim (mtl_lessons/claims.py) and the claims report (tools/claims_report.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from mtl_lessons.claims import check_claim

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ToyClaims:
    gain: float = 0.04
    gap: float = 0.03


TOY = ToyClaims()


def test_a_claim_that_holds_prints_value_threshold_and_margin(capsys, monkeypatch):
    monkeypatch.delenv("MTL_CLAIMS_SOFT", raising=False)
    assert check_claim(TOY, "gain", 0.067, ">=", "fine-tune − source") is True
    out = capsys.readouterr().out
    assert "✓ fine-tune − source = 0.067" in out and "≥ 0.04" in out and "+0.027" in out
    assert check_claim(TOY, "gap", np.float32(0.01), "≤") is True  # numpy numbers and the ≤ sign
    assert check_claim(TOY, "gap", torch.tensor(0.03), "<=") is True  # 0-d tensors; the threshold itself holds


def test_a_claim_that_fails_raises_naming_it(monkeypatch):
    monkeypatch.delenv("MTL_CLAIMS_SOFT", raising=False)
    with pytest.raises(AssertionError, match=r"ToyClaims\.gain does not hold.*0\.0390"):
        check_claim(TOY, "gain", 0.039, ">=")
    with pytest.raises(AssertionError, match=r"ToyClaims\.gap"):
        check_claim(TOY, "gap", 0.031, "<=")


def test_soft_mode_records_a_failure_without_raising(tmp_path, monkeypatch, capsys):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("MTL_CLAIMS_SOFT", "1")
    monkeypatch.setenv("MTL_CLAIMS_LOG", str(log))
    assert check_claim(TOY, "gain", 0.01, ">=", "what") is False
    assert capsys.readouterr().out.startswith("✗ what")
    rec = json.loads(log.read_text())
    assert rec["claim"] == "gain" and rec["value"] == 0.01 and rec["threshold"] == 0.04 and rec["direction"] == ">="


@pytest.mark.parametrize("args, error, match", [
    ((TOY, "gian", 0.1), ValueError, r"name='gian' is not a claim of ToyClaims; its claims are \['gain', 'gap'\]"),
    ((TOY, "gain", 0.1, ">"), ValueError, r"direction='>'"),
    ((TOY, "gain", float("nan")), ValueError, r"claim 'gain' is nan"),
    ((TOY, "gain", torch.ones(3)), TypeError, r"value must be a single number"),
    ((TOY, "gain", "0.1"), TypeError, r"value must be a single number"),
    ((ToyClaims, "gain", 0.1), TypeError, r"claims must be .* dataclass instance"),
    (({"gain": 0.04}, "gain", 0.1), TypeError, r"claims must be"),
])
def test_nonsense_is_refused_before_anything_is_checked(args, error, match):
    with pytest.raises(error, match=match):
        check_claim(*args)


def test_the_claims_report_runs_a_notebook_per_seed_and_finds_the_worst(tmp_path):
    """A two-cell notebook whose measured value is its SEED, claimed >= 1: over SEED = 0..3 the report
    must give mean 1.5, the worst value 0 at seed 0, margin -1 and one failure in four, and exit 1."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(
                    "from dataclasses import dataclass\nfrom mtl_lessons.claims import check_claim\n"
                    "@dataclass(frozen=True)\nclass C:\n    at_least_one: float = 1.0\n"
                    "check_claim(C(), 'at_least_one', float(SEED), '>=')")]
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / "99_toy.ipynb")
    log = tmp_path / "log.jsonl"
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import claims_report
    finally:
        sys.path.pop(0)
    out = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); "
                          "import claims_report as r; from pathlib import Path; "
                          f"r.NOTEBOOKS = Path({str(folder)!r}); "
                          f"sys.exit(r.main(['--seeds', '0-3', '--log', {str(log)!r}]))"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr  # a claim failed on some seed
    row = next(line for line in out.stdout.splitlines() if line.startswith("99_toy") and "at_least_one" in line)
    cells = row.split()
    # threshold ≥ 1, mean 1.5, worst 0 at seed 0, margin -1, one failure in four
    assert cells[2:4] == ["≥", "1"] and float(cells[4]) == 1.5 and float(cells[6]) == 0.0 and cells[7] == "0"
    assert float(cells[8]) == -1.0 and cells[10] == "1/4"
    assert len(log.read_text().splitlines()) == 4
    assert claims_report.seeds_arg("0-2,7") == [0, 1, 2, 7]
