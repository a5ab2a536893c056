"""The docker-like front: ``pycontainer run [OPTIONS] IMAGE [COMMAND...]``.

It turns an image and docker's flags into an OCI bundle and runs it with the
same runtime engines use:

1. resolve IMAGE in the image store (``busybox`` is built offline on first
   use) and mark it in use by this container;
2. make the container's directory ``/var/lib/pycontainer/containers/<id>``
   with an overlay plan (lower = the image's layers, a private upper/work)
   and an empty ``rootfs`` to mount it on;
3. write ``config.json``: runc's defaults, the image's Entrypoint/Cmd/Env/
   WorkingDir/User (docker's rules, ``image.runconfig``), ``-e``/``-w``/
   ``-u``/``--entrypoint``, ``-v`` bind mounts, the resources from
   ``--memory``/``--cpus``/... (``cgroups.convert``), the network request;
4. ``Runtime.create`` + ``start``; in the foreground wait and exit with the
   program's status; ``--rm`` deletes everything afterwards.

The container's directory is recorded in the state (annotation
``org.pycontainer.dir``) so ``delete`` removes it and releases the image.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import click

from . import spec as spec_mod
from .errors import PyContainerError, SpecError

CONTAINERS_DIR = "/var/lib/pycontainer/containers"
ANN_DIR = "org.pycontainer.dir"
ANN_IMAGE = "org.pycontainer.image"


def _multi(*names, **kw):
    return click.option(*names, multiple=True, **kw)


@click.command(context_settings={"allow_interspersed_args": False,
                                 "help_option_names": ["-h", "--help"]})
@click.option("--name", default=None, help="Container name (also its ID).")
@click.option("--detach", "-d", is_flag=True, help="Run in the background, print the ID.")
@click.option("--rm", "remove", is_flag=True, help="Delete the container when it exits.")
@click.option("--interactive", "-i", is_flag=True, help="Keep stdin open.")
@click.option("--tty", "-t", is_flag=True, help="Allocate a terminal.")
@_multi("--env", "-e", help="KEY=VALUE (repeatable).")
@_multi("--volume", "-v", help="HOST:CONTAINER[:ro] bind mount (repeatable).")
@_multi("--publish", "-p", help="[hostip:]hostport:containerport[/proto] (repeatable).")
@click.option("--network", "--net", "network", default=None,
              help="none | host | bridge | container:<id> (default: bridge).")
@click.option("--hostname", "-h", "hostname", default=None)
@click.option("--workdir", "-w", default=None)
@click.option("--user", "-u", default=None, help="name|uid[:group|gid]")
@click.option("--entrypoint", default=None)
@click.option("--read-only", is_flag=True)
@click.option("--memory", "-m", default=None)
@click.option("--memory-swap", default=None)
@click.option("--cpus", default=None)
@click.option("--cpu-shares", "-c", default=None)
@click.option("--cpuset-cpus", default=None)
@click.option("--pids-limit", default=None)
@_multi("--device-read-bps")
@_multi("--device-write-bps")
@_multi("--device-read-iops")
@_multi("--device-write-iops")
@click.option("--blkio-weight", default=None)
@_multi("--cap-add")
@_multi("--cap-drop")
@click.option("--privileged", is_flag=True)
@click.option("--image-root", envvar="PYCONTAINER_IMAGE_ROOT", default=None, hidden=True)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_cmd(obj, name, detach, remove, interactive, tty, env, volume, publish, network, hostname,
            workdir, user, entrypoint, read_only, memory, memory_swap, cpus, cpu_shares,
            cpuset_cpus, pids_limit, device_read_bps, device_write_bps, device_read_iops,
            device_write_iops, blkio_weight, cap_add, cap_drop, privileged, image_root, image,
            command):
    """Run COMMAND in a new container from IMAGE (docker run)."""
    from .container import Runtime
    from .image import overlay, runconfig
    from .image.store import Store

    root, detach = obj
    cid = name or uuid.uuid4().hex
    from .state import validate_id
    validate_id(cid)
    if tty and not detach:
        raise PyContainerError("run -t in the foreground needs the terminal proxy, which is not "
                               "built yet: use -d, or leave out -t")
    rt = Runtime(root)
    if os.path.isdir(os.path.join(root, cid)):
        raise PyContainerError(f"container {cid!r} already exists")

    from .cgroups import convert
    resources = convert.docker_resources(
        memory=memory, memory_swap=memory_swap, cpus=cpus, cpu_shares=cpu_shares,
        cpuset_cpus=cpuset_cpus, pids_limit=pids_limit, blkio_weight=blkio_weight,
        device_read_bps=list(device_read_bps) or None, device_write_bps=list(device_write_bps) or None,
        device_read_iops=list(device_read_iops) or None,
        device_write_iops=list(device_write_iops) or None)
    mounts = [_volume(v) for v in volume]
    caps = _capabilities(cap_add, cap_drop, privileged)
    net = _network_request(network, publish, hostname or cid[:12])

    store = Store(image_root)
    img = store.resolve(image, hold=cid)
    cdir = os.path.join(CONTAINERS_DIR, cid)
    try:
        proc = runconfig.process(img.config, layers=img.layers, command=list(command) or None,
                                 entrypoint=entrypoint, env=list(env), workdir=workdir, user=user)
        os.makedirs(CONTAINERS_DIR, mode=0o711, exist_ok=True)
        os.mkdir(cdir, 0o700)
        plan = overlay.prepare(cdir, img.layers)
        os.mkdir(os.path.join(cdir, "rootfs"), 0o755)
        cfg = spec_mod.default_spec(proc["args"], terminal=tty)
        cfg["process"].update({k: v for k, v in proc.items() if k != "args"})
        cfg["process"]["capabilities"] = {k: list(caps) for k in ("bounding", "effective", "permitted")}
        cfg["root"] = {"path": "rootfs", "readonly": bool(read_only)}
        cfg["hostname"] = hostname or cid[:12]
        cfg["mounts"] += mounts
        if privileged:
            cfg["linux"].pop("maskedPaths", None)
            cfg["linux"].pop("readonlyPaths", None)
            cfg["process"]["noNewPrivileges"] = False
        if resources:
            cfg["linux"]["resources"].update(resources)
        cfg["annotations"] = {ANN_DIR: cdir, ANN_IMAGE: img.name}
        if net is not None:
            cfg["annotations"]["org.pycontainer.network"] = json.dumps(net)
        if net is not None and net.get("mode") == "host":
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "network"]
        with open(os.path.join(cdir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=1)
    except BaseException:
        _remove_dir(cdir)
        store.release(cid)
        raise

    if detach:
        # No monitor yet: the program's output goes to a file in its directory.
        log = os.open(os.path.join(cdir, "container.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        null = os.open(os.devnull, os.O_RDONLY)
        saved = [os.dup(0), os.dup(1), os.dup(2)]
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            rt.run(cid, cdir, detach=True, overlay=plan)
        except BaseException:
            _remove_dir(cdir)
            store.release(cid)
            raise
        finally:
            for fd, orig in zip((0, 1, 2), saved):
                os.dup2(orig, fd)
                os.close(orig)
            os.close(log)
            os.close(null)
        click.echo(cid)
        return 0
    if not interactive:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    try:
        code = rt.run(cid, cdir, detach=False, overlay=plan, keep=not remove)
    except BaseException:
        if os.path.isdir(cdir) and not os.path.isdir(os.path.join(root, cid)):
            _remove_dir(cdir)
            store.release(cid)
        raise
    return code


def run_image(root: str, args: list[str], detach: bool = False) -> int:
    try:
        code = run_cmd.main(args=args, prog_name="pycontainer run", standalone_mode=False,
                            obj=(root, detach))
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return code or 0


def cleanup(record: dict) -> None:
    """After delete: remove the container's directory and release its image (tolerant)."""
    ann = record.get("annotations") or {}
    cdir = ann.get(ANN_DIR)
    if not cdir:
        return
    cdir = os.path.normpath(cdir)
    if os.path.dirname(cdir) != CONTAINERS_DIR or os.path.basename(cdir) != record.get("id"):
        return                    # not one of ours: never delete what we did not make
    _remove_dir(cdir)
    try:
        from .image.store import Store
        Store(None).release(record["id"])
    except Exception:  # noqa: BLE001
        pass


def gc(live_ids) -> tuple[list[str], list[str]]:
    """Release image holds and remove container dirs of containers that no longer exist."""
    live = set(live_ids)
    holds: list[str] = []
    try:
        from .image.store import Store
        holds = Store(None).prune_holds(live)
    except Exception:  # noqa: BLE001 - no store yet
        pass
    dirs = []
    if os.path.isdir(CONTAINERS_DIR):
        for name in os.listdir(CONTAINERS_DIR):
            if name not in live:
                _remove_dir(os.path.join(CONTAINERS_DIR, name))
                dirs.append(name)
    return holds, dirs


def _remove_dir(cdir: str) -> None:
    import shutil
    from .image import overlay
    overlay.remove(cdir)
    shutil.rmtree(cdir, ignore_errors=True)


def _volume(v: str) -> dict:
    parts = v.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise SpecError(f"-v {v!r}: use HOST:CONTAINER[:ro|rw]")
    src, dst = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if not os.path.isabs(src) or not os.path.isabs(dst):
        raise SpecError(f"-v {v!r}: both paths must be absolute")
    if mode not in ("ro", "rw"):
        raise SpecError(f"-v {v!r}: mode must be ro or rw")
    if not os.path.exists(src):
        raise SpecError(f"-v {v!r}: {src} does not exist")
    return {"destination": dst, "type": "bind", "source": src, "options": ["rbind", mode, "rprivate"]}


def _capabilities(add, drop, privileged) -> list[str]:
    from .capabilities import CAPS, cap_number
    if privileged:
        return sorted(CAPS)
    caps = set(spec_mod.DEFAULT_CAPS)
    for c in add:
        if c.upper() == "ALL":
            caps = set(CAPS)
            continue
        if cap_number(c) is None:
            raise SpecError(f"--cap-add {c}: unknown capability")
        caps.add("CAP_" + c.upper().removeprefix("CAP_"))
    for c in drop:
        if c.upper() == "ALL":
            caps = set()
            continue
        if cap_number(c) is None:
            raise SpecError(f"--cap-drop {c}: unknown capability")
        caps.discard("CAP_" + c.upper().removeprefix("CAP_"))
    return sorted(caps)


def _network_request(mode: str | None, publish, hostname: str) -> dict | None:
    from . import network
    req = {"mode": mode or "bridge", "hostname": hostname}
    if publish:
        req["ports"] = list(publish)
    return network.parse_request(req)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_image("/run/pycontainer", sys.argv[1:]))
