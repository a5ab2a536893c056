"""The operations the porcelain (``run IMAGE``, ``logs``, ``wait``, ``stop``) and the API share.

* forking ones, for a single-threaded process only (the CLI, or the API's
  helper, api/helper.py): ``op_create`` (``run -d``, ``containers.create``:
  the container under a monitor, detach.py), ``op_run`` (the foreground
  program on our stdio, with a timeout that kills its whole cgroup) and
  ``op_exec``;
* reading ones, for any process and thread: ``inspect`` (a docker-inspect
  record from the state and the container's directory; names and IDs resolve
  with ``inspect.resolve_id``), ``follow_logs``, ``wait`` and ``stop``.

Each one raises pycontainer's errors (``errors.py``), which are the API's too.
"""

from __future__ import annotations

import os
import signal
import time

from .. import containerdir as cd
from .. import trace
from ..errors import PyContainerError, WaitTimeout
from .config import build


def op_create(root: str, cid: str, o: dict, *, start: bool, remove: bool = False,
              image_root=None, pull: str = "missing", progress=None) -> dict:
    """Build and create under a monitor (``run -d``, ``create``, ``containers.create``);
    -> {id, pid}."""
    from .. import detach, lifecycle
    from ..container import Runtime
    shared = egress_shared(o)
    cdir, plan = build(cid, with_group(o, shared, remove=remove), image_root=image_root, pull=pull,
                       root=root, progress=progress)
    rt = Runtime(root)
    try:
        on_delete = cd.delete_plan() + egress_policy(cid, o, shared=shared)
        pid = detach.spawn(rt, cid, cdir, cdir, tty=bool(o.get("tty")), start=start, remove=remove,
                           interactive=bool(o.get("interactive")), overlay=plan,
                           on_delete=on_delete)
    except BaseException as exc:
        egress_undo(cid, o, shared)
        # docker keeps a Created one (126/127); create's --rm one goes when its start fails
        lifecycle.failed(root, cid, exc, remove=remove and start, record=start)
        from .. import exitcodes
        if start or not exitcodes.is_exec_error(exc):
            raise
        pid = 0         # docker's create does not look for the program: its start fails (1)
    if pid and (o.get("lifetime") or o.get("idle_timeout")):
        expire_after(root, cid, o.get("lifetime"), o.get("idle_timeout"))
    from .. import events
    events.container_o("create", cid, o)
    if start:
        events.container_o("start", cid, o)
    return {"id": cid, "pid": pid}


def expire_after(root: str, cid: str, lifetime: float | None, idle: float | None = None) -> None:
    """``lifetime=`` and ``idle_timeout=``: one small process of its own (double fork, new
    session: it outlives the caller, as the container does) kills the container's cgroup and
    removes it ``lifetime`` seconds from now, or once it has been idle for ``idle`` seconds,
    unless it is gone by then. Call from a single-threaded process.

    Idle means no activity, and activity is either of (sampled every ``idle/4`` seconds, at
    most 5: a container goes between ``idle`` and ``idle`` + that after its last activity):

    * the CPU time its cgroup used changed (cpuacct.usage, cpu.stat usage_usec: any process
      of it ran, an exec's included), or
    * an API call on it began or ended (exec_run, put_archive/get_archive, logs, attach: each
      touches ``activity`` in its directory, containerdir.touch).

    A stall of the machine longer than a sample's step restarts the count (``watch_idle``).

    A program that sleeps, or waits on a read with nothing coming, is idle.
    """
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 1 << 16)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _watch(root, cid, lifetime, idle)
        if os.path.isdir(os.path.join(root, cid)):
            from ..container import Runtime
            try:
                Runtime(root).delete(cid, force=True)
            except PyContainerError:
                pass
    finally:
        os._exit(0)


def _watch(root: str, cid: str, lifetime: float | None, idle: float | None) -> None:
    """Return when the container is due (lifetime over, or idle too long) or gone."""
    end = time.monotonic() + lifetime if lifetime else None
    if not idle:
        time.sleep(lifetime)
        return
    from ..container import Runtime
    try:
        record = Runtime(root).record(cid)
    except PyContainerError:
        return
    cdir, files = cd.of(record), cd.cpu_files(record)
    watch_idle(lambda: (cd.cpu_usage(files), cd.last_activity(cdir)),
               lambda: os.path.isdir(os.path.join(root, cid)), idle, end)


def watch_idle(sample, alive, idle: float, end: float | None = None, clock=time.monotonic,
               sleep=time.sleep) -> None:
    """Return once ``sample()`` (an activity mark) has stayed the same for ``idle`` seconds,
    at ``end`` (a ``clock()`` time), or once ``alive()`` is false. It is sampled every
    ``idle/4`` seconds (5 at most). A sample that comes more than two of those after the one
    before judges nothing and starts the count again: we were not scheduled meanwhile (a stall
    of the machine), and most likely neither was the container, so no new CPU time is no sign
    of idleness."""
    step = max(0.05, min(idle / 4, 5.0))
    seen, since = sample(), clock()
    last = since
    while True:
        due = since + idle if end is None else min(end, since + idle)
        sleep(max(0.0, min(step, due - clock())))
        now = clock()
        if not alive() or (end is not None and now >= end):
            return
        mark = sample()
        if mark != seen or now - last > 2 * step:
            seen, since = mark, now
        elif now - since >= idle:
            return
        last = now


def _policed(o: dict) -> bool:
    """Does a container with options ``o`` get an egress policy (bridged, not allow-all)?"""
    return o.get("network") in (None, "bridge") and \
        bool(o.get("egress", "allow-all") != "allow-all" or o.get("egress_allow"))


def egress_shared(o: dict):
    """The shared policy (network/egress.py ``Shared``) of a bridged container whose policy is
    deny-private without ``egress_allow`` (a sandbox's default), else None. Its ``group``
    goes into the network request (``build(..., with_group(o, shared))``): the host veth
    is made in it, and nothing of the policy is the container's."""
    if not _policed(o) or o.get("egress_allow"):
        return None
    from ..network import egress
    return egress.Shared(egress.resolvers(o.get("dns")))


def with_group(o: dict, shared, **kw) -> dict:
    """``o`` (and ``kw``) with the shared policy's interface group, for build()."""
    return dict(o, **kw) if shared is None else dict(o, egress_group=shared.group, **kw)


def egress_policy(cid: str, o: dict, started: list | None = None, shared=None) -> list[dict]:
    """Install the egress policy of a bridged container (network/egress.py); its delete-plan
    steps. ``shared`` (``egress_shared(o)``): check that the shared policy is in place,
    installing it if not; it has no delete-plan step. With ``started`` (a list) the nft
    process is left running and appended to it: the caller creates the container meanwhile
    and calls its ``wait()`` before the start."""
    if shared is not None:
        applying, steps = shared.start(), []
    elif _policed(o):
        from ..network import egress
        from ..network.bridge import veth_name
        applying = egress.start(cid, veth_name(cid), o.get("egress_allow") or (),
                                egress.resolvers(o.get("dns")))
        steps = [{"call": "pycontainer.network.egress:remove"}]
    else:
        return []
    if started is None:
        applying.wait()
    else:
        started.append(applying)
    return steps


def egress_undo(cid: str, o: dict, shared=None) -> None:
    """Undo egress_policy for a container that failed to be made (a shared policy stays)."""
    if shared is None and _policed(o):
        from ..network import egress
        from ..network.bridge import veth_name
        egress.remove_chain(cid, veth_name(cid))


def op_run(root: str, cid: str, o: dict, *, remove: bool, timeout: float | None = None,
           image_root=None, forward_signals: bool = False, pull: str = "missing",
           cancel_fd: int | None = None, log: bool = False, reclaimable: bool = False,
           progress=None, show=("stdout", "stderr")) -> dict:
    """Build, run in the foreground on our stdio, wait; -> {exit_code, oom_killed, timed_out, wall}.

    ``reclaimable``: kept at exit (the caller deletes it: a build step reads its upper dir
    first), yet marked as --rm's are, so that ``gc`` or ``ps`` delete it if the caller dies.

    ``timeout`` (seconds from start) kills every process of the container's
    cgroup. The exit status is also written to the container's exit.json,
    so a kept container reports it later. ``cancel_fd`` (the API's reply
    socket) readable or closed means the caller is gone: the cgroup is killed
    and the container removed, whatever ``remove`` says (it was the caller's).
    ``log``: the program's stdout and stderr pass through us into its json.log as well
    (relay.py), so ``logs`` shows them later, as docker's (the CLI's foreground run); not
    with ``--log-driver none``; ``show``: the streams copied to ours too (docker run -a).
    """
    from .. import lifecycle
    from ..container import Runtime
    shared = egress_shared(o)
    cdir, plan = build(cid, with_group(o, shared, remove=remove), image_root=image_root, pull=pull,
                       root=root, progress=progress)
    rt = Runtime(root)
    started: list = []                        # the egress policy's nft runs while we create
    relay = None
    try:
        if log and (o.get("log_opts") or {}).get("driver") != "none":
            from ..relay import Relay
            relay = Relay(os.path.join(cdir, cd.LOG), *cd.log_limits(o.get("log_opts") or {}),
                          show=show)
        on_delete = cd.delete_plan() + egress_policy(cid, o, started, shared)
        record = rt.create(cid, cdir, overlay=plan, on_delete=on_delete, autoremove=remove or reclaimable,
                           stdio=relay and relay.stdio)
        if relay is not None:
            relay.started()
        for applying in started:
            applying.wait()                   # in place before the program starts
    except BaseException as exc:
        if relay is not None:
            relay.close()
        for applying in started:
            try:
                applying.wait()               # done (or failed) before it is undone
            except Exception:  # noqa: BLE001 - undone below either way
                pass
        egress_undo(cid, o, shared)
        lifecycle.failed(root, cid, exc, remove=remove)     # docker keeps a Created one (126/127)
        raise
    timed_out = False
    try:
        files = cd.oom_files(record)
        oom_before = cd.oom_kills(files)
        pid = record["pid"]
        t0 = time.monotonic()
        old = {}
        if forward_signals:         # as docker's sig-proxy: our signals go to the program
            from ..signals import forward_signal
            for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                      signal.SIGUSR2):
                old[s] = signal.signal(s, lambda n, _f: forward_signal(pid, n))
        rt.start(cid)
        if not reclaimable:                   # (a build's step is no container of docker's)
            from .. import events
            events.container_o("create", cid, o)
            events.container_o("start", cid, o)
        pidfd = os.pidfd_open(pid)
        try:
            import select
            watch = [pidfd] if cancel_fd is None else [pidfd, cancel_fd]
            with trace.step("waitpid", "process.args", pid=pid, note="the program runs (pidfd, "
                            "the caller's socket, the timeout)"):
                while True:
                    left = None if timeout is None else max(0.0, timeout - (time.monotonic() - t0))
                    r, _, _ = select.select(watch + (relay.fds() if relay else []), [], [], left)
                    if relay is not None:
                        for fd in r:
                            if fd in relay.streams:
                                relay.copy(fd)
                    if not r or any(fd in watch for fd in r):
                        break
            if pidfd not in r:
                cancelled = bool(r)
                timed_out = not cancelled
                remove = remove or cancelled
                rt.cgroup_of(record).kill_all(signal.SIGKILL)
        finally:
            os.close(pidfd)
        from ..signals import wait_exit
        code = wait_exit(pid)
        if relay is not None:
            relay.drain()
        for s, h in old.items():
            signal.signal(s, h)
        wall = time.monotonic() - t0
        oom = cd.oom_kills(files) > oom_before
        cd.write_exit(os.path.join(cdir, cd.EXIT), code, oom)
        if not reclaimable:
            from .. import events
            events.container_o("die", cid, o, exitCode=code)
    except BaseException as exc:
        lifecycle.failed(root, cid, exc, remove=remove)
        raise
    finally:
        if relay is not None:
            relay.close()
    if remove:
        rt.delete(cid, force=True)
    else:
        lifecycle.release_network(root, cid)        # docker: a stopped container holds no IP/ports
    return {"id": cid, "exit_code": code, "oom_killed": oom, "timed_out": timed_out, "wall": wall}


def op_exec(root: str, cid: str, args, *, env=(), user=None, workdir=None, tty=False,
            interactive=False, privileged=False, detach=False) -> int:
    """``exec`` on our stdio; the exit status (0 once started with ``detach``)."""
    from ..container import Runtime
    rt = Runtime(root)
    caps = None
    if privileged:
        from ..capabilities import CAPS
        caps = sorted(CAPS)
    from ..lifecycle import exec_user
    user, gids = exec_user(root, cid, user)         # docker-py's user="postgres" too
    proc = rt.exec_process(cid, list(args), env=list(env), user=user, cwd=workdir, tty=False, caps=caps,
                           additional_gids=gids)
    if tty and not detach:
        from .. import terminal
        return terminal.exec_(rt, cid, proc, interactive=interactive)
    return rt.exec(cid, proc, detach=detach)


def inspect(root: str, cid: str) -> dict:
    """docker-inspect-shaped record of a container, from its state and its directory
    (inspect.py; containerconfig.py makes its Config and HostConfig)."""
    from .. import inspect as insp
    return complete(insp.record(root, cid))


def complete(rec: dict) -> dict:
    """``inspect.record``'s record with what the API's attrs add (HostConfig.Capabilities)."""
    from .. import inspect as insp
    cfg = insp.config_of(rec.get("Dir") or "")
    rec["HostConfig"]["Capabilities"] = (cfg.get("process") or {}).get("capabilities", {}).get("bounding", [])
    return rec


# --- stop / wait / logs -f ---------------------------------------------------------------

def stop_container(root: str, cid: str, timeout=None, sig=None) -> None:
    """docker stop (CLI and API): the container's own stop signal (--stop-signal, the image's
    STOPSIGNAL) and --stop-timeout unless given; its restart policy does not bring it back."""
    from .. import lifecycle
    from ..signals import parse_signal
    rec = inspect(root, cid)
    cfg = rec["Config"]
    lifecycle.mark_stopped(root, cid)
    if not os.path.isdir(os.path.join(root, cid)):
        return                                          # a directory only: nothing runs
    if timeout is None:
        timeout = cfg.get("StopTimeout")
        timeout = 10 if timeout is None else timeout
    signum = parse_signal(sig or cfg.get("StopSignal") or "SIGTERM")
    from .. import events
    events.container("kill", cid, rec, signal=int(signum))
    stop(root, cid, timeout if timeout >= 0 else 365 * 86400, sig=signum)
    events.container("stop", cid, rec)


def stop(root: str, cid: str, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """docker stop: ``sig`` (SIGTERM) to the init; after ``timeout`` SIGKILL to the cgroup."""
    from ..container import Runtime
    rt = Runtime(root)
    record = rt.record(cid)
    status = rt.state(cid)["status"]
    if status in ("stopped",):
        return
    cdir = cd.of(record)
    try:
        rt.kill(cid, sig)
        if status == "paused":      # as docker's: thawed, so that the stop signal lands
            rt.resume(cid)
    except PyContainerError:
        pass
    if _wait_stopped(rt, cid, cdir, timeout):
        return
    try:
        rt.kill(cid, signal.SIGKILL, all_processes=True)
    except PyContainerError:
        pass
    _wait_stopped(rt, cid, cdir, 10)


def _wait_stopped(rt, cid, cdir, timeout) -> bool:
    from .. import state as st
    deadline = time.monotonic() + timeout
    if cdir and cd.monitor_pid(cdir):
        return cd.wait_monitor(cdir, timeout)
    record = rt.record(cid)
    while time.monotonic() < deadline:
        if st.status_of(record) == st.STOPPED:
            return True
        time.sleep(0.02)
    return st.status_of(record) == st.STOPPED


def wait(root: str, cid: str, timeout: float | None = None) -> tuple[int, bool]:
    """Until the program exits; (exit status, OOM-killed). -1 when nobody saw the status."""
    from .. import state as st
    from ..container import Runtime
    record = Runtime(root).record(cid)
    cdir = cd.of(record)
    deadline = None if timeout is None else time.monotonic() + timeout
    if not (cdir and cd.monitor_pid(cdir)):
        while st.status_of(record) != st.STOPPED:
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeout(f"wait {cid}: timed out after {timeout}s")
            time.sleep(0.05)
        return _status(cd.read_exit(cdir) if cdir else None)
    # The monitor's exit.json. With --rm the monitor becomes `delete` right after writing it,
    # and the container's directory goes: we hold the directory's shared lock meanwhile, and
    # its removal waits for us to read exit.json (containerdir.hold_for_reading) should we run
    # late after the exit (a loaded machine, a stopped process; 5 s at most). The init's pidfd
    # wakes us as the program exits; exit.json (the monitor reaps and writes it at once) is
    # then looked for every millisecond.
    held = cd.hold_for_reading(cdir)
    init = _pidfd_of_init(record)
    try:
        while cd.read_exit(cdir) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WaitTimeout(f"wait {cid}: timed out after {timeout}s")
            step = 0.05 if left is None else min(0.05, left)
            if init is not None:
                import select
                if select.select([init], [], [], step)[0]:
                    os.close(init)
                    init = None
            elif cd.wait_monitor(cdir, 0.001):
                break
        return _status(cd.read_exit(cdir))
    finally:
        for fd in (init, held):
            if fd is not None:
                os.close(fd)


def exit_code(root: str, cid: str, cdir: str) -> int:
    """The program's exit status, for a caller that has held ``cdir`` since before the exit
    (``containerdir.hold_for_reading``: start -a, attach): ``wait``; or, once an --rm
    container's state is deleted, its exit.json, which the held directory keeps until we
    have read it. -1 when nobody saw the status."""
    from ..errors import ContainerNotFound
    try:
        code = wait(root, cid)[0]
    except ContainerNotFound:
        code = -1
    if code < 0:        # read mid-delete: state.json gone, its dir not yet (state.py's husk)
        code = _status(cd.read_exit(cdir))[0]
    return code


def _status(ex: dict | None) -> tuple[int, bool]:
    """(exit status, OOM-killed) from exit.json's record; (-1, False) without one."""
    if ex is None:
        return -1, False
    return ex["exit_code"], bool(ex.get("oom_killed"))


def _pidfd_of_init(record: dict) -> int | None:
    """A pidfd of the container's running init (None when it does not run: nothing to wait on)."""
    from .. import state as st
    if st.status_of(record) not in (st.RUNNING, st.PAUSED):
        return None
    try:
        fd = os.pidfd_open(record["pid"])
    except (OSError, KeyError):
        return None
    if st.status_of(record) not in (st.RUNNING, st.PAUSED):     # gone (and its pid reused) meanwhile
        os.close(fd)
        return None
    return fd


def follow_logs(root: str, cid: str, cdir: str, *, stdout=True, stderr=True, timestamps=False,
                tail=None, since=None, until=None, poll: float = 0.1):
    """Yield (stream, bytes) as the log grows, until its writer exits: the monitor of a
    detached container, or the process running a foreground one (relay.py), its creator.
    ``since``/``until``: Unix seconds, each line's time compared (api/logs.py)."""
    from .logs import chunks
    yield from chunks(cdir, stdout=stdout, stderr=stderr, timestamps=timestamps, tail=tail,
                      since=since, until=until, follow=True, poll=poll,
                      alive=lambda: bool(cd.monitor_pid(cdir)) or _creator_alive(root, cid))


def _creator_alive(root: str, cid: str) -> bool:
    """Whether the process that created ``cid`` (state.json's ``creator``) still runs."""
    from .. import state as st
    try:
        c = st.StateDir(root, cid).read().get("creator") or {}
    except PyContainerError:
        return False
    return bool(c.get("pid")) and st.proc_start_time(c["pid"]) == c.get("start")
