"""The OCI runtime configuration (config.json): load, check, and the default.

The OCI runtime spec (config.md, config-linux.md) describes a container as a
JSON document inside a *bundle* directory: the root filesystem, the process
to run, mounts, namespaces, resources and hooks. pycontainer keeps it as the
plain dict ``json.load`` gives (the spec is the schema), and checks it here,
once, before anything is created: every problem becomes a ``SpecError`` whose
message names the field (``process.args[0] must be a string``), so a bad
config never leaves a half-made container behind.

``default_spec()`` is what ``pycontainer spec`` writes: runc's template
(``runc spec``), which is also docker's default set of capabilities, mounts,
masked and read-only paths.
"""

from __future__ import annotations

import posix

from . import paths
from .errors import SpecError, UnsupportedError

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# Docker's default capability set (14), which runc's template uses too (minus a few).
DEFAULT_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
    "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
    "/proc/scsi", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = [
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
]

RLIMIT_NAMES = (
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
)

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")

# Sysctls that belong to a namespace (runc's validator allowlist): anything
# else would change the host.
_IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}


def default_spec(args: list[str] | None = None, terminal: bool = True) -> dict:
    """runc's ``spec`` template (config.json for a busybox-like rootfs)."""
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args or ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pycontainer",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": list(MASKED_PATHS),
            "readonlyPaths": list(READONLY_PATHS),
        },
    }


def to_rootless(spec: dict) -> dict:
    """runc's ``spec --rootless`` (specconv.ToRootless): a new user namespace mapping
    the caller's uid/gid to 0, no network namespace, /sys bound from the host
    (sysfs cannot be mounted without a network namespace of one's own), no uid=/gid=
    mount options, and no cgroup resources."""
    linux = spec.setdefault("linux", {})
    linux["namespaces"] = [n for n in linux.get("namespaces", [])
                           if n["type"] not in ("network", "user")] + [{"type": "user"}]
    linux["uidMappings"] = [{"containerID": 0, "hostID": posix.geteuid(), "size": 1}]
    linux["gidMappings"] = [{"containerID": 0, "hostID": posix.getegid(), "size": 1}]
    mounts = []
    for m in spec.get("mounts", []):
        if paths.normpath(m["destination"]) == "/sys":
            mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
            continue
        m = dict(m)
        if "options" in m:
            m["options"] = [o for o in m["options"] if not o.startswith(("gid=", "uid="))]
        mounts.append(m)
    spec["mounts"] = mounts
    linux.pop("resources", None)
    return spec


def load(bundle: str) -> dict:
    """Read and check ``BUNDLE/config.json``; returns the dict with ``root.path`` made absolute."""
    if not paths.isabs(bundle):
        bundle = paths.abspath(bundle)
    if not paths.isdir(bundle):
        raise SpecError(f"bundle {bundle!r} does not exist or is not a directory")
    path = paths.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise SpecError(f"bundle {bundle!r} has no config.json") from None
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror}") from None
    try:
        from . import jsonio
        spec = jsonio.loads(raw)
    except ValueError as exc:
        raise SpecError(f"{path} is not valid JSON: {exc}") from None
    validate(spec, bundle)
    return spec


def rootfs_path(spec: dict, bundle: str) -> str:
    root = spec["root"]["path"]
    return paths.normpath(root if paths.isabs(root) else paths.join(bundle, root))


# --- validation ------------------------------------------------------------------

def _want(cond: bool, message: str) -> None:
    if not cond:
        raise SpecError(f"config.json: {message}")


def _is_str_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _is_uint(v, bits: int = 32) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << bits)


def validate(spec, bundle: str, *, need_process: bool = True) -> None:
    """Check the parts of the config pycontainer acts on; raise SpecError naming the field."""
    _want(isinstance(spec, dict), "the top level must be a JSON object")
    _want(isinstance(spec.get("ociVersion"), str), "ociVersion must be a string")
    root = spec.get("root")
    _want(isinstance(root, dict) and isinstance(root.get("path"), str) and root["path"],
          "root.path must be a non-empty string")
    _want(isinstance(root.get("readonly", False), bool), "root.readonly must be a boolean")
    rootfs = rootfs_path(spec, bundle)
    _want(paths.isdir(rootfs), f"root.path {rootfs!r} does not exist or is not a directory")

    proc = spec.get("process")
    if need_process or proc is not None:
        validate_process(proc)

    if "hostname" in spec:
        _want(isinstance(spec["hostname"], str), "hostname must be a string")
    if "domainname" in spec:
        _want(isinstance(spec["domainname"], str), "domainname must be a string")
    _validate_mounts(spec.get("mounts", []))
    _check_bind_sources(spec.get("mounts", []), bundle)
    _validate_hooks(spec.get("hooks", {}))
    ann = spec.get("annotations", {})
    _want(isinstance(ann, dict) and all(isinstance(v, str) for v in ann.values()),
          "annotations must be an object of strings")

    linux = spec.get("linux", {})
    _want(isinstance(linux, dict), "linux must be an object")
    nss = linux.get("namespaces", [])
    _want(isinstance(nss, list), "linux.namespaces must be a list")
    seen = set()
    for i, ns in enumerate(nss):
        _want(isinstance(ns, dict) and isinstance(ns.get("type"), str),
              f"linux.namespaces[{i}] must be an object with a string 'type'")
        _want(ns["type"] in NAMESPACE_TYPES,
              f"linux.namespaces[{i}].type {ns['type']!r} is not a namespace type "
              f"(one of {', '.join(NAMESPACE_TYPES)})")
        _want(ns["type"] not in seen, f"linux.namespaces: {ns['type']!r} is listed twice")
        seen.add(ns["type"])
        if "path" in ns:
            _want(isinstance(ns["path"], str) and paths.isabs(ns["path"]),
                  f"linux.namespaces[{i}].path must be an absolute path")
    if spec.get("hostname") and "uts" not in seen:
        raise SpecError("config.json: unable to set hostname without a private UTS namespace "
                        "(linux.namespaces: uts)")
    if spec.get("domainname") and "uts" not in seen:
        raise SpecError("config.json: unable to set domainname without a private UTS namespace "
                        "(linux.namespaces: uts)")
    for key in ("uidMappings", "gidMappings"):
        maps = linux.get(key, [])
        _want(isinstance(maps, list), f"linux.{key} must be a list")
        for j, m in enumerate(maps):
            _want(isinstance(m, dict) and all(_is_uint(m.get(k)) for k in ("containerID", "hostID", "size")),
                  f"linux.{key}[{j}] needs unsigned containerID, hostID and size")
        if maps:
            _want("user" in seen, f"linux.{key} needs a user namespace (linux.namespaces: user)")
    if "user" in seen and not any(ns.get("path") for ns in nss if ns["type"] == "user"):
        _want(bool(linux.get("uidMappings")) and bool(linux.get("gidMappings")),
              "a new user namespace needs linux.uidMappings and linux.gidMappings")
    for key in ("maskedPaths", "readonlyPaths"):
        listed = linux.get(key, [])
        _want(_is_str_list(listed), f"linux.{key} must be a list of strings")
        for p in listed:
            _want(paths.isabs(p), f"linux.{key}: {p!r} must be an absolute path")
    if "cgroupsPath" in linux:
        _want(isinstance(linux["cgroupsPath"], str), "linux.cgroupsPath must be a string")
    if "rootfsPropagation" in linux:
        _want(linux["rootfsPropagation"] in ("private", "rprivate", "slave", "rslave", "shared",
                                             "rshared", "unbindable", "runbindable"),
              f"linux.rootfsPropagation {linux['rootfsPropagation']!r} is not a propagation type")
    sysctl = linux.get("sysctl", {})
    _want(isinstance(sysctl, dict) and all(isinstance(v, str) for v in sysctl.values()),
          "linux.sysctl must be an object of strings")
    for key in sysctl:
        _check_sysctl(key, seen, nss)
    devs = linux.get("devices", [])
    _want(isinstance(devs, list), "linux.devices must be a list")
    for j, d in enumerate(devs):
        _want(isinstance(d, dict) and isinstance(d.get("path"), str) and paths.isabs(d["path"]),
              f"linux.devices[{j}].path must be an absolute path")
        _want(d.get("type") in ("c", "b", "u", "p"), f"linux.devices[{j}].type must be c, b, u or p")
    res = linux.get("resources", {})
    _want(isinstance(res, dict), "linux.resources must be an object")
    from . import procattrs
    procattrs.validate_linux(linux, nss)
    _refuse_unsupported(spec)


# Fields of runtime-spec 1.2 that pycontainer does not implement: refused, never ignored
# (``features`` does not advertise them; seccomp's listenerPath is refused by
# security.seccomp).
def _refuse_unsupported(spec: dict) -> None:
    linux = spec.get("linux", {})
    for key, what in (("intelRdt", "Intel RDT (resctrl)"), ("netDevices", "moving network devices")):
        if linux.get(key):
            raise UnsupportedError(f"config.json: linux.{key}: {what} is not supported by pycontainer")
    for i, m in enumerate(spec.get("mounts", [])):
        if m.get("uidMappings") or m.get("gidMappings") or \
                any(o in ("idmap", "ridmap") for o in m.get("options", [])):
            raise UnsupportedError(f"config.json: mounts[{i}]: idmapped mounts (uidMappings, "
                                   "gidMappings, idmap) are not supported by pycontainer")


def validate_process(proc) -> None:
    """Check an OCI ``process`` object (config.json's, or exec's process.json); SpecError."""
    _want(isinstance(proc, dict), "process must be an object")
    args = proc.get("args")
    _want(isinstance(args, list) and len(args) > 0, "process.args must be a non-empty list")
    for i, a in enumerate(args):
        _want(isinstance(a, str) and "\0" not in a, f"process.args[{i}] must be a string without NUL")
    _want(args[0] != "", "process.args[0] (the program) must not be empty")
    cwd = proc.get("cwd", "/")
    _want(isinstance(cwd, str) and paths.isabs(cwd) and "\0" not in cwd,
          "process.cwd must be an absolute path")
    _want(_is_str_list(proc.get("env", [])), "process.env must be a list of strings")
    for e in proc.get("env", []):          # runc's populateProcessEnvironment
        name, eq, _value = e.partition("=")
        _want(eq, f"process.env: invalid environment variable {e!r}: missing '='")
        _want(name, f"process.env: invalid environment variable {e!r}: name cannot be empty")
        _want("\0" not in e, f"process.env: invalid environment variable {name!r}: contains a NUL byte")
    _want(isinstance(proc.get("terminal", False), bool), "process.terminal must be a boolean")
    user = proc.get("user", {})
    _want(isinstance(user, dict), "process.user must be an object")
    for k in ("uid", "gid"):
        _want(_is_uint(user.get(k, 0)), f"process.user.{k} must be an unsigned integer")
    if "umask" in user:
        _want(_is_uint(user["umask"]) and user["umask"] <= 0o777, "process.user.umask must be 0-0777")
    agids = user.get("additionalGids", [])
    _want(isinstance(agids, list) and all(_is_uint(g) for g in agids),
          "process.user.additionalGids must be a list of unsigned integers")
    caps = proc.get("capabilities", {})
    _want(isinstance(caps, dict), "process.capabilities must be an object")
    from .capabilities import cap_number  # small module, no heavy imports
    for kind, names in caps.items():
        _want(kind in ("bounding", "effective", "permitted", "inheritable", "ambient"),
              f"process.capabilities.{kind} is not a capability set")
        _want(_is_str_list(names), f"process.capabilities.{kind} must be a list of strings")
        for n in names:
            if cap_number(n) is None:
                raise SpecError(f"config.json: process.capabilities.{kind}: unknown capability {n!r}")
    rl = proc.get("rlimits", [])
    _want(isinstance(rl, list), "process.rlimits must be a list")
    for i, r in enumerate(rl):
        _want(isinstance(r, dict) and r.get("type") in RLIMIT_NAMES,
              f"process.rlimits[{i}].type must be one of RLIMIT_*")
        _want(_is_uint(r.get("soft"), 64) and _is_uint(r.get("hard"), 64),
              f"process.rlimits[{i}] needs unsigned soft and hard")
    if "oomScoreAdj" in proc:
        v = proc["oomScoreAdj"]
        _want(isinstance(v, int) and -1000 <= v <= 1000, "process.oomScoreAdj must be -1000..1000")
    _want(isinstance(proc.get("noNewPrivileges", False), bool), "process.noNewPrivileges must be a boolean")
    from . import procattrs
    procattrs.validate_process(proc)
    if "consoleSize" in proc:
        cs = proc["consoleSize"]
        _want(isinstance(cs, dict) and _is_uint(cs.get("height", 0)) and _is_uint(cs.get("width", 0)),
              "process.consoleSize needs unsigned height and width")


def _validate_mounts(mounts) -> None:
    _want(isinstance(mounts, list), "mounts must be a list")
    for i, m in enumerate(mounts):
        _want(isinstance(m, dict), f"mounts[{i}] must be an object")
        dest = m.get("destination")
        _want(isinstance(dest, str) and paths.isabs(dest),
              f"mounts[{i}].destination must be an absolute path")
        _want(isinstance(m.get("type", ""), str), f"mounts[{i}].type must be a string")
        _check_proc_mount(i, m)
        _want(isinstance(m.get("source", ""), str), f"mounts[{i}].source must be a string")
        _want(_is_str_list(m.get("options", [])), f"mounts[{i}].options must be a list of strings")


def _check_bind_sources(mounts: list, bundle: str) -> None:
    """Bind sources exist on the host: checked here, as root in the host's namespaces,
    not later by the init inside a user namespace, where a path it may not search
    would read as missing."""
    for i, m in enumerate(mounts):
        opts = m.get("options", [])
        if m.get("type") != "bind" and "bind" not in opts and "rbind" not in opts:
            continue
        src = m.get("source") or ""
        path = src if paths.isabs(src) else paths.join(bundle, src)
        _want(bool(src) and paths.lexists(path),
              f"mounts[{i}]: bind source {src!r} does not exist on the host")


# runc's checkProcMount allow-list: files lxcfs (and the like) bind over their /proc twins.
_PROC_BINDS = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
               "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
               "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled"}


def _check_proc_mount(i: int, m: dict) -> None:
    """Only procfs on /proc, and only the lxcfs binds under it (CVE-2025-52881, CVE-2019-19921):
    a mount over /proc/sys or /proc/self would redirect what the runtime writes there."""
    dest = paths.normpath(m["destination"])
    if dest != "/proc" and not dest.startswith("/proc/"):
        return
    if dest == "/proc":
        _want(m.get("type") == "proc", f"mounts[{i}]: only a proc filesystem may be mounted on /proc")
        return
    is_bind = m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options", []))
    _want(is_bind and dest in _PROC_BINDS,
          f"mounts[{i}].destination {m['destination']!r} is inside /proc: only binds of "
          f"{', '.join(sorted(_PROC_BINDS))} are allowed there")


def _validate_hooks(hooks) -> None:
    _want(isinstance(hooks, dict), "hooks must be an object")
    for kind, lst in hooks.items():
        _want(kind in HOOK_KINDS, f"hooks.{kind} is not a hook kind ({', '.join(HOOK_KINDS)})")
        _want(isinstance(lst, list), f"hooks.{kind} must be a list")
        for j, h in enumerate(lst):
            _want(isinstance(h, dict) and isinstance(h.get("path"), str) and paths.isabs(h["path"]),
                  f"hooks.{kind}[{j}].path must be an absolute path")
            _want(_is_str_list(h.get("args", [])), f"hooks.{kind}[{j}].args must be a list of strings")
            _want(_is_str_list(h.get("env", [])), f"hooks.{kind}[{j}].env must be a list of strings")
            if "timeout" in h:
                _want(isinstance(h["timeout"], int) and h["timeout"] > 0,
                      f"hooks.{kind}[{j}].timeout must be a positive integer")


def _check_sysctl(key: str, namespaces: set, nss: list | None = None) -> None:
    """runc's validator: only sysctls of a namespace the container has of its own."""
    seps = [i for i in (key.find("."), key.find("/")) if i >= 0]
    if seps and key[min(seps)] == "/":                     # sysctl.d(5)'s '/' spelling
        key = key.translate(str.maketrans("./", "/."))
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if "ipc" not in namespaces:
            raise SpecError(f"config.json: sysctl {key!r} is not allowed in the host's ipc namespace")
        return
    if key.startswith("net."):
        path = next((n.get("path") for n in nss or [] if n.get("type") == "network"), None)
        if "network" not in namespaces or (path and _same_ns(path, "/proc/self/ns/net")):
            raise SpecError(f"config.json: sysctl {key!r} is not allowed in the host network namespace")
        return
    if key in ("kernel.hostname", "kernel.domainname"):
        field = key.split(".")[1]
        raise SpecError(f"config.json: sysctl {key!r} is not allowed as it conflicts with the "
                        f"OCI {field!r} field: set {field} instead")
    if key.startswith("user."):
        _want("user" in namespaces, f"setting ucounts without a user namespace not allowed: {key}")
        return
    raise SpecError(f"config.json: sysctl {key!r} is not in a separate kernel namespace: "
                    "it would change the host")


def _same_ns(a: str, b: str) -> bool:
    try:
        sa, sb = posix.stat(a), posix.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
