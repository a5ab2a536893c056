"""The container lifecycle: create, start, run, state, kill, delete, list, ps.

These are the OCI runtime operations (runtime.md, "Operations") over the
state kept by ``pycontainer.state``::

    create ──▶ created ──start──▶ running ──(program exits)──▶ stopped ──delete──▶ (gone)
                  │                  ▲ pause/resume ▼ paused
                  └──────────── delete (kills the waiting init, as runc does)

The CLI (``pycontainer.cli``) and the Python API call these functions; they
hold the container's lock while they change it and raise
``PyContainerError`` subclasses with one-line messages.
"""

from __future__ import annotations

import posix       # os without its Python helpers: importing os is ~1 ms of every verb (paths.py)

from . import paths, trace
from . import state as st
from .errors import ContainerNotFound, InvalidState, PyContainerError, SpecError

ANNOTATION_NETWORK = "org.pycontainer.network"


class Runtime:
    """The containers under one state root (``--root``, default /run/pycontainer)."""

    def __init__(self, root: str = st.DEFAULT_ROOT):
        self.root = root

    # --- create / start / run ----------------------------------------------------
    def create(self, container_id: str, bundle: str, *, console_socket: str | None = None,
               pid_file: str | None = None, preserve_fds: int = 0, overlay=None, seccomp=None,
               network=None, spec: dict | None = None, on_delete: list | None = None,
               autoremove: bool = False, deferred: bool = False, stdio=None) -> dict:
        """``autoremove``: the caller deletes the container when it exits (docker's --rm);
        if the caller dies first, ``reclaim`` (gc, list, the next create of that ID) does.
        ``deferred``: the init stops before the process's identity steps, and ``start``
        may give it the process to run (``start(process=..., stdio=...)``, warm pools).
        ``stdio``: 3 fds (None: ours) for its 0/1/2, e.g. a foreground run's pipes (relay.py)."""
        st.validate_id(container_id)
        bundle = paths.abspath(bundle)
        from . import spec as spec_mod     # here: `start` and `delete` need neither it nor signals
        if spec is None:
            with trace.step("read config.json", "--bundle", bundle=bundle):
                spec = spec_mod.load(bundle)
        else:
            spec_mod.validate(spec, bundle)
        linux = spec.get("linux", {})
        if not any(n["type"] == "mount" for n in linux.get("namespaces", [])) and \
                (linux.get("maskedPaths") or linux.get("readonlyPaths")):
            raise SpecError("config.json: unable to restrict sys entries without a private MNT "
                            "namespace (linux.maskedPaths/readonlyPaths need a 'mount' namespace)")
        if preserve_fds < 0:
            raise SpecError(f"--preserve-fds {preserve_fds}: must not be negative")
        if spec["process"].get("terminal") and not console_socket:
            # runc's checkTerminal: only a foreground `run` proxies a pty itself.
            raise SpecError("cannot allocate tty if pycontainer will detach without setting "
                            "console socket (--console-socket)")
        rootfs = spec_mod.rootfs_path(spec, bundle)
        if seccomp is None and linux.get("seccomp") is not None:
            from .security import seccomp as seccomp_mod    # only when the spec asks for it
            seccomp = seccomp_mod.compile(linux["seccomp"])  # SpecError before anything exists
        from . import cgroups
        cgroup = cgroups.open(linux.get("cgroupsPath"), container_id)
        network = network if network is not None else _network_from_annotations(spec)
        if network is not None:
            self._apply_network_namespace(spec, network)

        self.reclaim([container_id])      # a --rm leftover of a dead runtime frees its ID
        sd = st.StateDir(self.root, container_id)
        sd.create()                       # reserves the ID; raises ContainerExists
        record = {
            "ociVersion": spec.get("ociVersion", st.OCI_VERSION), "id": container_id,
            "status": st.CREATING, "pid": 0, "pid_start": None, "bundle": bundle,
            "rootfs": rootfs, "created": st.now_rfc3339(), "owner": "",
            "annotations": spec.get("annotations", {}),
            "cgroup": cgroup.path,
            # the directories it makes (v1: one per hierarchy): what delete removes, without
            # finding the hierarchies again
            "cgroup_dirs": list(cgroup.hierarchies),
            "namespaces": linux.get("namespaces", []),
            "poststop": spec.get("hooks", {}).get("poststop", []),
            "poststart": spec.get("hooks", {}).get("poststart", []),
            "on_delete": on_delete or [],        # the creator's delete plan (cleanup.py)
            # who will delete it at exit (--rm): if that process dies first, reclaim() does
            "autoremove": bool(autoremove),
            "creator": {"pid": posix.getpid(), "start": st.proc_start_time(posix.getpid())},
        }
        if deferred:
            record["deferred"] = True
        try:
            # (state.json is first written after the fork, launcher.py; until then: a husk)
            if hasattr(seccomp, "save"):
                seccomp.save(sd.path)     # exec gives its processes the same filter
            from .process import launcher
            ctx = launcher.Launch(container_id=container_id, bundle=bundle, spec=spec, rootfs=rootfs,
                                  statedir=sd, cgroup_mode=cgroups.detect(), record=record,
                                  console_socket=console_socket, preserve_fds=preserve_fds,
                                  overlay=overlay, seccomp=seccomp, deferred=deferred, stdio=stdio)
            launcher.launch(ctx, cgroup, network)
            if pid_file:
                st.write_pid_file(pid_file, record["pid"])
        except BaseException:
            sd.remove()
            raise
        finally:
            sd.unlock()
        return record

    def _apply_network_namespace(self, spec: dict, plan) -> None:
        """Make linux.namespaces say what the network request needs (new, host, or join)."""
        from .errors import NetworkError
        linux = spec.setdefault("linux", {})
        action, path = plan.namespace_action()
        nss = [n for n in linux.get("namespaces", []) if n["type"] != "network"]
        if action == "new":
            nss.append({"type": "network"})
        elif action == "join":
            if path is None:            # container:<id>
                other = plan.mode.ref
                try:
                    st_other = self.state(other)
                except PyContainerError:
                    raise NetworkError(f"network container:{other}: no such container", stage="network") from None
                if st_other["status"] not in (st.CREATED, st.RUNNING, st.PAUSED):
                    raise NetworkError(f"network container:{other}: it is {st_other['status']}",
                                       stage="network")
                path = f"/proc/{st_other['pid']}/ns/net"
            nss.append({"type": "network", "path": path})
        linux["namespaces"] = nss

    def start(self, container_id: str, *, process: dict | None = None, stdio=None,
              wait_exec: bool = True) -> None:
        """runc's start; ``process`` (args, env, cwd, user: {uid, gid, additionalGids}) and
        ``stdio`` (three fds) give a container created ``deferred`` the program to run
        (the init checks them as config.json's process; nothing else changes).
        ``wait_exec=False`` (the runc CLI's ``start``): return once the init has the word, as
        runc's does once its init opened exec.fifo; the program was found at create, and a
        later exec failure is the container's exit status. Docker's verbs and the API wait,
        to report 126/127."""
        sd = self._open(container_id)
        try:
            record = sd.read()
            status = st.status_of(record)
            if status != st.CREATED:
                raise InvalidState(f"cannot start container {container_id!r}: it is {status}, "
                                   "not created")
            if (process is not None or stdio is not None) and not record.get("deferred"):
                raise InvalidState(f"cannot start container {container_id!r} with a process: it "
                                   "was not created with a deferred process")
            if stdio is not None and len(stdio) != 3:
                raise SpecError(f"start: give 3 stdio fds (stdin, stdout, stderr), not {len(stdio)}")
            from .process import startsock
            with trace.step("connect start.sock", "pycontainer start", barrier="start.sock"):
                startsock.connect(sd.path, process=process if process is not None or stdio is None
                                       else {}, stdio=stdio, wait_exec=wait_exec)
            record["status"] = st.RUNNING
            sd.started()
            if record.get("poststart"):
                from . import hooks
                try:
                    hooks.run("poststart", record["poststart"], st.oci_state(record, st.RUNNING))
                except PyContainerError:
                    from . import signals
                    signals.kill_init(record)    # runc: terminate the init and fail start/run
                    raise
        finally:
            sd.unlock()

    def run(self, container_id: str, bundle: str, *, detach: bool = False, keep: bool = False,
            **kw) -> int:
        """create + start; in the foreground, wait and return the exit status (128+N for signal N)."""
        from . import signals
        from . import spec as spec_mod
        st.validate_id(container_id)
        spec = kw.pop("spec", None)
        if not spec:
            with trace.step("read config.json", "--bundle", bundle=bundle):
                spec = spec_mod.load(bundle)
        if spec["process"].get("terminal") and not kw.get("console_socket") and not detach:
            # runc in the foreground: allocate the pty ourselves and proxy this terminal.
            from . import terminal
            kw.pop("console_socket", None)
            return terminal.run_foreground(self, container_id, bundle, keep=keep, spec=spec, **kw)
        # The C module under `signal` (same functions, the numbers as ints): `signal`
        # builds three enums, ~2-3 ms of every run, to name what we only forward.
        import _signal as signal
        # Forward signals from the moment the init exists (it is our child:
        # we are its subreaper).
        record = self.create(container_id, bundle, spec=spec, **kw)
        pid = record["pid"]
        if detach:
            self.start(container_id)
            return 0
        forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT)
        old = {s: signal.signal(s, lambda n, _f: signals.forward_signal(pid, n)) for s in forwarded}
        try:
            try:
                self.start(container_id)
            except BaseException:
                self.delete(container_id, force=True)
                raise
            with trace.step("waitpid", "process.args", pid=pid, note="the program runs"):
                code = signals.wait_exit(pid)
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        if not keep:                 # runc deletes; docker without --rm keeps it stopped
            self.delete(container_id, force=True)
        return code

    def exec(self, container_id: str, process: dict, *, detach: bool = False,
             console_socket: str | None = None, pid_file: str | None = None,
             preserve_fds: int = 0, sub_cgroups=()) -> int:
        """Run ``process`` (an OCI process object) in the container; its exit status
        in the foreground, 0 once it started with ``detach``."""
        import _signal as signal      # as in run: `signal` builds enums for what we only forward

        from . import signals
        forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)
        pid = self.exec_start(container_id, process, console_socket=console_socket,
                              preserve_fds=preserve_fds, sub_cgroups=sub_cgroups)
        if pid_file:
            st.write_pid_file(pid_file, pid)
        if detach:
            return 0
        old = {s: signal.signal(s, lambda n, _f: signals.forward_signal(pid, n)) for s in forwarded}
        try:
            return signals.wait_exit(pid)
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def exec_start(self, container_id: str, process: dict, *, console_socket: str | None = None,
                   preserve_fds: int = 0, sub_cgroups=()) -> int:
        """THE way into a container: every exec form (runc's exec with or without
        --console-socket or -p, the porcelain's exec -t/-i, the API's exec_run)
        comes here. Returns the new process's host pid once its execve succeeded.
        The process gets the container's cgroup, namespaces and seccomp filter
        (process.execute) and the init's own identity tail (process.finalize)."""
        from . import spec as spec_mod
        from .process import execute
        sd = st.StateDir(self.root, container_id)
        record = sd.read()
        status = self._status(record)
        if status not in (st.RUNNING, st.CREATED):
            raise InvalidState(f"cannot exec in container {container_id!r}: it is {status}")
        spec_mod.validate_process(process)
        if process.get("terminal") and not console_socket:
            raise SpecError("cannot allocate tty if pycontainer will detach without setting "
                            "console socket (--console-socket)")
        from .cgroups import sub
        ctx = execute.ExecContext(record=record, process=process,
                                  cgroup=sub.for_exec(self._cgroup(record), sub_cgroups),
                                  statedir=sd.path, console_socket=console_socket,
                                  preserve_fds=preserve_fds)
        return execute.launch(ctx)

    def exec_process(self, container_id: str, args: list[str], *, env=(), user: str | None = None,
                     cwd: str | None = None, tty: bool = False, caps=None,
                     no_new_privs: bool | None = None, additional_gids=()) -> dict:
        """An exec process built from the container's own config (what runc does
        without --process): its process object with args, env and user replaced."""
        import copy
        import json as _json
        record = st.StateDir(self.root, container_id).read()
        try:
            with open(paths.join(record["bundle"], "config.json")) as f:
                base = _json.load(f).get("process", {})
        except (OSError, ValueError):
            base = {}
        proc = copy.deepcopy(base)
        proc["args"] = list(args)
        proc["terminal"] = tty
        proc.pop("consoleSize", None)
        if env:
            names = {e.split("=", 1)[0] for e in env}
            proc["env"] = [e for e in proc.get("env", []) if e.split("=", 1)[0] not in names] + list(env)
        if cwd:
            proc["cwd"] = cwd
        if user:
            uid, _, gid = user.partition(":")
            if not uid.isdigit() or (gid and not gid.isdigit()):
                raise SpecError(f"exec --user {user!r}: use UID[:GID] (numbers)")
            proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        if additional_gids:
            proc.setdefault("user", {"uid": 0, "gid": 0})["additionalGids"] = [int(g) for g in additional_gids]
        if caps:
            c = proc.setdefault("capabilities", {})
            for kind in ("bounding", "effective", "permitted", "ambient"):
                c[kind] = sorted(set(c.get(kind, [])) | set(caps))
        if no_new_privs is not None:
            proc["noNewPrivileges"] = no_new_privs
        return proc

    # --- queries ----------------------------------------------------------------
    def state(self, container_id: str) -> dict:
        """The OCI state; a stopped container whose cgroup saw an OOM kill also
        says ``"oomKilled": true`` (docker's name for it; runc has no field)."""
        sd = st.StateDir(self.root, container_id)
        record = sd.read()
        status = self._status(record)
        if status == st.CREATING:         # never after `create` returned (runc)
            record, status = st.settled(sd, record)
        out = st.oci_state(record, status)
        if status == st.STOPPED and record.get("cgroup"):
            from .cgroups import events         # the directories create recorded: no driver
            if events.recorded_oom_kills(record, self._cgroup):
                out["oomKilled"] = True
        return out

    def list(self) -> list[dict]:
        self.reclaim()
        out = []
        for cid in st.list_ids(self.root):
            try:
                out.append(self.state(cid))
            except PyContainerError:
                continue
        return out

    def pids(self, container_id: str) -> list[int]:
        record = st.StateDir(self.root, container_id).read()
        if self._status(record) in (st.STOPPED,):
            return []
        return sorted(self._cgroup(record).pids())

    # --- signals ---------------------------------------------------------------------
    def kill(self, container_id: str, sig: int = 15, all_processes: bool = False) -> None:   # SIGTERM
        record = st.StateDir(self.root, container_id).read()
        status = self._status(record)
        if all_processes:       # runc: succeeds on a stopped container (containerd's shim relies on it)
            if status != st.STOPPED or self._cgroup(record).pids():
                with trace.step("kill --all", "pycontainer kill --all", signal=sig, cgroup=record.get("cgroup")):
                    self._cgroup(record).kill_all(sig)
            return
        if status not in (st.CREATED, st.RUNNING, st.PAUSED):   # runc's words, which the shim matches
            raise InvalidState(f"cannot kill container {container_id!r}: container not running ({status})")
        with trace.step("kill", "pycontainer kill", pid=record["pid"], signal=sig):
            posix.kill(record["pid"], sig)
        if status == st.PAUSED and sig == 9:        # SIGKILL: as runc, thaw so that it lands
            with trace.step("thaw", "pycontainer kill", note="a frozen task dies only when thawed"):
                self._cgroup(record).thaw()

    def pause(self, container_id: str) -> None:
        record = st.StateDir(self.root, container_id).read()
        status = self._status(record)
        if status not in (st.RUNNING, st.CREATED):
            raise InvalidState(f"cannot pause container {container_id!r}: it is {status}")
        self._cgroup(record).freeze()

    def resume(self, container_id: str) -> None:
        record = st.StateDir(self.root, container_id).read()
        status = self._status(record)
        if status != st.PAUSED:
            raise InvalidState(f"cannot resume container {container_id!r}: it is {status}, not paused")
        self._cgroup(record).thaw()

    def update(self, container_id: str, resources: dict) -> None:
        record = st.StateDir(self.root, container_id).read()
        status = self._status(record)
        if status == st.STOPPED:
            raise InvalidState(f"cannot update container {container_id!r}: it is stopped")
        with trace.step("update", "linux.resources", resources=resources):
            self._cgroup(record).update(resources)

    def stats(self, container_id: str) -> dict:
        return self._cgroup(self.record(container_id)).stats()

    def record(self, container_id: str) -> dict:
        return st.StateDir(self.root, container_id).read()

    def cgroup_of(self, record: dict):
        return self._cgroup(record)

    # --- delete ----------------------------------------------------------------------
    def delete(self, container_id: str, force: bool = False, keep_dir: bool = False) -> None:
        if force and not paths.isdir(st.StateDir(self.root, container_id).path):
            return              # runc: `delete --force` of a missing container succeeds
        sd = self._open(container_id)
        net_done = None
        try:
            record = sd.read()
            status = self._status(record)
            if status in (st.RUNNING, st.PAUSED) and not force:
                raise InvalidState(f"cannot delete container {container_id!r} that is not stopped: {status} (use --force)")
            stopped = status == st.STOPPED and not force
            removed = stopped and _rmdirs(record.get("cgroup_dirs"), record.get("cgroup"))
            cg = self._cgroup(record) if record.get("cgroup") and not removed else None
            if not stopped:
                from . import signals
                signals.kill_init(record, then=cg.thaw if status == st.PAUSED and cg else None)
                if cg is not None:
                    signals.kill_cgroup(cg)
            if cg is not None:
                try:
                    with trace.step("remove cgroup", "linux.cgroupsPath", path=record.get("cgroup")):
                        cg.destroy()
                except PyContainerError as exc:
                    if paths.exists(sd.path):
                        _warn(f"delete {container_id}: {exc}")
            if record.get("network"):
                try:
                    from . import network    # the veth goes in a thread: finished below
                    net_done = network.teardown(container_id, record["network"], wait=False)
                except Exception as exc:  # noqa: BLE001 - delete goes on
                    _warn(f"delete {container_id}: network teardown: {exc}")
            if record.get("poststop"):
                from . import hooks
                try:
                    hooks.run("poststop", record["poststop"], st.oci_state(record, st.STOPPED))
                except PyContainerError as exc:
                    _warn(f"poststop hook failed: {exc}")
            if record.get("host_mounts"):
                from . import rootfs        # no private mount namespace: unmount what create made
                rootfs.unmount_recorded(record["host_mounts"], record.get("rootfs") or "/")
            with trace.step("remove state dir", "--root", path=sd.path):
                sd.remove()
            if record.get("on_delete") and not keep_dir:         # what the creator registered (cleanup.py)
                from . import cleanup
                cleanup.run(record["on_delete"], record, _warn)
        finally:
            if net_done is not None:
                try:
                    net_done()
                except Exception as exc:  # noqa: BLE001 - delete goes on
                    _warn(f"delete {container_id}: network teardown: {exc}")
            sd.unlock()

    # --- garbage collection (pycontainer.reclaim) --------------------------------------------
    def gc(self) -> dict:
        """Reclaim what crashed runtimes left (see pycontainer.reclaim)."""
        from . import reclaim
        return reclaim.gc(self)

    def reclaim(self, ids=None) -> list[str]:
        """Delete --rm containers that stopped after their runtime died (pycontainer.reclaim)."""
        from . import reclaim
        return reclaim.abandoned(self, ids)

    # --- internals ------------------------------------------------------------------------
    def _open(self, container_id: str) -> st.StateDir:
        sd = st.StateDir(self.root, container_id)
        if not paths.isdir(sd.path):
            raise ContainerNotFound(f"container {container_id!r} does not exist")
        sd.lock()
        return sd

    def _cgroup(self, record: dict):
        from . import cgroups
        return cgroups.reopen(record.get("cgroup_dirs"), record.get("cgroup"), record["id"])

    def _status(self, record: dict) -> str:
        status = st.status_of(record)
        if status in (st.RUNNING, st.CREATED) and record.get("cgroup"):
            from .cgroups import freezer        # the directories create recorded: no mountinfo
            try:
                dirs = record.get("cgroup_dirs")
                if freezer.any_frozen(dirs) if dirs else self._cgroup(record).frozen():
                    return st.PAUSED
            except PyContainerError:
                pass
        return status


# --- helpers ------------------------------------------------------------------------------

def _rmdirs(dirs, path) -> bool:
    """rmdir(2) the cgroup directories create recorded (no need to find the hierarchies);
    False if none are or one will not go (child cgroups, processes that outlived the init)."""
    if not dirs:
        return False
    with trace.step("remove cgroup", "linux.cgroupsPath", path=path, note="the recorded directories"):
        for d in dirs:
            try:
                posix.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError:
                return False
    return True


def _network_from_annotations(spec: dict):
    """The network plan an OCI bundle asks for (annotation org.pycontainer.network), or None:
    then, as runc, linux.namespaces decides, and the init brings up ``lo`` in a new netns."""
    req = spec.get("annotations", {}).get(ANNOTATION_NETWORK)
    if not req:
        return None
    from . import network
    return network.for_annotation(req)


def _warn(msg: str) -> None:
    from . import log
    log.warning(msg)
