"""`make lab` serves on 127.0.0.1 only and refuses requests without the token."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture
def lab(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"), "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings")}
    log = open(tmp_path / "lab.log", "w+")
    proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", "LAB_EXTRA=--ServerApp.open_browser=False"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 90
        token = None
        while time.time() < deadline and token is None:
            time.sleep(0.5)
            log.seek(0)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=([0-9a-f]+)", log.read())
            token = found and found.group(1)
            assert proc.poll() is None, "make lab exited early:\n" + (tmp_path / "lab.log").read_text()
        assert token, "JupyterLab did not print its URL with a token:\n" + (tmp_path / "lab.log").read_text()
        yield port, token, proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # make and the jupyter server it started, by their own group
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass  # already gone
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_lab_listens_on_loopback_with_token_auth(lab):
    port, token, proc = lab
    base = f"http://127.0.0.1:{port}"
    assert get(f"{base}/api/contents") == 403, "a request without the token must be refused"
    assert get(f"{base}/api/contents?token=wrong") == 403
    assert get(f"{base}/api/contents?token={token}") == 200
    with urllib.request.urlopen(f"{base}/api/contents/notebooks?token={token}", timeout=5) as r:
        names = {item["name"] for item in json.load(r)["content"]}
    assert "00_welcome.ipynb" in names
    listening = [c.laddr for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
                 for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
