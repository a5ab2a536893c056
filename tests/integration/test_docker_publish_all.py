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
