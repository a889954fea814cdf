"""Network guard, loaded by every Python process the test suite starts (kernels included)
through PYTHONPATH. A connection or name lookup beyond this machine (loopback, Unix
sockets) is refused before any packet leaves, and written to $MTL_NETGUARD_LOG; the
suite fails at the end if that log is not empty.

One exception, for tests/test_lock.py only: that test's pip subprocess is given
MTL_NETGUARD_ALLOW (a space-separated list of host names, the package index) and may look
those names up and connect to the addresses they resolve to. The course itself (notebook
kernels, JupyterLab, the package) never gets the variable."""

import ipaddress
import os
import socket

_LOG = os.environ.get("MTL_NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}
_ALLOWED_NAMES = set(os.environ.get("MTL_NETGUARD_ALLOW", "").split())
_allowed_addresses: set[str] = set()  # what the allowed names resolved to


def _is_local(host) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES or host in _allowed_addresses:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False  # a name other than localhost: resolving it would ask the network
    return address.is_loopback or address.is_unspecified


def _refuse(what: str, target) -> None:
    if _LOG:
        with open(_LOG, "a") as log:
            log.write(f"pid {os.getpid()}: {what} {target!r}\n")
    raise ConnectionRefusedError(f"mtl-lessons test suite: network access outside this machine refused: {what} {target!r}")


def _guard_address(sock, address, what):
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not _is_local(address[0]):
            _refuse(what, address)


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    _guard_address(self, address, "connect")
    return _connect(self, address)


def connect_ex(self, address):
    _guard_address(self, address, "connect")
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _guard_address(self, args[-1], "sendto")
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name in _ALLOWED_NAMES:
        found = _getaddrinfo(host, *args, **kwargs)
        _allowed_addresses.update(str(info[4][0]) for info in found)
        return found
    if not _is_local(host):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


if os.environ.get("MTL_NETGUARD") == "1":
    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
