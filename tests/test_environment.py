"""environment.yml, pyproject.toml and constraints.txt agree."""

import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            out[name.lower().replace("_", "-")] = version
    return out


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_torch_is_pinned_exactly():
    assert pins()["torch"] == "2.13.0"


def test_every_dependency_is_pinned_within_its_range():
    reqs = project()["dependencies"] + [r for extra in project()["optional-dependencies"].values() for r in extra]
    pinned = pins()
    for text in reqs:
        req = Requirement(text)
        name = req.name.lower().replace("_", "-")
        assert name in pinned, f"{name} is a dependency but not pinned in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"{name}=={pinned[name]} in constraints.txt is outside pyproject's range {req.specifier}"


def test_environment_yml_installs_the_same():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert python.removeprefix("python=") in ("3.11", "3.12", "3.13", "3.14") and "pip" in deps
    assert project()["requires-python"] == ">=3.11.5,<3.15"
    pip_lines = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-c constraints.txt" in pip_lines
    assert f"--extra-index-url {CPU_INDEX}" in pip_lines, "conda and Binder must get torch's CPU build too"
    extras = set(project()["optional-dependencies"])
    assert f"-e .[{','.join(sorted(extras))}]" in pip_lines, "environment.yml must install the package with all extras"


def test_makefile_installs_the_same():
    makefile = (ROOT / "Makefile").read_text()
    extras = ",".join(sorted(project()["optional-dependencies"]))
    assert f'-c constraints.txt -e ".[{extras}]"' in makefile
    assert f"TORCH_INDEX ?= $(if $(filter Linux,$(shell uname -s 2>/dev/null)),{CPU_INDEX})" in makefile


def test_makefile_accepts_the_pythons_pyproject_does():
    low, high = (int(h, 16) for h in re.search(r"not (0x[0-9A-F]+) <= sys.hexversion < (0x[0-9A-F]+)",
                                               (ROOT / "Makefile").read_text()).groups())
    as_version = lambda h: Version(f"{h >> 24}.{(h >> 16) & 0xFF}.{(h >> 8) & 0xFF}")  # noqa: E731
    spec = SpecifierSet(project()["requires-python"])
    assert as_version(low) in spec and Version("3.14.99") in spec and as_version(high) not in spec
    assert str(as_version(low)) == "3.11.5" and str(as_version(high)) == "3.15.0"


def make_env(tmp_path, **variables):
    """`make env` in a copy of the project, with pip replaced by `true`: only the Makefile's own logic runs."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    args = ["make", "env", "PIP=true", *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MAKEFLAGS": ""})


def test_makefile_refuses_an_unsupported_python(tmp_path):
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\ncase \"$*\" in *hexversion*) exit 1;; *) echo 3.10.13;; esac\n")
    old.chmod(0o755)
    result = make_env(tmp_path, PYTHON=old)
    assert result.returncode != 0 and "needs 3.11.5 to 3.14" in result.stdout + result.stderr, result.stdout + result.stderr
    assert not (tmp_path / ".venv").exists(), "nothing may be built with an unsupported Python"


def test_makefile_rebuilds_a_venv_from_an_unsupported_python(tmp_path):
    stale = tmp_path / ".venv" / "bin" / "python"
    stale.parent.mkdir(parents=True)
    stale.write_text("#!/bin/sh\nexit 1\n")  # a .venv left by a Python the course does not support
    stale.chmod(0o755)
    result = make_env(tmp_path, PYTHON=sys.executable)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "removing it and rebuilding" in out and (tmp_path / ".venv" / ".installed").exists()
    check = subprocess.run([str(stale), "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True)
    assert check.stdout.strip() == str(sys.version_info[:2]), "the rebuilt .venv runs the supported Python"


def test_every_chapter_has_one_slug():
    """A chapter's notebook NN_<slug>.ipynb names its experiment and exercises modules, its test file and
    its SLIDERS key (README, "Adding a chapter")."""
    from mtl_lessons.experiments import SLIDERS

    root = Path(__file__).resolve().parents[1]
    slugs = [p.stem[3:] for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")) if p.stem != "00_welcome"]
    assert len(slugs) >= 11, slugs
    missing = [f"{slug}: {path}" for slug in slugs
               for path in (f"mtl_lessons/experiments/{slug}.py", f"mtl_lessons/exercises/{slug}.py",
                            f"tests/test_{slug}.py") if not (root / path).exists()]
    assert not missing, missing
    assert list(SLIDERS) == slugs, (list(SLIDERS), slugs)
