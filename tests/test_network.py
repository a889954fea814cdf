"""The suite opens no connection beyond this machine: the guard refuses it and the run fails."""

import os
import subprocess
import sys
import textwrap


def run_guarded(code: str, tmp_path):
    log = tmp_path / "guard.log"
    env = {**os.environ, "MTL_NETGUARD": "1", "MTL_NETGUARD_LOG": str(log)}  # PYTHONPATH holds the guard
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=60)
    return result, log.read_text() if log.exists() else ""


def test_guard_is_loaded_by_child_processes(tmp_path):
    result, _ = run_guarded("import socket; print(socket.socket.connect.__module__)", tmp_path)
    assert result.stdout.strip() == "sitecustomize", result.stderr


def test_guard_refuses_outside_addresses_and_names(tmp_path):
    # 192.0.2.1 is TEST-NET-1 (documentation only); the guard refuses before any packet is sent
    result, log = run_guarded("""
        import socket
        try:
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        except ConnectionRefusedError as e:
            print("refused", e)
        try:
            socket.socket().connect(("192.0.2.2", 80))
        except ConnectionRefusedError as e:
            print("refused", e)
        try:
            socket.getaddrinfo("example.invalid", 443)
        except ConnectionRefusedError as e:
            print("refused", e)
    """, tmp_path)
    refused = [line for line in result.stdout.splitlines() if line.startswith("refused")]
    assert len(refused) == 3, result.stdout + result.stderr
    assert "192.0.2.1" in log and "192.0.2.2" in log and "example.invalid" in log


def test_guard_allows_loopback(tmp_path):
    result, log = run_guarded("""
        import socket
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=5)
        print("connected"); client.close(); server.close()
    """, tmp_path)
    assert "connected" in result.stdout, result.stderr
    assert log == ""


def test_guard_is_loaded_in_notebook_kernels():
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import socket\nassert socket.socket.connect.__module__ == 'sitecustomize', socket.socket.connect.__module__"))
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()


def test_allowed_names_do_not_open_the_rest(tmp_path):
    # MTL_NETGUARD_ALLOW (given only to tests/test_lock.py's pip) lets those names through, nothing else
    log = tmp_path / "guard.log"
    env = {**os.environ, "MTL_NETGUARD": "1", "MTL_NETGUARD_LOG": str(log), "MTL_NETGUARD_ALLOW": "pypi.org"}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import socket
        for host in ("example.invalid", "pypi.org.example.invalid"):
            try:
                socket.getaddrinfo(host, 443)
            except ConnectionRefusedError:
                print("refused", host)
        try:
            socket.socket().connect(("192.0.2.3", 443))
        except ConnectionRefusedError:
            print("refused 192.0.2.3")
    """)], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.count("refused") == 3, result.stdout + result.stderr
    assert "example.invalid" in log.read_text() and "192.0.2.3" in log.read_text()
