"""Create a container in the background, under a monitor (``run -d``, the API's create).

::

    caller ──fork──▶ C ──fork──▶ M ─ setsid; pipes (or a console socket) for the init's 0/1/2
      │              exit        │  Runtime.create (M is stage 0: the init becomes M's child)
      │                          │  [start]
      ◀──── {"id", "pid"} or {"error": errors.encode(exc)} over a pipe
                                 └─ execve pycontainer-monitor, or python -I -S -c 'import monitor'
                                    (monitor.command; still the init's parent)

The double fork makes M nobody's child that would have to reap it (it goes to
the nearest subreaper, normally pid 1), and setsid(2) detaches it from the
caller's terminal and process group, so Ctrl-C in the shell that ran
``run -d`` does not reach it. Only a single-threaded caller may do this (the
CLI, or the API's helper process), never a threaded host program.

The container's directory keeps ``monitor.json`` (the monitor's pid and
start time, so ``wait`` can watch it with a pidfd), ``json.log`` and, once
the program exited, ``exit.json`` (their formats: ``containerdir.py``).
"""

from __future__ import annotations

import json
import os

from . import containerdir as cd


def spawn(rt, container_id: str, bundle: str, cdir: str, *, tty: bool = False, start: bool = True,
          remove: bool = False, interactive: bool = False, **create_kw) -> int:
    """Create (and start) the container under a monitor; return the init's pid.

    Raises the error the create or start raised, as its own class.
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            _become_monitor(rt, container_id, bundle, cdir, w, tty=tty, start=start,
                            remove=remove, interactive=interactive, create_kw=create_kw)
        except BaseException:  # noqa: BLE001
            pass
        finally:
            os._exit(1)
    os.close(w)
    try:
        # One line, not EOF: a created (not started) init still holds a copy of
        # ``w`` until its execve.
        data = b""
        while not data.endswith(b"\n"):
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    try:
        res = json.loads(data)
    except ValueError:
        from .errors import PyContainerError
        raise PyContainerError(f"run -d {container_id}: the monitor died before it reported") from None
    if "error" in res:
        from .errors import decode
        raise decode(res["error"])
    return res["pid"]


def _become_monitor(rt, cid, bundle, cdir, w, *, tty, start, remove, interactive, create_kw) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    cs = None
    fds = {}
    stdin = "-1"
    theirs = [null, null, null]              # the init's 0/1/2 (Runtime.create(stdio=))
    try:
        if interactive and not tty:          # -i: the program reads a pipe the monitor feeds
            theirs[0], in_w = os.pipe()
            stdin = str(in_w)
        elif interactive:
            stdin = "tty"
        listen = cd.bind_attach(cdir)
        if tty:
            from .terminal import ConsoleSocket
            cs = ConsoleSocket()
            create_kw["console_socket"] = cs.path
        else:
            out_r, theirs[1] = os.pipe()
            err_r, theirs[2] = os.pipe()
            fds = {"stdout": out_r, "stderr": err_r}
        # (our own stdio stays the caller's until the create is done: its warnings reach them,
        # not the container's log)
        record = rt.create(cid, bundle, autoremove=remove, stdio=theirs, **create_kw)
        if cs is not None:
            fds = {"stdout": cs.receive()}
            cs.close()
        oom_files = cd.oom_files(record)
        oom_before = cd.oom_kills(oom_files)
        cd.write_monitor(cdir, os.getpid())
        if start:
            rt.start(cid)
    except BaseException as exc:  # noqa: BLE001
        if cs is not None:
            cs.close()
        from .errors import encode
        os.write(w, json.dumps({"error": encode(exc)}).encode() + b"\n")
        os._exit(1)
    # The init holds the pipes' write ends (and -i's read end); ours must go, or EOF never comes.
    for fd in set(theirs) - {null}:
        os.close(fd)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    from .monitor import command
    opts = log_opts(bundle)                 # --log-driver none: the output goes nowhere
    log = os.devnull if opts.get("driver") == "none" else os.path.join(cdir, cd.LOG)
    argv = [*command(os.path.dirname(os.path.abspath(__file__))), "--id", cid, "--pid", str(record["pid"]), "--log", log,
            "--exit", os.path.join(cdir, cd.EXIT), "--oom-before", str(oom_before)]
    size, files = cd.log_limits(opts)
    if size:
        argv += ["--log-max-size", str(size), "--log-max-file", str(files)]
    for name, fd in fds.items():
        os.set_inheritable(fd, True)
        argv += ["--fd", f"{name}={fd}"]
    for fd in ([int(stdin)] if stdin.isdigit() else []) + [listen.fileno()]:
        os.set_inheritable(fd, True)
    argv += ["--tty", "1" if tty else "0", "--stdin", stdin, "--attach", str(listen.fileno())]
    for f in oom_files:
        argv += ["--oom", f]
    from . import selfcmd                   # --rm: delete; else give back IP and ports
    argv += ["--", *selfcmd.argv(rt.root, ["delete", "--force", cid] if remove else
                                 ["release-network", cid])]
    os.write(w, json.dumps({"id": cid, "pid": record["pid"]}).encode() + b"\n")
    os.close(w)
    os.chdir("/")
    os.execv(argv[0], argv)


def log_opts(bundle: str) -> dict:
    """The container's ``--log-opt`` values, from its config.json ({} when none)."""
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            ann = json.load(f).get("annotations") or {}
        return json.loads(ann.get(cd.LOG_OPTS) or "{}")
    except (OSError, ValueError):
        return {}
