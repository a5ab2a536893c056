"""User-defined networks (issue 15): network create/ls/rm/inspect, --network NAME,
--network-alias, --ip, containers resolving each other by name through /etc/hosts kept
current; refusals (no such network, in use, predefined, bad subnet): one line, 125.

Traffic only between the namespaces of the containers this test starts.
"""

import json
import os
import subprocess

import pytest

from conftest import new_id
from dockerleak import dleak  # noqa: F401 - the fixture

pytestmark = pytest.mark.root


@pytest.fixture
def netname(cli):
    name = new_id("pn")
    yield name
    for line in cli("ps", "-aq", "--no-trunc").stdout.split():
        cli("rm", "-f", line)
    cli("network", "rm", name)


def test_create_ls_inspect_rm(cli, dleak, netname):
    nid = cli("network", "create", netname).stdout.strip()
    assert len(nid) == 64
    rows = {r.split()[1]: r.split() for r in cli("network", "ls").stdout.splitlines()[1:]}
    assert rows[netname][0] == nid[:12] and rows[netname][2] == "bridge"
    assert {"bridge", "host", "none"} <= set(rows)
    # docker's network ls --filter: name (a regular expression), type, dangling, driver
    assert cli("network", "ls", "-q", "-f", f"name=^{netname}$").stdout.split() == [nid[:12]]
    assert cli("network", "ls", "-f", "type=builtin", "--format", "{{.Name}}").stdout.split() == \
        ["bridge", "host", "none"]
    assert netname in cli("network", "ls", "-f", "dangling=true", "--format", "{{.Name}}").stdout
    assert cli("network", "ls", "-f", "driver=null", "--format", "{{.Name}}").stdout.split() == ["none"]
    assert cli("network", "ls", "-f", "colour=red").returncode == 1
    j = json.loads(cli("network", "inspect", netname).stdout)[0]
    subnet = j["IPAM"]["Config"][0]["Subnet"]
    assert subnet.startswith("10.90.") and subnet.endswith("/24") and j["Containers"] == {}
    p = cli("network", "create", netname)
    assert p.returncode == 1 and "already exists" in p.stderr
    assert cli("network", "rm", netname).stdout.strip() == netname
    assert netname not in cli("network", "ls").stdout
    bridge = j["bridge"]
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0


def test_network_prune_removes_unused_user_defined_networks(cli, dleak, tmp_path):
    # in a state dir of its own: prune must not touch the networks of this host's other users
    sd = str(tmp_path / "nets")
    a, b = new_id("pa"), new_id("pb")
    for n in (a, b):
        assert cli("network", "create", "--state-dir", sd, n).returncode == 0
    p = cli("network", "prune", "-f", "--state-dir", sd)
    assert p.returncode == 0 and p.stdout.splitlines() == ["Deleted Networks:", *sorted((a, b))]
    assert a not in cli("network", "ls", "--state-dir", sd).stdout
    assert cli("network", "prune", "-f", "--state-dir", sd).stdout == ""


def test_containers_resolve_each_other_by_name_and_alias(cli, dleak, netname):
    assert cli("network", "create", "--subnet", "10.90.250.0/24", netname).returncode == 0
    a, b = new_id("pa"), new_id("pb")
    assert cli("run", "-d", "--name", a, "--network", netname, "--network-alias", "db",
               "busybox", "sleep", "60").returncode == 0
    assert cli("run", "-d", "--name", b, "--network", netname, "--ip", "10.90.250.77",
               "busybox", "sleep", "60").returncode == 0
    assert cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", b).stdout.strip() == "10.90.250.77"
    # a started first: its /etc/hosts was rewritten in place when b came
    p = cli("exec", a, "ping", "-c", "1", "-W", "2", b)
    assert p.returncode == 0, p.stdout + p.stderr
    p = cli("exec", b, "ping", "-c", "1", "-W", "2", "db")
    assert p.returncode == 0, p.stdout + p.stderr
    j = json.loads(cli("network", "inspect", netname).stdout)[0]
    assert set(j["Containers"]) == {cli.id_of(a), cli.id_of(b)}                # docker's keys: IDs
    assert {c["Name"] for c in j["Containers"].values()} == {a, b}
    p = cli("network", "rm", netname)                       # in use
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1
    # a generated name answers too, and a rename is followed (docker's DNS does both)
    c = cli("run", "-d", "--network", netname, "busybox", "sleep", "60").stdout.strip()
    gen = cli("inspect", "-f", "{{.Name}}", c).stdout.strip().lstrip("/")
    assert cli("exec", a, "ping", "-c", "1", "-W", "2", gen).returncode == 0, gen
    assert cli("rename", gen, gen + "-new").returncode == 0
    hosts = cli("exec", a, "cat", "/etc/hosts").stdout.split()
    assert gen + "-new" in hosts and gen not in hosts, hosts
    assert cli("exec", a, "ping", "-c", "1", "-W", "2", gen + "-new").returncode == 0
    cli("rm", "-f", c)
    # b stops: its lease goes, and a's hosts file forgets it
    assert cli("stop", "-t", "0", b).returncode == 0
    for _ in range(100):
        if b not in cli("exec", a, "cat", "/etc/hosts").stdout:
            break
        import time
        time.sleep(0.05)
    assert b not in cli("exec", a, "cat", "/etc/hosts").stdout
    assert cli("start", b).returncode == 0                   # back, with the same address
    assert b in cli("exec", a, "cat", "/etc/hosts").stdout
    cli("rm", "-f", a, b)
    assert cli("network", "rm", netname).returncode == 0


def test_default_bridge_keeps_its_behaviour(cli, dleak):
    p = cli("run", "--rm", "busybox", "sh", "-c", "ip -4 -o addr show eth0")
    assert p.returncode == 0 and " 10.89.0." in p.stdout


def test_bad_network_input_is_one_line_1_as_docker(cli, dleak, netname):
    assert cli("network", "create", netname).returncode == 0
    cases = [
        ("run", "--rm", "--network", "no-such-net", "busybox", "true"),
        ("run", "--rm", "--ip", "10.89.0.99", "busybox", "true"),
        ("run", "--rm", "--network", netname, "--ip", "300.1.1.1", "busybox", "true"),
        ("network", "rm", "no-such-net"),
        ("network", "rm", "bridge"),
        ("network", "create", "bridge"),
        ("network", "create", "--subnet", "10.89.0.0/24", new_id("x")),   # overlaps the default
        ("network", "create", "--subnet", "nonsense", new_id("x")),
        ("network", "create", "--driver", "overlay", new_id("x")),
        ("network", "inspect", "no-such-net"),
        ("network", "connect", netname, "nobody"),
    ]
    before = sorted(os.listdir("/var/lib/pycontainer/network"))
    for args in cases:       # docker: run's refusals 125, the daemon's answer to others 1
        p = cli(*args)
        assert p.returncode == (125 if args[0] == "run" else 1), (args, p.returncode, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    assert sorted(os.listdir("/var/lib/pycontainer/network")) == before


def test_add_host_lines_survive_a_rewrite_of_the_hosts_file(cli, dleak, netname):
    """docker keeps HostConfig.ExtraHosts when a peer joins; the rewrite used to drop them."""
    assert cli("network", "create", "--subnet", "10.90.249.0/24", netname).returncode == 0
    a, b = new_id("pa"), new_id("pb")
    assert cli("run", "-d", "--name", a, "--network", netname, "--add-host", "db.example:10.1.2.3",
               "busybox", "sleep", "60").returncode == 0
    assert cli("run", "-d", "--name", b, "--network", netname, "busybox", "sleep", "60").returncode == 0
    hosts = cli("exec", a, "cat", "/etc/hosts").stdout
    assert b in hosts, hosts                                   # rewritten when b came
    assert "10.1.2.3\tdb.example" in hosts, hosts              # and the --add-host line kept
    cli("rm", "-f", a, b)
    assert cli("network", "rm", netname).returncode == 0


def test_add_host_host_gateway_reaches_a_server_on_the_host(cli, dleak):
    # docker's --add-host host.docker.internal:host-gateway (the host's address on the default
    # bridge) and docker 25's NAME=IP, [IPv6]; they were refused ("not an IP address").
    import http.server
    import threading
    p = cli("run", "--rm", "--net", "none", "--add-host", "host.docker.internal:host-gateway",
            "--add-host", "a=10.1.2.3", "--add-host", "b=[::1]", "busybox", "cat", "/etc/hosts")
    assert p.returncode == 0, p.stderr
    assert "10.89.0.1\thost.docker.internal" in p.stdout and "10.1.2.3\ta" in p.stdout
    assert "::1\tb" in p.stdout
    assert cli("run", "--rm", "busybox", "true").returncode == 0     # the default bridge is up

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"from the host")

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("10.89.0.1", 0), Hello)     # the bridge's own address only
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        p = cli("run", "--rm", "--add-host", "host.docker.internal:host-gateway", "busybox", "wget",
                "-q", "-O", "-", f"http://host.docker.internal:{srv.server_address[1]}/")
        assert (p.returncode, p.stdout) == (0, "from the host"), p.stderr
    finally:
        srv.shutdown()
        srv.server_close()


def test_legacy_link_on_the_default_bridge(cli, dleak, netname):
    # --link NAME[:ALIAS] (old tutorials' way): /etc/hosts and docker's variables
    db, app = new_id(), new_id()
    assert cli("run", "-d", "--name", db, "--expose", "5432", "busybox", "sleep", "60").returncode == 0
    try:
        ip = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", db).stdout.strip()
        p = cli("run", "--rm", "--name", app, "--link", f"{db}:pg", "busybox", "sh", "-c",
                "grep -w pg /etc/hosts; echo $PG_NAME $PG_PORT $PG_PORT_5432_TCP_ADDR; "
                "ping -c1 -W2 pg >/dev/null && echo reached")
        assert p.stdout.split() == [ip, "pg", f"/{app}/pg", f"tcp://{ip}:5432", ip, "reached"], p.stderr
        assert cli("create", "--name", app, "--link", f"{db}:pg", "busybox", "true").returncode == 0
        links = cli("inspect", "-f", "{{json .HostConfig.Links}}", app).stdout
        assert json.loads(links) == [f"/{db}:/{app}/pg"]             # docker's form
        cli("rm", app)
        assert cli("network", "create", netname).returncode == 0
        for args in (("--net", "none", "--link", db), ("--network", netname, "--link", db),
                     ("--link", "no-such-container")):
            p = cli("run", "--rm", *args, "busybox", "true")
            assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    finally:
        cli("rm", "-f", db)


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout


def test_internal_network_has_no_way_out(cli, dleak, netname):
    # network create --internal (docker's): no default route, and even a container that
    # adds one (CAP_NET_ADMIN) reaches nothing beyond its bridge; its own members, yes.
    # The target is a server in a container of ours on another network (never any other host).
    other = netname + "-o"
    assert cli("network", "create", "--internal", netname).returncode == 0
    assert cli("network", "create", other).returncode == 0
    web, peer = new_id(), new_id()
    try:
        rec = json.loads(cli("network", "inspect", netname).stdout)[0]
        assert rec["Internal"] is True and rec["masquerade"] is False
        table = "pyc_internal_" + rec["bridge"].rsplit("-", 1)[1]
        assert table in _nft_tables()
        assert cli("run", "-d", "--name", web, "--network", other, "busybox", "httpd", "-f", "-p",
                   "8080").returncode == 0
        assert cli("run", "-d", "--name", peer, "--network", netname, "busybox", "sleep", "60").returncode == 0
        ip = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", web).stdout.strip()
        probe = f"echo | nc -w 2 {ip} 8080 >/dev/null && echo reached || echo blocked"
        # control: from a normal network the server answers
        assert cli("run", "--rm", "--network", other, "busybox", "sh", "-c", probe).stdout.strip() == "reached"
        p = cli("run", "--rm", "--network", netname, "--cap-add", "NET_ADMIN", "busybox", "sh", "-c",
                f"ip route | grep -c default; ping -c1 -W2 {peer} >/dev/null && echo peer-ok; "
                f"ip route add default via {rec['gateway']} && {probe}")
        assert p.stdout.split() == ["0", "peer-ok", "blocked"], p.stdout + p.stderr
        # connected to a network that has a way out, it gets that network's default route
        # (docker's), so the server is reached through it; a second connect adds none
        assert cli("network", "connect", other, peer).returncode == 0
        gw = json.loads(cli("network", "inspect", other).stdout)[0]["gateway"]
        route = cli("exec", peer, "ip", "route").stdout
        assert f"default via {gw} dev eth1" in route and route.count("default") == 1, route
        assert cli("exec", peer, "sh", "-c", probe).stdout.strip() == "reached"
    finally:
        cli("rm", "-f", web, peer)
        cli("network", "rm", other)
    assert cli("network", "rm", netname).returncode == 0
    assert table not in _nft_tables()


def test_mac_address_as_docker(cli, dleak):
    cid = new_id()
    p = cli("run", "-d", "--name", cid, "--mac-address", "92:d0:c6:0a:29:33", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    try:
        assert cli("exec", cid, "cat", "/sys/class/net/eth0/address").stdout.strip() == "92:d0:c6:0a:29:33"
        assert cli("inspect", "-f", "{{.NetworkSettings.MacAddress}}", cid).stdout.strip() == \
            "92:d0:c6:0a:29:33"
    finally:
        cli("rm", "-f", cid)
    for args in (("--mac-address", "93:d0:c6:0a:29:33"), ("--mac-address", "zz"),
                 ("--net", "none", "--mac-address", "92:d0:c6:0a:29:33")):
        p = cli("run", "--rm", *args, "busybox", "true")
        assert p.returncode == 125 and len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)


def test_one_address_serves_one_container_after_another_at_once(tmp_path, leakcheck):
    """A /30 has one address for containers: each API run gets the address the previous one
    gave back when its veth was unlisted (network/lifecycle.py, rtnl.LinkWatch), while the
    kernel may still be finishing that veth, and still reaches its gateway."""
    import ipaddress
    import pycontainer
    used = [ipaddress.ip_network(a, strict=False) for a in subprocess.run(
        ["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout.split() if "/" in a]
    subnet = next((n for n in (ipaddress.ip_network(f"10.89.{x}.0/30") for x in range(252, 200, -1))
                   if not any(n.overlaps(u) for u in used)), None)
    if subnet is None:
        pytest.skip("no free 10.89.x.0/30 here")
    gateway = str(subnet[1])
    client = pycontainer.Client(root=str(tmp_path / "state"))
    name = new_id("p30")
    net = client.networks.create(name, ipam={"Config": [{"Subnet": str(subnet), "Gateway": gateway}]})
    try:
        for _ in range(5):
            out = client.containers.run(
                "busybox", ["sh", "-c", "ip -4 -o addr show eth0; ping -c1 -W2 " + gateway
                            + " >/dev/null && echo reached"], network=name, remove=True).decode()
            assert f"inet {subnet[2]}/30" in out and "reached" in out, out
    finally:
        net.remove()
        client.close()
