"""The site served by a real nginx (Debian's) with the very server block the image ships, only its
listen address and root moved to a loopback port and a temporary folder."""

from __future__ import annotations

import os
import shutil
import subprocess
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


def adjusted_server_block(port: int, root: Path) -> str:
    shipped = (APP_DIR / "nginx" / "default.conf").read_text()
    replacements = {
        "    listen 80;\n": f"    listen 127.0.0.1:{port};\n",
        "    listen [::]:80;\n": "",
        "    root /usr/share/nginx/html;\n": f"    root {root};\n",
    }
    for old, new in replacements.items():
        assert shipped.count(old) == 1, f"the shipped config no longer has {old!r}: update this test"
        shipped = shipped.replace(old, new)
    return shipped


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("nginx")
    root = work / "html"
    shutil.copytree(APP_DIR / "site", root)
    port = free_port()
    (work / "default.conf").write_text(adjusted_server_block(port, root))
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the temp folder
    (work / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events {}\n"
        "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log off;\n  client_body_temp_path {work}/tmp;\n"
        f"  include {work}/default.conf;\n}}\n")
    (work / "tmp").mkdir()
    server = subprocess.Popen([binary("nginx"), "-p", str(work), "-c", str(work / "nginx.conf"),
                               "-g", "daemon off;"], stderr=subprocess.PIPE)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


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
