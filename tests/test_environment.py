"""environment.yml, pyproject.toml and constraints.txt agree."""

from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


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
    assert "python=3.11" in deps and "pip" in deps
    assert project()["requires-python"] == ">=3.11,<3.12"
    pip_lines = next(d["pip"] for d in deps if isinstance(d, dict))
    assert "-c constraints.txt" in pip_lines
    extras = set(project()["optional-dependencies"])
    assert f"-e .[{','.join(sorted(extras))}]" in pip_lines, "environment.yml must install the package with all extras"


def test_makefile_installs_the_same():
    makefile = (ROOT / "Makefile").read_text()
    extras = ",".join(sorted(project()["optional-dependencies"]))
    assert f'-c constraints.txt -e ".[{extras}]"' in makefile
