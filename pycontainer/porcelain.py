"""The docker-like front: ``run IMAGE``, ``logs``, ``wait``, ``stop``, ``rm``, ``attach``, ``ps``.

Every verb here parses docker's flags and calls the same functions the
Python API (``pycontainer.api``) uses, so the CLI and the API share one path:

* ``run`` builds the bundle with ``api.config.build`` (image -> container dir with
  an overlay plan and config.json) and then either
  - ``-d``: ``api.operations.op_create`` puts the container under a monitor
    (``detach.py`` / ``monitor.py``: docker's json-file log and the exit
    status in the container's directory) and prints the ID;
  - ``-t``: ``terminal.run`` proxies the user's terminal to the container's
    pty (raw mode, window size, Ctrl-C, exit status);
  - otherwise ``api.operations.op_run``: the program runs on our stdio, signals are
    forwarded, and our exit status is its.
* ``logs [-f] [--tail N] [-t]``, ``wait``, ``stop [-t N]``, ``rm [-f]``,
  ``attach`` (output and signals of a detached container) read what the
  monitor keeps; ``ps`` (with no container ID; ``ps ID`` stays runc's
  process list) lists containers as ``docker ps`` does.

Names never clash with runc's verbs: ``list``, ``ps ID``, ``delete``,
``kill``, ``exec`` keep runc's meaning (``exec -it`` without
``--console-socket`` is the docker form, handled in ``terminal.py``).

The container's directory (``/var/lib/pycontainer/containers/<id>``) is
recorded in the state (annotation ``org.pycontainer.dir``) so ``delete``
removes it, after the monitor is gone, and releases the image.
"""

from __future__ import annotations

import os
import sys

import click

from .api import operations as ops
from .dockercli import DockerCommand, EngineCommand
from .errors import PyContainerError
from .inspect import resolve_id


def _multi(*names, **kw):
    return click.option(*names, multiple=True, **kw)


@click.command(cls=EngineCommand, context_settings={"allow_interspersed_args": False,
                                                   "help_option_names": ["--help"]})
@click.option("--name", default=None, help="Assign a name to the container")
@click.option("--detach", "-d", is_flag=True, help="Run in the background, print the ID.")
@click.option("--rm", "remove", is_flag=True, help="Delete the container when it exits.")
@click.option("--interactive", "-i", is_flag=True, help="Keep stdin open.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a terminal.")
@_multi("--env", "-e", help="KEY=VALUE (repeatable).")
@_multi("--volume", "-v", help="HOST:CONTAINER[:MODE] bind mount, or NAME:CONTAINER a volume; "
                                "MODE: ro|rw, z|Z, rslave, nocopy... (repeatable).")
@_multi("--publish", "-p", help="[hostip:]hostport:containerport[/proto], ranges too "
                                 "(8080-8082:80-82) (repeatable).")
@click.option("--network", "--net", "network", default=None,
              help="none | host | bridge | container:<id> | NAME of a user-defined network "
                   "(default: bridge).")
@click.option("--hostname", "-h", "hostname", default=None, help="The container's hostname.")
@click.option("--workdir", "-w", default=None, help="Working directory inside the container.")
@click.option("--user", "-u", default=None, help="name|uid[:group|gid]")
@click.option("--entrypoint", default=None, help="Replace the image's ENTRYPOINT.")
@click.option("--read-only", is_flag=True, help="Mount the rootfs read-only.")
@click.option("--memory", "-m", default=None, help="Memory limit (64m, 1g).")
@click.option("--memory-swap", default=None, help="Memory + swap limit (-1: unlimited).")
@click.option("--cpus", default=None, help="CPUs (0.5 = half of one).")
@click.option("--cpu-shares", "-c", default=None, help="Relative CPU weight (1024 = normal).")
@click.option("--cpuset-cpus", default=None, help="CPUs it may run on (0-2,4).")
@click.option("--pids-limit", default=None, help="Most processes at once.")
@_multi("--device-read-bps", help="DEVICE:RATE (repeatable; also -write-bps, -read/write-iops).")
@_multi("--device-write-bps")
@_multi("--device-read-iops")
@_multi("--device-write-iops")
@click.option("--blkio-weight", default=None, help="Relative block IO weight (10-1000).")
@_multi("--cap-add", help="Add a capability (repeatable).")
@_multi("--cap-drop", help="Drop a capability (repeatable; ALL).")
@_multi("--security-opt", help="seccomp=unconfined|FILE (default: docker's profile); "
        "no-new-privileges[=true|false] (default: true, unlike docker); systempaths=unconfined; "
        "label=... and apparmor=unconfined (no LSM is applied).")
@click.option("--privileged", is_flag=True, help="All capabilities, no seccomp, all devices.")
# devices and GPUs: the logic is in pycontainer/cdi/requests.py
@_multi("--device", help="HOST[:CONTAINER[:PERMS]] or a CDI name VENDOR/CLASS=NAME (repeatable).")
@click.option("--gpus", default=None, help="all | N | device=ID[,ID] (the nvidia.com/gpu CDI kind).")
@_multi("--device-cgroup-rule", help="'TYPE MAJOR:MINOR PERMS', e.g. 'c 10:200 rwm'.")
@_multi("--group-add", help="A supplementary GID, or keep-groups (repeatable).")
@click.option("--pull", type=click.Choice(["missing", "never", "always"]), default="missing",
              show_default=True, help="When to pull IMAGE from its registry.")
@click.option("--quiet", "-q", is_flag=True, help="No pull progress on stderr.")
@click.option("--sig-proxy", type=click.BOOL, default=None, metavar="BOOL",
              help="false: the container outlives this client (it runs under its monitor).")
@click.option("--detach-keys", default=None, help="With -it: the keys that detach (ctrl-p,ctrl-q).")
@_multi("--attach", "-a", help="STDIN, STDOUT or STDERR: the streams to attach (repeatable; "
        "default: stdout and stderr, stdin with -i). The others still go to the log.")
# --- docker run flags added for issue 15 (kept together; see run_flags.py) ---
@_multi("--label", "-l", help="KEY=VALUE metadata (repeatable).")
@click.option("--restart", default=None, help="no | on-failure[:N] | always | unless-stopped.")
@_multi("--env-file", help="Read KEY=VALUE lines (and bare NAMEs) from FILE.")
@click.option("--stop-signal", default=None, help="Signal for stop (default SIGTERM).")
@click.option("--stop-timeout", default=None, type=int, help="Seconds stop waits (default 10).")
@click.option("--cidfile", default=None, help="Write the container ID to FILE (must not exist).")
@click.option("--platform", default=None, help="OS/ARCH the image must be for.")
@_multi("--mount", help="type=bind|volume|tmpfs,source=,target=[,readonly] (repeatable).")
@_multi("--tmpfs", help="PATH[:OPTIONS] a tmpfs mount (default noexec,nosuid,nodev).")
@click.option("--shm-size", default=None, help="Size of /dev/shm (e.g. 128m).")
@_multi("--ulimit", help="NAME=SOFT[:HARD] (repeatable), e.g. nofile=1024:2048.")
@_multi("--add-host", help="NAME:IP (or NAME=IP; IP host-gateway: the host) line added to "
                            "/etc/hosts (repeatable).")
@_multi("--link", help="NAME[:ALIAS]: a container's address as ALIAS (legacy; default bridge).")
@click.option("--mac-address", default=None, help="eth0's MAC address (e.g. 92:d0:c6:0a:29:33).")
@_multi("--dns", help="Nameserver for /etc/resolv.conf (repeatable).")
@_multi("--dns-search", help="Search domain for /etc/resolv.conf (repeatable).")
@_multi("--dns-option", help="An 'options' entry of /etc/resolv.conf, e.g. ndots:2 (repeatable).")
@_multi("--label-file", help="Read KEY=VALUE labels, one a line, from FILE (repeatable).")
@_multi("--blkio-weight-device", help="DEVICE:WEIGHT (10-1000) (repeatable).")
@click.option("--volume-driver", default=None, help="local (the only one).")
@click.option("--runtime", default=None, help="runc (pycontainer is the runtime; for GPUs use --gpus).")
@click.option("--isolation", default=None, help="default (the only one on Linux).")
@click.option("--disable-content-trust", is_flag=True, default=None, hidden=True)
@click.option("--publish-all", "-P", is_flag=True, help="Publish every EXPOSEd port on a free host port.")
@click.option("--userns", default=None, help="host (the default; other modes: see userns.py).")
@_multi("--uidmap", help="CONTAINER_UID:HOST_UID:AMOUNT (podman's; refused for images: userns.py).")
@_multi("--gidmap", help="CONTAINER_GID:HOST_GID:AMOUNT (podman's; refused likewise).")
@_multi("--log-opt", help="json-file log: max-size=N[k|m|g], max-file=N (repeatable).")
@click.option("--log-driver", default=None, help="json-file (the default) | none (no log kept).")
@click.option("--init", is_flag=True, help="Run a small init (tini/catatonit) as pid 1.")
@_multi("--network-alias", help="Another name this container answers to on its network.")
@click.option("--ip", default=None, help="A fixed IPv4 address on a user-defined network.")
@click.option("--health-cmd", default=None, help="Command whose exit 0 means healthy (sh -c).")
@click.option("--health-interval", default=None, help="Between checks (30s).")
@click.option("--health-timeout", default=None, help="A check running longer fails (30s).")
@click.option("--health-retries", default=None, type=int, help="Failures in a row for unhealthy (3).")
@click.option("--health-start-period", default=None, help="Failures in it do not count (0s).")
@click.option("--no-healthcheck", is_flag=True, help="Ignore the image's HEALTHCHECK.")
# namespaces, more limits, process and metadata flags (nsmodes.py, run_flags.py)
@click.option("--ipc", default=None, help="private | shareable | host | none | container:NAME")
@click.option("--pid", default=None, help="host | container:NAME (default: its own).")
@click.option("--uts", default=None, help="host (default: its own).")
@click.option("--cgroupns", default=None, help="private (the default) | host")
@_multi("--sysctl", help="KEY=VALUE of a namespace the container has of its own (repeatable).")
@click.option("--oom-score-adj", type=int, default=None, help="-1000..1000 for the OOM killer.")
@click.option("--domainname", default=None, help="The container's NIS domain name.")
@click.option("--cgroup-parent", default=None,
              help="The cgroup to make the container's below (absolute, or below the runtime's own).")
@_multi("--annotation", help="KEY=VALUE in config.json's annotations (repeatable).")
@_multi("--expose", help="PORT[/PROTO] -P publishes too (repeatable).")
@click.option("--cpu-period", default=None, help="CFS period in us (with --cpu-quota).")
@click.option("--cpu-quota", default=None, help="CFS quota in us per period (-1: none).")
@click.option("--cpuset-mems", default=None, help="Memory nodes it may use (0-1).")
@click.option("--memory-reservation", default=None, help="Soft memory limit (64m).")
@click.option("--memory-swappiness", default=None, help="0-100 (-1: the host's).")
@click.option("--oom-kill-disable", is_flag=True, help="Do not OOM-kill (needs --memory).")
@click.option("--kernel-memory", default=None, help="Ignored, with a warning (as docker).")
@_multi("--volumes-from", help="NAME[:ro|:rw]: the -v/--mount volumes of another container.")
@_multi("--storage-opt", help="size=N: a quota on the container's writable layer.")
@click.option("--image-root", envvar="PYCONTAINER_IMAGE_ROOT", default=None, hidden=True)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_cmd(obj, name, detach, remove, interactive, tty, pull, image_root, image, command, **flags):
    """Run COMMAND in a new container from IMAGE (docker run)."""
    from . import runform                    # the same code _fastcli calls without click
    root, detach_flag = obj
    return runform.run(root, image, command, name=name, detach=detach or detach_flag, remove=remove,
                         interactive=interactive, tty=tty, pull=pull, image_root=image_root, flags=flags)


def _create(obj, name, remove, interactive, tty, pull, image_root, image, command, **flags):
    """Create a container from IMAGE that waits for `start` (docker create)."""
    from . import runform
    root, _ = obj
    return runform.create(root, image, command, name=name, remove=remove, interactive=interactive,
                          tty=tty, pull=pull, image_root=image_root, flags=flags)


# docker create takes docker run's options but -d (it never starts anything)
create_cmd = EngineCommand("create", callback=click.pass_obj(_create), help=_create.__doc__,
                           params=[p for p in run_cmd.params if p.name != "detach"],
                           context_settings=run_cmd.context_settings)


def run_image(root: str, args: list[str], detach: bool = False, cmd=run_cmd) -> int:
    """``run IMAGE`` (or ``create IMAGE`` with ``create_cmd``): docker's exit status (125
    engine, 126/127 program, else the program's; create prints the new container's ID)."""
    try:
        code = cmd.main(args=args, prog_name=f"pycontainer {cmd.name}", standalone_mode=False,
                        obj=(root, detach))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return code or 0


# --- verbs on detached containers --------------------------------------------------------

def _root(ctx) -> str:
    return ctx.find_object(dict).root if hasattr(ctx.find_object(dict), "root") else "/run/pycontainer"


@click.command("logs", cls=DockerCommand)
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the container writes.")
@click.option("--tail", "-n", default="all", help="Only the last N lines.")
@click.option("--timestamps", "-t", is_flag=True, help="Prefix each line with its time.")
@click.option("--since", default=None, help="Lines from this time (2026-11-30T06:00:00Z, Unix "
              "seconds) or this long ago (10m, 1h30m).")
@click.option("--until", default=None, help="Lines before this time (the same forms).")
@click.option("--details", is_flag=True, help="docker's extra attributes: none are kept here "
              "(--log-opt labels/env are not taken), so the same lines.")
@click.argument("container")
@click.pass_context
def logs(ctx, follow, tail, timestamps, since, until, details, container):
    """Print the output of a container (docker logs)."""
    from .api.logs import chunks
    from .duration import point_in_time
    root = _root(ctx)
    cid = resolve_id(root, container)
    cdir = ops.inspect(root, cid)["Dir"]
    if tail != "all" and not str(tail).isdigit():
        raise PyContainerError(f"logs --tail {tail!r}: give a number or 'all'")
    lo, hi = point_in_time(since, "logs --since"), point_in_time(until, "logs --until")
    if follow:
        try:
            for chunk in ops.follow_logs(root, cid, cdir, timestamps=timestamps, tail=tail,
                                         since=lo, until=hi):
                _write_chunks([chunk])
        except KeyboardInterrupt:
            pass
        return
    # --tail first, then the times: docker's json-file reader
    _write_chunks(chunks(cdir, timestamps=timestamps, since=lo, until=hi, tail=tail))


@click.command("wait", cls=DockerCommand)
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def wait(ctx, containers):
    """Block until each container stops; print its exit status (docker wait)."""
    root = _root(ctx)
    for c in containers:
        cid = resolve_id(root, c)
        if os.path.isdir(os.path.join(root, cid)):
            code, _oom = ops.wait(root, cid)
        else:                             # kept as a directory: its recorded status
            code = ops.inspect(root, cid)["State"]["ExitCode"]
        click.echo(str(code))
        sys.stdout.flush()


@click.command("stop", cls=DockerCommand)
@click.option("--time", "-t", "timeout", default=None, type=float,
              help="Seconds between the stop signal and SIGKILL [default: --stop-timeout or 10].")
@click.option("--signal", "-s", "sig", default=None, help="[default: --stop-signal or SIGTERM]")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def stop(ctx, timeout, sig, containers):
    """SIGTERM, then SIGKILL to every process after --time seconds (docker stop)."""
    root = _root(ctx)
    for c in containers:
        cid = resolve_id(root, c)
        ops.stop_container(root, cid, timeout, sig)
        click.echo(c)


@click.command("rm", cls=DockerCommand)
@click.option("--force", "-f", is_flag=True, help="Kill it first if it is running.")
@click.option("--volumes", "-v", is_flag=True, help="Remove its anonymous volumes too.")
@click.argument("containers", nargs=-1, required=True)
@click.pass_context
def rm(ctx, force, volumes, containers):
    """Remove containers with their directory and logs (docker rm)."""
    from . import lifecycle
    root = _root(ctx)
    failed = 0
    for c in containers:
        try:
            cid = resolve_id(root, c)
            lifecycle.remove(root, cid, force=force, volumes=volumes)
            click.echo(c)
        except PyContainerError as exc:
            from . import log
            log.error(str(exc))
            failed = 1
    if failed:
        sys.exit(1)


@click.command("attach", cls=DockerCommand)
@click.option("--no-stdin", is_flag=True, help="Do not send stdin to the container.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, show_default=True,
              help="Without a tty: forward SIGINT/SIGTERM/SIGHUP to the container.")
@click.option("--detach-keys", default=None, help="The keys that detach (default ctrl-p,ctrl-q).")
@click.argument("container")
@click.pass_context
def attach(ctx, no_stdin, sig_proxy, detach_keys, container):
    """Attach this terminal to a detached container's output and input (docker attach).

    Output from now on; stdin reaches the program if it was started with -i;
    with -t the terminal is raw and its size follows this one, and Ctrl-P
    Ctrl-Q detaches (docker's keys). Leaving never stops the container; our
    exit status is the program's once it exits."""
    from .attach import DETACH_KEYS, parse_detach_keys, session
    root = _root(ctx)
    keys = DETACH_KEYS if detach_keys is None else parse_detach_keys(detach_keys)
    cid = resolve_id(root, container)
    info = ops.inspect(root, cid)
    status = info["State"]["Status"]
    if status == "paused":              # docker/cli's words; it attaches to running ones only
        raise PyContainerError("You cannot attach to a paused container, unpause it first")
    if status != "running":             # created (never started: `start -a` attaches) or exited
        raise PyContainerError(f"You cannot attach to a stopped container, start it first "
                               f"({cid[:12]} is {status})")
    sys.exit(session(root, cid, info, stdin=not no_stdin, sig_proxy=sig_proxy, keys=keys))


def is_image_container(root: str, ref: str) -> bool:
    """True for a container run from an image (docker's verbs apply), False for a bundle's."""
    from .inspect import from_image
    return from_image(root, ref)


def is_signal_not_container(root: str, text: str) -> bool:
    """``kill A B``: whether B is runc's SIGNAL (it parses as one, or names no container: a
    mistyped signal must not kill A) rather than docker's second container."""
    from .signals import parse_signal
    try:
        parse_signal(text)
        return True
    except PyContainerError:
        pass
    try:
        resolve_id(root, text)
    except PyContainerError:
        return True
    return False


def kill_one(rt, root: str, ref: str, cid: str, sig: str | None, all_processes: bool) -> None:
    """kill of one container (``ref`` as typed, ``cid`` its ID): a bundle's gets runc's
    SIGTERM by default; an image's docker's SIGKILL, its --restart kept off, an event, and
    its name printed as docker's kill prints it."""
    from .signals import parse_signal
    image = is_image_container(root, cid)
    sig = sig or ("SIGKILL" if image else "SIGTERM")
    if image:
        from . import lifecycle
        lifecycle.mark_stopped(root, cid)           # docker: --restart leaves it stopped
    rt.kill(cid, parse_signal(sig), all_processes)
    if image:
        from . import events, inspect
        events.container("kill", cid, inspect.record(root, cid), signal=int(parse_signal(sig)))
        click.echo(ref)                             # docker kill prints what it killed


def start_all(root: str, refs, runtime_id, runc_start) -> None:
    """docker start A B ...: each prints its name; an error each on its own line, and
    docker/cli's "failed to start containers: A, B" and status 1 at the end. A container
    made by runc's ``create`` (``runtime_id(ref)`` is not an image container's) gets
    ``runc_start(ref)``, and alone keeps runc's error and status."""
    from . import log
    failed = []
    for ref in refs:
        try:
            if is_image_container(root, runtime_id(ref)):
                start_image(root, ref, False)
            else:
                runc_start(ref)
        except PyContainerError as exc:
            if len(refs) == 1:
                raise
            log.error(str(exc))
            failed.append(ref)
        except SystemExit as exc:                        # docker's: its error is printed
            if not exc.code:
                raise
            failed.append(ref)
    if failed:
        log.error("failed to start containers: " + ", ".join(failed))
        raise SystemExit(1)


def start_image(root: str, ref: str, attach: bool, interactive: bool = False) -> int:
    """docker start [-a [-i]]: the container again (same ID, same writable layer); with -a its
    output until it exits, and its exit status; with -ai also stdin (and its terminal). Both
    through the monitor's attach socket, connected before the program runs (attach.session):
    what it writes reaches us whatever its log driver, and our signals reach it."""
    from . import dockercli, lifecycle
    if not attach:
        dockercli.guard_start(lifecycle.start, root, dockercli.guard(resolve_id, root, ref))
        click.echo(ref)
        return 0
    cid = dockercli.guard(resolve_id, root, ref)
    info = ops.inspect(root, cid)
    from .attach import session
    return session(root, cid, info, stdin=interactive,
                   start=lambda connect: dockercli.guard_start(lifecycle.start, root, cid,
                                                               before_start=connect))


def _write_chunks(chunks) -> None:
    """Each chunk to fd 1 or 2 unbuffered, in the log's order (2>&1 keeps the order); a run
    of chunks of one stream in one write, up to 64 KiB, so a long log streams in blocks."""
    sys.stdout.flush()
    sys.stderr.flush()
    batch, fd = [], 1

    def flush():
        data = b"".join(batch)
        while data:
            data = data[os.write(fd, data):]
        batch.clear()
    size = 0
    for stream, data in chunks:
        to = 1 if stream == "stdout" else 2
        if to != fd or size >= 1 << 16:
            flush()
            fd, size = to, 0
        batch.append(data)
        size += len(data)
    flush()


def _commands() -> list:
    from . import manage
    for name, cmd in (("rm", rm), ("logs", logs), ("wait", wait), ("stop", stop),
                      ("attach", attach), ("restart", manage.restart), ("inspect", manage.inspect_cmd),
                      ("top", manage.top), ("port", manage.port), ("rename", manage.rename),
                      ("stats", manage.stats), ("unpause", manage.unpause)):
        manage.container.add_command(cmd, name)
    from .system_cli import system, version
    from .volume_cli import volume
    return [logs, wait, stop, rm, attach, volume, system, version] + manage.COMMANDS


COMMANDS = _commands()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_image("/run/pycontainer", sys.argv[1:]))
