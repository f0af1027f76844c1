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
    """The IPv6 listen comes from the entrypoint script's folder, here `root/../listen` (see ipv6_site)."""
    return moved((APP_DIR / "nginx" / "default.conf").read_text(), {
        "    listen 8080;\n": f"    listen 127.0.0.1:{port};\n",
        "    include /tmp/nginx-listen/*.conf;\n": f"    include {root.parent}/listen/*.conf;\n",
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


def start_site(work: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """nginx serving the site from `work` (its configs written there), as an unprivileged user."""
    root = work / "html"
    if not root.exists():
        shutil.copytree(APP_DIR / "site", root)
    (work / "default.conf").write_text(adjusted_server_block(port, root))
    (work / "nginx.conf").write_text(adjusted_main_config(work))
    if os.geteuid() == 0:
        for path in [work, *work.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.chown(work, user=UNPRIVILEGED)
    return subprocess.Popen([*as_unprivileged(), binary("nginx"), "-p", str(work), "-e", "stderr",
                             "-c", str(work / "nginx.conf"), "-g", "daemon off;"],
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Path]]:
    """(address, folder) of nginx serving the site; the entrypoint script has not run (no listen folder)."""
    # Not under pytest's tmp folder: that is private to root, and nginx runs as another user here.
    work = Path(tempfile.mkdtemp(prefix="hello-nginx-"))
    try:
        port = free_port()
        server = start_site(work, port)
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


# --- IPv6 only where the host has it ---------------------------------------------------------------

LISTEN_SCRIPT = APP_DIR / "docker-entrypoint.d" / "11-listen-on-ipv6-where-available.sh"
# A host without IPv6, as nginx sees it: socket(AF_INET6) fails as on a kernel booted with
# ipv6.disable=1 (which also has no /proc/net/if_inet6). Preloaded into the real nginx.
NO_IPV6_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
    static int (*real)(int, int, int);
    if (domain == AF_INET6) { errno = EAFNOSUPPORT; return -1; }
    if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    return real(domain, type, protocol);
}
"""


def run_listen_script(if_inet6: Path, listen_dir: Path) -> str:
    """The image's entrypoint script, run by the shell the way /docker-entrypoint.sh runs it."""
    result = subprocess.run(["sh", str(LISTEN_SCRIPT)], capture_output=True, text=True, check=True, timeout=10,
                            env={**os.environ, "IF_INET6": str(if_inet6), "NGINX_LISTEN_DIR": str(listen_dir)})
    return result.stdout


def on_loopback(listen_dir: Path, port: int) -> None:
    """The one move the tests make: the snippet's wildcard address and port to loopback and a free port."""
    snippet = listen_dir / "ipv6.conf"
    snippet.write_text(moved(snippet.read_text(), {"listen [::]:8080;": f"listen [::1]:{port};"}))


def answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False


@pytest.fixture
def work() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="hello-nginx-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def no_ipv6(work: Path) -> dict[str, str]:
    source = work / "no_ipv6.c"
    source.write_text(NO_IPV6_SHIM)
    subprocess.run([binary("gcc"), "-shared", "-fPIC", "-o", str(work / "no_ipv6.so"), str(source)], check=True,
                   timeout=60)
    return {"LD_PRELOAD": str(work / "no_ipv6.so")}


def test_the_image_runs_the_script_before_nginx() -> None:
    dockerfile = (APP_DIR / "Dockerfile").read_text()
    assert f"COPY docker-entrypoint.d/{LISTEN_SCRIPT.name} /docker-entrypoint.d/\n" in dockerfile
    assert LISTEN_SCRIPT.stat().st_mode & 0o111, "the base image's entrypoint runs executable scripts only"
    assert "listen [::]" not in (APP_DIR / "nginx" / "default.conf").read_text().split("#")[0]


def test_with_ipv6_nginx_listens_on_both_families(work: Path) -> None:
    assert Path("/proc/net/if_inet6").is_file(), "this test needs a host with IPv6 (loopback ::1)"
    assert "IPv6 available" in run_listen_script(Path("/proc/net/if_inet6"), work / "listen")
    port = free_port()
    on_loopback(work / "listen", port)
    server = start_site(work, port)
    try:
        wait_for_port(port)
        assert answers(f"http://127.0.0.1:{port}/healthz")
        assert answers(f"http://[::1]:{port}/healthz")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_without_ipv6_nginx_starts_on_ipv4_only(work: Path, no_ipv6: dict[str, str]) -> None:
    assert "no IPv6 on this host" in run_listen_script(work / "no-such-if_inet6", work / "listen")
    assert list((work / "listen").iterdir()) == []
    port = free_port()
    server = start_site(work, port, env=no_ipv6)
    try:
        wait_for_port(port)
        assert answers(f"http://127.0.0.1:{port}/healthz")
        assert not answers(f"http://[::1]:{port}/healthz")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_unconditional_ipv6_listen_stops_nginx_on_a_host_without_ipv6(work: Path,
                                                                           no_ipv6: dict[str, str]) -> None:
    """What the script prevents: the former `listen [::]:8080;` on a host without IPv6."""
    (work / "listen").mkdir()
    (work / "listen" / "ipv6.conf").write_text("listen [::]:8080;\n")
    port = free_port()
    on_loopback(work / "listen", port)
    server = start_site(work, port, env=no_ipv6)
    try:
        _, stderr = server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode != 0
    assert b"Address family not supported" in stderr


def test_a_restart_on_a_host_without_ipv6_drops_the_listen(work: Path) -> None:
    run_listen_script(Path("/proc/net/if_inet6"), work / "listen")
    assert (work / "listen" / "ipv6.conf").is_file()
    run_listen_script(work / "no-such-if_inet6", work / "listen")
    assert not (work / "listen" / "ipv6.conf").exists()
