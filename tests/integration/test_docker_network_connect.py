"""network connect / disconnect of running containers (issue 15): one more veth into the
container's netns (eth1...), an address from that network's pool (or --ip), every member's
/etc/hosts kept current; disconnect removes the interface and gives back the lease; a
connected network comes back on start. Bad input: one line, exit 125, nothing changed.

Traffic only between the namespaces of the containers this test starts.
"""

import ipaddress
import json
import subprocess
import time

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


@pytest.fixture
def nets(cli):
    names = [new_id("pn"), new_id("pn")]
    yield names
    for line in cli("ps", "-aq", "--no-trunc").stdout.split():
        cli("rm", "-f", line)
    for n in names:
        cli("network", "rm", n)


def _net(cli, name) -> dict:
    return json.loads(cli("network", "inspect", name).stdout)[0]


def _members(cli, name) -> set:
    """The names of a network's containers (docker keys them by ID)."""
    return {c["Name"] for c in _net(cli, name)["Containers"].values()}


def _addr(cli, cid, ifname) -> str:
    p = cli("exec", cid, "ip", "-4", "-o", "addr", "show", ifname)
    return p.stdout.split()[3].split("/")[0] if p.returncode == 0 and p.stdout.split() else ""


def _veths(bridge: str) -> list[str]:
    p = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    return sorted(line.split(":")[1].strip().split("@")[0] for line in p.stdout.splitlines())


def _eventually(fn, tries=100):
    for _ in range(tries):
        if fn():
            return True
        time.sleep(0.05)
    return fn()


def test_connect_disconnect_running_containers(cli, dleak, nets):
    na, nb = nets
    for n in nets:
        assert cli("network", "create", n).returncode == 0
    a, b, c = new_id("pa"), new_id("pb"), new_id("pc")
    assert cli("run", "-d", "--name", a, "--network", na, "busybox", "sleep", "60").returncode == 0
    assert cli("run", "-d", "--name", b, "--network", nb, "busybox", "sleep", "60").returncode == 0
    assert cli("run", "-d", "--name", c, "--net", "none", "busybox", "sleep", "60").returncode == 0
    subnet_b = ipaddress.IPv4Network(_net(cli, nb)["IPAM"]["Config"][0]["Subnet"])
    bridge_b = _net(cli, nb)["bridge"]
    # a joins nb as eth1, with an alias; b (already there) learns its names
    p = cli("network", "connect", "--alias", "web", nb, a)
    assert p.returncode == 0, p.stderr
    ip_a = _addr(cli, a, "eth1")
    assert ipaddress.IPv4Address(ip_a) in subnet_b
    assert _addr(cli, a, "eth0") and ipaddress.IPv4Address(_addr(cli, a, "eth0")) not in subnet_b
    assert _members(cli, nb) == {a, b}
    nets_a = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", a).stdout)
    assert set(nets_a) == {na, nb} and nets_a[nb]["IPAddress"] == ip_a
    for who, name in ((a, b), (b, a), (b, "web")):
        p = cli("exec", who, "ping", "-c", "1", "-W", "2", name)
        assert p.returncode == 0, (who, name, p.stdout + p.stderr)
    # c (--net none) gets a fixed address and, having no other, the default route
    fixed = str(subnet_b.network_address + 200)
    assert cli("network", "connect", "--ip", fixed, nb, c).returncode == 0
    assert _addr(cli, c, "eth0") == fixed
    assert "default via" in cli("exec", c, "ip", "route").stdout
    assert cli("exec", c, "ping", "-c", "1", "-W", "2", b).returncode == 0
    # bad input: one line, 125, nothing changed
    before = (_net(cli, nb)["Containers"], _veths(bridge_b), cli("exec", a, "ip", "-o", "link").stdout)
    for args in (("connect", nb, a), ("connect", "nosuch-net", a), ("connect", nb, "nosuch-ctr"),
                 ("connect", "bridge", a), ("connect", "--ip", "192.0.2.9", na, b),
                 ("connect", "--ip", fixed, nb, b),
                 ("disconnect", na, a), ("disconnect", nb, "nosuch-ctr"),
                 ("disconnect", "nosuch-net", a)):
        p = cli("network", *args)
        assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert before == (_net(cli, nb)["Containers"], _veths(bridge_b),
                      cli("exec", a, "ip", "-o", "link").stdout)
    # disconnect: the interface and the lease go, b's hosts file forgets a
    veths = _veths(bridge_b)
    assert cli("network", "disconnect", nb, a).returncode == 0
    assert cli("exec", a, "ip", "link", "show", "eth1").returncode != 0
    assert len(_veths(bridge_b)) == len(veths) - 1
    assert _members(cli, nb) == {b, c}
    hosts_b = cli("exec", b, "cat", "/etc/hosts").stdout
    assert a not in hosts_b and "web" not in hosts_b
    p = cli("network", "disconnect", nb, a)
    assert p.returncode == 1 and "not connected" in p.stderr
    # stop gives back c's lease on nb; start connects it again with its --ip
    assert cli("stop", "-t", "0", c).returncode == 0
    assert _eventually(lambda: _members(cli, nb) == {b})
    assert cli("start", c).returncode == 0
    assert _addr(cli, c, "eth0") == fixed
    assert c in cli("exec", b, "cat", "/etc/hosts").stdout
    assert cli("rm", "-f", a, b, c).returncode == 0
    assert _net(cli, nb)["Containers"] == {} and _veths(bridge_b) == []
    for n in nets:
        assert cli("network", "rm", n).returncode == 0
