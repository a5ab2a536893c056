"""The command line: runc's verbs and flags, each a thin call into the library.

Engines drive this exactly as they drive runc (see tests/clients/scripts/*.sh
for what podman and containerd call); every verb is a short function that
parses, calls one ``Runtime`` method, and maps ``PyContainerError`` to a
one-line message and exit status 1 (also written as a JSON line to ``--log``
for the engines).
"""

from __future__ import annotations

import json
import os
import sys

import click

from . import __version__, log, trace
from .errors import PyContainerError, SpecError, UnsupportedError


class _Obj(dict):
    """The click context object: the state root, and what subsystem CLIs ask for."""

    def __init__(self, root: str):
        super().__init__()
        self.root = root
        from .state import list_ids
        self["network_live_ids"] = lambda: list_ids(root)

    @property
    def runtime(self):
        from .container import Runtime
        return Runtime(self.root)


def _rt(ctx: click.Context):
    return ctx.find_object(_Obj).runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-v", prog_name="pycontainer",
                      message="pycontainer version %(version)s\nspec: 1.2.0")
@click.option("--root", default="/run/pycontainer", show_default=True,
              help="Directory for the state of containers.")
@click.option("--log", "log_path", default=None, help="Write the runtime's log to this file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--debug", is_flag=True, help="Log debug messages.")
@click.option("--systemd-cgroup", is_flag=True, help="Not supported: cgroupfs is always used.")
@click.option("--rootless", default="auto", metavar="true|false|auto",
              help="Rootless mode: only 'false' and 'auto' are supported.")
@click.option("--trace", "trace_on", is_flag=True,
              help="Print every setup step as a timeline on stderr.")
@click.option("--trace-to", "trace_to", default=None, metavar="json|FILE|FILE.html",
              help="Trace as JSON lines to stderr ('json') or to FILE. Also PYCONTAINER_TRACE.")
@click.option("--cdi-spec-dir", "cdi_spec_dirs", multiple=True, metavar="DIR",
              help="Read CDI specs from DIR instead of /etc/cdi, /var/run/cdi (repeatable; "
                   "also PYCONTAINER_CDI_SPEC_DIRS=DIR:DIR).")
@click.pass_context
def main_group(ctx, root, log_path, log_format, debug, systemd_cgroup, rootless, trace_on, trace_to,
               cdi_spec_dirs):
    """pycontainer: a runc-compatible OCI container runtime written in Python."""
    if cdi_spec_dirs:                  # read by pycontainer/cdi/registry.py (and the API's workers)
        os.environ["PYCONTAINER_CDI_SPEC_DIRS"] = ":".join(os.path.abspath(d) for d in cdi_spec_dirs)
    log.configure(log_path, log_format, debug)
    if trace_on or trace_to:
        trace.enable(trace_to or "1")
    else:
        trace.enable_from_env()
    if systemd_cgroup:
        log.warning("--systemd-cgroup is not supported: pycontainer manages cgroupfs directly; "
                    "cgroupsPath is taken as a path")
    if rootless not in ("auto", "false"):
        raise UnsupportedError(f"--rootless={rootless}: rootless mode is not supported; run as root")
    if root != "/run/pycontainer" and not os.path.isabs(root):
        root = os.path.abspath(root)
    ctx.obj = _Obj(root)


# --- OCI lifecycle -----------------------------------------------------------------

@main_group.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False,
                                     "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def create(ctx, args):
    """Create a container that waits for `start`: from an image (docker create) or an OCI
    bundle (runc create); --help shows both forms."""
    from . import porcelain
    from .runform import choose
    form, args = choose(list(args), create_bundle, porcelain.create_cmd, verb="create")
    if form == "help":
        from .runform import help_page
        click.echo(help_page(create_bundle, porcelain.create_cmd, verb="create"), nl=False)
        return
    if form == "bundle":
        create_bundle.main(args=args, prog_name="pycontainer create", standalone_mode=False,
                           obj=ctx.find_object(_Obj))
        return
    sys.exit(porcelain.run_image(ctx.find_object(_Obj).root, args, cmd=porcelain.create_cmd))


def _bundle_options(f):
    """The options runc's ``create`` and ``run`` share (``run`` adds --detach and --keep)."""
    for opt in reversed([
            click.option("--bundle", "-b", default=".", metavar="PATH",
                         help="The bundle: config.json and its rootfs (default: the current directory)."),
            click.option("--console-socket", default=None, metavar="SOCKET",
                         help="Unix socket that receives the pty's master (process.terminal)."),
            click.option("--pid-file", default=None, metavar="FILE", help="Write the init's pid here."),
            click.option("--preserve-fds", default=0, type=int, metavar="N",
                         help="Pass N more fds (from fd 3) to the program."),
            click.option("--no-pivot", is_flag=True, hidden=True),
            click.option("--no-new-keyring", is_flag=True, hidden=True)]):
        f = opt(f)
    return f


@click.command("create", context_settings={"help_option_names": []})
@_bundle_options
@click.argument("container_id")
@click.pass_obj
def create_bundle(obj, bundle, console_socket, pid_file, preserve_fds, no_pivot, no_new_keyring,
                  container_id):
    """runc's `create`: the container of an OCI bundle; its init waits for `start`."""
    obj.runtime.create(container_id, bundle, console_socket=console_socket, pid_file=pid_file,
                       preserve_fds=preserve_fds)


def _ref(ctx, container_id: str) -> str:
    """runc's ID, or what docker's verbs take: a container's name or a prefix of its ID."""
    from .inspect import runtime_id
    return runtime_id(ctx.find_object(_Obj).root, container_id)


@main_group.command()
@click.option("--attach", "-a", is_flag=True, help="docker: print its output, exit with its status.")
@click.option("--interactive", "-i", is_flag=True, help="docker: stdin (and its terminal) too; attaches, as -a.")
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER_ID...")
@click.pass_context
def start(ctx, attach, interactive, containers):
    """Start the program of a created container (runc); docker's start of image containers,
    also stopped ones (the same container, its writable layer kept)."""
    from . import porcelain
    root = ctx.find_object(_Obj).root
    if (attach or interactive) and len(containers) > 1:
        raise PyContainerError("you cannot start and attach multiple containers at once")
    if attach or interactive:                   # docker/cli: -i attaches the output too
        sys.exit(porcelain.start_image(root, containers[0], True, interactive))
    porcelain.start_all(root, containers, lambda ref: _ref(ctx, ref),
                        lambda ref: _rt(ctx).start(ref, wait_exec=False))   # runc's: no wait


@main_group.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False,
                                     "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run(ctx, args):
    """Run an image (docker run) or an OCI bundle (runc run); --help shows both forms."""
    from .runform import choose
    form, args = choose(list(args), run_bundle, _porcelain_run())
    if form == "help":
        from .runform import help_page
        click.echo(help_page(run_bundle, _porcelain_run()), nl=False)
        return
    if form == "bundle":
        sys.exit(run_bundle.main(args=args, prog_name="pycontainer run", standalone_mode=False,
                                 obj=ctx.find_object(_Obj)) or 0)
    from . import porcelain
    sys.exit(porcelain.run_image(ctx.find_object(_Obj).root, args))


def _porcelain_run() -> click.Command:
    from . import porcelain
    return porcelain.run_cmd


@click.command("run", context_settings={"help_option_names": []})
@_bundle_options
@click.option("--detach", "-d", is_flag=True, help="Return once the program runs; do not wait for it.")
@click.option("--keep", is_flag=True, help="Keep the stopped container's state (runc 1.1).")
@click.argument("container_id")
@click.pass_obj
def run_bundle(obj, bundle, detach, console_socket, pid_file, preserve_fds, no_pivot, no_new_keyring,
               keep, container_id):
    """runc's `run`: create and start the container of an OCI bundle."""
    if keep and detach:
        raise SpecError("--detach and --keep cannot both be set")
    code = obj.runtime.run(container_id, bundle, detach=detach, console_socket=console_socket,
                           pid_file=pid_file, preserve_fds=preserve_fds, keep=keep)
    sys.exit(code)


@main_group.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("--process", "-p", "process_file", default=None, help="process.json (OCI process).")
@click.option("--tty", "-t", is_flag=True,
              help="Allocate a pty: sent to --console-socket, or (without it) proxied to this terminal.")
@click.option("--interactive", "-i", is_flag=True, help="With -t and no --console-socket: send stdin.")
@click.option("--console-socket", default=None)
@click.option("--detach", "-d", is_flag=True)
@click.option("--pid-file", default=None)
@click.option("--preserve-fds", default=0, type=int)
@click.option("--env", "-e", multiple=True, help="KEY=VALUE")
@click.option("--env-file", multiple=True, help="A file of KEY=VALUE lines (docker exec).")
@click.option("--user", "-u", default=None, help="UID[:GID]")
@click.option("--additional-gids", "-g", multiple=True)
@click.option("--cwd", "--workdir", "-w", "cwd", default=None)
@click.option("--cap", "-c", multiple=True, help="Add a capability.")
@click.option("--privileged", is_flag=True, help="Every capability (docker exec --privileged).")
@click.option("--no-new-privs", is_flag=True, default=None)
@click.option("--process-label", default=None, hidden=True)
@click.option("--apparmor", default=None, hidden=True)
@click.option("--ignore-paused", is_flag=True, hidden=True)
@click.option("--cgroup", "sub_cgroups", multiple=True, metavar="[CONTROLLER:]PATH",
              help="Run the process in an existing sub-cgroup of the container (runc 1.1).")
@click.argument("container_id")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def exec_(ctx, process_file, tty, interactive, console_socket, detach, pid_file, preserve_fds, env,
          env_file, user, additional_gids, cwd, cap, privileged, no_new_privs, process_label, apparmor,
          ignore_paused, sub_cgroups, container_id, command):
    """Run a new process in a running container (runc exec)."""
    rt = _rt(ctx)
    container_id = _ref(ctx, container_id)
    if privileged:                       # as the API's exec_run(privileged=True)
        from .api.config import all_caps
        cap = tuple(cap) + tuple(all_caps())
    from . import dockercli, lifecycle, porcelain
    image = porcelain.is_image_container(root := ctx.find_object(_Obj).root, container_id)
    if image:                            # docker's exec -u NAME: from the container's /etc/passwd
        user, additional_gids = dockercli.guard(lifecycle.exec_user, root, container_id, user, additional_gids)
    if env_file:                         # docker's: the files first, then -e (which wins)
        from .run_flags import read_env_file
        files = [dockercli.guard(read_env_file, path, os.environ) if image else
                 read_env_file(path, os.environ) for path in env_file]
        env = tuple(e for lines in files for e in lines) + tuple(env)
    args = (rt, process_file, tty, interactive, console_socket, detach, pid_file, preserve_fds,
            env, user, additional_gids, cwd, cap, no_new_privs, sub_cgroups, container_id, command)
    if image:
        if not interactive:              # docker's exec without -i: stdin is not attached
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
        dockercli.guard(_exec, *args)    # docker's statuses: 1 engine, 126/127 program
    else:
        _exec(*args)


def _exec(rt, process_file, tty, interactive, console_socket, detach, pid_file, preserve_fds,
          env, user, additional_gids, cwd, cap, no_new_privs, sub_cgroups, container_id, command):
    if process_file:
        try:
            with open(process_file) as f:
                proc = json.load(f)
        except (OSError, ValueError) as exc:
            raise SpecError(f"exec --process {process_file}: {exc}") from None
    else:
        if not command:
            raise SpecError("exec: give a command, or --process FILE")
        proc = rt.exec_process(container_id, list(command), env=env, user=user, cwd=cwd, tty=tty,
                               caps=cap, no_new_privs=no_new_privs, additional_gids=additional_gids)
        if interactive and tty and not detach and not os.isatty(0):      # docker's -it (runc: no -i)
            raise PyContainerError("the input device is not a TTY (-t needs a terminal on stdin)")
    if proc.get("terminal") and not console_socket and not detach:
        # A terminal for people, as runc does in the foreground: docker's `exec -t[i]` sends
        # stdin with -i; a --process whose terminal is true (runc's form) always does.
        from . import terminal
        sys.exit(terminal.exec_(rt, container_id, proc, interactive=interactive or not tty,
                                sub_cgroups=sub_cgroups))
    sys.exit(rt.exec(container_id, proc, detach=detach, console_socket=console_socket,
                     pid_file=pid_file, preserve_fds=preserve_fds, sub_cgroups=sub_cgroups))


@main_group.command()
@click.argument("container_id")
@click.pass_context
def state(ctx, container_id):
    """Print the container's state as JSON."""
    click.echo(json.dumps(_rt(ctx).state(container_id), indent=2))


@main_group.command()
@click.option("--all", "-a", "all_processes", is_flag=True, help="Signal every process of the container.")
@click.option("--signal", "-s", "sig_opt", default=None, help="docker's form of SIGNAL.")
@click.argument("container_id")
@click.argument("more", nargs=-1, metavar="[SIGNAL | CONTAINER...]")
@click.pass_context
def kill(ctx, all_processes, sig_opt, container_id, more):
    """Send a signal (name, with or without SIG, or number) to the container: runc's
    `kill ID [SIGNAL]`, docker's `kill [-s SIGNAL] CONTAINER...`.

    Without one: SIGTERM (runc) for a bundle's container, SIGKILL (docker) for
    a container run from an image."""
    from . import porcelain
    from .dockercli import each
    root = ctx.find_object(_Obj).root
    refs, sig = [container_id, *more], sig_opt
    if len(more) == 1 and sig_opt is None and porcelain.is_signal_not_container(root, more[0]):
        refs, sig = [container_id], more[0]             # runc's form (a bad signal: its error)
    each(refs, lambda ref: porcelain.kill_one(_rt(ctx), root, ref, _ref(ctx, ref), sig, all_processes))


@main_group.command()
@click.option("--force", "-f", is_flag=True, help="Kill the container first if it is running.")
@click.argument("container_id")
@click.pass_context
def delete(ctx, force, container_id):
    """Delete a container and everything it made."""
    _rt(ctx).delete(container_id, force=force)


@main_group.command("list")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--quiet", "-q", is_flag=True, help="Only IDs.")
@click.pass_context
def list_(ctx, fmt, quiet):
    """List containers."""
    from . import runcps
    runcps.show_list(_rt(ctx), fmt, quiet)


@main_group.command(context_settings={"ignore_unknown_options": True})
@click.option("--format", "fmt", default=None, help="table | json (runc); without ID also a template.")
@click.option("-f", "short_f", multiple=True, help="Without ID: a filter (docker's -f); with: --format.")
@click.option("--filter", "filters", multiple=True, help="Without ID: KEY=VALUE (docker ps).")
@click.option("--all", "-a", "all_", is_flag=True, help="Without ID: stopped containers too.")
@click.option("--quiet", "-q", is_flag=True, help="Without ID: only IDs.")
@click.option("--latest", "-l", is_flag=True, help="Without ID: the newest container only.")
@click.option("--last", "-n", type=int, default=None, help="Without ID: the N newest containers.")
@click.option("--no-trunc", is_flag=True, help="Without ID: full IDs and commands.")
@click.option("--size", "-s", is_flag=True, help="Without ID: the writable layer's size.")
@click.argument("container_id", required=False)
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def ps(ctx, fmt, short_f, filters, all_, quiet, latest, last, no_trunc, size, container_id, ps_args):
    """`ps ID`: the processes of a container (runc); `ps [-a]`: the containers (docker)."""
    for v in short_f:          # docker's -f is --filter; runc's (ps -f json ID) is --format
        if container_id is None and "=" in v and "{{" not in v:
            filters += (v,)
        else:
            fmt = v
    if container_id is not None and container_id.startswith("-"):
        # ignore_unknown_options (for runc's `ps ID -ef`) passed an unknown flag as the ID (runc
        # too reads a word starting with "-" there as a flag): docker's `ps --bogus`, its error
        from . import dockercli
        raise dockercli.fail(click.NoSuchOption(container_id, ctx=ctx))
    if container_id is None:
        from . import dockercli, pstable
        dockercli.guard(pstable.show, ctx.find_object(_Obj).root, all_=all_, quiet=quiet, fmt=fmt,
                        filters=filters, latest=latest, last=last, no_trunc=no_trunc, size=size)
        return
    fmt = fmt or "table"
    if fmt not in ("table", "json"):
        raise click.BadParameter(f"{fmt!r}: table or json", param_hint="--format")
    from . import runcps                  # runc's ps ID (also _fastcli's, without click)
    runcps.show(_rt(ctx), container_id, fmt, ps_args)


@main_group.command()
@click.argument("containers", nargs=-1, required=True, metavar="CONTAINER_ID...")
@click.pass_context
def pause(ctx, containers):
    """Freeze every process of the container (cgroup freezer); docker's: of each one."""
    from . import porcelain
    from .dockercli import each

    def one(ref):
        cid = _ref(ctx, ref)
        _rt(ctx).pause(cid)
        if porcelain.is_image_container(ctx.find_object(_Obj).root, cid):
            _event("pause", ctx.find_object(_Obj).root, cid)
            click.echo(ref)                              # as docker pause
    each(containers, one)


def _event(action: str, root: str, cid: str, **extra) -> None:
    """docker's events of an image container (events.py's journal; the docker layer's)."""
    from . import events, inspect
    events.container(action, cid, inspect.record(root, cid), **extra)


@main_group.command()
@click.argument("container_id")
@click.pass_context
def resume(ctx, container_id):
    """Thaw a paused container."""
    from . import porcelain
    _rt(ctx).resume(cid := _ref(ctx, container_id))
    if porcelain.is_image_container(root := ctx.find_object(_Obj).root, cid):
        _event("unpause", root, cid)                 # as docker unpause (and pause above)


@main_group.command()
@click.option("--bundle", "-b", default=".", help="Where to write config.json.")
@click.option("--rootless", is_flag=True, help="runc's rootless template (a user namespace "
              "mapping your uid to root, no network namespace, no cgroup limits).")
@click.argument("args", nargs=-1)
def spec(bundle, rootless, args):
    """Write a default config.json (runc's template) into the bundle."""
    from . import spec as spec_mod
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise SpecError(f"{path} exists: remove it first")
    cfg = spec_mod.default_spec(list(args) or None)
    if rootless:
        spec_mod.to_rootless(cfg)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


@main_group.command()
@click.pass_context
def gc(ctx):
    """Reclaim what crashed runs left (half-created containers, orphaned cgroups,
    network leases and ports, image holds, container dirs)."""
    rt = _rt(ctx)
    report = rt.gc()
    from . import containerdir, state     # then the docker layer's: container dirs, image holds
    report["holds"], report["dirs"] = containerdir.gc(state.list_ids(rt.root), root=rt.root)
    from .build.commit import thaw_orphans
    report["thawed"] = thaw_orphans(rt.root)      # frozen by a commit that was killed
    click.echo(json.dumps(report, indent=2, default=str))


@main_group.command()
def features():
    """Print what this runtime supports (runc features JSON)."""
    from .features import features as feats
    click.echo(json.dumps(feats(), indent=2))


def _register_subsystems() -> None:
    """Verbs that live with their subsystem: images, networks, build, the docker porcelain."""
    from . import events_cli, fs_cli, manage, porcelain
    from .build import cli as build_cli
    from .cdi import cli as cdi_cli
    from .image import cli as image_cli
    from .network import cli as network_cli
    from .system_cli import system
    from .update_cli import update
    for cmd in [*image_cli.COMMANDS, network_cli.network, *porcelain.COMMANDS, *cdi_cli.COMMANDS,
                update, *build_cli.COMMANDS, *fs_cli.COMMANDS, events_cli.events]:
        main_group.add_command(cmd)
    system.add_command(cdi_cli.info, "info")            # docker system info = docker info
    system.add_command(events_cli.events, "events")     # docker system events = docker events
    build_cli.builder.add_command(build_cli.build, "build")   # docker builder build = build
    for cmd in (build_cli.build, build_cli.push, build_cli.import_):    # docker image build ...
        image_cli.image.add_command(cmd)
    # docker's management form: `container ls`, `container run ...` are the same commands
    for name, cmd in (("ls", ps), ("list", ps), ("ps", ps), ("run", run), ("create", create),
                      ("start", start), ("exec", exec_), ("kill", kill), ("pause", pause),
                      ("cp", manage.cp), ("commit", build_cli.commit), ("diff", fs_cli.diff),
                      ("export", fs_cli.export), ("update", update)):
        manage.container.add_command(cmd, name)


_register_subsystems()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        main_group.main(args=argv, prog_name="pycontainer", standalone_mode=False)
    except PyContainerError as exc:
        log.error(str(exc))
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # runc's verbs (and an unknown verb): one line, and runc's status 1 for a bad flag or
        # a missing argument (urfave/cli's "Incorrect Usage"; click's own would be 2 and
        # four lines). The docker-shaped verbs turn theirs into 125 (dockercli.py).
        from .dockercli import help_instead, one_line
        if help_instead(exc):
            sys.exit(0)
        log.error(one_line(exc))
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
