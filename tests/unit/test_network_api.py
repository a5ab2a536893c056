"""pycontainer.network without root: modes, requests, ports, files, nft batches, names."""

import json
import socket
import subprocess
import sys

import pytest

from pycontainer import network
from pycontainer.errors import NetworkError
from pycontainer.network import bridge, files, nat
from pycontainer.network import Mode, parse_mode, parse_request


@pytest.mark.parametrize("text,mode", [
    ("none", Mode("none")), ("host", Mode("host")), ("bridge", Mode("bridge")),
    ("container:web", Mode("container", "web")),
    ("ns:/run/netns/x", Mode("netns", "/run/netns/x")),
    ("/proc/42/ns/net", Mode("netns", "/proc/42/ns/net")),
])
def test_parse_mode(text, mode):
    assert parse_mode(text) == mode


@pytest.mark.parametrize("bad", ["", "bridged", "container:", "ns:relative", "/a/../b", "HOST", None])
def test_unknown_mode_is_a_clear_error(bad):
    with pytest.raises(NetworkError, match="unknown network mode"):
        parse_mode(bad)


def test_request_from_mode_string_json_and_dict():
    assert parse_request("none")["mode"] == Mode("none")
    req = parse_request('{"mode": "bridge", "ports": ["8080:80"], "hostname": "web"}')
    assert req["ports"] == [{"host_ip": "", "host_port": 8080, "container_port": 80, "protocol": "tcp"}]
    assert req["bridge"] == "pyc0" and req["subnet"] == "10.89.0.0/24"
    assert parse_request(req) == req                       # already parsed: unchanged
    again = json.loads(json.dumps(req))                    # as stored in a state file
    assert parse_request(again) == req


def test_default_subnet_avoids_podman_and_docker():
    import ipaddress
    ours = ipaddress.IPv4Network(network.DEFAULTS["subnet"])
    for other in ("10.88.0.0/16", "172.17.0.0/16"):
        assert not ours.overlaps(ipaddress.IPv4Network(other))


@pytest.mark.parametrize("bad,msg", [
    ('{"mode": ', "malformed JSON"),
    ({"mode": "bridge", "colour": "red"}, "unknown network option"),
    ({"mode": "none", "ports": ["80:80"]}, "only be published in bridge mode"),
    ({"mode": "bridge", "bridge": "a-much-too-long-bridge"}, "invalid bridge name"),
    ({"mode": "bridge", "network": "../x"}, "invalid network name"),
    (42, "mode string or an object"),
])
def test_bad_requests(bad, msg):
    with pytest.raises(NetworkError, match=msg):
        parse_request(bad)


def test_annotation_and_namespace_action():
    assert network.from_annotations({}) is None
    assert network.from_annotations(None) is None
    req = network.from_annotations({network.ANNOTATION: "container:db"})
    assert network.namespace_action(req) == ("join", None)
    assert network.namespace_action(parse_request("ns:/run/netns/a")) == ("join", "/run/netns/a")
    assert network.namespace_action(parse_request("host")) == ("host", None)
    assert network.namespace_action(parse_request("bridge")) == ("new", None)
    assert network.namespace_action(parse_request("none")) == ("new", None)


@pytest.mark.parametrize("text,want", [
    ("8080:80", ("", 8080, 80, "tcp")),
    ("127.0.0.1:8080:80/udp", ("127.0.0.1", 8080, 80, "udp")),
    ("53:53/UDP", ("", 53, 53, "udp")),
])
def test_parse_port(text, want):
    p = nat.parse_port(text)
    assert (p["host_ip"], p["host_port"], p["container_port"], p["protocol"]) == want


def test_parse_port_dict_forms():
    assert nat.parse_port({"hostPort": 8080, "containerPort": 80})["host_port"] == 8080
    assert nat.parse_port({"host_port": "81", "container_port": 80, "protocol": "udp"})["protocol"] == "udp"


def test_dockers_any_port_forms_only_for_the_docker_layer():
    assert nat.parse_port("80", any_port=True)["host_port"] == 0
    assert nat.parse_port("127.0.0.1::81/udp", any_port=True) == \
        {"host_ip": "127.0.0.1", "host_port": 0, "container_port": 81, "protocol": "udp"}
    assert nat.parse_port("0:80", any_port=True)["host_port"] == 0
    for text in ("80", "127.0.0.1::80", "0:80"):       # a bundle's annotation: a real port only
        with pytest.raises(NetworkError):
            nat.parse_port(text)


@pytest.mark.parametrize("bad", ["80", "abc", "0:80", "70000:80", "8080:0", "8080:80/sctp",
                                 "[::1]:8080:80", "1.2.3:8080:80", "8080:80:90"])
def test_malformed_port_is_a_clear_error(bad):
    with pytest.raises(NetworkError, match="port"):
        nat.parse_port(bad)


def test_taken_host_port_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(NetworkError, match="is taken"):
            nat.check_free([nat.parse_port(f"127.0.0.1:{port}:80")])
    with pytest.raises(NetworkError, match="published twice"):
        nat.check_free([nat.parse_port("18555:80"), nat.parse_port("18555:81")])


def test_nft_batch_only_names_its_own_table():
    cmds = nat.skeleton("pyctest")
    tables = set()
    for c in cmds:
        (verb, obj), = c.items()
        (kind, body), = obj.items()
        tables.add(body.get("table") or body.get("name") if kind == "table" else body["table"])
        assert body["family"] == "inet"
    assert tables == {"pyctest"}
    # the fixed rules never reference another table and are flushed before being re-added
    assert [c for c in cmds if "flush" in c]
    assert "@pub_any_addr" in json.dumps(cmds) and "masquerade" in json.dumps(cmds)


def test_port_elements_carry_the_container_id():
    elems = nat._port_elems("t", "web", "10.89.0.2", nat.parse_port("127.0.0.1:8080:80"))
    assert [e["element"]["name"] for e in elems] == ["pub_ip_addr", "pub_ip_port"]
    key, val = elems[0]["element"]["elem"][0]
    assert key["elem"] == {"val": {"concat": ["127.0.0.1", "tcp", 8080]}, "comment": "pyc:web"}
    assert val == "10.89.0.2" and elems[1]["element"]["elem"][0][1] == 80


def test_veth_name_fits_ifnamsiz_and_is_stable():
    a = bridge.veth_name("web")
    assert a == bridge.veth_name("web") != bridge.veth_name("web2")
    assert a.startswith("pycv") and len(a) == 15
    assert len(bridge.veth_name("x" * 1000)) == 15


def test_files(tmp_path):
    assert files.hosts("web", "10.89.0.2").splitlines()[-1] == "10.89.0.2\tweb"
    assert "localhost web" in files.hosts("web")
    assert files.hostname("web") == "web\n"
    host = tmp_path / "resolv.conf"
    host.write_text("# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch corp\noptions edns0\n")
    text = files.resolv_conf(host_file=str(host))
    assert "127.0.0.53" not in text and "nameserver 10.0.0.2" in text
    assert "search corp" in text and "options edns0" in text
    assert "127.0.0.53" in files.resolv_conf(host_file=str(host), keep_loopback=True)
    assert files.resolv_conf(["10.1.1.1"], ["x"], host_file=str(host)) == "nameserver 10.1.1.1\nsearch x\n"
    made = files.write(str(tmp_path / "f"), {"/etc/hosts": "h\n", "/etc/hostname": "n\n"})
    assert made == {"/etc/hosts": str(tmp_path / "f/hosts"), "/etc/hostname": str(tmp_path / "f/hostname")}
    assert (tmp_path / "f/hosts").read_text() == "h\n"


def test_setup_files_only_modes(tmp_path):
    saved = network.setup("c1", None, {"mode": "host", "hostname": "h1"}, files_dir=str(tmp_path))
    assert saved["mode"] == "host"
    assert (tmp_path / "hostname").read_text() == "h1\n"
    network.teardown("c1", saved)
    assert not (tmp_path / "hostname").exists()
    assert network.setup("c2", None, "container:c1") == {"mode": "container", "ref": "c1"}
    network.teardown("c2", None)                            # tolerant of nothing saved


def test_importing_the_package_does_not_import_pyroute2():
    code = ("import sys, pycontainer.network, pycontainer.network.bridge, pycontainer.network.cli;"
            "print(any(m.startswith('pyroute2') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_preload_imports_pyroute2_in_the_background_for_bridge_only():
    code = ("import sys, time; from pycontainer import network;"
            "network.preload(network.parse_request('none')); time.sleep(0.3);"
            "a = 'pyroute2' in sys.modules;"
            "network.preload(network.parse_request('bridge'));"
            "[time.sleep(0.05) for _ in range(100) if 'pyroute2.netlink.rtnl.rtmsg' not in sys.modules];"
            "print(a, 'pyroute2.netlink.rtnl.rtmsg' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_cli_ls_and_gc(tmp_path):
    from click.testing import CliRunner

    from pycontainer.network.cli import network as group
    from pycontainer.network.ipam import Ipam
    d = tmp_path / "t"
    d.mkdir()
    (d / "network.json").write_text(json.dumps({"name": "t", "bridge": "pycx0", "subnet": "10.89.9.0/24",
                                                "gateway": "10.89.9.1", "mtu": 1500,
                                                "nft_table": "pycnotthere"}))
    Ipam(str(d), "10.89.9.0/24").reserve("web")
    r = CliRunner().invoke(group, ["ls", "--state-dir", str(tmp_path)])
    assert r.exit_code == 0 and "10.89.9.0/24" in r.output and r.output.split()[-1] == "1"
    r = CliRunner().invoke(group, ["ls", "--json", "--state-dir", str(tmp_path)])
    assert json.loads(r.output)[0]["leases"] == {"10.89.9.2": "web"}
    r = CliRunner().invoke(group, ["inspect", "nope", "--state-dir", str(tmp_path)])
    assert r.exit_code != 0 and "no network 'nope'" in r.output


def test_plan_from_annotation_as_the_runtime_holds_it(tmp_path):
    plan = network.for_annotation('{"mode": "host", "hostname": "h"}')
    assert plan.mode == Mode("host") and plan.namespace_action() == ("host", None)
    saved = plan.setup("c1", None, files_dir=str(tmp_path))
    assert (tmp_path / "hostname").read_text() == "h\n"
    plan.teardown("c1", saved)
    assert not (tmp_path / "hostname").exists()
    with pytest.raises(NetworkError, match="unknown network mode"):
        network.for_annotation("bridged")


def test_shared_egress_policy_group_and_listing(monkeypatch):
    """egress.Shared: the group (and chain) follow the rules, in 0x40000000-0x7fffffff; a listing
    shows it in place only with its map element and the dispatch rule in both base chains."""
    from pycontainer.network import egress
    monkeypatch.setattr(egress, "host_addresses", lambda: ["192.0.2.7"])
    a, b = egress.Shared(["10.0.0.53"]), egress.Shared(["10.0.0.53"])
    c = egress.Shared(["10.0.0.54"])
    assert a.group == b.group != c.group and a.chain == f"eg_shared_{a.group:08x}"
    assert all(0x40000000 <= s.group <= 0x7FFFFFFF for s in (a, c))
    assert "ip daddr 10.0.0.53 udp dport 53 accept" in a.rules and not any("10.0.0.54" in r for r in a.rules)
    chain = "\tchain {} {{\n\t\ttype filter hook input priority filter; policy accept;\n{}\t}}\n"
    wired = "\t\tiifgroup vmap @egress_group\n"
    elem = f"\tmap egress_group {{\n\t\telements = {{ {a.group} : jump {a.chain} }}\n\t}}\n"
    rules = "".join(f"\t\t{r}\n" for r in a.rules)
    own = f"\tchain {a.chain} {{\n{rules}\t}}\n"
    full = "table bridge pycontainer {\n" + elem + chain.format("egress_in", wired) + \
        chain.format("egress_fwd", wired) + own + "}\n"
    assert a.in_place(full) and not c.in_place(full)
    assert not a.in_place(full.replace(own, f"\tchain {a.chain} {{\n\t}}\n"))      # flushed chain
    assert not a.in_place(full.replace(own, ""))
    assert not a.in_place(full.replace(chain.format("egress_fwd", wired), chain.format("egress_fwd", "")))
    assert not a.in_place(full.replace(elem, ""))
    assert not a.in_place("")


def test_shared_egress_policy_lists_only_when_the_ruleset_changed(monkeypatch, tmp_path):
    """egress.Shared runs nft (a listing) only when the ruleset's stamp (boot, netns,
    generation: nfgen.py) differs from the one at which its chain was last found in place;
    a listing that shows it missing installs it and remembers nothing."""
    from pycontainer.network import egress, nat, nfgen
    monkeypatch.setattr(egress, "host_addresses", lambda: ["192.0.2.7"])
    monkeypatch.setattr(egress.Shared, "_seen_path", lambda self: str(tmp_path / "seen"))
    stamp = ["boot 1 5"]
    monkeypatch.setattr(nfgen, "stamp", lambda: stamp[0])
    listed, installed, listing = [], [], [""]

    class FakeNft:
        def __init__(self, script, what):
            listed.append(script)

        def result(self):
            return listing[0]
    monkeypatch.setattr(nat, "Nft", FakeNft)
    monkeypatch.setattr(egress.Shared, "install", lambda self: installed.append(self.chain))
    monkeypatch.setattr(egress.Shared, "in_place", lambda self, text: text == "whole")

    def sandbox():
        s = egress.Shared(["10.0.0.53"])
        s.start()
        s.wait()
    sandbox()                                   # nothing seen yet: list; missing: install
    assert len(listed) == 1 and len(installed) == 1 and not (tmp_path / "seen").exists()
    listing[0] = "whole"
    sandbox()                                   # in place: remembered at the stamp read first
    assert len(listed) == 2 and (tmp_path / "seen").read_text() == "boot 1 5\n"
    sandbox()
    sandbox()                                   # unchanged ruleset: no nft at all
    assert len(listed) == 2 and len(installed) == 1
    stamp[0] = "boot 1 6"                       # someone committed a transaction
    sandbox()
    assert len(listed) == 3

    def no_answer():
        raise OSError(1, "EPERM")
    monkeypatch.setattr(nfgen, "stamp", no_answer)
    sandbox()                                   # no generation: list every time
    sandbox()
    assert len(listed) == 5 and (tmp_path / "seen").read_text() == "boot 1 6\n"
