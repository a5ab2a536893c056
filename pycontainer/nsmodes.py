"""docker's ``--ipc``, ``--pid``, ``--uts`` and ``--cgroupns``: which namespaces a container
gets of its own, shares with the host, or joins from another container.

A namespace is the kernel's view of one global resource (namespaces(7)). The
OCI config says what a container gets in ``linux.namespaces``: an entry
without ``path`` is a new namespace (clone(2)/unshare(2) with
``CLONE_NEWIPC``, ``CLONE_NEWPID``, ...); an entry with ``path`` joins the
namespace that file names (setns(2) on ``/proc/PID/ns/ipc``); no entry
leaves the container in the runtime's own, the host's. docker's modes are
that, said per namespace (docker run reference, "IPC settings", "PID
settings", "UTS settings", "--cgroupns"):

==================  =====================================================
``private``         a namespace of its own (the default; ``shareable``,
                    docker's default for ``--ipc``, is the same here: any
                    container's IPC namespace can be joined)
``host``            none of its own: the host's (for ``--ipc host`` also the
                    host's /dev/shm, as docker binds it)
``container:NAME``  the one of another running container (its init's
                    ``/proc/PID/ns/TYPE``, found by name or ID now, as
                    docker's daemon does before it calls runc)
``none``            (``--ipc`` only) a namespace of its own without /dev/shm
==================  =====================================================

``--ipc container:NAME`` shares what the IPC namespace holds: System V
shared memory, semaphores and message queues (sysvipc(7)) and POSIX message
queues (mq_overview(7)). POSIX shared memory (shm_overview(7)) is files in
/dev/shm, a tmpfs each container mounts in its own mount namespace, and the
kernel refuses a bind mount whose source is a mount of another mount namespace
(EINVAL). So, as docker does, ``--ipc shareable`` mounts that container's tmpfs
on the host (shm.py) and binds it in; a container that joins it binds the same
one. A donor run without ``shareable`` shares its namespace only.

Only the docker layer reads these flags; what it writes is config.json,
which the OCI layer (container.py, process/init.py) applies like any other.
Read: namespaces(7), ipc_namespaces(7), pid_namespaces(7),
uts_namespaces(7), cgroup_namespaces(7), setns(2).
"""

from __future__ import annotations

from .errors import PyContainerError

# flag -> (OCI namespace type, the modes docker takes for it)
FLAGS = {"ipc": ("ipc", ("private", "shareable", "host", "none", "container")),
         "pid": ("pid", ("private", "host", "container")),
         "uts": ("uts", ("private", "host")),
         "cgroupns": ("cgroup", ("private", "host"))}


def check(o: dict) -> None:
    """Refuse a bad mode before anything is made (the flag and what it takes, in one line)."""
    for flag, (_t, modes) in FLAGS.items():
        value = o.get(flag)
        if not value:
            continue
        kind, colon, ref = value.partition(":")
        if kind not in modes or bool(colon) != (kind == "container") or (colon and not ref):
            said = ", ".join("container:NAME" if m == "container" else m for m in modes)
            raise PyContainerError(f"--{flag} {value!r}: use one of {said}")
    if o.get("uts") == "host" and o.get("hostname"):
        raise PyContainerError("conflicting options: --hostname and --uts host (the host's "
                               "hostname is the container's)")
    if o.get("uts") == "host" and o.get("domainname"):
        raise PyContainerError("conflicting options: --domainname and --uts host")


def apply(cfg: dict, o: dict, root: str | None) -> None:
    """Rewrite ``cfg``'s ``linux.namespaces`` (and /dev/shm for --ipc) as the flags in ``o`` say;
    ``o`` was ``check``ed (api/config.build does, before anything is made); ``root``: the
    state root whose containers ``container:NAME`` names."""
    linux = cfg["linux"]
    for flag, (ns_type, _modes) in FLAGS.items():
        kind, _, ref = (o.get(flag) or "private").partition(":")
        if kind == "shareable":
            _share_shm(cfg)
        if kind in ("private", "shareable"):
            continue
        nss = [n for n in linux["namespaces"] if n["type"] != ns_type]
        if kind == "container":
            nss.append({"type": ns_type, "path": f"/proc/{_running_init(root, ref, flag)}/ns/{ns_type}"})
            if ns_type == "ipc":
                _join_shm(cfg, root, ref)
        elif kind == "none":                    # --ipc none: its own namespace
            nss.append({"type": ns_type})
        linux["namespaces"] = nss               # host: no entry, the runtime's own
        if ns_type == "ipc" and kind in ("host", "none"):     # /dev/shm: the host's, or none
            cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev/shm"]
            if kind == "host":
                cfg["mounts"].append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
                                      "options": ["rbind", "nosuid", "noexec", "nodev"]})
        elif ns_type == "uts" and kind == "host":
            cfg.pop("hostname", None)           # the host's: an OCI hostname needs a uts namespace


def _bind_shm(cfg: dict, source: str) -> None:
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev/shm"]
    cfg["mounts"].append({"destination": "/dev/shm", "type": "bind", "source": source,
                          "options": ["rbind", "nosuid", "nodev", "noexec"]})


def _share_shm(cfg: dict) -> None:
    """--ipc shareable: the container's /dev/shm a tmpfs on the host, in its directory (shm.py)."""
    from . import shm
    from .containerdir import ANN_DIR
    dev = next((m for m in cfg["mounts"] if m["destination"] == "/dev/shm"), {})
    size = next((x for x in dev.get("options") or () if x.startswith("size=")), "size=65536k")
    try:
        _bind_shm(cfg, shm.mount(cfg["annotations"][ANN_DIR], size))
    except OSError as exc:
        raise PyContainerError(f"--ipc shareable: mount a tmpfs for /dev/shm: {exc.strerror}") from None


def _join_shm(cfg: dict, root: str | None, ref: str) -> None:
    """--ipc container:NAME of a shareable container: its /dev/shm too."""
    from . import shm
    from .inspect import owned_dir, resolve_id
    donor = owned_dir(root or "/run/pycontainer", resolve_id(root or "/run/pycontainer", ref))
    if donor and shm.shared(donor):
        _bind_shm(cfg, shm.shared(donor))


def _running_init(root: str | None, ref: str, flag: str) -> int:
    """The pid of the init of the running container ``ref`` (a name, an ID or a prefix)."""
    from . import state as st
    from .inspect import resolve_id
    from .container import Runtime
    from .errors import ContainerNotFound
    root = root or "/run/pycontainer"
    try:
        cid = resolve_id(root, ref)
        s = Runtime(root).state(cid)
    except ContainerNotFound:
        raise PyContainerError(f"--{flag} container:{ref}: no such container") from None
    if s["status"] not in (st.RUNNING, st.PAUSED) or not s.get("pid"):
        raise PyContainerError(f"--{flag} container:{ref}: it is {s['status']}, not running")
    return s["pid"]
