"""The IP allocator (pycontainer.network.ipam): CNI host-local's model on a temp dir.

No root, no netlink: leases are files, exclusion is flock(2).
"""

import ipaddress
import os
import signal

import pytest

from pycontainer.errors import NetworkError
from pycontainer.network.ipam import Ipam


def test_first_address_skips_network_and_gateway(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/24")
    assert str(ipam.gateway) == "10.89.0.1"
    assert str(ipam.reserve("a")) == "10.89.0.2"
    assert (tmp_path / "10.89.0.2").read_text() == "a\n"


def test_network_broadcast_and_gateway_are_never_leased(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/29")          # .0 .. .7
    got = {str(ipam.reserve(f"c{i}")) for i in range(ipam.size)}
    assert got == {f"10.89.0.{i}" for i in range(2, 7)}  # not .0 (net), .1 (gw), .7 (bcast)
    with pytest.raises(NetworkError, match="exhausted"):
        ipam.reserve("one-too-many")


def test_gateway_in_the_middle_is_excluded(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/29", gateway="10.89.0.4")
    got = {str(ipam.reserve(f"c{i}")) for i in range(ipam.size)}
    assert "10.89.0.4" not in got and len(got) == 5


def test_reserve_is_idempotent_per_container(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/24")
    assert ipam.reserve("web") == ipam.reserve("web")
    assert len(ipam.leases()) == 1


def test_leases_persist_across_instances(tmp_path):
    Ipam(str(tmp_path), "10.89.0.0/24").reserve("web")
    again = Ipam(str(tmp_path), "10.89.0.0/24")
    assert again.leases() == {"10.89.0.2": "web"}
    assert str(again.lookup("web")) == "10.89.0.2"
    assert str(again.reserve("db")) == "10.89.0.3"


def test_release_frees_and_allocation_is_round_robin(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/24")
    a = ipam.reserve("a")
    assert ipam.release("a") == [str(a)]
    assert ipam.release("a") == []                # tolerant: nothing left
    b = ipam.reserve("b")
    assert b != a                                 # a just-freed address is not reused at once
    assert ipam.leases() == {str(b): "b"}


def test_wraps_around_after_the_last_address(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/29")
    for i in range(5):
        ipam.reserve(f"c{i}")
    ipam.release("c0")                             # frees .2, last reserved is .6
    assert str(ipam.reserve("new")) == "10.89.0.2"


def test_specific_address(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/24")
    assert str(ipam.reserve("a", want="10.89.0.50")) == "10.89.0.50"
    with pytest.raises(NetworkError, match="already leased to 'a'"):
        ipam.reserve("b", want="10.89.0.50")
    for bad in ("10.89.0.1", "10.89.0.0", "10.89.0.255", "10.90.0.5", "nope"):
        with pytest.raises(NetworkError):
            ipam.reserve("b", want=bad)
    assert ipam.leases() == {"10.89.0.50": "a"}


def test_gc_reclaims_dead_containers_and_torn_writes(tmp_path):
    ipam = Ipam(str(tmp_path), "10.89.0.0/24")
    for cid in ("live", "dead1", "dead2"):
        ipam.reserve(cid)
    (tmp_path / ".tmp-999999").write_text("half")   # a writer killed mid-lease
    gone = ipam.gc(["live"])
    assert sorted(gone.values()) == ["dead1", "dead2"]
    assert list(ipam.leases().values()) == ["live"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_bad_input_is_a_clear_error(tmp_path):
    with pytest.raises(NetworkError, match="invalid subnet"):
        Ipam(str(tmp_path), "10.89.0.1/24")       # host bits set
    with pytest.raises(NetworkError, match="too small"):
        Ipam(str(tmp_path), "10.89.0.0/31")
    with pytest.raises(NetworkError, match="outside"):
        Ipam(str(tmp_path), "10.89.0.0/24", gateway="10.1.1.1")
    with pytest.raises(NetworkError, match="invalid container id"):
        Ipam(str(tmp_path), "10.89.0.0/24").reserve("../etc")


def test_unwritable_dir_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NetworkError, match="lease dir"):
        Ipam(str(tmp_path / "file" / "sub"), "10.89.0.0/24").reserve("a")


def _race(n, job):
    """Fork n processes, release them at once, collect one line from each."""
    go_r, go_w = os.pipe()
    res_r, res_w = os.pipe()
    pids = []
    for i in range(n):
        pid = os.fork()
        if pid == 0:                               # child: wait for the start, do the job
            code = 1
            try:
                os.close(go_w)
                os.read(go_r, 1)
                line = job(i)
                os.write(res_w, (line + "\n").encode())   # < PIPE_BUF: atomic
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    os.close(go_r)
    os.close(res_w)
    os.close(go_w)                                 # EOF on go_r: everyone starts now
    out = b""
    while chunk := os.read(res_r, 65536):
        out += chunk
    os.close(res_r)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    return out.decode().split(), codes


def test_200_concurrent_allocations_no_duplicate_no_leak(tmp_path):
    d = str(tmp_path)

    def job(i):
        return f"c{i}={Ipam(d, '10.89.0.0/24').reserve(f'c{i}')}"

    lines, codes = _race(200, job)
    assert codes == [0] * 200
    got = dict(x.split("=") for x in lines)
    assert len(got) == 200
    assert len(set(got.values())) == 200, "an address was handed out twice"
    ipam = Ipam(d, "10.89.0.0/24")
    assert ipam.leases() == {ip: cid for cid, ip in got.items()}   # each lease is the one reported
    assert not [n for n in os.listdir(d) if n.startswith(".tmp-")]

    lines, codes = _race(200, lambda i: ",".join(Ipam(d, "10.89.0.0/24").release(f"c{i}")) or "-")
    assert codes == [0] * 200
    assert ipam.leases() == {}, "a lease leaked"
    assert sorted(os.listdir(d)) == ["last_reserved_ip", "lock"]


def test_concurrent_exhaustion_is_exact(tmp_path):
    d = str(tmp_path)
    size = Ipam(d, "10.89.0.0/26").size            # 61

    def job(i):
        try:
            return str(Ipam(d, "10.89.0.0/26").reserve(f"c{i}"))
        except NetworkError as exc:
            assert "exhausted" in str(exc)
            return "FULL"

    lines, codes = _race(80, job)
    assert codes == [0] * 80
    ips = [x for x in lines if x != "FULL"]
    assert len(ips) == size == len(set(ips))
    assert lines.count("FULL") == 80 - size
    assert all(ipaddress.IPv4Address(x) in ipaddress.IPv4Network("10.89.0.0/26") for x in ips)


def test_a_killed_holder_does_not_block_others(tmp_path):
    """flock is dropped by the kernel when its holder dies, even by SIGKILL."""
    d = str(tmp_path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ipam = Ipam(d, "10.89.0.0/24")
        with ipam._locked():
            os.write(w, b"x")
            signal.pause()
        os._exit(0)
    os.read(r, 1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert str(Ipam(d, "10.89.0.0/24").reserve("after")) == "10.89.0.2"
