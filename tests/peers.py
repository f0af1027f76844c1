"""Helpers for integration tests that start real programs: free loopback ports, waiting for a port,
and finding a binary (a missing one fails the test: CI installs them, nothing is skipped)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stand-in HTTP server on a free loopback port, for as long as the block runs; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


# Whether the running test is marked integration (conftest sets it): `make unit` deselects those and
# must run with no peer installed, so a peer started from any other test is a mistake.
in_integration_test = True


# Where the system keeps server programs (Debian's nginx is /usr/sbin/nginx), off a normal user's PATH.
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def binary(name: str) -> str:
    """The path of a real peer: beside this Python first (PyPI wheels), then on PATH, then where the
    system keeps server programs (scripts/peers.sh looks in the same places)."""
    assert in_integration_test, f"{name} is a real peer: mark the test @pytest.mark.integration"
    local = Path(sys.executable).parent / name
    system = os.pathsep.join(SYSTEM_DIRS)
    found = str(local) if local.exists() else shutil.which(name) or shutil.which(name, path=system)
    assert found, f"{name} is not installed; .ci/run installs it (see the README)"
    return found
