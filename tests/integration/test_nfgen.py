"""nfgen: the nftables ruleset generation, read with NFT_MSG_GETGEN (netlink), moves with
every committed transaction and only then. Only a table this test makes is touched."""

import os
import subprocess
import sys

import pytest

from pycontainer.network import nfgen

pytestmark = pytest.mark.root


def nft(*args, check=True):
    return subprocess.run(["nft", *args], capture_output=True, text=True, check=check)


def test_generation_moves_with_each_commit_and_only_then():
    table = f"pyc_gen_{os.getpid()}"
    g0 = nfgen.generation()
    assert nfgen.generation() == g0                           # reading changes nothing
    nft("add", "table", "inet", table)
    try:
        g1 = nfgen.generation()
        assert g1 > g0
        assert nft("add", "rule", "inet", table, "no_such_chain", "accept", check=False).returncode != 0
        assert nfgen.generation() == g1                       # a failed transaction is no change
        nft("add", "chain", "inet", table, "c")
        assert nfgen.generation() > g1
    finally:
        nft("delete", "table", "inet", table)
    boot, ino, gen = nfgen.stamp().split()
    with open("/proc/sys/kernel/random/boot_id") as f:
        assert boot == f.read().strip()
    assert int(ino) == os.stat("/proc/self/ns/net").st_ino and int(gen) > g1


def test_another_network_namespace_has_its_own_generation():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from pycontainer.network import nfgen; "
            "print(nfgen.stamp())")
    root = os.path.dirname(os.path.dirname(os.path.dirname(nfgen.__file__)))
    out = subprocess.run(["unshare", "-n", sys.executable, "-c", code, root], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    boot, ino, _gen = out.stdout.split()
    assert int(ino) != os.stat("/proc/self/ns/net").st_ino
