"""-P/--publish-all (issue 15): an image's EXPOSEd ports go to free host ports; the
program is reached from the host through 127.0.0.1 (the only traffic this test sends).

The image is built here (``build --network none``: FROM busybox, EXPOSE 8080, httpd)."""

import json
import time
import urllib.request

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root

DOCKERFILE = """FROM busybox
RUN mkdir /www && echo hello-publish-all > /www/index.html
EXPOSE 8080
EXPOSE 9090/udp
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
"""


def _get(port: int) -> str:
    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                return r.read().decode()
        except OSError:
            time.sleep(0.05)
    return ""


def test_publish_all_reaches_exposed_port(cli, dleak, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    tag = f"pyc-test-expose-{new_id()}:1"
    p = cli("build", "--network", "none", "-t", tag, str(ctx), timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    cid = new_id()
    try:
        p = cli("run", "-d", "-P", "--name", cid, tag)
        assert p.returncode == 0, p.stderr
        ports = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", cid).stdout)
        assert set(ports) == {"8080/tcp", "9090/udp"}
        hp = int(ports["8080/tcp"][0]["HostPort"])
        assert hp > 0 and int(ports["9090/udp"][0]["HostPort"]) > 0
        assert _get(hp).strip() == "hello-publish-all"
        out = cli("port", cid, "8080").stdout
        assert f":{hp}" in out, out
        ps = cli("ps", "--filter", f"name={cid}", "--format", "{{.Ports}}").stdout
        assert f":{hp}->8080/tcp" in ps, ps
        assert cli("rm", "-f", cid).returncode == 0
    finally:
        cli("rm", "-f", cid)
        cli("rmi", tag)


def test_p_with_only_the_container_port_takes_a_free_host_port(cli, dleak):
    """docker's -p 80 and -p IP::80 (any free host port), and the SDK's ports={"80/tcp": None};
    the port answers through 127.0.0.1."""
    cid = new_id()
    try:
        p = cli("run", "-d", "--name", cid, "-p", "80", "-p", "127.0.0.1::81/udp", "busybox",
                "sh", "-c", "echo hello-any-port > /i.html && httpd -f -p 80 -h /")
        assert p.returncode == 0, p.stderr
        ports = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", cid).stdout)
        hp = int(ports["80/tcp"][0]["HostPort"])
        assert ports["80/tcp"][0]["HostIp"] == "0.0.0.0" and hp > 0
        assert ports["81/udp"][0]["HostIp"] == "127.0.0.1" and int(ports["81/udp"][0]["HostPort"]) > 0
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{hp}/i.html", timeout=2) as r:
                    assert r.read().decode().strip() == "hello-any-port"
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("no answer on the free port")
        assert cli("port", cid, "80").stdout.strip() == f"0.0.0.0:{hp}"
    finally:
        cli("rm", "-f", cid)
    for bad in ("1.2.3.4:80", "80:", "::80", "99999:80"):
        p = cli("run", "--rm", "--name", new_id(), "-p", bad, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.splitlines()) == 1, (bad, p.stderr)


def test_the_sdks_ports_forms(dleak):
    from pycontainer.api import Client
    from pycontainer.api.config import sdk_ports
    assert sdk_ports({"80/tcp": None, 81: 8081, "82/udp": ("127.0.0.1", 8082), "83/tcp": ("127.0.0.1",),
                      "84/tcp": [8084, 8085]}) == \
        ["80/tcp", "8081:81/tcp", "127.0.0.1:8082:82/udp", "127.0.0.1::83/tcp", "8084:84/tcp", "8085:84/tcp"]
    c = Client()
    k = c.containers.run("busybox", ["sleep", "30"], detach=True, ports={"80/tcp": None})
    try:
        assert int(k.ports["80/tcp"][0]["HostPort"]) > 0
    finally:
        k.remove(force=True)
