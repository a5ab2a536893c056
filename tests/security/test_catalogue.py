"""The rest of security.md's top 15 (S10 ★, S19 ★, S22 ★) and an index of all 15.

``test_top15_are_all_present`` fails if a test behind one of the fifteen
starred classes is deleted or renamed: each id maps to the test functions
that prove it, wherever they live (S09's layer tests are the image issue's,
in tests/unit/test_layers.py).
"""

import ast
import os
import subprocess
import time

import pytest

from conftest import ROOT, new_id

TOP15 = {
    "S01": ["tests/security/test_cve_2019_5736.py::test_CVE_2019_5736_created_init_is_out_of_reach_of_container_processes",
            "tests/security/test_cve_2019_5736.py::test_CVE_2019_5736_attacker_loop_during_exec",
            "tests/security/test_cve_2019_5736.py::test_CVE_2019_5736_shebang_proc_self_exe_on_run"],
    "S02": ["tests/security/test_cve_2024_21626_fds.py::test_CVE_2024_21626_cwd_proc_self_fd_N_never_reaches_the_host"],
    "S02b": ["tests/security/test_cve_2024_21626_fds.py::test_CVE_2024_21626_created_init_holds_no_host_fd"],
    "S03": ["tests/security/test_procfs_mount_races.py::test_CVE_2025_31133_dev_null_swapped_for_core_pattern",
            "tests/security/test_procfs_mount_races.py::test_CVE_2025_31133_missing_dev_null_is_not_a_silent_skip"],
    "S04": ["tests/security/test_procfs_mount_races.py::test_CVE_2025_52565_console_from_a_swapped_dev_pts"],
    "S05": ["tests/security/test_procfs_mount_races.py::test_CVE_2019_19921_symlinked_proc_or_sys_is_refused",
            "tests/security/test_procfs_mount_races.py::test_CVE_2025_52881_mounts_over_procfs_are_refused"],
    "S07": ["tests/security/test_procfs_mount_races.py::test_CVE_2021_30465_bind_destination_through_a_symlink_lands_in_the_rootfs"],
    "S09": ["tests/unit/test_layers.py::test_01_dotdot_traversal_refused",
            "tests/unit/test_layers.py::test_04_symlink_planted_by_earlier_layer_refused_when_flattening",
            "tests/unit/test_layers.py::test_07_hardlink_to_symlink_refused",
            "tests/unit/test_layers.py::test_11_whiteout_of_symlink_deletes_the_link_not_its_target",
            "tests/unit/test_layers.py::test_13_entry_count_cap"],
    "S10": ["tests/security/test_catalogue.py::test_S10_path_traversal_ids_create_nothing"],
    "S12+S13": ["tests/security/test_capabilities.py::test_S12_default_set_is_dockers_14",
                "tests/security/test_capabilities.py::test_S13_setuid_root_binary_with_and_without_no_new_privs"],
    "S14": ["tests/security/test_seccomp.py::test_S14_docker_default_profile_blocks_escapes",
            "tests/security/test_seccomp.py::test_S14_seccomp_mode_2_seen_from_the_host"],
    "S15+S16": ["tests/security/test_procfs_mount_races.py::test_S15_default_masks_and_read_only_procfs",
                "tests/security/test_devices.py::test_S16_dev_has_exactly_the_oci_defaults",
                "tests/security/test_devices.py::test_S16_mknod_of_a_host_disk_cannot_be_opened"],
    "S19": ["tests/security/test_catalogue.py::test_S19_pid1_signals_and_exit_codes",
            "tests/security/test_catalogue.py::test_S19_init_reaps_zombies"],
    "S20+S21": ["tests/security/test_resource_exhaustion.py::test_S20_fork_bomb_stops_at_pids_limit",
                "tests/security/test_resource_exhaustion.py::test_S21_memory_hog_is_oom_killed_in_its_own_cgroup"],
    "S22": ["tests/security/test_catalogue.py::test_S22_named_crash_points",
            "tests/integration/test_errors.py::test_kill_9_during_create_is_recoverable",
            "tests/security/test_catalogue.py::test_S22_many_runs_leave_nothing"],
}


# Classes beyond the fifteen (security.md ids), held to the same rule.
OTHERS = {
    "S06": ["tests/security/test_cve_2026_41579_dev_symlink.py::test_CVE_2026_41579_dev_symlink_to_a_host_dir",
            "tests/security/test_cve_2026_41579_dev_symlink.py::test_CVE_2026_41579_dev_symlink_with_a_terminal",
            "tests/security/test_cve_2026_41579_dev_symlink.py::test_CVE_2026_41579_image_dev_entries_pointing_at_the_host"],
    "S11+S14 exec": ["tests/security/test_exec_parity.py::test_every_runc_exec_form_has_the_inits_defences",
                     "tests/security/test_exec_parity.py::test_image_container_exec_forms_match_the_init"],
    "S14 tail": ["tests/security/test_seccomp_tail.py::test_run_exits_with_the_programs_status",
                 "tests/security/test_seccomp_tail.py::test_create_start_runs_under_the_filter",
                 "tests/security/test_seccomp_tail.py::test_exec_exits_with_the_programs_status",
                 "tests/security/test_seccomp_tail.py::test_dmz_needs_only_execve_and_exit_group"],
}


def _functions(path: str) -> set[str]:
    with open(os.path.join(ROOT, path)) as f:
        tree = ast.parse(f.read())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_top15_are_all_present():
    assert len(TOP15) == 15
    missing = []
    for sid, tests in TOP15.items():
        for t in tests:
            path, name = t.split("::")
            if not os.path.exists(os.path.join(ROOT, path)) or name not in _functions(path):
                missing.append(f"{sid}: {t}")
    assert not missing, missing


def test_other_classes_are_all_present():
    missing = [f"{sid}: {t}" for sid, tests in OTHERS.items() for t in tests
               if not os.path.exists(os.path.join(ROOT, t.split("::")[0]))
               or t.split("::")[1] not in _functions(t.split("::")[0])]
    assert not missing, missing


# --- S10 -------------------------------------------------------------------------------------

@pytest.mark.root
@pytest.mark.parametrize("bad", ["..", ".", "../x", "a/b", "../../tmp/pyc-s10", "", "a\x00b", "é",
                                 "x" * 1025])
def test_S10_path_traversal_ids_create_nothing(cli, bundle, tmp_path, leakcheck, bad):
    p = cli.create(bad, bundle.path) if "\x00" not in bad else \
        subprocess.CompletedProcess([], 1, "", "invalid container ID\n")
    assert p.returncode != 0
    assert "invalid container ID" in p.stderr or "ID" in p.stderr, p.stderr
    assert not os.path.exists("/tmp/pyc-s10")
    assert not os.path.isdir(cli.root) or os.listdir(cli.root) == []


def test_S10_validate_id_unit():
    from pycontainer.errors import PyContainerError
    from pycontainer.state import validate_id
    for bad in ("", ".", "..", "../x", "a/b", "a\x00b", "é"):
        with pytest.raises(PyContainerError):
            validate_id(bad)
    assert validate_id("abc-1.2_3+x") == "abc-1.2_3+x"


# --- S19 -------------------------------------------------------------------------------------

@pytest.mark.root
def test_S19_pid1_signals_and_exit_codes(cli, bundle, leakcheck):
    """A pid-1 `sleep` ignores SIGTERM (no handler: the kernel drops it); KILL gives 137;
    exit statuses propagate through `run`."""
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    assert cli("kill", cid, "TERM").returncode == 0
    time.sleep(1)
    assert cli.state(cid)["status"] == "running"
    assert cli("kill", cid, "KILL").returncode == 0
    for _ in range(100):
        if cli.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert cli.state(cid)["status"] == "stopped"
    cli("delete", cid)
    # pid 1 cannot be killed from inside its namespace, not even by SIGKILL: a child can
    for script, code in (("exit 42", 42), ("kill -KILL $$; exit 3", 3), ("sh -c 'kill -KILL $$'; exit $?", 137),
                         ("trap 'exit 143' TERM; kill -TERM $$; sleep 5", 143)):
        bundle.args("sh", "-c", script)
        assert cli("run", "-b", bundle.path, new_id()).returncode == code, script


@pytest.mark.root
def test_S19_init_reaps_zombies(cli, bundle, leakcheck):
    """Orphans are reparented to pid 1; a shell as pid 1 reaps them (docker's --init = tini
    is the porcelain's business: without it, pid 1 must be a reaper)."""
    bundle.args("sh", "-c", "for i in $(seq 50); do (sleep 0 &) ; done; sleep 1; "
                "grep -l '^State:.Z' /proc/[0-9]*/status 2>/dev/null | wc -l")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout.strip() == "0", (p.stdout, p.stderr)


# --- S22 -------------------------------------------------------------------------------------

def _until(cond, timeout: float = 10.0) -> None:
    """Poll cond until true or timeout (a loaded host can take seconds to reap a process or
    free a netns); the caller asserts the outcome afterwards."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except OSError:                 # /proc/PID vanished between two looks
            pass
        time.sleep(0.02)


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.root
def test_S22_many_runs_leave_nothing(cli, bundle, leakcheck):
    """S22b: 30 runs; the test process's fds, the host's mounts and cgroups (leakcheck) and
    the state root are as before."""
    bundle.args("true")
    fds = _fd_count()
    for _ in range(30):
        assert cli("run", "-b", bundle.path, new_id()).returncode == 0
    assert _fd_count() == fds


@pytest.mark.root
@pytest.mark.parametrize("point", ["before-record", "after-cgroup", "after-fork", "before-network",
                                   "after-network", "after-pivot"])
@pytest.mark.parametrize("recover", ["delete --force", "gc"])
def test_S22_named_crash_points(cli, bundle, leakcheck, tmp_path, point, recover):
    """S22a: kill -9 of the runtime at each named point of create (PYCONTAINER_TEST_CRASH_AT),
    with bridge networking; `delete --force` or `gc` then leaves no process, cgroup, mount,
    state dir, veth or lease (leakcheck + the checks below)."""
    import json as _json
    import os as _os
    from pycontainer.network import bridge as _bridge
    net = {"mode": "bridge", "network": "s22", "bridge": "pycs22", "subnet": "10.89.222.0/24",
           "state_dir": str(tmp_path / "net"), "nft_table": "pycs22", "ports": ["127.0.0.1:28222:80"]}
    bundle.config.setdefault("annotations", {})["org.pycontainer.network"] = _json.dumps(net)
    bundle.args("sleep", "30")
    cid = new_id()
    env = dict(_os.environ, PYCONTAINER_TEST_CRASH_AT=point)
    p = cli.create(cid, bundle.path, env=env)
    assert p.returncode == -9, (p.returncode, p.stderr)
    state_json = _os.path.join(cli.root, cid, "state.json")
    # before-record: no state.json yet, a husk (the state dir) and the forked init
    assert _os.path.exists(state_json) == (point != "before-record")
    record = _json.load(open(state_json)) if point != "before-record" else {}
    pid = record.get("pid") or 0
    if recover == "gc":
        assert cli("gc").returncode == 0
    else:
        assert cli("delete", "--force", cid).returncode == 0
    assert cli("state", cid).returncode != 0
    if pid:
        _until(lambda: not _os.path.exists(f"/proc/{pid}") or
               open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z")
        assert not _os.path.exists(f"/proc/{pid}/ns") or \
            open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z"
    # the kernel frees the dead netns, and with it the veth pair, asynchronously
    _until(lambda: not _bridge.exists(_bridge.veth_name(cid)))
    assert not _bridge.exists(_bridge.veth_name(cid))
    # no process of that create is left (the runtime's forks carry its command line; a child
    # waiting for GO reads EOF when the runtime dies, and exits)
    def mine():
        out = []
        for d in _os.listdir("/proc"):
            try:
                if d.isdigit() and cid.encode() in open(f"/proc/{d}/cmdline", "rb").read():
                    out.append(d)
            except OSError:
                pass
        return out
    _until(lambda: not mine())
    assert mine() == []
    from pycontainer import network as _network
    nets = _network.networks(net["state_dir"])
    assert all(cid not in n["leases"].values() for n in nets)
    from pycontainer.network import nat as _nat
    table = _nat.list_table("pycs22")
    assert table is None or all(p["container_id"] != cid for p in table["ports"])
    _network.gc([], net["state_dir"], prune=True)
