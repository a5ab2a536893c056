"""A click-free parser for the hot verbs engines call on every container.

Importing click costs ~30 ms here, more than runc needs for a whole
container start, and containerd and conmon call ``create``, ``start``,
``state``, ``kill``, ``delete`` and ``exec --process`` (the kubelet's probes)
(plus benchmarks' ``run -b``) with a small, fixed set of flags. This module recognises exactly those command
lines and calls the same ``Runtime`` methods the click commands call.
Anything else (``--help``, an unknown flag, any other verb) returns
``None`` and the full click CLI in ``pycontainer.cli`` handles it, so the
behaviour is the same whichever parser runs; ``tests/unit/test_fastcli.py``
checks the two agree.

Also without click: runc's ``update`` and ``ps ID`` (``_MORE_VERBS``, podman
and containerd call them), and docker's ``run [OPTIONS] IMAGE [COMMAND...]``,
the form people type (``docker_run``; the options are read by
``runform.parse_fast``, by click's rules, and run by ``runform.run``).
"""

from __future__ import annotations

import sys

_GLOBAL_VALUE = {"--root", "--log", "--log-format", "--rootless", "--trace-to"}
_GLOBAL_FLAG = {"--debug", "--systemd-cgroup", "--trace"}

# verb -> (options taking a value, flag options, aliases)
_VERBS = {
    "create": ({"--bundle", "--console-socket", "--pid-file", "--preserve-fds"},
               {"--no-pivot", "--no-new-keyring"}, {"-b": "--bundle"}),
    "run": ({"--bundle", "--console-socket", "--pid-file", "--preserve-fds"},
            {"--detach", "--no-pivot", "--no-new-keyring"}, {"-b": "--bundle", "-d": "--detach"}),
    "start": (set(), set(), {}),
    "state": (set(), set(), {}),
    "delete": (set(), {"--force"}, {"-f": "--force"}),
    "kill": (set(), {"--all"}, {"-a": "--all"}),
    # kubelet/podman's pause and resume, and `features` (engines probe it): click cost ~200 ms
    # under load for a freezer write
    "pause": (set(), set(), {}),
    "resume": (set(), set(), {}),
    "features": (set(), set(), {}),
    # containerd's shim on every ExecSync (kubelet probes): `exec --process F --detach --pid-file P ID`
    "exec": ({"--process", "--console-socket", "--pid-file", "--preserve-fds"}, {"--detach", "--tty"},
             {"-p": "--process", "-d": "--detach", "-t": "--tty"}),
}

# runc's `update ... ID` (podman and containerd on every resource change) and `ps [-f json] ID`
# (docker's `ps` without an ID is the porcelain's, via click); run by runc_more() below
_MORE_VERBS = {
    "update": ({"--resources", "--memory", "--memory-swap", "--memory-reservation", "--kernel-memory",
                "--kernel-memory-tcp", "--cpu-share", "--cpu-period", "--cpu-quota", "--cpu-rt-period",
                "--cpu-rt-runtime", "--cpuset-cpus", "--cpuset-mems", "--pids-limit", "--blkio-weight"},
               set(), {"-r": "--resources", "--cpu-shares": "--cpu-share"}),
    "ps": ({"--format"}, set(), {"-f": "--format"}),
}


def _globals(argv: list[str]):
    """The global options before the verb -> (globals dict, index of the verb) or None."""
    g: dict = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        name, eq, val = argv[i].partition("=")
        if name in _GLOBAL_VALUE:
            if not eq:
                if i + 1 >= len(argv):
                    return None
                i += 1
                val = argv[i]
            g[name] = val
        elif name in _GLOBAL_FLAG and not eq:
            g[name] = True
        else:
            return None
        i += 1
    if g.get("--log-format", "text") not in ("text", "json"):
        return None
    if g.get("--rootless", "auto") not in ("auto", "false"):
        return None
    return g, i


def parse(argv: list[str]):
    """-> (globals dict, verb, options dict, positionals) or None to use click."""
    got = _globals(argv)
    if got is None:
        return None
    g, i = got
    if i >= len(argv) or (argv[i] not in _VERBS and argv[i] not in _MORE_VERBS):
        return None
    verb = argv[i]
    values, flags, aliases = _VERBS.get(verb) or _MORE_VERBS[verb]
    opts: dict = {}
    pos: list[str] = []
    i += 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            pos.extend(argv[i + 1:])
            break
        if a.startswith("-") and len(a) > 1:
            name, eq, val = a.partition("=")
            if eq and not name.startswith("--"):
                return None                   # click: -b=X is "=X", runc's X; click decides
            name = aliases.get(name, name)
            if name in values:
                if not eq:
                    if i + 1 >= len(argv):
                        return None
                    i += 1
                    val = argv[i]
                opts[name] = val
            elif name in flags and not eq:
                opts[name] = True
            else:
                return None
        else:
            pos.append(a)
        i += 1
    # `kill ID` without a signal: click decides (SIGKILL for an image container, as docker)
    want = {"kill": (2, 2), "run": (1, 1), "features": (0, 0)}.get(verb, (1, 1))
    if not want[0] <= len(pos) <= want[1]:
        return None
    if verb in ("run", "create") and "--bundle" not in opts and not (verb == "create" and opts):
        return None                       # `run IMAGE`, `create IMAGE`: the porcelain, via click
    if verb == "exec" and ("--process" not in opts or argv[-1] != pos[0] or
                           (opts.get("--tty") and not opts.get("--console-socket") and not opts.get("--detach"))):
        return None                       # a command line, options after the ID, or `exec -t` for people
    if verb == "ps" and opts.get("--format", "table") not in ("table", "json"):
        return None                       # click's message
    if "--preserve-fds" in opts and not opts["--preserve-fds"].lstrip("-").isdigit():
        return None
    return g, verb, opts, pos


def _prime_cgroup_attach(verb: str) -> None:
    """For a verb that will write a pid to cgroup.procs, start waiting out the kernel's
    RCU grace period of that first write now, in a thread (``cgroups.attachlock``):
    it passes while the imports and config.json below take their time."""
    if verb in ("create", "run", "exec"):
        from .cgroups import attachlock
        attachlock.start()


def main(argv: list[str]) -> bool:
    """Handle ``argv`` if it is a hot-path command line; False to fall back to click."""
    parsed = parse(argv)
    if parsed is None:
        return docker_run(argv)
    g, verb, opts, pos = parsed
    _prime_cgroup_attach(verb)
    from . import log
    from .errors import PyContainerError
    root = _setup(g, verb)
    code = 0
    try:
        from .container import Runtime
        rt = Runtime(root)
        cid = pos[0] if pos else ""
        if verb in _SHARED and not _is_runtime_id(root, cid):
            return False              # a name or an ID prefix (docker's verbs): click resolves it
        if verb in ("kill", "pause") and _image_container(root, cid):
            return False              # docker's kill and pause: print the name, keep --restart off
        if verb == "features":
            import json

            from .features import features as feats
            sys.stdout.write(json.dumps(feats(), indent=2) + "\n")
        elif verb == "create":
            rt.create(cid, opts.get("--bundle", "."), console_socket=opts.get("--console-socket"),
                      pid_file=opts.get("--pid-file"), preserve_fds=int(opts.get("--preserve-fds", 0)))
        elif verb == "run":
            code = rt.run(cid, opts["--bundle"], detach=bool(opts.get("--detach")),
                          console_socket=opts.get("--console-socket"), pid_file=opts.get("--pid-file"),
                          preserve_fds=int(opts.get("--preserve-fds", 0)))
        elif verb == "start":
            from . import state as st
            from .errors import ContainerNotFound
            try:
                ann = st.StateDir(root, cid).read().get("annotations") or {}
            except ContainerNotFound:
                return False          # maybe an image container kept as a directory (docker start)
            if "org.pycontainer.dir" in ann:
                return False          # an image container: docker's start, via click
            rt.start(cid, wait_exec=False)       # runc's start: no wait for the exec
        elif verb == "state":             # engines call it after every create and start
            from .jsonio import dumps_indented
            sys.stdout.write(dumps_indented(rt.state(cid)) + "\n")
        elif verb == "delete":
            rt.delete(cid, force=bool(opts.get("--force")))
        elif verb == "exec":          # (jsonio: `json` imports re and enum, ~7 ms of every probe)
            from .jsonio import loads
            try:
                with open(opts["--process"]) as f:
                    proc = loads(f.read())
            except (OSError, ValueError) as exc:
                from .errors import SpecError
                raise SpecError(f"exec --process {opts['--process']}: {exc}") from None
            if proc.get("terminal") and not opts.get("--console-socket") and not opts.get("--detach"):
                from . import terminal        # runc in the foreground: our pty (as cli.exec_)
                code = terminal.exec_(rt, cid, proc, interactive=True)
            else:
                code = rt.exec(cid, proc, detach=bool(opts.get("--detach")),
                               console_socket=opts.get("--console-socket"), pid_file=opts.get("--pid-file"),
                               preserve_fds=int(opts.get("--preserve-fds", 0)))
        elif verb == "pause":
            rt.pause(cid)
        elif verb == "resume":
            rt.resume(cid)
        elif verb == "kill":
            from .signals import parse_signal
            rt.kill(cid, parse_signal(pos[1] if len(pos) > 1 else "SIGTERM"), bool(opts.get("--all")))
        elif verb in _MORE_VERBS:
            if verb == "update" and _image_container(root, cid):
                return False          # docker's update (kept for the next start), via click
            runc_more(rt, verb, opts, cid)
    except PyContainerError as exc:
        log.error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    _exit(code)


# runc's verbs that docker has too: docker's take a name or a prefix of the ID
_SHARED = ("start", "exec", "kill", "pause", "resume", "update")


def _is_runtime_id(root: str, cid: str) -> bool:
    """A container has this ID (its state dir; one stat, as runc's own lookup)."""
    from . import paths
    return "/" not in cid and paths.isdir(paths.join(root, cid))


def _image_container(root: str, cid: str) -> bool:
    """A container made from an image (or only its directory left): docker's verbs apply.
    (inspect.from_image's test, without importing inspect, whose json pulls in re.)"""
    from . import state as st
    from .errors import ContainerNotFound
    try:
        return "org.pycontainer.dir" in (st.StateDir(root, cid).read().get("annotations") or {})
    except ContainerNotFound:         # a stopped docker container may be its directory alone
        from .inspect import owned_dir
        return owned_dir(root, cid) is not None


def runc_more(rt, verb: str, opts: dict, cid: str) -> None:
    """``update`` and ``ps ID``: what cli.update and cli.ps do with the same options."""
    if verb == "update":
        from .cgroups import convert
        rt.update(cid, convert.runc_update(update_flags(opts), opts.get("--resources")))
    else:
        from . import runcps
        runcps.show(rt, cid, opts.get("--format", "table"))


def update_flags(opts: dict) -> dict:
    """``update``'s options -> cli.update's ``flags`` (click's parameter names, in the order
    given: the first bad one is the one reported)."""
    return {o[2:].replace("-", "_"): v for o, v in opts.items() if o != "--resources"}


def _setup(g: dict, verb: str) -> str:
    """What the click group does with the global options (cli.main_group); -> the state root."""
    from . import log, paths, trace
    from .errors import PyContainerError
    try:
        log.configure(g.get("--log"), g.get("--log-format", "text"), bool(g.get("--debug")))
    except PyContainerError as exc:
        log.error(str(exc))
        sys.exit(exc.exit_code)
    if g.get("--trace") or g.get("--trace-to"):
        trace.enable(g.get("--trace-to") or "1")
    else:
        trace.enable_from_env()
    trace.event("command line parsed", "", verb=verb)
    if g.get("--systemd-cgroup"):
        log.warning("--systemd-cgroup is not supported: pycontainer manages cgroupfs directly; "
                    "cgroupsPath is taken as a path")
    root = g.get("--root", "/run/pycontainer")
    return root if root.startswith("/") else paths.abspath(root)


def _exit(code: int):
    import posix

    from . import trace
    sys.stdout.flush()
    if trace.page_pending():
        sys.exit(code)                    # atexit draws the --trace-to FILE.html page
    # The verb is done and everything it wrote is closed or flushed; tearing the
    # interpreter down (module by module) would cost ~2 ms more of every call.
    sys.stderr.flush()
    posix._exit(code)


# --- docker's `run IMAGE`: the form people type (runform.parse_fast reads it) ---------------

def parse_docker_run(argv: list[str]):
    """``[GLOBALS] run [OPTIONS] IMAGE [COMMAND...]`` -> (globals, run_cmd's parameters given,
    IMAGE, COMMAND), or None for click (see runform.parse_fast)."""
    got = _globals(argv)
    if got is None:
        return None
    g, i = got
    if i >= len(argv) or argv[i] != "run":
        return None
    from .runform import parse_fast
    p = parse_fast(argv[i + 1:])
    return None if p is None else (g, *p)


def docker_run(argv: list[str]) -> bool:
    """docker run without click: as ``cli.run`` -> ``porcelain.run_cmd`` -> ``runform.run``,
    with docker's exit statuses (``dockercli``: 125 for the engine's errors, 126/127)."""
    parsed = parse_docker_run(argv)
    if parsed is None:
        return False
    g, params, image, command = parsed
    _prime_cgroup_attach("run")
    from . import exitcodes, log, runform
    from .errors import PyContainerError
    root = _setup(g, "run")
    f = dict(params)
    kw = {k: f.pop(k) for k in ("name", "detach", "remove", "interactive", "tty", "pull", "image_root")
          if k in f}
    try:
        code = runform.run(root, image, command, flags=f, **kw)
    except PyContainerError as exc:
        log.error(str(exc))
        code = exitcodes.for_error(exc)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("\n")           # click's blank line after ^C, then cli.main's 130
        code = 130
    except BrokenPipeError:
        code = 1                          # click's main: EPIPE exits 1, silently
    _exit(code)
