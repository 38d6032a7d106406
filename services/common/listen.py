"""Loopback checks and listening sockets, shared by our two servers (the local backend and the task
app) and the clients that poll faster on loopback.

Our servers bind 127.0.0.1 unless told otherwise, and a non-loopback address needs an explicit
flag; one definition of "loopback" keeps that rule the same everywhere.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP (127.0.0.0/8, ::1); a name that is not an IP is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` for uvicorn to serve (bound before the server starts,
    so a taken port is said at once). Raises OSError as ``bind`` does.

    Accepted connections inherit TCP_NODELAY. Without it, Nagle's algorithm holds a response body
    (written after its headers) until the client's delayed ACK: every poll took ~40 ms more.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
