"""``run`` has two users: which form a command line means, and one help page for both.

runc's users type ``run [-b BUNDLE] [OPTIONS] ID`` (the bundle defaults to
the current directory); docker's type ``run [OPTIONS] IMAGE [COMMAND...]``.
Only the options before the first argument belong to pycontainer: what
follows IMAGE is the container's command, as with docker (``run busybox ls
--help`` shows ls's help). The rule, in order:

1. ``--help`` (or a lone ``-h``) before the first argument: the page below;
2. ``-b``/``--bundle`` or an option only runc's ``run`` has
   (``--console-socket``, ``--pid-file``, ``--preserve-fds``): the bundle;
   an option only docker's has (``--rm``, ``-it``, ``-e``...): the image;
   both kinds at once is an error;
3. one argument that can be a container ID (no ``/``, ``:`` or ``@``), typed
   in a directory holding ``config.json``: the bundle form, as ``runc run
   ID``, unless that name is also an image in the local store (or a
   built-in one), which is ambiguous and refused with what to type instead;
4. anything else: the image.

``parse_fast`` reads the common docker command lines without click (whose
import costs ~30 ms, a fifth of the whole ``run --rm busybox true``), for
``_fastcli``: the same rule, and click's own parsing rules for the options
in its tables; any other option, ``--help``/``-h``, a value click would
convert or refuse, or the bundle case of rule 3 is left to click.

``run`` is docker run itself, once parsed (by click in ``porcelain.run_cmd``,
or by ``parse_fast``): build the container from the image and run it in the
foreground, under a terminal (``-t``) or a monitor (``-d``).
"""

from __future__ import annotations

import os

from .errors import PyContainerError

HELP_SWITCHES = ("--help",)


def _options(cmd) -> dict[str, bool]:
    """Option name -> whether it takes a value, for a click command's options."""
    table: dict[str, bool] = {}
    for p in cmd.params:
        for name in list(getattr(p, "opts", [])) + list(getattr(p, "secondary_opts", [])):
            if name.startswith("-"):
                table[name] = not getattr(p, "is_flag", False)
    return table


def _scan(args: list[str], table: dict[str, bool]) -> tuple[list[str], int, bool]:
    """Walk the leading options: -> (option names seen, index of the first argument, help asked)."""
    seen: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or not a.startswith("-") or a == "-":
            break
        if a in HELP_SWITCHES or (a == "-h" and i == len(args) - 1):
            return seen, i, True
        if a.startswith("--"):
            name, eq, _ = a.partition("=")
            seen.append(name)
            if table.get(name) and not eq:
                i += 1                                   # its value
        else:                                            # a cluster of short options: -dit, -eK=V
            for j, ch in enumerate(a[1:], 1):
                seen.append("-" + ch)
                if table.get("-" + ch):
                    if j == len(a) - 1:
                        i += 1                           # the value is the next argument
                    break
        i += 1
    return seen, i, False


def _is_local_image(name: str) -> bool:
    from .image import builtin
    from .image.store import Store
    try:
        return builtin.is_builtin(name) or Store().exists(name)
    except PyContainerError:
        return False


def choose(args: list[str], bundle_cmd, image_cmd, verb: str = "run") -> tuple[str, list[str]]:
    """-> ("help" | "bundle" | "image", the arguments for that form's command); the same rule
    for ``create`` (runc's ``create [-b BUNDLE] ID``, docker's ``create [OPTIONS] IMAGE``)."""
    bundle, image = _options(bundle_cmd), _options(image_cmd)
    seen, first, wants_help = _scan(args, {**image, **bundle})
    if wants_help:
        return "help", args
    runc_only = [o for o in seen if o in bundle and o not in image]
    docker_only = [o for o in seen if o in image and o not in bundle]
    if runc_only and docker_only:
        raise PyContainerError(f"{verb}: {runc_only[0]} is an option of the bundle form (runc) and "
                               f"{docker_only[0]} one of the image form (docker): use one form "
                               f"(pycontainer {verb} --help)")
    if runc_only:
        return "bundle", args
    if docker_only:
        return "image", args
    rest = args[first + 1:] if first < len(args) and args[first] == "--" else args[first:]
    if not rest:
        raise PyContainerError(f"{verb}: give an IMAGE (docker's form) or a container ID with an OCI "
                               f"bundle (runc's: -b BUNDLE ID); see pycontainer {verb} --help")
    name = rest[0]
    if len(rest) == 1 and not any(c in name for c in "/:@") and os.path.isfile("config.json"):
        from .state import validate_id
        try:
            validate_id(name)
        except PyContainerError:
            return "image", args
        if _is_local_image(name):
            raise PyContainerError(
                f"{verb} {name}: ambiguous: {name!r} is a local image and ./config.json a bundle; "
                f"for the bundle say 'pycontainer {verb} -b . {name}', for the image "
                f"'pycontainer {verb} {name}:latest' (or any docker option, e.g. --rm)")
        return "bundle", args
    return "image", args


# docker run's options parse_fast reads (porcelain.run_cmd has them all; the rest go to click).
# Each maps to run_cmd's parameter: the long name with "_" for "-", but for FAST_DEST.
FAST_FLAGS = {"--detach", "--rm", "--interactive", "--tty", "--read-only", "--privileged", "--init",
              "--publish-all", "--no-healthcheck", "--oom-kill-disable", "--quiet"}
FAST_VALUES = {"--name", "--network", "--hostname", "--workdir", "--user", "--entrypoint", "--memory",
               "--memory-swap", "--cpus", "--cpu-shares", "--cpuset-cpus", "--pids-limit", "--restart",
               "--stop-signal", "--cidfile", "--platform", "--shm-size", "--userns", "--ip", "--gpus",
               "--image-root", "--health-cmd", "--health-interval", "--health-timeout",
               "--health-start-period", "--blkio-weight", "--ipc", "--pid", "--uts", "--cgroupns",
               "--domainname", "--cpu-period", "--cpu-quota", "--cpuset-mems", "--memory-reservation",
               "--memory-swappiness", "--kernel-memory", "--log-driver", "--cgroup-parent"}
FAST_MULTI = {"--env", "--volume", "--publish", "--label", "--cap-add", "--cap-drop", "--security-opt",
              "--device", "--group-add", "--env-file", "--mount", "--tmpfs", "--ulimit", "--add-host",
              "--dns", "--dns-search", "--log-opt", "--network-alias", "--device-cgroup-rule",
              "--sysctl", "--annotation", "--expose", "--volumes-from", "--storage-opt", "--dns-option",
              "--label-file", "--blkio-weight-device"}
FAST_INT = {"--stop-timeout", "--health-retries", "--oom-score-adj"}                 # click's INT: int(VALUE)
FAST_CHOICE = {"--pull": ("missing", "never", "always")}
FAST_ALIAS = {"--net": "--network", "-d": "--detach", "-i": "--interactive", "-t": "--tty",
              "-P": "--publish-all", "-w": "--workdir", "-u": "--user", "-m": "--memory",
              "-c": "--cpu-shares", "-e": "--env", "-v": "--volume", "-p": "--publish", "-l": "--label",
              "-q": "--quiet"}
FAST_DEST = {"--rm": "remove"}
# the options both forms of run have: they alone do not pick the image form (rule 2)
BOTH_FORMS = {"--detach", "-d"}
IMAGE_ROOT_ENV = "PYCONTAINER_IMAGE_ROOT"                         # --image-root's envvar


def _int_text(v: str) -> bool:
    return v.isascii() and (v[1:] if v[:1] == "-" else v).isdigit()


def parse_fast(args: list[str]):
    """``run``'s arguments -> (run_cmd's parameters that were given, IMAGE, COMMAND) when the
    image form is meant and every option is in the tables above; None to let click decide.

    The parameters: flags True, values the last one given (int for FAST_INT), repeatable
    options a list; ``pull`` and ``image_root`` are always there (their defaults)."""
    params: dict = {}
    docker_only = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        if a.startswith("--"):
            name, eq, val = a.partition("=")
            name = FAST_ALIAS.get(name, name)
            if name in FAST_FLAGS:
                if eq:
                    return None                          # click: "does not take a value"
                params[FAST_DEST.get(name, name[2:].replace("-", "_"))] = True
            elif name in FAST_VALUES or name in FAST_MULTI or name in FAST_INT or name in FAST_CHOICE:
                if not eq:
                    if i + 1 >= len(args):
                        return None
                    i += 1
                    val = args[i]
                if not _put(params, name, val):
                    return None
            else:
                return None
            docker_only = docker_only or name not in BOTH_FORMS
        else:                                            # -dit, -eK=V, -e K=V: click's short rules
            for j, ch in enumerate(a[1:], 2):
                name = FAST_ALIAS.get("-" + ch)
                if name is None:
                    return None                          # -h (help or --hostname), unknown: click
                docker_only = docker_only or "-" + ch not in BOTH_FORMS
                if name in FAST_FLAGS:
                    params[name[2:].replace("-", "_")] = True
                    continue
                if j < len(a):
                    val = a[j:]
                elif i + 1 < len(args):
                    i += 1
                    val = args[i]
                else:
                    return None
                if not _put(params, name, val):
                    return None
                break
        i += 1
    rest = args[i:]
    if not rest:
        return None                                      # click: "missing argument IMAGE"
    if not docker_only and len(rest) == 1 and not any(c in rest[0] for c in "/:@") and \
            os.path.isfile("config.json"):
        return None                                      # maybe runc's `run ID` (rule 3): click
    params.setdefault("pull", "missing")
    params.setdefault("image_root", os.environ.get(IMAGE_ROOT_ENV) or None)
    return params, rest[0], rest[1:]


def _put(params: dict, name: str, val: str) -> bool:
    dest = name[2:].replace("-", "_")
    if name in FAST_MULTI:
        params.setdefault(dest, []).append(val)
    elif name in FAST_INT:
        if not _int_text(val):
            return False                                 # click's message for a bad number
        params[dest] = int(val)
    elif name in FAST_CHOICE:
        if val not in FAST_CHOICE[name]:
            return False
        params[dest] = val
    else:
        params[dest] = val
    return True


class _Pulling:
    """run's and create's feedback while they pull a missing image, as docker's: "Unable to
    find image 'X' locally", then each layer's progress, on stderr (image/registry.py's
    TerminalProgress, imported only once a pull happens; -q: none)."""

    def __getattr__(self, name):
        if "_p" not in self.__dict__:
            from .image.registry import TerminalProgress
            self.__dict__["_p"] = TerminalProgress()
        return getattr(self.__dict__["_p"], name)


def _feedback(flags: dict):
    return None if flags.get("quiet") else _Pulling()


def _prepare(root: str, image: str, command, name, remove: bool, interactive: bool, tty: bool,
             flags: dict) -> tuple[str, dict]:
    """A new container ID (docker's: 64 hex digits, names.py), its --name checked (free, in
    docker's syntax) or one generated, and its options, as the API takes them."""
    from . import inspect as insp
    from . import names, run_flags
    cid = names.new_id()
    name = insp.check_name_free(root, name) if name is not None else insp.new_name(root)
    o = {k: (list(v) if isinstance(v, (tuple, list)) else v) for k, v in flags.items()
         if v not in (None, (), [], False) and k not in ("quiet", "sig_proxy", "detach_keys")}
    o["volumes"] = o.pop("volume", [])
    o.update(image=image, command=list(command) or None, tty=tty, interactive=interactive)
    o["remove"] = remove
    o["name"] = name                 # kept in the container's dir (api/config.build), shown, resolved
    run_flags.apply(o)
    return cid, o


def create(root: str, image: str, command, *, name=None, remove=False, interactive=False, tty=False,
           pull="missing", image_root=None, flags: dict) -> int:
    """docker create (``porcelain.create_cmd``): the container, made and waiting under its
    monitor for ``start`` (``start -a`` prints its output); prints the ID."""
    from . import run_flags
    from .api import operations as ops
    attach = attach_streams(flags.pop("attach", None), False)
    cid, o = _prepare(root, image, command, name, remove, interactive, tty, flags)
    o["attach"] = attach
    ops.op_create(root, cid, o, start=False, remove=remove, image_root=image_root, pull=pull,
                  progress=_feedback(flags))      # a missing program: its start fails (docker's)
    run_flags.write_cidfile(o, cid)
    import sys
    sys.stdout.write(cid + "\n")
    sys.stdout.flush()
    return 0


def run(root: str, image: str, command, *, name=None, detach=False, remove=False, interactive=False,
        tty=False, pull="missing", image_root=None, flags: dict) -> int:
    """docker run (``porcelain.run_cmd``, and ``_fastcli`` without click): ``flags`` are the
    other options as click gives them (unset ones None, (), False or absent); -> the exit status
    (the program's; 0 with ``detach``, after printing the ID)."""
    from . import lifecycle
    from .api import operations as ops
    from .container import Runtime
    attach = attach_streams(flags.pop("attach", None), detach)
    if attach is not None:
        interactive = interactive and "stdin" in attach     # docker: -i opens it, -a picks it
    if tty and interactive and not detach and not os.isatty(0):
        from . import log                # docker/cli's CheckTty: status 1, and nothing is made
        log.error("the input device is not a TTY (-t needs a terminal on stdin; leave -t out "
                  "to pipe into the container)")
        return 1
    cid, o = _prepare(root, image, command, name, remove, interactive, tty, flags)
    o["attach"] = attach
    from . import containerdir, run_flags
    if detach:
        o["detach"] = True                       # inspect's Config.Attach*: false, as docker's
        ops.op_create(root, cid, o, start=True, remove=remove, image_root=image_root, pull=pull,
                      progress=_feedback(flags))
        lifecycle.started(root, cid, o.get("user_network"))
        run_flags.write_cidfile(o, cid)
        import sys
        sys.stdout.write(cid + "\n")
        sys.stdout.flush()
        return 0
    run_flags.write_cidfile(o, cid)
    if tty and interactive and os.isatty(0) or flags.get("sig_proxy") is False:
        # docker's run -it: the program under its monitor, as `run -dit`, and this process only
        # a client of its attach socket (attach.py), connected before the start: Ctrl-P Ctrl-Q
        # detach, and the container outlives this terminal, as docker's does. The same for
        # --sig-proxy=false: this client's signals are its own, the container goes on.
        from . import terminal
        from .attach import DETACH_KEYS, parse_detach_keys, session
        keys = DETACH_KEYS if flags.get("detach_keys") is None else parse_detach_keys(flags["detach_keys"])
        if tty:
            o["console_size"] = terminal.console_size()
        ops.op_create(root, cid, o, start=False, remove=remove, image_root=image_root, pull=pull,
                      progress=_feedback(flags))

        def start(connect):
            connect()
            try:
                lifecycle.start(root, cid)
            except BaseException as exc:
                lifecycle.failed(root, cid, exc, remove=remove)
                raise
            lifecycle.started(root, cid, o.get("user_network"))
        return session(root, cid, ops.inspect(root, cid), stdin=interactive, start=start,
                       sig_proxy=flags.get("sig_proxy") is not False, keys=keys)
    if tty:
        from . import terminal
        o["console_size"] = terminal.console_size()
        cdir, plan = ops.build(cid, dict(o, remove=remove), image_root=image_root, pull=pull,
                               progress=_feedback(flags),
                               root=root)
        try:
            code = terminal.run(Runtime(root), cid, cdir, interactive=interactive, remove=remove,
                                overlay=plan, on_delete=containerdir.delete_plan(),
                                log_opts=o.get("log_opts"))
        except BaseException as exc:
            lifecycle.failed(root, cid, exc, remove=remove)
            raise
        if not remove:
            lifecycle.release_network(root, cid)
        return code
    if not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    return ops.op_run(root, cid, o, remove=remove, image_root=image_root, forward_signals=True,
                      progress=_feedback(flags), pull=pull, log=True,
                      show=attach if attach is not None else ("stdout", "stderr"))["exit_code"]


def attach_streams(given, detach: bool) -> tuple | None:
    """docker run -a/--attach: the streams named (any case), or None when none is (docker's
    default: stdout and stderr, and stdin with -i). With -d: docker's conflict error."""
    if not given:
        return None
    if detach:
        raise PyContainerError("Conflicting options: -a and -d")
    out = []
    for g in given:
        if g.lower() not in ("stdin", "stdout", "stderr"):
            raise PyContainerError(f'invalid argument "{g}" for "-a, --attach" flag: valid streams '
                                   "are STDIN, STDOUT and STDERR")
        out.append(g.lower())
    return tuple(dict.fromkeys(out))


def help_page(bundle_cmd, image_cmd, verb: str = "run") -> str:
    """Both forms on one page: usage, the rule that picks one, each form's options."""
    import click
    what = {"run": ("Run a command in a new container from IMAGE (docker run), or create and start "
                    "the container of an OCI bundle (runc run)."),
            "create": ("Create a container from IMAGE that waits for `start` (docker create; "
                       "`start -a` prints its output), or create the container of an OCI bundle, "
                       "whose init waits for `start` (runc create).")}[verb]
    f = click.HelpFormatter()
    f.write(f"Usage: pycontainer {verb} [OPTIONS] IMAGE [COMMAND] [ARG...]   (docker's form)\n"
            f"       pycontainer {verb} [-b BUNDLE] [OPTIONS] CONTAINER_ID   (runc's form)\n")
    f.write_paragraph()
    with f.indentation():
        f.write_text(what)
        f.write_paragraph()
        f.write_text("Which form: -b/--bundle, --console-socket, --pid-file or --preserve-fds mean "
                     "the bundle; any option of docker's alone (--rm, -it, -e, --name...) means the "
                     "image. Without either, a single argument that can be a container ID, typed in "
                     "a directory holding config.json, is runc's `%s ID` with the bundle in the "
                     "current directory, unless it also names a local image: then pycontainer asks "
                     "you to say which (`%s -b . ID` or `%s IMAGE:TAG`). Anything else is the "
                     "image form." % (verb, verb, verb))
        f.write_paragraph()
        f.write_text("Options go before IMAGE: everything after it is the container's command and "
                     "its arguments, as with docker (`%s busybox ls --help` gives ls that option; "
                     "`%s busybox --help` looks for a program named --help)." % (verb, verb))
    for title, cmd in ((f"Options of the bundle form (runc {verb})", bundle_cmd),
                       (f"Options of the image form (docker {verb})", image_cmd)):
        ctx = click.Context(cmd, info_name=verb)
        rows = [r for r in (p.get_help_record(ctx) for p in cmd.params
                            if isinstance(p, click.Option) and p.name != "help") if r]
        with f.section(title):
            f.write_dl(rows)
    with f.section("Both"):
        f.write_dl([("--help", "Show this page (-h too, when it is the only option).")])
    return f.getvalue()
