"""The site served by a real nginx (Debian's) with the very configs the image ships (its main
nginx.conf and its server block), only their paths and listen address moved to a temporary folder and
a loopback port, and run as an unprivileged user (`nobody` when the tests run as root): the image's
nginx needs no root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.app_source import APP_DIR
from tests.peers import binary, free_port, wait_for_port

pytestmark = pytest.mark.integration
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
}
UNPRIVILEGED = "nobody"


def moved(shipped: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert shipped.count(old) == 1, f"the shipped config no longer has {old!r}: update this test"
        shipped = shipped.replace(old, new)
    return shipped


def adjusted_server_block(port: int, root: Path) -> str:
    return moved((APP_DIR / "nginx" / "default.conf").read_text(), {
        "    listen 8080;\n": f"    listen 127.0.0.1:{port};\n",
        "    listen [::]:8080;\n": "",
        "    root /usr/share/nginx/html;\n": f"    root {root};\n",
    })


def adjusted_main_config(work: Path) -> str:
    """Only paths move: the pid file and temp paths from /tmp to `work`, conf.d to the server block."""
    shipped = (APP_DIR / "nginx" / "nginx.conf").read_text()
    temp_paths = {f" /tmp/{name}_temp;": f" {work}/{name}_temp;"
                  for name in ("client", "proxy", "fastcgi", "uwsgi", "scgi")}
    return moved(shipped, {
        "pid /tmp/nginx.pid;": f"pid {work}/nginx.pid;",
        "include /etc/nginx/conf.d/*.conf;": f"include {work}/default.conf;",
        "access_log /dev/stdout combined;": f"access_log {work}/access.log combined;",
        **temp_paths,
    })


def as_unprivileged() -> list[str]:
    if os.geteuid() != 0:
        return []
    return [binary("setpriv"), f"--reuid={UNPRIVILEGED}", "--regid=nogroup", "--clear-groups", "--"]


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Path]]:
    """(address, folder) of nginx serving the site."""
    # Not under pytest's tmp folder: that is private to root, and nginx runs as another user here.
    work = Path(tempfile.mkdtemp(prefix="hello-nginx-"))
    try:
        root = work / "html"
        shutil.copytree(APP_DIR / "site", root)
        port = free_port()
        (work / "default.conf").write_text(adjusted_server_block(port, root))
        (work / "nginx.conf").write_text(adjusted_main_config(work))
        if os.geteuid() == 0:
            for path in [work, *work.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
            shutil.chown(work, user=UNPRIVILEGED)
        server = subprocess.Popen([*as_unprivileged(), binary("nginx"), "-p", str(work), "-e", "stderr",
                                   "-c", str(work / "nginx.conf"), "-g", "daemon off;"], stderr=subprocess.PIPE)
        try:
            wait_for_port(port)
            assert uid_of(server.pid) != 0, "nginx must run without root"
            yield f"http://127.0.0.1:{port}", work
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def site(served: tuple[str, Path]) -> str:
    return served[0]


def test_nginx_runs_unprivileged_with_its_pid_and_temp_files_where_it_may_write(served: tuple[str, Path]) -> None:
    site, work = served
    assert get(site + "/healthz")[0] == 200
    assert (work / "nginx.pid").is_file() and (work / "client_temp").is_dir()
    master = int((work / "nginx.pid").read_text())
    assert uid_of(master) != 0


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_index_page_with_its_css(site: str) -> None:
    status, headers, body = get(site + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "<h1>hello-nginx</h1>" in body and 'href="/style.css"' in body
    status, headers, css = get(site + "/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css")
    assert ".card" in css


def test_health_endpoint(site: str) -> None:
    assert get(site + "/healthz")[0::2] == (200, "ok\n")


def test_unknown_path_is_a_real_404(site: str) -> None:
    status, headers, body = get(site + "/no/such/page")
    assert status == 404
    assert "<h1>404</h1>" in body
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_404_page_is_not_served_as_a_page(site: str) -> None:
    assert get(site + "/404.html")[0] == 404


@pytest.mark.parametrize("path", ["/", "/style.css", "/healthz", "/missing"])
def test_security_headers_everywhere(site: str, path: str) -> None:
    _, headers, _ = get(site + path)
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (path, name)
    assert headers["Server"] == "nginx", "no version in the Server header"
