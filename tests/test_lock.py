"""One lock for every supported Python and platform: constraints.txt resolves on Python 3.12, 3.13 and
3.14 for Linux x86_64, macOS arm64 and Windows x86_64, with wheels only.

Each check is `pip install --dry-run --report --python-version … --platform … --only-binary=:all:` against
the lock: it reads package metadata from the index (ranged reads, `--use-feature=fast-deps`, so no index
without PEP 658 metadata makes it download whole wheels) and installs nothing. It is the one test that
talks to the network, and only to the package index: its pip process gets MTL_NETGUARD_ALLOW with the
index's host names (tests/netguard); the course itself is still held offline by the guard.

pip evaluates environment markers (`sys_platform == "win32"`, …) for the machine it runs on, not for
`--platform`; the check runs pip with the target's marker environment so that Windows-only dependencies
(pywinpty, colorama) are resolved for Windows and Linux-only ones for Linux. torch is resolved as the
Makefile installs it: first torch itself (`--no-deps`, the wheel must exist), then the rest with torch's
dependencies, where on Linux the CPU build's (PyPI's torch minus its CUDA wheels, which the CPU index's
build does not require).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = ("3.12", "3.13", "3.14")
SUPPORTED = ("3.11.5", "3.11.7", "3.12.0", "3.13.0", "3.14.0")
UNSUPPORTED = ("3.10.13", "3.11.2", "3.11.4", "3.15.0")
INDEX_HOSTS = ("pypi.org", "files.pythonhosted.org")
CUDA_ONLY = ("nvidia-", "cuda-", "triton")  # PyPI's Linux torch needs them; the CPU build does not

PLATFORMS = {
    "linux-x86_64": {
        "tags": [f"manylinux_2_{minor}_x86_64" for minor in range(5, 29)]
                + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
        "markers": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    },
    "macos-arm64": {
        "tags": [f"macosx_{major}_0_{arch}" for major in range(11, 15) for arch in ("arm64", "universal2")]
                + [f"macosx_10_{minor}_universal2" for minor in range(9, 17)],
        "markers": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
    },
    "windows-x86_64": {
        "tags": ["win_amd64"],
        "markers": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
    },
}
# Packages a platform needs that the Linux-made lock cannot pin (pip resolves them freely, within their ranges)
EXPECTED_UNPINNED = {
    "linux-x86_64": set(),
    "macos-arm64": {"appnope"},
    "windows-x86_64": {"colorama", "pywinpty"},
}
# Run by pip in place of `python -m pip`: environment markers see the target platform, not this machine
PIP_WITH_TARGET_MARKERS = """
import json, sys
from pip._vendor.packaging import markers
target = json.loads(sys.argv.pop(1))
host = markers.default_environment()
markers.default_environment = lambda: {**host, **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            out[canonicalize_name(name)] = version.strip()
    return out


def allowed_hosts() -> str:
    """The index hosts, and a proxy's host if pip is told to use one."""
    hosts = set(INDEX_HOSTS)
    for url in urllib.request.getproxies().values():
        hosts.add(urllib.parse.urlsplit(url if "//" in url else "//" + url).hostname or "")
    return " ".join(sorted(hosts - {""}))


def pip_dry_run(python: str, platform: str, requirements: list[str], tmp: Path, *extra: str) -> dict:
    target = PLATFORMS[platform]
    markers = {**target["markers"], "python_version": python, "python_full_version": f"{python}.0",
               "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    report = tmp / f"report-{python}-{platform}-{len(requirements)}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in ("PIP_CERT", "PIP_CLIENT_CERT")}
    # PyPI only: this machine's pip configuration (find-links, local indexes, global constraints) is left out
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", MTL_NETGUARD_ALLOW=allowed_hosts())
    command = [sys.executable, "-c", PIP_WITH_TARGET_MARKERS, json.dumps(markers), "install", "--dry-run",
               "--quiet", "--ignore-installed", "--report", str(report), "--use-feature=fast-deps",
               "--index-url", "https://pypi.org/simple", "--only-binary=:all:", "--python-version", python,
               "--implementation", "cp", *[f"--platform={tag}" for tag in target["tags"]],
               "-c", str(ROOT / "constraints.txt"), *extra, *requirements]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"the lock does not resolve for Python {python} on {platform}:\n{result.stderr[-3000:]}"
    return json.loads(report.read_text())


def resolve(python: str, platform: str, tmp: Path) -> dict[str, str]:
    """What the Makefile's install would put in a fresh .venv for this Python and platform: {name: version}."""
    requirements = project()["dependencies"] + [r for extra in project()["optional-dependencies"].values() for r in extra]
    torch = next(r for r in requirements if Requirement(r).name == "torch")
    rest = [r for r in requirements if r != torch]
    torch_report = pip_dry_run(python, platform, [torch], tmp, "--no-deps")
    (torch_item,) = torch_report["install"]
    torch_deps = [d for d in torch_item["metadata"].get("requires_dist", [])
                  if "extra ==" not in d and not Requirement(d).name.lower().startswith(CUDA_ONLY)]
    report = pip_dry_run(python, platform, rest + torch_deps, tmp)
    # A package that depends on torch (torchjd) makes this dry run resolve torch again, and with it PyPI's
    # CUDA wheels; the real install never does, because the CPU torch is already in .venv by then (step 3
    # of the Makefile) and satisfies the pin. So what only PyPI's CUDA torch would pull is left out here.
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]
                if not canonicalize_name(i["metadata"]["name"]).startswith(CUDA_ONLY)}
    resolved["torch"] = torch_item["metadata"]["version"]
    return resolved


@cache
def _all_resolved(tmp: str) -> dict[tuple[str, str], dict[str, str] | Exception]:
    jobs = [(python, platform) for python in PYTHONS for platform in PLATFORMS]

    def run(job):
        try:
            return resolve(*job, Path(tmp))
        except (AssertionError, OSError, subprocess.SubprocessError, ValueError, KeyError) as error:
            return error

    with ThreadPoolExecutor(max_workers=3) as pool:  # network-bound; three at a time is gentle on 2 cores
        return dict(zip(jobs, pool.map(run, jobs)))


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    return _all_resolved(str(tmp_path_factory.mktemp("lock")))


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_resolves(resolved, python, platform):
    result = resolved[python, platform]
    if isinstance(result, Exception):
        raise result
    locked = pins()
    pinned = {name: version for name, version in result.items() if name in locked}
    assert all(locked[name] == version for name, version in pinned.items())  # -c holds them to the lock
    unpinned = {name for name in result if name not in locked} - EXPECTED_UNPINNED[platform]
    assert not unpinned, f"Python {python} on {platform} would install packages the lock does not pin: {sorted(unpinned)}"
    assert not any(name.startswith(CUDA_ONLY) for name in result), "a CUDA wheel in the CPU install"
    # the markers were the target's: Windows-only and POSIX-only dependencies went where they belong
    assert ("colorama" in result) == (platform == "windows-x86_64")
    assert ("pexpect" in result) == (platform != "windows-x86_64")


def test_requires_python_is_311_5_to_314():
    spec = SpecifierSet(project()["requires-python"])
    assert all(version in spec for version in SUPPORTED), spec
    assert not any(version in spec for version in UNSUPPORTED), spec
