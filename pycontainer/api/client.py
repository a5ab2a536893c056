"""The docker SDK's containers: ``Container`` and ``ContainerCollection`` (``client.containers``;
the ``Client`` is api/engine.py, ``Image`` and its collection api/images.py).

::

    import pycontainer.api as docker          # or pycontainer.Client()
    client = docker.from_env()
    out = client.containers.run("busybox", ["echo", "hi"], remove=True, network_mode="none")
    c = client.containers.create("busybox", "sleep 60", name="box", mem_limit="64m")
    c.start(); code, output = c.exec_run("ls -l"); c.stop(); c.remove()
    r = client.containers.sandbox("busybox", ["sh", "-c", "..."], timeout=5, mem_limit="64m")

What forks (run, create, exec, archives) goes through the client's transport: the helper
process (api/helper.py), or ``MockTransport`` (api/transport.py) in tests. What needs no
fork (start, stop, kill, wait, logs, remove, stats, images) runs in the caller's process,
through the operations the porcelain uses (api/operations.py).
"""

from __future__ import annotations

import os
import time

from ..errors import ContainerError, PyContainerError
from . import operations as ops
from .config import options_from_kwargs
from .results import ExecResult, SandboxResult, raise_error
from .streams import DEFAULT_MAX_OUTPUT, REPLY_GRACE, Sink, check_limits, collect


def _ids(root: str, name) -> tuple[str, str | None]:
    """A new container's ID (docker's: 64 hex digits, names.py) and its ``name=``, checked up
    front (APIError: docker's syntax, and free; nothing made), or None."""
    from ..names import new_id
    if name is None:                # sandbox(): nothing to check, no module to load
        return new_id(), None
    from ..inspect import check_name_free
    return new_id(), check_name_free(root, str(name))


DEFAULT_TIMEOUT = 600.0     # seconds for a request that runs no program of the caller's (create)


class Container:
    def __init__(self, client, cid: str, attrs: dict | None = None):
        self.client = client
        self.id = cid
        self.attrs = attrs if attrs is not None else ops.inspect(client.root, cid)

    def __repr__(self):
        return f"<Container: {self.id[:12]}>"

    name = property(lambda self: (self.attrs.get("Name") or "/" + self.id).lstrip("/"))
    short_id = property(lambda self: self.id[:12])
    status = property(lambda self: self.attrs["State"]["Status"])
    ports = property(lambda self: self.attrs.get("NetworkSettings", {}).get("Ports", {}))
    labels = property(lambda self: self.attrs["Config"].get("Labels") or {})
    # docker-py's: the health check's status, "unknown" for a container without one
    health = property(lambda self: (self.attrs["State"].get("Health") or {}).get("Status", "unknown"))

    @property
    def image(self):
        """docker-py's: the container's Image (by the ID it was made from), None if gone."""
        try:
            return self.client.images.get(self.attrs.get("Image") or self.attrs["Config"]["Image"])
        except PyContainerError:
            return None

    def reload(self) -> None:
        self.attrs = ops.inspect(self.client.root, self.id)

    def rename(self, name: str) -> None:
        """docker-py's rename: the name changes, the ID stays."""
        from .. import lifecycle
        lifecycle.rename(self.client.root, self.id, str(name))
        self.reload()

    def _rt(self):
        from ..container import Runtime
        return Runtime(self.client.root)

    def start(self) -> None:
        """docker's start, by the helper (lifecycle.start): a created container's init is let
        go, a stopped one gets a new monitor; then StartedAt, the start event, its health
        checker (a fork: never the caller's) and its name in its network's hosts files."""
        self.client._request({"op": "start", "root": self.client.root, "id": self.id})
        self.reload()

    def kill(self, signal=None) -> None:          # noqa: A002 - docker-py's keyword
        """docker-py's kill: ``signal`` a name ("SIGTERM", "HUP") or number; SIGKILL if None."""
        from .. import lifecycle
        from ..signals import parse_signal
        lifecycle.mark_stopped(self.client.root, self.id)      # its restart policy stays off
        self._rt().kill(self.id, parse_signal(str(signal) if signal is not None else "SIGKILL"))

    def stop(self, timeout: float | None = None) -> None:
        """Its stop signal (SIGTERM), then after ``timeout`` (its stop timeout, 10) seconds SIGKILL
        to every process; its restart policy does not bring it back (as the CLI's stop)."""
        ops.stop_container(self.client.root, self.id, timeout)
        self.reload()

    def restart(self, timeout: float | None = None) -> None:
        """docker-py's restart: stop (SIGTERM, SIGKILL after ``timeout``), then start again."""
        self.stop(timeout)
        self.start()

    def update(self, **kw) -> dict:
        """docker-py's update: mem_limit, memswap_limit, cpu_shares, cpu_period, cpu_quota,
        cpuset_cpus, cpuset_mems, nano_cpus, pids_limit, blkio_weight, restart_policy; now on
        the running cgroup and for the next start (lifecycle.update)."""
        from .. import lifecycle
        from ..cgroups import convert
        policy = kw.pop("restart_policy", None)
        args = {k: v for k, v in options_from_kwargs("", None, **kw).items()   # run's names:
                if k != "image" and v != []}                              # mem_limit -> memory...
        unknown = set(args) - {"memory", "memory_swap", "cpu_shares", "cpu_period", "cpu_quota",
                               "cpuset_cpus", "cpuset_mems", "pids_limit", "blkio_weight", "cpus"}
        if unknown:
            raise PyContainerError(f"update: {sorted(unknown)[0]!r} is not supported")
        from .sdkargs import restart_of
        restart = restart_of(policy) if policy else None
        lifecycle.update(self.client.root, self.id, convert.docker_resources(**args) if args else {},
                         restart, cpus=args.get("cpus"))
        self.reload()
        return {"Warnings": []}

    def diff(self) -> list[dict]:
        """docker-py's diff: [{"Path": ..., "Kind": 0 changed | 1 added | 2 deleted}]."""
        from .. import lifecycle
        from ..image.changes import changes
        plan = lifecycle.overlay_plan(self.attrs)
        if plan is None or not plan.upper:
            raise PyContainerError(f"diff {self.id}: not a container made from an image")
        return [{"Path": p, "Kind": {"C": 0, "A": 1, "D": 2}[k]} for k, p in changes(plan.upper, plan.lower)]

    def pause(self) -> None:
        self._rt().pause(self.id)

    def unpause(self) -> None:
        self._rt().resume(self.id)

    def wait(self, timeout: float | None = None, condition: str = "not-running") -> dict:
        """Block until the program exits: ``{"StatusCode": n, "Error": None, "OOMKilled": b}``.

        docker's conditions: "not-running" (one never started is waited for until it has
        run, as `pycontainer wait` and moby#49627), "next-exit" (a stopped one must start and
        exit again) and "removed" (then until it is gone, as after auto_remove)."""
        from ..errors import ContainerNotFound, WaitTimeout
        from ..inspect import NEVER
        if condition not in ("not-running", "next-exit", "removed"):
            raise PyContainerError(f"wait condition {condition!r}: not-running, next-exit or removed")
        deadline = None if timeout is None else time.monotonic() + timeout

        def left():
            if deadline is None:
                return None
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"wait {self.id}: timed out after {timeout}s")
            return deadline - time.monotonic()
        self.reload()
        status = self.status
        if condition == "next-exit" or status == "created":
            # A start first. Until it shows "running", the previous run's exit.json may still be
            # there (start removes it, then spawns): only a moved StartedAt says this run began.
            started = self.attrs["State"].get("StartedAt")
            while status not in ("running", "paused"):
                st = self.attrs["State"]
                if status in ("exited", "dead") and st.get("StartedAt") not in (started, "", NEVER) \
                        and st.get("ExitCode", -1) != -1:
                    break              # it ran and exited between two looks (-1: still settling)
                left()
                time.sleep(0.02)
                self.reload()
                status = self.status
        code, oom = -1, False
        if status not in ("exited", "dead") or condition == "not-running":
            try:
                code, oom = ops.wait(self.client.root, self.id, left())
            except WaitTimeout:
                raise WaitTimeout(f"wait {self.id}: timed out after {timeout}s") from None
            except ContainerNotFound:   # it ran and exited before we looked: its runtime state
                pass                    # went, its directory keeps the status (below)
            if code == -1:
                try:
                    self.reload()
                except ContainerNotFound:
                    pass
        st = self.attrs["State"]
        if code == -1 and st.get("Status") in ("exited", "dead"):   # as recorded at its exit
            code, oom = st.get("ExitCode", -1), bool(st.get("OOMKilled"))
        if condition == "removed":
            try:
                while True:
                    left()
                    ops.inspect(self.client.root, self.id)
                    time.sleep(0.02)
            except ContainerNotFound:
                pass
        return {"StatusCode": code, "Error": None, "OOMKilled": oom}

    def remove(self, force: bool = False, v: bool = False) -> None:
        """docker-py's remove; ``v``: its anonymous volumes too (rm -v)."""
        from .. import lifecycle          # also a Created one kept without runtime state
        lifecycle.remove(self.client.root, self.id, force=force, volumes=v)

    def logs(self, stdout=True, stderr=True, stream=False, timestamps=False, tail="all", since=None,
             follow=None, until=None):
        """docker's logs: bytes, or with ``stream`` a generator of chunks (``follow``, default
        ``stream``, waits for more until the container exits). ``since``/``until``: datetime or
        Unix seconds; ``tail``: "all" or a number of lines."""
        from . import logs as lg
        if follow is None:
            follow = stream
        gen = (d for _s, d in lg.chunks(self.attrs.get("Dir", ""), stdout=stdout, stderr=stderr,
                                         timestamps=timestamps, tail=tail, since=since, until=until,
                                         follow=follow))
        return gen if stream else b"".join(gen)

    def attach(self, stdout=True, stderr=True, stream=False, logs=False, demux=False):
        """docker's attach (output only): from now (or from the start with ``logs``) until the
        container exits; a generator with ``stream``, else the bytes once it exited.
        ``demux``: (stdout, stderr) pairs."""
        from . import logs as lg
        cdir = self.attrs.get("Dir", "")
        reader = lg.Reader(cdir, at_end=not logs)     # "from now": when attach is called

        def gen():
            for s, d in lg.chunks(cdir, stdout=stdout, stderr=stderr, follow=True, reader=reader):
                yield ((d, None) if s == "stdout" else (None, d)) if demux else d
        if stream:
            return gen()
        if demux:
            parts = list(gen())
            return (b"".join(o for o, _ in parts if o) or None, b"".join(e for _, e in parts if e) or None)
        return b"".join(gen())

    def stats(self, stream: bool = False, decode=None, one_shot=None):
        """docker-py's: the Engine API's record (api/stats.py), or with ``stream`` one a second."""
        from . import stats as st
        if not stream:
            return st.sample(self._rt(), self.id, self.name)
        import json
        gen = st.stream(self._rt(), self.id, self.name)
        return gen if decode else (json.dumps(r).encode() for r in gen)

    def commit(self, repository=None, tag=None, **kw):
        """docker SDK ``Container.commit``; see pycontainer/build/api.py."""
        from ..build import api as build_api
        return build_api.commit(self.client, self.id, repository, tag, **kw)

    def top(self, ps_args: str | None = None) -> dict:
        """docker-py's: ``{"Titles": [...], "Processes": [[...], ...]}``, from ps(1) (pstop.py;
        ``ps_args`` as one string, default ``-ef``). ``pids()``: the PIDs alone."""
        import shlex
        from .. import pstop
        if ops.inspect(self.client.root, self.id)["State"]["Status"] not in ("running", "paused"):
            raise PyContainerError(f"Container {self.id} is not running")
        return pstop.as_docker(*pstop.table(self.pids(), shlex.split(ps_args or "") or None))

    def pids(self) -> list[int]:
        return self._rt().pids(self.id)

    def exec_run(self, cmd, stdout=True, stderr=True, stdin=False, tty=False, privileged=False,
                 user="", detach=False, stream=False, socket=False, environment=None, workdir=None,
                 demux=False, *, timeout: float | None = None, input: bytes | None = None,  # noqa: A002
                 max_output: int | None = DEFAULT_MAX_OUTPUT) -> ExecResult:
        """docker's exec_run: ``(exit_code, output)``; ``output`` is bytes, ``(stdout, stderr)``
        with ``demux``, a generator of chunks with ``stream`` (exit_code None), a socket with
        ``socket`` (an ``ExecSocket``: docker's multiplexed frames without a tty, raw with one;
        writes reach the program's stdin with ``stdin=True``). ``timeout`` (ours) kills the
        exec's process tree, not the container; ``input`` (ours) is its stdin. ``tty``: a
        pseudo-terminal is its stdio (one stream, CRLF line ends, as docker's)."""
        import shlex
        check_limits(timeout, max_output)
        args = shlex.split(cmd) if isinstance(cmd, str) else list(cmd)
        env = [f"{k}={v}" for k, v in environment.items()] if isinstance(environment, dict) \
            else list(environment or ())
        req = {"op": "exec", "root": self.client.root, "id": self.id, "args": args, "env": env,
               "user": user or None, "workdir": workdir, "privileged": privileged, "detach": detach,
               "timeout": timeout, "tty": bool(tty)}
        if detach:
            self.client._request(req)
            return ExecResult(None, None)
        if socket:                      # docker's: frames unless tty; stdin only if asked
            req.update(mux=not tty, attach=[bool(stdin), bool(stdout), bool(stderr)])
            return ExecResult(None, self.client._socket(req))
        separate = bool(demux) and not tty
        deadline = None if timeout is None else time.monotonic() + timeout + REPLY_GRACE
        gen = self.client.transport.open(req, separate=separate, stdin=input if stdin or input else None,
                                         deadline=deadline)
        if stream:
            return ExecResult(None, _chunks(gen, demux=separate, stdout=stdout, stderr=stderr))
        sinks = {1: Sink(max_output if stdout else 0), 2: Sink(max_output if stderr else 0)}
        reply = raise_error(collect(gen, sinks))
        out, err = sinks[1].value(), sinks[2].value()
        return ExecResult(reply["exit_code"], (out or None, err or None) if separate else out,
                          reply.get("timed_out", False))

    # --- files (docker's put_archive / get_archive; resolved inside the container's root) ---

    def put_archive(self, path: str, data) -> bool:
        """Extract a tar archive (bytes or an iterable of bytes) into the directory ``path``."""
        if not isinstance(data, (bytes, bytearray)):
            data = b"".join(data)
        req = {"op": "put_archive", "root": self.client.root, "id": self.id, "path": path}
        self.client._request(req, capture=True, stdin=bytes(data))
        return True

    def get_archive(self, path: str, chunk_size: int = 2 << 20, encode_stream: bool = False):
        """``(chunks, stat)``: a tar of ``path`` and docker's stat dict (name, size, mode, mtime,
        linkTarget)."""
        req = {"op": "get_archive", "root": self.client.root, "id": self.id, "path": path}
        reply, out, _err = self.client._request(req, capture=True)
        return (out[i:i + chunk_size] for i in range(0, len(out), chunk_size)), reply["stat"]

    def export(self, chunk_size: int = 2 << 20):
        """docker-py's: the container's filesystem as tar chunks (get_archive of /, by the helper)."""
        return self.get_archive("/", chunk_size)[0]

    def write_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to the file ``path`` in the container (its directory must exist)."""
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(os.path.basename(path))
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.put_archive(os.path.dirname(path) or "/", buf.getvalue())

    def read_file(self, path: str) -> bytes:
        """The contents of the regular file ``path`` in the container."""
        import io
        import tarfile
        chunks, stat = self.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise PyContainerError(f"read_file {path}: not a regular file")
            return tar.extractfile(member).read()


def _chunks(gen, *, demux: bool, stdout=True, stderr=True):
    """exec_run(stream=True)'s generator: bytes, or (stdout, stderr) pairs with ``demux``."""
    while True:
        try:
            stream, data = next(gen)
        except StopIteration as stop:
            raise_error(stop.value)
            return
        if (stream == 1 and not stdout) or (stream == 2 and not stderr):
            continue
        yield ((data, None) if stream == 1 else (None, data)) if demux else data


class ContainerCollection:
    def __init__(self, client):
        self.client = client

    def create(self, image: str, command=None, **kw) -> Container:
        """A created container (its program waits for ``start()``), with a monitor."""
        return self.make(image, command, start=False, **kw)

    def make(self, image, command=None, *, start, owned=False, **kw):
        """create (``start=False``) or run -d; ``owned``: the helper removes it when this client goes (pools)."""
        remove = bool(kw.get("auto_remove") or kw.get("remove"))
        cid, kw["name"] = _ids(self.client.root, kw.get("name"))
        o = dict(options_from_kwargs(image, command, **kw), **({"detach": True} if start else {}))
        if kw["name"] is None:                      # docker's generated name (eager_curie)
            from ..inspect import new_name
            o["name"] = new_name(self.client.root)
        req = {"op": "create", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "start": start, "remove": remove, "owned": owned}
        self.client._request(req)
        return Container(self.client, cid)

    def run(self, image: str, command=None, *, stdout=True, stderr=False, remove=False,
            detach=False, timeout: float | None = None, stream: bool = False, **kw):
        """docker's ``containers.run``: the output (bytes; with ``stream`` an iterator of its
        lines, as docker-py's log stream once the program is done), or a Container with
        ``detach``. Raises ``ContainerError`` (with stderr) when the program exits non-zero.
        """
        if detach:
            return self.make(image, command, start=True, remove=remove, **kw)
        kw.setdefault("egress", "allow-all")          # docker's run: no policy unless asked
        kw.setdefault("allow_ptrace", True)
        rec = on_out = on_err = shown = None
        lc = kw.get("log_config") or {}
        if not remove and kw.get("name") is None:     # kept: docker's generated name, as create's
            from ..inspect import new_name
            shown = new_name(self.client.root)
        cid, kw["name"] = _ids(self.client.root, kw.get("name"))
        if not remove and (lc.get("Type") or lc.get("type")) != "none":   # kept: for logs() too
            from .logs import Recorder
            rec = Recorder(cid)
            on_out, on_err = (lambda d: rec.feed("stdout", d)), (lambda d: rec.feed("stderr", d))
        try:
            r = self._run(image, command, timeout, remove, None, DEFAULT_MAX_OUTPUT, on_out, on_err,
                          shown, kw, cid)
        finally:
            if rec is not None:
                rec.close()
        if r.exit_code != 0:
            raise ContainerError(None if remove else Container(self.client, r.id), r.exit_code,
                                 command, image, r.stderr)
        out = (r.stdout if stdout else b"") + (r.stderr if stderr else b"")
        return iter(out.splitlines(keepends=True)) if stream else out

    def sandbox(self, image: str, command=None, *, timeout: float | None = None, remove: bool = True,
                input: bytes | None = None, max_output: int | None = DEFAULT_MAX_OUTPUT,  # noqa: A002
                on_stdout=None, on_stderr=None, **kw) -> SandboxResult:
        """Run to completion with a timeout that kills the whole cgroup; never raises for the
        program's own failure. Limits: mem_limit, nano_cpus/cpus, cpu_shares, pids_limit;
        network_mode="none" for no network; ``input`` (bytes) is the program's stdin.
        Bridged, it reaches no host, private or link-local address unless ``egress_allow=
        ["CIDR[:PORT]"]`` says so (``egress="allow-all"`` to lift it; network/egress.py).
        ``storage_opt={"size": "100m"}`` limits its writable layer (ENOSPC past it).
        ptrace(2) and process_vm_readv/writev are refused (``allow_ptrace=True``: docker's rule).

        ``max_output`` bytes of each stream are kept (default 16 MiB; the rest is read and
        dropped, ``truncated`` says so); ``on_stdout``/``on_stderr`` get every chunk as it
        comes. ``timeout`` holds within about 1 s whatever the output (the cgroup is killed at
        ``timeout``; removing it follows). The sandbox belongs to the caller: an interrupted
        call (KeyboardInterrupt) or a dead caller (kill -9) kills and removes it."""
        return self._run(image, command, timeout, remove, input, max_output, on_stdout, on_stderr,
                         None, kw)

    def _run(self, image, command, timeout, remove, stdin, max_output, on_stdout, on_stderr,
             shown_name: str | None, kw: dict, cid: str | None = None) -> SandboxResult:
        """sandbox()'s request; ``shown_name``: the name ps shows (run()'s kept container);
        ``cid``: its ID when run() chose it (its log's recorder has it), else a new one."""
        check_limits(timeout, max_output)
        if cid is None:
            cid, kw["name"] = _ids(self.client.root, kw.get("name"))
        kw.setdefault("egress", "deny-private")       # a bridged sandbox reaches no private address
        kw.setdefault("allow_ptrace", False)          # nor ptrace (docker's profile allows it)
        o = options_from_kwargs(image, command, **kw)
        if shown_name:
            o["name"] = shown_name                    # api/config.build keeps it in the dir
        req = {"op": "run", "root": self.client.root, "image_root": self.client.image_root,
               "id": cid, "options": o, "remove": remove, "timeout": timeout}
        t0 = time.monotonic()
        deadline = None if timeout is None else t0 + timeout + REPLY_GRACE
        sinks = {1: Sink(max_output, on_stdout), 2: Sink(max_output, on_stderr)}
        reply = raise_error(collect(self.client.transport.open(req, separate=True, stdin=stdin,
                                                                deadline=deadline), sinks))
        return SandboxResult(id=cid, exit_code=reply["exit_code"], stdout=sinks[1].value(),
                             stderr=sinks[2].value(), oom_killed=reply["oom_killed"],
                             timed_out=reply["timed_out"], wall_time=time.monotonic() - t0,
                             stdout_truncated=sinks[1].truncated, stderr_truncated=sinks[2].truncated)

    def get(self, container_id: str) -> Container:
        from ..inspect import resolve_id
        return Container(self.client, resolve_id(self.client.root, container_id))

    def prune(self, filters: dict | None = None) -> dict:
        """docker-py's prune: remove every stopped container (``container prune``)."""
        from .. import lifecycle
        gone, freed = lifecycle.prune(self.client.root)
        return {"ContainersDeleted": gone, "SpaceReclaimed": freed}

    def list(self, all: bool = False, before: str | None = None, filters: dict | None = None,  # noqa: A002
             limit: int = -1, since: str | None = None, sparse: bool = False,
             ignore_removed: bool = True) -> list[Container]:
        """Running containers (every one with ``all``; ``limit``: the newest N of all), newest
        first, matching docker's ``filters`` as ``ps --filter`` does (psfilter.py: id, name
        as a regular expression, label, status, exited, ancestor, before, since, network,
        volume, health, publish, expose); ``before``/``since``: created before or after that
        container (docker-py's, with every container, as docker's ps)."""
        from .. import psfilter
        if before or since:
            filters = dict(filters or {})
            for key, ref in (("before", before), ("since", since)):
                if ref:
                    filters[key] = ref
            all = True                           # noqa: A001 - docker's ps: -a with --before/--since
        recs = psfilter.rows(self.client.root, all_=all, filters=psfilter.from_sdk(filters),
                             last=limit if limit >= 0 else None)
        out = [Container(self.client, r["Id"], ops.complete(r)) for r in recs]
        return out if limit < 0 else out[:limit]
