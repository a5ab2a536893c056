"""Docker's container lifecycle on top of the OCI one: Created after a failed start, start again.

The OCI lifecycle (``container.py``) ends at ``delete``; docker's goes on::

    run ──▶ running ──(exit)──▶ exited ──start──▶ running      (same ID, same writable layer)
     └─(program missing: 127 / not executable: 126)──▶ created ──start──▶ ...
                                                        └── rm ──▶ (gone)

``start`` of an exited container deletes the runtime state (cgroup, network
lease and published ports, which a stopped container gives back as docker's
does) but keeps the container's directory (``Runtime.delete(keep_dir=True)``),
then creates and starts it again under a new monitor from the same
config.json and overlay plan (the annotation ``org.pycontainer.overlay``
that ``api.config.build`` writes): the upper dir, hence every file the program
wrote, survives. A container whose program could not be started is kept as
a directory with ``exit.json`` saying ``"started": false`` (docker shows it
as ``Created``), unless it was run with ``--rm``.

Read: docker's "docker start", "docker restart" and "docker run --rm"
reference pages; ``inspect.py`` for how a directory-only container is shown.
"""

from __future__ import annotations

import os
import time

from . import inspect as insp
from .errors import PyContainerError


STOPPED_BY_USER = "stopped-by-user"
RESTART = "restart.json"
STARTED = "started.json"      # {"started_at", "finished_at"}: the last start, the exit before it


def write_exit(cdir: str, record: dict) -> None:
    """exit.json with docker-layer keys (``started``, ``error``, ``restarting``): rename-atomic."""
    from . import atomicfile
    atomicfile.write_json(os.path.join(cdir, "exit.json"), record)


def not_started(cdir: str, exc: BaseException) -> int:
    """Record that the program could not be started; -> docker's exit status (126/127)."""
    from . import containerdir, exitcodes
    code = exitcodes.for_error(exc)
    write_exit(cdir, {"exit_code": code, "signal": 0, "oom_killed": False, "started": False,
                      "error": str(exc), "finished_at": containerdir.rfc3339(time.time_ns())})
    return code


def remove_dir(cid: str) -> None:
    """Remove a container's directory and release its image hold (tolerant, idempotent)."""
    from . import containerdir
    containerdir.remove(cid)


def failed(root: str, cid: str, exc: BaseException, *, remove: bool, existing: bool = False,
           record: bool = True) -> None:
    """After ``run``/``create`` raised ``exc``: keep a Created container when the program
    could not be started (docker does) unless ``remove``; otherwise leave nothing.
    ``existing``: a ``start`` of a container that existed before: never remove it.
    ``record``: say so in exit.json (docker's create has not looked yet: its start will)."""
    from . import exitcodes
    from .container import Runtime
    cdir = os.path.join(insp.containers_dir(), cid)
    keep = (existing or exitcodes.is_exec_error(exc) and not remove) and os.path.isdir(cdir)
    if os.path.isdir(os.path.join(root, cid)):
        try:
            Runtime(root).delete(cid, force=True, keep_dir=keep)
        except PyContainerError:
            pass
    if keep:
        if record:
            not_started(cdir, exc)
    else:
        remove_dir(cid)


def start(root: str, cid: str, *, by_user: bool = True, before_start=None) -> int:
    """docker start: (re)create and start the container under a monitor; -> the init's pid.
    ``by_user``: a user's start, which clears a user's stop (the restart policy's does not).
    ``before_start()``: called once the container's monitor listens and before its program
    runs (start -a connects to the attach socket there); for a running one, at once."""
    from . import containerdir, detach
    from . import state as st
    from .container import Runtime
    from .errors import InvalidState
    from .image.overlay import OverlayPlan
    rt = Runtime(root)
    cdir = insp.owned_dir(root, cid)
    if os.path.isdir(os.path.join(root, cid)):
        status = rt.state(cid)["status"]
        if status == st.PAUSED:                         # docker's words
            raise InvalidState("cannot start a paused container, try unpause instead")
        if status == st.RUNNING:
            if before_start is not None:
                before_start()
            return rt.state(cid)["pid"]                    # docker: starting a running one is a no-op
        if status == st.CREATED:                        # docker create's, or a runc create
            if before_start is not None:
                before_start()
            rt.start(cid)
            if cdir:
                _mark_started(cdir, None)
                _event_start(root, cid)
                started(root, cid, insp.options_of(insp.config_of(cdir)).get("user_network"))
            return rt.state(cid)["pid"]
        cdir = (rt.state(cid).get("annotations") or {}).get(insp.ANN_DIR) or cdir
        if not cdir:
            raise InvalidState(f"start {cid}: not a container made from an image (use runc's "
                               "create/start)")
        rt.delete(cid, force=True, keep_dir=True)       # gives back cgroup, IP and ports
    if not cdir or not os.path.isdir(cdir):
        from .errors import ContainerNotFound
        raise ContainerNotFound(f"No such container: {cid}")
    cfg = insp.config_of(cdir)
    plan = OverlayPlan.from_spec(cfg)
    if plan is None:
        raise InvalidState(f"start {cid}: its directory has no overlay plan (made by an older "
                           "pycontainer): remove it and run it again")
    opts = insp.options_of(cfg)
    before = (containerdir.read_exit(cdir) or {}).get("finished_at")
    for name in ("exit.json", "attach.sock", "monitor.json", "health.json") + \
            ((STOPPED_BY_USER,) if by_user else ()):
        try:
            os.unlink(os.path.join(cdir, name))
        except FileNotFoundError:
            pass
    gone = bool(opts.get("remove"))             # docker: a --rm container that cannot start goes
    try:
        pid = detach.spawn(rt, cid, cdir, cdir, tty=bool(opts.get("tty")),
                           start=before_start is None, remove=gone,
                           interactive=bool(opts.get("interactive")), overlay=plan,
                           on_delete=containerdir.delete_plan())
    except BaseException as exc:
        failed(root, cid, exc, remove=gone, existing=not gone)
        raise
    if before_start is not None:                # created under its monitor; it runs after this
        before_start()
        try:
            rt.start(cid)
        except BaseException as exc:
            failed(root, cid, exc, remove=gone, existing=not gone)
            raise
    _mark_started(cdir, before)
    _event_start(root, cid)
    from . import netconnect
    netconnect.reconnect(root, cid)
    started(root, cid, opts.get("user_network"))
    return pid


def _mark_started(cdir: str, finished_before: str | None) -> None:
    """docker's State.StartedAt of a start that came after the create (``start``, ``restart``,
    --restart), and the FinishedAt of the run before it, which docker keeps showing meanwhile.
    Without this file, StartedAt is the runtime state's creation (run: they are the same)."""
    from . import atomicfile, containerdir
    atomicfile.write_json(os.path.join(cdir, STARTED),
                          {"started_at": containerdir.rfc3339(time.time_ns()),
                           "finished_at": finished_before})


def _event_start(root: str, cid: str) -> None:
    from . import events
    events.container("start", cid, insp.record(root, cid))


def started(root: str, cid: str, user_network: str | None) -> None:
    """An image container's program has started (run -d, start): its name in the /etc/hosts
    of its user-defined network's members, and its health checker."""
    refresh_hosts(user_network)
    start_health(root, cid)


def remove(root: str, cid: str, *, force: bool = False, volumes: bool = False) -> None:
    """docker rm: the runtime state (if any) and the directory; ``volumes`` (``rm -v``): its
    anonymous volumes too."""
    from . import containerdir
    cdir = insp.owned_dir(root, cid) if volumes else None
    anonymous = containerdir.anonymous_volumes(cdir) if cdir else []   # read before it goes
    _remove(root, cid, force)
    if anonymous:
        from . import volumes as vol
        vol.remove_anonymous(anonymous)


def _remove(root: str, cid: str, force: bool) -> None:
    from .container import Runtime
    from .errors import ContainerNotFound
    if os.path.isdir(os.path.join(root, cid)):
        cdir = os.path.join(insp.containers_dir(), cid)
        user_nets = [insp.options_of(insp.config_of(cdir)).get("user_network")]
        from . import netconnect
        user_nets += list(netconnect.wanted(cdir))
        # as `stop`: the monitor must not --restart what the delete kills (it did, with -f or
        # of a created one: the program came back in a new run, its monitor and cgroup with
        # it, after its dir was removed). A refused rm (running, no -f) takes the mark back.
        marker = os.path.join(cdir, STOPPED_BY_USER)
        had = os.path.exists(marker)
        mark_stopped(root, cid)
        try:
            Runtime(root).delete(cid, force=force)
        except BaseException as exc:
            if not had:
                try:
                    os.unlink(marker)
                except OSError:
                    pass
            from .errors import InvalidState
            if isinstance(exc, InvalidState):       # runc's words name delete --force
                try:
                    status = Runtime(root).state(cid).get("status", "running")
                except PyContainerError:
                    status = "running"
                raise InvalidState(f'cannot remove container "/{insp.name_of(cdir, cid)}": container '
                                   f"is {status}: stop the container before removing or force "
                                   "remove (rm -f)") from None
            raise
        from .network import userdefined
        for user_net in filter(None, user_nets):
            userdefined.drop_aliases(user_net, cid)
            refresh_hosts(user_net)
        return
    if insp.owned_dir(root, cid) is None:
        raise ContainerNotFound(f"No such container: {cid}")
    remove_dir(cid)


def release_network(root: str, cid: str) -> None:
    """After the program exited: give back the container's IP lease, veth and published ports
    (docker does on stop; ``start`` makes them again). The runtime state stays."""
    from . import state as st
    sd = st.StateDir(root, cid)
    try:
        sd.lock()
    except PyContainerError:
        return
    try:
        record = sd.read()
        if st.status_of(record) != st.STOPPED or not record.get("network"):
            return
        from . import network
        names = [record["network"].get("network"), *(record["network"].get("attached") or {})]
        network.teardown(cid, record["network"])
        record["network"] = None
        sd.write(record)
    finally:
        sd.unlock()
    for name in names:
        refresh_hosts(name)


def refresh_hosts(network_name: str | None, also=()) -> None:
    """Rewrite the /etc/hosts of every member of a user-defined network (netconnect.py)."""
    if network_name:
        from . import netconnect
        netconnect.refresh_hosts(network_name, also)


def rename(root: str, cid: str, new_name: str) -> None:
    """docker rename (and the API's Container.rename): the name docker shows and resolves,
    kept in the container's dir; the ID (its state dir, cgroup, lease) stays."""
    from . import atomicfile
    from .errors import PyContainerError
    from .state import validate_name
    new_name = validate_name(new_name)      # docker's rule for names (InvalidName)
    cdir = insp.owned_dir(root, cid)
    if not cdir:
        raise PyContainerError(f"rename {cid}: not a container made from an image")
    old = insp.record(root, cid)["Name"].lstrip("/")
    if new_name == old:
        raise PyContainerError(f"rename: {new_name!r} is already the container's name")
    with insp.name_lock():              # checked and kept in one step, as a create's (api/config)
        insp.check_name_free(root, new_name, cid)          # docker's Conflict
        atomicfile.write(os.path.join(cdir, "name"), new_name)
    from . import events, netconnect
    netconnect.renamed(cid, cdir, old, new_name)
    events.container("rename", cid, insp.record(root, cid), oldName="/" + old)


def exec_user(root: str, cid: str, user: str | None, gids=()) -> tuple[str | None, tuple]:
    """docker exec -u NAME[:GROUP]: the numbers (and the groups NAME is in) from the container's
    /etc/passwd and /etc/group as it has them now: its image's layers and its writable layer,
    read without following a link out of them (runconfig.read_file). runc's exec takes
    numbers only; those pass unchanged."""
    if not user or all(p.isdigit() for p in user.split(":")):
        return user, tuple(gids)
    from .image import runconfig
    from .errors import ExecError, ImageError
    plan = overlay_plan({"Dir": insp.owned_dir(root, cid) or ""})
    if plan is None:
        raise PyContainerError(f"exec --user {user!r}: {cid} has no image to look the name up in")
    try:
        u = runconfig.resolve_user(list(plan.lower) + ([plan.upper] if plan.upper else []), user)
    except ImageError as exc:       # the process cannot start: docker's exec says 126 (exitcodes.py)
        raise ExecError(f"exec --user {user!r}: {exc}", stage="exec") from None
    return f"{u['uid']}:{u['gid']}", tuple(gids) + tuple(str(g) for g in u.get("additionalGids") or ())


def update(root: str, cid: str, resources: dict, restart: str | None = None,
           cpus: str | None = None) -> None:
    """docker update: the new limits on the container's cgroup if it has one now, and in its
    config.json, so that its next start keeps them (docker keeps them in its hostconfig);
    ``restart``: the new policy, which the monitor reads when the program exits; ``cpus``:
    given as --cpus (inspect's NanoCpus, not CpuQuota/CpuPeriod, as docker's)."""
    import json
    from . import atomicfile
    from . import state as st
    from .container import Runtime
    from .errors import ContainerNotFound, PyContainerError
    cdir = insp.owned_dir(root, cid)
    if cdir is None:
        raise ContainerNotFound(f"No such container: {cid}")
    cfg = insp.config_of(cdir)
    opts = insp.options_of(cfg)
    if restart and restart.partition(":")[0] != "no" and opts.get("remove"):
        raise PyContainerError(f"update {cid}: the restart policy of a container run with --rm "
                               "cannot change (docker's rule)")
    rt = Runtime(root)
    if resources and os.path.isdir(os.path.join(root, cid)) and \
            st.status_of(rt.record(cid)) != st.STOPPED:
        rt.update(cid, resources)                   # the kernel checks the values first
    have = cfg.setdefault("linux", {}).setdefault("resources", {})
    for section, values in resources.items():
        have[section] = dict(have.get(section) or {}, **values) if isinstance(values, dict) else values
    new_opts = dict(opts, **({"restart": restart} if restart is not None else {}))
    if cpus is not None:
        new_opts["cpus"] = cpus
    elif {"quota", "period"} & set(resources.get("cpu") or {}):
        new_opts.pop("cpus", None)                  # --cpu-quota/--cpu-period now say it
    if new_opts != opts:
        cfg.setdefault("annotations", {})[insp.ANN_OPTIONS] = json.dumps(new_opts)
    path = os.path.join(cdir, "config.json")
    made = os.stat(path)
    atomicfile.write_json(path, cfg, indent=1)
    os.utime(path, ns=(made.st_atime_ns, made.st_mtime_ns))   # its mtime is docker's Created


# --- --restart: what the monitor does after the program exited -----------------------------------

class _StopLock:
    """``with _StopLock(cdir):`` an exclusive flock(2) on the container's ``root`` file (written
    once, when it is made; the directory's own flock is its waiters', containerdir.
    hold_for_reading, which a stop must not wait for). A user's stop mark (``mark_stopped``)
    and the monitor's check-then-restart (``after_exit``) both take it: a stop lands before
    the check (no restart) or after the new run exists (the stop stops that one), never in
    between. FileNotFoundError: the container is gone."""

    def __init__(self, cdir: str):
        from .containerdir import ROOT
        self.fd = os.open(os.path.join(cdir, ROOT), os.O_RDONLY | os.O_CLOEXEC)

    def __enter__(self):
        import fcntl
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        import fcntl
        fcntl.flock(self.fd, fcntl.LOCK_UN)    # explicitly: a child forked meanwhile shares the fd
        os.close(self.fd)


def mark_stopped(root: str, cid: str) -> None:
    """``stop``/``kill`` by a user: the restart policy does not bring it back (docker). One
    waiting out its restart backoff shows as exited at once (exit.json loses ``restarting``)."""
    from . import containerdir
    cdir = insp.owned_dir(root, cid)
    if not cdir:
        return
    try:
        with _StopLock(cdir):
            with open(os.path.join(cdir, STOPPED_BY_USER), "w"):
                pass
            ex = containerdir.read_exit(cdir)
            if ex and ex.get("restarting"):
                write_exit(cdir, {k: v for k, v in ex.items() if k != "restarting"})
    except FileNotFoundError:
        pass                            # its directory went (rm): nothing restarts it


def _stopped_by_user(cdir: str) -> bool:
    return os.path.exists(os.path.join(cdir, STOPPED_BY_USER))


def after_exit(root: str, cid: str) -> None:
    """Run by the monitor once the program exited: give back IP and ports, then apply
    ``--restart`` (no | on-failure[:N] | always | unless-stopped) with docker's backoff:
    100 ms doubling to 1 min, back to 100 ms after a run of 10 s or more."""
    import json
    release_network(root, cid)
    cdir = insp.owned_dir(root, cid)
    if not cdir:
        return
    opts = insp.options_of(insp.config_of(cdir))
    policy = opts.get("restart") or "no"
    name, _, most = policy.partition(":")
    from . import containerdir, events
    ex = containerdir.read_exit(cdir) or {}
    code = ex.get("exit_code", 0)
    events.container_o("die", cid, dict(opts, name=insp.name_of(cdir, cid)), exitCode=code)
    try:
        with open(os.path.join(cdir, RESTART)) as f:
            rs = json.load(f)
    except (OSError, ValueError):
        rs = {"count": 0, "delay": 0.1}
    if name == "no":
        return
    if name == "on-failure" and (code == 0 or (most and rs["count"] >= int(most))):
        return
    ran = _ran_for(root, cid, ex)
    try:
        _restart(root, cid, cdir, ex, rs, 0.1 if ran >= 10 else rs["delay"])
    except FileNotFoundError:
        pass                            # its directory went (rm -f) meanwhile


def _restart(root: str, cid: str, cdir: str, ex: dict, rs: dict, delay: float) -> None:
    """Start the container again after ``delay`` seconds ("restarting" meanwhile), unless a
    user stopped it: the mark is checked and the new run made under the lock that
    ``mark_stopped`` takes, so a stop is either seen here or finds the new run to stop."""
    from . import atomicfile
    with _StopLock(cdir):
        if _stopped_by_user(cdir):
            return
        write_exit(cdir, dict(ex, restarting=True))
    time.sleep(delay)
    with _StopLock(cdir):
        if _stopped_by_user(cdir):
            write_exit(cdir, ex)
            return
        atomicfile.write_json(os.path.join(cdir, RESTART),
                              {"count": rs["count"] + 1, "delay": min(delay * 2, 60.0)})
        try:
            start(root, cid, by_user=False)
        except PyContainerError:
            pass


def _ran_for(root: str, cid: str, ex: dict) -> float:
    from . import state as st
    try:
        t0 = insp.parse_time(st.StateDir(root, cid).read().get("created", ""))
        t1 = insp.parse_time(ex.get("finished_at", ""))
        return (t1 - t0).total_seconds() if t0 and t1 else 0.0
    except (PyContainerError, TypeError):
        return 0.0


def start_health(root: str, cid: str) -> None:
    """Start the health checker when the container has a check (--health-cmd, HEALTHCHECK)."""
    cdir = insp.owned_dir(root, cid)
    if cdir and (insp.config_of(cdir).get("annotations") or {}).get("org.pycontainer.health"):
        from . import health
        health.spawn(root, cid)


def overlay_plan(rec: dict):
    """The container's overlay (image/overlay.OverlayPlan: its layers and upper dir) from its
    config.json, or None (a bundle without one)."""
    import json
    from .image.overlay import OverlayPlan
    try:
        with open(os.path.join(rec["Dir"], "config.json")) as f:
            return OverlayPlan.from_spec(json.load(f))
    except (OSError, ValueError):
        return None


def prune(root: str, filters: dict | None = None) -> tuple[list[str], int]:
    """Remove every stopped or never-started container of this root (``filters``: until,
    label, label!: image/listing.prune_match); -> (their IDs, the bytes their writable
    layers took: docker's "Total reclaimed space")."""
    from .image.listing import prune_match
    gone, freed = [], 0
    for cid in insp.list_ids(root):
        try:
            rec = insp.record(root, cid)
            state = rec["State"]
            if filters and not prune_match(rec["Created"], rec["Config"].get("Labels") or {}, filters):
                continue
            if state["Status"] in ("exited", "created", "dead"):
                if state["RuntimeStatus"] == "created" and not rec.get("Dir"):
                    continue       # a bundle's created container waits for runc's `start`: kept
                                   # (docker's `create` ones go, as docker prunes them)
                size = insp.layer_size(rec)
                remove(root, cid)
                gone.append(cid)
                freed += size
        except PyContainerError:
            continue
    return gone, freed
