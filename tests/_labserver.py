"""A throwaway JupyterLab server for the browser tests, and stopping processes by their own PID.

LabServer serves a temporary copy of some notebooks on 127.0.0.1, a free port and a random token,
with its settings, workspaces, config, data and runtime folders all inside one temporary folder, so
nothing it writes (autosave included) lands in the repository or in the user's ~/.jupyter. Features
that would reach the internet (extension manager on PyPI, news, update check) are switched off, so
the suite's network guard, which the server and its kernels inherit through PYTHONPATH, stays quiet.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

# User settings for the test server (the learner's defaults otherwise): no news or update prompts.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM if the test process dies without cleaning up."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_children() -> dict[int, list[int]]:
    """Parent PID -> child PIDs, from /proc (Linux); empty elsewhere."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        pid = int(entry.parent.name)
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(pid)
    return children


def descendants(pid: int) -> set[int]:
    """Every process below `pid` (children, grandchildren, ...)."""
    tree, found, todo = _proc_children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _start_time(pid: int) -> str | None:
    """The process's start time, or None once it is gone (a zombie counts as gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def snapshot(pids) -> dict[int, str]:
    """PID -> start time, so that a PID reused by someone else later is never signalled."""
    return {pid: t for pid in pids if (t := _start_time(pid)) is not None}


def kill_survivors(started: dict[int, str], timeout: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, each process of `started` still alive (same PID, same start time)."""
    alive = lambda: [p for p, t in started.items() if _start_time(p) == t]  # noqa: E731
    survivors = alive()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while alive() and time.monotonic() < deadline:
            time.sleep(0.1)
    return survivors


class LabServer:
    """`jupyter lab` from this Python environment, serving copies of `notebooks` from a temporary folder."""

    def __init__(self, notebooks, *, startup_timeout: float = 90.0):
        self.tmp = Path(tempfile.mkdtemp(prefix="mtl-lab-"))
        self.root = self.tmp / "notebooks"
        self.root.mkdir()
        for path in notebooks:
            shutil.copy2(path, self.root / Path(path).name)
        self.token = secrets.token_hex(24)
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = self.tmp / "jupyterlab.log"
        self._started: dict[int, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> "LabServer":
        settings = self.tmp / "user-settings"
        for name, value in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        dirs = {name: self.tmp / name for name in ("config", "data", "runtime", "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir()
        env = {**os.environ,  # PYTHONPATH (and with it the network guard) is inherited
               "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
               "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "IPYTHONDIR": str(dirs["ipython"]),
               "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"])}
        jupyter = Path(sys.executable).with_name("jupyter")
        command = [str(jupyter), "lab"] if jupyter.exists() else [sys.executable, "-m", "jupyterlab"]
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between finding it and binding it
            self.port = free_port()
            args = [
                "--no-browser", f"--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={dirs['workspaces']}",
                # nothing that reaches the internet: no PyPI extension manager, no news, no update check
                "--LabApp.extension_manager=readonly", "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
            ]
            if hasattr(os, "geteuid") and os.geteuid() == 0:
                args.append("--allow-root")  # CI containers run as root
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(command + args, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent if sys.platform == "linux" else None)
            log.close()
            self._started = snapshot([self.proc.pid])
            deadline = time.monotonic() + self.startup_timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    self.api("GET", "/api/status", timeout=2)
                    return self
                except (urllib.error.URLError, ConnectionError, OSError):
                    time.sleep(0.25)
            last_error = self.log_tail()
            self.stop()
        raise RuntimeError(f"jupyter lab did not start on 127.0.0.1; its log ends with:\n{last_error}")

    def stop(self) -> None:
        """Stop the server (it shuts its kernels down), then any process it started that is still alive."""
        if self.proc is None:
            return
        started = {**self._started, **snapshot(descendants(self.proc.pid))}
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)  # jupyter server stops its kernels on SIGTERM
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        kill_survivors(started)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    # -- REST ------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}?token={self.token}"

    def api(self, method: str, path: str, body=None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
            raw = response.read()
        return json.loads(raw) if raw else None

    def start_session(self, name: str, kernel: str = "python3") -> dict:
        """Create the notebook's session (and kernel) before the page opens: no "Select Kernel" dialog."""
        return self.api("POST", "/api/sessions", {"path": name, "name": name, "type": "notebook",
                                                  "kernel": {"name": kernel}})

    def notebook(self, name: str) -> dict:
        """The notebook as the server has it on disk (the temporary copy)."""
        return json.loads((self.root / name).read_text())

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""
