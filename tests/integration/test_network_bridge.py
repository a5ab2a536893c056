"""Bridge networking against real network namespaces this test makes (root).

Every name is ours and carries the ``pyc`` prefix: bridges ``pyct<N>``, veths
``pycv...``, nft table ``inet pyctest<N>``, netns ``pyc-test-<N>-*``; each is
removed at the end even on failure. Traffic stays on this host: host <-> the
namespaces, namespace <-> namespace, 127.0.0.1 port forwards, on a private
10.89.x.0/24 subnet that no host interface uses.
"""

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pycontainer import network, trace
from pycontainer.errors import NetworkError
from pycontainer.network import bridge, nat

pytestmark = [pytest.mark.network, pytest.mark.root]

if os.geteuid() != 0:
    pytest.skip("needs root (creates bridges, veths, nft tables)", allow_module_level=True)
for tool in ("ip", "nft", "unshare", "nsenter", "curl"):
    if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
        pytest.skip(f"{tool} missing", allow_module_level=True)
BUSYBOX = "/bin/busybox"
if not os.path.exists(BUSYBOX):
    pytest.skip("busybox-static missing", allow_module_level=True)


def run(*cmd, check=True, timeout=20):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout)


def host_nets():
    out = json.loads(run("ip", "-j", "-4", "addr").stdout)
    return [ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False)
            for link in out for a in link.get("addr_info", [])]


def free_subnet(taken_extra=()):
    used = host_nets() + list(taken_extra)
    start = (os.getpid() * 7 + time.monotonic_ns() // 1000) % 150   # spread concurrent runs
    for i in range(150):
        net = ipaddress.IPv4Network(f"10.89.{(start + i) % 150 + 100}.0/24")
        if not any(net.overlaps(u) for u in used):
            return net
    pytest.skip("no free 10.89.x.0/24 on this host")


def free_port():
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


class Env:
    """Names, namespaces and processes of one test; ``cleanup`` removes them all."""

    def __init__(self, tmp_path):
        self.tag = f"{os.getpid() % 10000}{int(time.time() * 1000) % 100:02d}"
        self.bridge = f"pyct{self.tag}"
        self.table = f"pyctest{self.tag}"
        self.state = str(tmp_path / "state")
        self.subnet = free_subnet()
        self.procs, self.netns, self.bridges = [], [], [self.bridge]

    def req(self, **kw):
        base = {"mode": "bridge", "network": "t", "bridge": self.bridge, "subnet": str(self.subnet),
                "state_dir": self.state, "nft_table": self.table}
        return {**base, **kw}

    def spawn(self, *prefix):
        """A process in a new (or joined) netns: its /proc/PID/ns/net is the container's."""
        cmd = list(prefix) or ["unshare", "-n"]
        p = subprocess.Popen(cmd + ["sleep", "600"])
        self.procs.append(p)
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10           # unshare+exec can stall on a loaded host
        while time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{p.pid}/ns/net") != mine and \
                        os.readlink(f"/proc/{p.pid}/exe").endswith("sleep"):
                    return p.pid
            except OSError:
                pass
            time.sleep(0.01)
        raise AssertionError("namespace process did not start")

    def bg(self, pid, *cmd):
        p = subprocess.Popen(["nsenter", "-t", str(pid), "-n", *cmd],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def ns(self, pid, *cmd, check=True):
        return run("nsenter", "-t", str(pid), "-n", *cmd, check=check)

    def add_netns(self, suffix):
        name = f"pyc-test-{self.tag}-{suffix}"
        run("ip", "netns", "add", name)
        self.netns.append(name)
        return f"/run/netns/{name}"

    def cleanup(self):
        for p in self.procs:               # only the processes this test started
            if p.poll() is None:
                p.kill()
            p.wait()
        try:
            network.gc([], self.state, prune=True)
        except Exception as exc:           # keep cleaning
            print("gc during cleanup:", exc)
        for b in self.bridges:
            run("ip", "link", "del", b, check=False)
        run("nft", "delete", "table", "inet", self.table, check=False)
        for n in self.netns:
            run("ip", "netns", "del", n, check=False)


@pytest.fixture(scope="module", autouse=True)
def keep_ip_forward():
    path = "/proc/sys/net/ipv4/ip_forward"
    before = open(path).read()
    yield
    with open(path, "w") as f:
        f.write(before)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()
    left = run("ip", "-o", "link").stdout
    assert e.bridge not in left


def wait_listening(pid, port, timeout=10):
    """Wait until a TCP socket listens on ``port`` in ``pid``'s network namespace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("tcp", "tcp6"):
            with open(f"/proc/{pid}/net/{table}") as f:
                rows = [ln.split() for ln in list(f)[1:]]
            if any(r[1].endswith(f":{port:04X}") and r[3] == "0A" for r in rows):   # 0A: LISTEN
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port} in the netns of {pid}")


def ping(pid_or_none, ip, env):
    cmd = [BUSYBOX, "ping", "-c", "1", "-W", "2", str(ip)]
    r = env.ns(pid_or_none, *cmd, check=False) if pid_or_none else run(*cmd, check=False)
    return r.returncode == 0


def http_get(url, pid=None, env=None):
    if pid:
        r = env.ns(pid, "timeout", "5", BUSYBOX, "wget", "-q", "-O-", url, check=False)
    else:
        r = run("curl", "-s", "-m", "5", url, check=False)
    return r.stdout


def start_httpd(env, pid, port, tmp_path, text="hello-from-pyc"):
    www = tmp_path / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text(text + "\n")
    env.bg(pid, BUSYBOX, "httpd", "-f", "-p", str(port), "-h", str(www))
    for _ in range(100):
        if http_get(f"http://127.0.0.1:{port}/", pid=pid, env=env):
            return
        time.sleep(0.05)
    raise AssertionError("httpd did not start")


# -- proofs --------------------------------------------------------------------------------

def test_two_bridge_containers_reach_each_other_and_the_gateway(env):
    a, b = env.spawn(), env.spawn()
    sa = network.setup("a", a, env.req())
    sb = network.setup("b", b, env.req())
    gw = env.subnet.network_address + 1
    assert sa["ip"] != sb["ip"] and sa["gateway"] == str(gw)
    assert ipaddress.IPv4Address(sa["ip"]) in env.subnet
    addrs = env.ns(a, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert f"{sa['ip']}/24" in addrs
    assert f"default via {gw} dev eth0" in env.ns(a, "ip", "route").stdout
    assert ping(a, sb["ip"], env) and ping(b, sa["ip"], env)
    assert ping(a, gw, env) and ping(None, sa["ip"], env)
    # and a TCP stream with busybox nc, b -> a
    env.bg(a, BUSYBOX, "nc", "-l", "-p", "7777", "-e", "/bin/echo", "pong-from-a")
    wait_listening(a, 7777)
    out = env.ns(b, "timeout", "5", BUSYBOX, "nc", sa["ip"], "7777", check=False).stdout
    assert "pong-from-a" in out
    ports = bridge.ports_on(env.bridge)
    assert sorted(ports) == sorted([sa["host_ifname"], sb["host_ifname"]])


def test_published_port_serves_httpd_on_localhost_bridge_and_host_addresses(env, tmp_path):
    a, b = env.spawn(), env.spawn()
    hp = free_port()
    sa = network.setup("web", a, env.req(ports=[f"{hp}:80"]))
    network.setup("client", b, env.req())
    start_httpd(env, a, 80, tmp_path)
    gw = str(env.subnet.network_address + 1)
    assert http_get(f"http://127.0.0.1:{hp}/").strip() == "hello-from-pyc"
    assert http_get(f"http://{gw}:{hp}/").strip() == "hello-from-pyc"
    assert http_get(f"http://{sa['ip']}:80/").strip() == "hello-from-pyc"
    # another container through the gateway's published port (DNAT + hairpin masquerade)
    assert http_get(f"http://{gw}:{hp}/", pid=b, env=env).strip() == "hello-from-pyc"
    # every other local IPv4 address of this host (local delivery, nothing leaves it)
    out = json.loads(run("ip", "-j", "-4", "addr").stdout)
    for link in out:
        for ad in link.get("addr_info", []):
            if link["ifname"].startswith("pyc") or ad["local"].startswith("127."):
                continue
            assert http_get(f"http://{ad['local']}:{hp}/").strip() == "hello-from-pyc", ad["local"]


def test_container_reaches_its_own_published_port_hairpin(env, tmp_path):
    a = env.spawn()
    hp = free_port()
    sa = network.setup("self", a, env.req(ports=[f"{hp}:80"]))
    assert "hairpin on" in run("bridge", "-d", "link", "show", "dev", sa["host_ifname"]).stdout
    start_httpd(env, a, 80, tmp_path, "hairpin")
    gw = str(env.subnet.network_address + 1)
    assert http_get(f"http://{gw}:{hp}/", pid=a, env=env).strip() == "hairpin"


def test_concurrent_setups_on_a_fresh_network(env):
    """Eight runtime processes race to create the same bridge, table and leases."""
    pids = [env.spawn() for _ in range(8)]
    code = ("import sys, json; from pycontainer import network;"
            "print(json.dumps(network.setup(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]))))")
    hps = set()
    while len(hps) < 8:
        hps.add(free_port())
    procs = [subprocess.Popen([sys.executable, "-c", code, f"c{i}", str(pid),
                               json.dumps(env.req(ports=[f"{hp}:80"] if i % 2 else []))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i, (pid, hp) in enumerate(zip(pids, hps))]
    saved = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        saved.append(json.loads(out))
    assert len({s["ip"] for s in saved}) == 8
    for s in saved:
        assert ping(None, s["ip"], env)
    for i, s in enumerate(saved):
        network.teardown(f"c{i}", s)
    assert network.networks(env.state)[0]["leases"] == {}
    assert nat.list_table(env.table)["ports"] == []
    assert bridge.ports_on(env.bridge) == []


def test_port_bound_to_one_host_ip(env, tmp_path):
    a = env.spawn()
    hp = free_port()
    network.setup("web", a, env.req(ports=[f"127.0.0.1:{hp}:8080"]))
    start_httpd(env, a, 8080, tmp_path, "only-loopback")
    assert http_get(f"http://127.0.0.1:{hp}/").strip() == "only-loopback"
    gw = str(env.subnet.network_address + 1)
    assert http_get(f"http://{gw}:{hp}/") == ""          # not published on the bridge address


def test_none_mode_has_only_lo_up(env):
    pid = env.spawn()
    saved = network.setup("lonely", pid, "none")
    assert saved["mode"] == "none"
    links = env.ns(pid, "ip", "-o", "link").stdout.strip().splitlines()
    assert len(links) == 1 and links[0].split(":")[1].strip() == "lo"
    assert ",UP" in links[0]


def test_none_mode_does_not_import_pyroute2(env):
    pid = env.spawn()
    code = ("import sys; from pycontainer import network;"
            f"network.setup('n1', {pid}, 'none');"
            "print(any(m.startswith('pyroute2') for m in sys.modules))")
    assert run(sys.executable, "-c", code).stdout.strip() == "False"
    assert "UP" in env.ns(pid, "ip", "-o", "link", "show", "lo").stdout


def test_container_mode_shares_the_interface(env):
    a = env.spawn()
    sa = network.setup("a", a, env.req())
    b = env.spawn("nsenter", f"--net=/proc/{a}/ns/net")
    sb = network.setup("b", b, "container:a")
    assert sb == {"mode": "container", "ref": "a"}
    assert f"{sa['ip']}/24" in env.ns(b, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    network.teardown("b", sb)                               # nothing of a's is touched
    assert ping(None, sa["ip"], env)


def test_bridge_into_a_netns_given_by_path(env):
    path = env.add_netns("p")
    saved = network.setup("bypath", path, env.req())
    assert ping(None, saved["ip"], env)
    assert network.namespace_action(network.parse_request(f"ns:{path}")) == ("join", path)
    assert network.setup("joined", None, f"ns:{path}") == {"mode": "netns", "ref": path}


def test_teardown_leaves_no_veth_lease_or_nft_rule(env, tmp_path):
    a = env.spawn()
    hp = free_port()
    saved = network.setup("gone", a, env.req(ports=[f"{hp}:80", f"{hp}:53/udp"]),
                          files_dir=str(tmp_path / "files"))
    assert os.path.exists(saved["files"]["/etc/hosts"])
    assert f"{saved['ip']}\tgone" in open(saved["files"]["/etc/hosts"]).read()
    assert len(nat.list_table(env.table)["ports"]) == 2
    network.teardown("gone", saved)
    network.teardown("gone", saved)                         # idempotent
    assert run("ip", "link", "show", saved["host_ifname"], check=False).returncode != 0
    assert network.networks(env.state)[0]["leases"] == {}
    assert nat.list_table(env.table)["ports"] == []
    assert not os.path.exists(saved["files"]["/etc/hosts"])
    assert env.ns(a, "ip", "-o", "link").stdout.count(":") >= 1   # eth0 went with the veth
    assert "eth0" not in env.ns(a, "ip", "-o", "link").stdout
    assert network.remove_network("t", env.state)
    assert not bridge.exists(env.bridge)
    assert run("nft", "list", "table", "inet", env.table, check=False).returncode != 0


def test_taken_port_is_refused_and_rolled_back(env):
    a, b = env.spawn(), env.spawn()
    hp = free_port()
    network.setup("first", a, env.req(ports=[f"{hp}:80"]))
    with pytest.raises(NetworkError, match="already published"):
        network.setup("second", b, env.req(ports=[f"{hp}:81"]))
    assert list(network.networks(env.state)[0]["leases"].values()) == ["first"]
    assert run("ip", "link", "show", bridge.veth_name("second"), check=False).returncode != 0
    assert "eth0" not in env.ns(b, "ip", "-o", "link").stdout
    with socket.socket() as s:                              # a host process holds a port
        s.bind(("0.0.0.0", 0))
        s.listen()
        with pytest.raises(NetworkError, match="is taken"):
            network.setup("third", b, env.req(ports=[f"{s.getsockname()[1]}:80"]))


def test_exhausted_subnet_is_a_clear_error(env):
    small = ipaddress.IPv4Network(f"{env.subnet.network_address}/30")   # 1 leasable address
    req = env.req(subnet=str(small), network="tiny")
    a, b = env.spawn(), env.spawn()
    network.setup("one", a, req)
    with pytest.raises(NetworkError, match="exhausted"):
        network.setup("two", b, req)
    assert run("ip", "link", "show", bridge.veth_name("two"), check=False).returncode != 0


def test_missing_bridge_is_recreated(env):
    a, b = env.spawn(), env.spawn()
    network.setup("a", a, env.req(ports=[f"{free_port()}:80"]))
    run("ip", "link", "del", env.bridge)
    run("nft", "delete", "table", "inet", env.table)
    sb = network.setup("b", b, env.req(ports=[f"{free_port()}:80"]))
    assert bridge.exists(env.bridge) and ping(None, sb["ip"], env)
    assert [p["container_id"] for p in nat.list_table(env.table)["ports"]] == ["b"]


def test_gc_rebuilds_a_vanished_table_under_live_containers(env):
    a = env.spawn()
    network.setup("a", a, env.req())
    run("nft", "delete", "table", "inet", env.table)        # as `nft flush ruleset` would
    rep = network.gc(["a"], env.state)["t"]
    assert rep["nft_rebuilt"] and rep["leases"] == {}
    assert nat.list_table(env.table)["masq_nets"] == [str(env.subnet)]


def test_the_hosts_own_namespace_is_refused(env):
    with pytest.raises(NetworkError, match="own network namespace"):
        network.setup("oops", os.getpid(), env.req())
    assert network.networks(env.state)[0]["leases"] == {}
    assert not bridge.exists(bridge.veth_name("oops"))


def test_dead_namespace_is_a_clear_error_and_leaves_nothing(env):
    p = subprocess.Popen(["true"])
    p.wait()
    with pytest.raises(NetworkError, match="alive"):
        network.setup("ghost", p.pid, env.req())
    assert network.networks(env.state)[0]["leases"] == {}


def test_every_netlink_call_is_traced(env, tmp_path):
    a = env.spawn()
    log = tmp_path / "trace.jsonl"
    trace.enable(str(log))
    try:
        network.setup("traced", a, env.req())
    finally:
        trace.close()
    actions = [json.loads(x)["action"] for x in log.read_text().splitlines()]
    for want in ("ipam reserve", "rtnetlink link add", "setns+socket", "rtnetlink addr add",
                 "rtnetlink route add", "network setup"):
        assert want in actions, (want, actions)
    veth = [json.loads(x) for x in log.read_text().splitlines()
            if json.loads(x)["action"] == "rtnetlink link add" and
            json.loads(x)["args"].get("kind") == "veth"][0]
    assert veth["args"]["peer"] == {"ifname": "eth0", "mtu": 1500}


def _until(cond, timeout: float = 10.0) -> None:
    """Poll cond until true or timeout: the kernel frees a dead netns (and so removes its
    veth pair) asynchronously, which on a loaded machine can take well over a second.
    The caller asserts the outcome afterwards."""
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)


# -- kill -9 in the middle of setup, then gc ----------------------------------------------------

CHILD = r"""
import os, signal, sys, json
from pycontainer import network
from pycontainer.network import netns, files
req, pid, where = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)
if where == "after-veth":      # veth pair made, eth0 not yet addressed, ports not published
    netns.netlink_socket = die
elif where == "after-nat":     # everything made but the /etc files; setup never returns
    files.write = die
network.setup("victim", pid, req, files_dir=sys.argv[4])
"""


@pytest.mark.parametrize("where", ["after-veth", "after-nat"])
def test_kill9_in_the_middle_of_setup_is_recovered_by_gc(env, tmp_path, where):
    keep, victim = env.spawn(), env.spawn()
    sk = network.setup("keeper", keep, env.req())
    req = env.req(ports=[f"{free_port()}:80"])
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(req), str(victim), where,
                        str(tmp_path / "f")], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    # what the killed setup left behind
    assert "victim" in network.networks(env.state)[0]["leases"].values()
    assert bridge.exists(bridge.veth_name("victim"))
    # While the victim's netns lives (it may be a container of another --root),
    # gc keeps its lease and veth: a plugged veth is proof of life.
    rep = network.gc(["keeper"], env.state)["t"]
    assert rep["leases"] == {} and rep["veths"] == []
    assert bridge.exists(bridge.veth_name("victim"))
    # Runtime.gc first deletes the crashed container, which ends its processes:
    # the netns goes, the kernel removes the veth pair, and gc reclaims the rest.
    proc = next(p for p in env.procs if p.pid == victim)
    proc.kill()
    proc.wait()
    _until(lambda: not bridge.exists(bridge.veth_name("victim")))
    rep = network.gc(["keeper"], env.state)["t"]
    assert list(rep["leases"].values()) == ["victim"]
    assert not bridge.exists(bridge.veth_name("victim"))
    assert list(network.networks(env.state)[0]["leases"].values()) == ["keeper"]
    assert nat.list_table(env.table) is None or nat.list_table(env.table)["ports"] == []
    assert ping(None, sk["ip"], env)                        # the live container is untouched


def test_kill9_at_random_moments_then_gc_leaves_nothing(env):
    import random
    rnd = random.Random(4)
    for i in range(4):
        victim = env.spawn()
        req = env.req(ports=[f"{free_port()}:80"])
        code = ("import sys, json; from pycontainer import network;"
                "network.setup('v', int(sys.argv[2]), json.loads(sys.argv[1]))")
        p = subprocess.Popen([sys.executable, "-c", code, json.dumps(req), str(victim)])
        time.sleep(rnd.uniform(0.05, 0.4))
        p.send_signal(signal.SIGKILL)
        p.wait()
        # the crashed container's processes end (Runtime.gc deletes it first): its netns
        # goes and the kernel removes the veth pair; then gc reclaims what is left
        proc = next(q for q in env.procs if q.pid == victim)
        proc.kill()
        proc.wait()
        _until(lambda: not bridge.exists(bridge.veth_name("v")))
        network.gc([], env.state)
        assert all(n["leases"] == {} for n in network.networks(env.state))
        assert not bridge.exists(bridge.veth_name("v"))
        t = nat.list_table(env.table)
        assert t is None or t["ports"] == []
    network.gc([], env.state, prune=True)
    assert not bridge.exists(env.bridge)
    assert nat.list_table(env.table) is None


def test_teardown_after_the_container_died_needs_no_pyroute2(env):
    a = env.spawn()
    saved = network.setup("dead", a, env.req())
    env.procs[-1].kill()
    env.procs[-1].wait()
    # the kernel frees the netns async
    _until(lambda: not os.path.exists(f"/sys/class/net/{saved['host_ifname']}"))
    code = ("import sys, json; from pycontainer import network;"
            "network.teardown('dead', json.loads(sys.argv[1]));"
            "print(any(m.startswith('pyroute2') for m in sys.modules))")
    assert run(sys.executable, "-c", code, json.dumps(saved)).stdout.strip() == "False"
    assert network.networks(env.state)[0]["leases"] == {}


# -- issue 18: the speed-ups keep "nothing left behind" ------------------------------------------

def test_bridged_sandbox_leaves_nothing_the_moment_it_returns(tmp_path):
    """The veth is deleted in a thread and the egress nft runs during create (issue 18): still,
    when sandbox() returns, its veth, lease and egress map element are gone."""
    import pycontainer
    from pycontainer.network.request import DEFAULT_STATE_DIR
    c = pycontainer.Client(root=str(tmp_path / "state"))
    try:
        r = c.containers.sandbox("busybox", ["true"], network_mode="bridge")
    finally:
        c.close()
    assert r.exit_code == 0
    veth = bridge.veth_name(r.id)
    assert not os.path.exists(f"/sys/class/net/{veth}")
    leases = os.path.join(DEFAULT_STATE_DIR, "pyc")
    for name in os.listdir(leases):
        if name[0].isdigit():
            with open(os.path.join(leases, name)) as f:
                assert f.read().strip() != r.id, name
    out = subprocess.run(["nft", "list", "map", "bridge", "pycontainer", "egress_veth"],
                         capture_output=True, text=True).stdout
    assert veth not in out


def test_the_same_id_plugs_in_again_at_once_after_teardown(env):
    """teardown() returns once the kernel has unlisted the veth (its RTM_DELLINK notice), not
    when the deleting call returns (13-36 ms later): the name and the address are free by
    then, so the same id can be set up again at once, and no trace of the old link is left."""
    a, b = env.spawn(), env.spawn()
    first = network.setup("again", a, env.req())
    network.teardown("again", first)
    assert not os.path.exists(f"/sys/class/net/{first['host_ifname']}")
    assert run("ip", "link", "show", first["host_ifname"], check=False).returncode != 0
    assert network.networks(env.state)[0]["leases"] == {}
    second = network.setup("again", b, env.req())          # same veth name, EEXIST if not free
    assert second["host_ifname"] == first["host_ifname"]
    assert ping(b, env.subnet[1], env)
    network.teardown("again", second)


def test_teardown_without_a_thread_deletes_the_veth_itself(env, monkeypatch):
    """When no thread can be started (RuntimeError: a process at its thread limit), teardown
    deletes the veth in the caller and still gives the address back."""
    import threading
    a = env.spawn()
    saved = network.setup("nothread", a, env.req())

    def refuse(self):
        raise RuntimeError("can't start new thread")
    monkeypatch.setattr(threading.Thread, "start", refuse)
    network.teardown("nothread", saved)
    monkeypatch.undo()
    assert not os.path.exists(f"/sys/class/net/{saved['host_ifname']}")
    assert network.networks(env.state)[0]["leases"] == {}


LINKWATCH = """
import os, socket, subprocess, sys, threading, time
from pycontainer.network import rtnl
sh = lambda c: subprocess.run(c, shell=True, check=True, capture_output=True)
sh("ip link add lw0 type veth peer name lw1 && ip link set lw0 up && ip link set lw1 up")
idx = socket.if_nametoindex("lw0")
watch = rtnl.LinkWatch(idx)
answered, answer = os.pipe()
def delete():
    with rtnl.Rtnl() as s:
        s.run(rtnl.link_del("lw0"))
    os.close(answer)
threading.Thread(target=delete).start()
seen = watch.wait(answered)        # True even if the answer won: the notice is queued first
free = not os.path.exists("/sys/class/net/lw0") or time.sleep(0.01) or \
    not os.path.exists("/sys/class/net/lw0")
sh("ip link add lw0 type veth peer name lw1")      # both names are free again
print(seen, free)
# an answer first (here: a pipe closed at once) ends the wait with False
r, w = os.pipe(); os.close(w)
other = rtnl.LinkWatch(socket.if_nametoindex("lw0"))
print(other.wait(r))
"""


def test_linkwatch_sees_the_unlisting_before_the_delete_is_answered():
    """rtnl.LinkWatch, in a network namespace of its own (unshare -n): it sees the RTM_DELLINK
    notice of a veth deleted by another thread, and the name is free then; the other fd (the
    delete's answer) ends the wait with False."""
    top = os.path.dirname(os.path.dirname(os.path.dirname(network.__file__)))
    out = run("unshare", "-n", sys.executable, "-c", f"import sys; sys.path.insert(0, {top!r})"
              + LINKWATCH).stdout.split()
    assert out == ["True", "True", "False"], out


def test_rtnl_loads_only_the_message_classes():
    """rtnl.load(): pyroute2's rtnetlink messages without its package __init__ (asyncio,
    IPRoute); ``from pyroute2 import IPRoute`` afterwards still gets the whole library."""
    code = ("import sys; from pycontainer.network import rtnl; rtnl.load();"
            "a = 'asyncio' in sys.modules or 'pyroute2.iproute' in sys.modules;"
            "from pyroute2 import IPRoute; print(a, IPRoute.__name__)")
    assert run(sys.executable, "-c", code).stdout.split() == ["False", "IPRoute"]


def test_the_init_mounts_etc_hosts_before_the_bridge_and_gets_its_address(tmp_path):
    """The veth is made while the init builds its rootfs (process/launcher.py, `early`): the
    init bind-mounts /etc/hosts before the address is reserved, and the file is filled in
    place, so the program still finds its own address there."""
    import pycontainer
    c = pycontainer.Client(root=str(tmp_path / "state"))
    try:
        r = c.containers.sandbox("busybox", ["sh", "-c", "ip -4 -o addr show eth0; cat /etc/hosts"],
                                 network_mode="bridge")
    finally:
        c.close()
    assert r.exit_code == 0, r.stderr
    out = r.stdout.decode()
    addr = out.split(" inet ", 1)[1].split("/", 1)[0]
    assert f"{addr}\t{r.id[:12]}" in out, out
