"""Suite-wide checks: every notebook collected, per-notebook timings, and the network guard."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NETGUARD = Path(__file__).resolve().parent / "netguard"


def pytest_addoption(parser):
    parser.addoption("--require-all-notebooks", action="store_true",
                     help="fail unless every notebook in notebooks/ is collected and run under nbval")


def pytest_configure(config):
    # Every Python process the suite starts (notebook kernels, JupyterLab, subprocesses) loads the
    # guard through PYTHONPATH; this process gets it by hand below.
    log = Path(tempfile.mkstemp(prefix="mtl-netguard-", suffix=".log")[1])
    os.environ["MTL_NETGUARD"] = "1"
    os.environ["MTL_NETGUARD_LOG"] = str(log)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(NETGUARD), os.environ.get("PYTHONPATH")]))
    spec = importlib.util.spec_from_file_location("mtl_netguard", NETGUARD / "sitecustomize.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    config._netguard_log = log
    # registered as a plugin, not left as conftest hooks: conftest hooks only see items under tests/
    config.pluginmanager.register(NotebookTimes(), "mtl-notebook-times")


def pytest_collection_finish(session):
    if not session.config.getoption("--require-all-notebooks"):
        return
    collected = {Path(str(item.fspath)).resolve() for item in session.items if str(item.fspath).endswith(".ipynb")}
    expected = {p.resolve() for p in NOTEBOOKS.glob("*.ipynb")}
    if not collected:
        raise pytest.UsageError("no notebook was collected: nbval must run every notebook in notebooks/")
    missing = sorted(p.name for p in expected - collected)
    if missing:
        raise pytest.UsageError(f"notebooks left out of the run: {', '.join(missing)}")


class NotebookTimes:
    """Adds up nbval's per-cell times by notebook and prints them at the end of the run."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.failed: set[str] = set()

    def pytest_runtest_logreport(self, report):
        path = report.location[0]
        if path.endswith(".ipynb"):
            self.seconds[path] += report.duration
            if report.failed:
                self.failed.add(path)

    def pytest_terminal_summary(self, terminalreporter):
        if self.seconds:
            terminalreporter.section("notebooks executed under nbval")
            for path, seconds in sorted(self.seconds.items()):
                status = "FAILED" if path in self.failed else "passed"
                terminalreporter.write_line(f"{path}: {status} in {seconds:.1f} s")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    log = getattr(config, "_netguard_log", None)
    if log is not None and log.exists() and log.read_text().strip():
        terminalreporter.section("network access refused by the guard")
        terminalreporter.write_line(log.read_text())


def pytest_sessionfinish(session, exitstatus):
    log = getattr(session.config, "_netguard_log", None)
    if log is not None and log.exists() and log.read_text().strip():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # something tried to reach the network
