"""One CDI spec file: read it (JSON or YAML), check it as the reference does.

The Container Device Interface (https://github.com/cncf-tags/container-device-interface,
SPEC.md) lets a vendor describe a device as the edits a container needs: a
spec has a ``kind`` ``vendor/class`` (``nvidia.com/gpu``), spec-wide
``containerEdits`` and ``devices``, each a ``name`` with its own edits. A
device's fully-qualified name is ``vendor/class=name``.

The checks follow the reference Go package (pkg/cdi/spec.go, device.go,
container-edits.go, pkg/parser, specs-go/version.go): fields are decoded
strictly (an unknown field is an error), ``cdiVersion`` must be a known
version no older than what the spec uses, names use the reference's character
sets, every device has edits, device names are unique in the file. Errors
name the file: ``CDI spec /etc/cdi/x.yaml: devices[1]: duplicate device "0"``.
"""

from __future__ import annotations

import json
import os

from ..errors import DeviceError

VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0",
            "1.0.0", "1.1.0")
CURRENT_VERSION = "1.1.0"
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")

# field name -> expected kind; nested objects are described by the tables below.
_EDITS = {"env": "strlist", "deviceNodes": "nodes", "hooks": "hooks", "mounts": "mounts",
          "intelRdt": "rdt", "additionalGids": "gids", "netDevices": "netdevs"}
_NODE = {"path": "str", "hostPath": "str", "type": "str", "major": "int", "minor": "int",
         "fileMode": "int", "permissions": "str", "uid": "int", "gid": "int"}
_MOUNT = {"hostPath": "str", "containerPath": "str", "options": "strlist", "type": "str"}
_HOOK = {"hookName": "str", "path": "str", "args": "strlist", "env": "strlist", "timeout": "int"}
_RDT = {"closID": "str", "l3CacheSchema": "str", "memBwSchema": "str", "schemata": "strlist",
        "enableMonitoring": "bool"}
_NETDEV = {"hostInterfaceName": "str", "name": "str"}
_DEVICE = {"name": "str", "annotations": "annotations", "containerEdits": "edits"}
_SPEC = {"cdiVersion": "str", "kind": "str", "annotations": "annotations", "devices": "devices",
         "containerEdits": "edits"}


class Spec:
    """A checked spec: ``path``, ``vendor``, ``klass``, ``raw`` (the decoded dict),
    ``devices`` {name: raw device}, ``priority`` (index of its directory)."""

    def __init__(self, path: str, raw: dict, priority: int = 0):
        self.path, self.raw, self.priority = path, raw, priority
        self.vendor, self.klass = parse_kind(raw["kind"])
        self.devices = {d["name"]: d for d in raw["devices"]}

    @property
    def kind(self) -> str:
        return f"{self.vendor}/{self.klass}"

    def qualified(self, name: str) -> str:
        return f"{self.vendor}/{self.klass}={name}"

    def __repr__(self) -> str:
        return f"<cdi.Spec {self.kind} {self.path}>"


def read(path: str, priority: int = 0) -> Spec:
    """Read and check one spec file; DeviceError naming the file on any problem."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DeviceError(f"CDI spec {path}: {exc.strerror}", errno=exc.errno) from None
    return parse(data, path, priority)


def parse(data: bytes, path: str = "<spec>", priority: int = 0) -> Spec:
    raw = decode(data, path)
    try:
        check(raw)
    except ValueError as exc:
        raise DeviceError(f"CDI spec {path}: {exc}") from None
    return Spec(path, raw, priority)


def decode(data: bytes, path: str):
    """JSON (by extension, or a leading '{') or the YAML subset (yamlsubset.py)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise DeviceError(f"CDI spec {path}: not UTF-8 text") from None
    if path.endswith(".json") or text.lstrip().startswith("{"):
        try:
            raw = json.loads(text, object_pairs_hook=_no_duplicates)
        except ValueError as exc:
            raise DeviceError(f"CDI spec {path}: malformed JSON: {exc}") from None
    else:
        from .yamlsubset import YAMLError, loads
        try:
            raw = loads(text)
        except YAMLError as exc:
            raise DeviceError(f"CDI spec {path}: malformed YAML: {exc}") from None
    if raw is None:
        raise DeviceError(f"CDI spec {path}: the file holds no spec")
    return raw


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


# --- checks -------------------------------------------------------------------------

def check(raw) -> None:
    """ValueError with a path into the spec for the first problem found."""
    _fields(raw, _SPEC, "")
    for req in ("cdiVersion", "kind"):
        if not raw.get(req):
            raise ValueError(f"missing required field {req!r}")
    version = raw["cdiVersion"].removeprefix("v")
    if version not in VERSIONS:
        raise ValueError(f"invalid version {raw['cdiVersion']!r} (this reader knows "
                         f"{VERSIONS[2]} to {CURRENT_VERSION})")
    vendor, klass = parse_kind(raw["kind"])
    validate_vendor(vendor)
    validate_class(klass)
    _check_edits(raw.get("containerEdits"), "containerEdits")
    seen = set()
    for i, d in enumerate(raw.get("devices") or []):
        where = f"devices[{i}]"
        if "name" not in d:
            raise ValueError(f"{where}: missing required field 'name'")
        try:
            validate_device_name(d["name"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        if not _has_edits(d.get("containerEdits")):
            raise ValueError(f"{where} {d['name']!r}: invalid device, empty device edits")
        _check_edits(d["containerEdits"], f"{where}.containerEdits")
        if d["name"] in seen:
            raise ValueError(f"invalid spec, multiple device {d['name']!r}")
        seen.add(d["name"])
    if not seen:
        raise ValueError("invalid spec, no devices")
    need = required_version(raw)
    if VERSIONS.index(need) > VERSIONS.index(version):
        raise ValueError(f"the spec version must be at least v{need} (it is {raw['cdiVersion']})")


def _fields(obj, table: dict, where: str) -> None:
    if not isinstance(obj, dict):
        raise ValueError(f"{where or 'the spec'}: expected an object, got {type(obj).__name__}")
    for k, v in obj.items():
        if k not in table:
            raise ValueError(f"unknown field {k!r}" + (f" in {where}" if where else ""))
        here = f"{where}.{k}" if where else k
        kind = table[k]
        if v is None and kind not in ("str",):
            obj[k] = v = [] if kind in ("strlist", "nodes", "hooks", "mounts", "gids",
                                        "netdevs", "devices") else None
            if v is None:
                continue
        if kind == "str":
            if isinstance(v, int) and not isinstance(v, bool):     # YAML: name: 0
                obj[k] = v = str(v)
            if v is None:
                obj[k] = v = ""
            if not isinstance(v, str):
                raise ValueError(f"{here}: expected a string, got {v!r}")
        elif kind == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{here}: expected an integer, got {v!r}")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{here}: expected true or false, got {v!r}")
        elif kind == "strlist":
            if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                raise ValueError(f"{here}: expected a list of strings")
        elif kind == "gids":
            if not isinstance(v, list) or not all(isinstance(g, int) and not isinstance(g, bool)
                                                  and 0 <= g < 2 ** 32 for g in v):
                raise ValueError(f"{here}: expected a list of group IDs")
        elif kind == "annotations":
            if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
                raise ValueError(f"{here}: expected a map of strings")
        elif kind == "edits":
            _fields(v, _EDITS, here)
        elif kind == "rdt":
            _fields(v, _RDT, here)
        else:
            sub = {"nodes": _NODE, "hooks": _HOOK, "mounts": _MOUNT, "netdevs": _NETDEV,
                   "devices": _DEVICE}[kind]
            if not isinstance(v, list):
                raise ValueError(f"{here}: expected a list")
            for i, item in enumerate(v):
                _fields(item, sub, f"{here}[{i}]")


def _has_edits(e) -> bool:
    return bool(e) and any(e.get(k) for k in _EDITS)


def _check_edits(e, where: str) -> None:
    if not e:
        return
    for v in e.get("env") or []:
        if v.find("=") <= 0:
            raise ValueError(f"{where}.env: invalid environment variable {v!r}")
    for i, d in enumerate(e.get("deviceNodes") or []):
        if not d.get("path"):
            raise ValueError(f"{where}.deviceNodes[{i}]: invalid (empty) device path")
        if d.get("type", "") not in ("", "b", "c", "u", "p"):
            raise ValueError(f"{where}.deviceNodes[{i}]: device {d['path']!r}: invalid type {d['type']!r}")
        perms = d.get("permissions", "")
        if perms not in ("", "none") and perms.strip("rwm"):
            raise ValueError(f"{where}.deviceNodes[{i}]: device {d['path']!r}: invalid permissions {perms!r}")
    for i, h in enumerate(e.get("hooks") or []):
        if h.get("hookName") not in HOOK_NAMES:
            raise ValueError(f"{where}.hooks[{i}]: invalid hook name {h.get('hookName')!r}")
        if not h.get("path"):
            raise ValueError(f"{where}.hooks[{i}]: invalid hook {h['hookName']!r} with empty path")
        for v in h.get("env") or []:
            if v.find("=") <= 0:
                raise ValueError(f"{where}.hooks[{i}]: invalid environment variable {v!r}")
    for i, m in enumerate(e.get("mounts") or []):
        if not m.get("hostPath"):
            raise ValueError(f"{where}.mounts[{i}]: invalid mount, empty host path")
        if not m.get("containerPath"):
            raise ValueError(f"{where}.mounts[{i}]: invalid mount, empty container path")
    host, names = set(), set()
    for i, n in enumerate(e.get("netDevices") or []):
        if not n.get("hostInterfaceName") or not n.get("name"):
            raise ValueError(f"{where}.netDevices[{i}]: needs hostInterfaceName and name")
        if n["hostInterfaceName"] in host or n["name"] in names:
            raise ValueError(f"{where}.netDevices[{i}]: duplicate net device")
        host.add(n["hostInterfaceName"])
        names.add(n["name"])


def required_version(raw: dict) -> str:
    """The oldest cdiVersion that has every feature the spec uses (specs-go/version.go)."""
    edits = [raw.get("containerEdits") or {}] + [d.get("containerEdits") or {}
                                                 for d in raw.get("devices") or []]
    if any(e.get("netDevices") or (e.get("intelRdt") or {}).get("schemata")
           or (e.get("intelRdt") or {}).get("enableMonitoring") for e in edits):
        return "1.1.0"
    if any(e.get("intelRdt") is not None or e.get("additionalGids") for e in edits):
        return "0.7.0"
    klass = raw["kind"].partition("/")[2]
    if raw.get("annotations") or any(d.get("annotations") for d in raw.get("devices") or []) \
            or "." in klass:
        return "0.6.0"
    if any(str(d.get("name", ""))[:1].isdigit() for d in raw.get("devices") or []) or \
            any(n.get("hostPath") for e in edits for n in e.get("deviceNodes") or []):
        return "0.5.0"
    if any(m.get("type") for e in edits for m in e.get("mounts") or []):
        return "0.4.0"
    return "0.3.0"


# --- names (pkg/parser) ---------------------------------------------------------------

def parse_kind(kind: str) -> tuple[str, str]:
    vendor, sep, klass = kind.partition("/")
    if not sep or not vendor or not klass:
        raise ValueError(f"invalid kind {kind!r}: want vendor/class, e.g. nvidia.com/gpu")
    return vendor, klass


def parse_qualified(name: str) -> tuple[str, str, str]:
    """``vendor/class=name`` -> (vendor, class, name); ValueError says what is wrong."""
    qualifier, eq, dev = name.partition("=")
    vendor, slash, klass = qualifier.partition("/")
    if name.startswith("/") or not eq or not slash:
        raise ValueError(f"unqualified device {name!r}: want vendor/class=name")
    for part, what in ((vendor, "vendor"), (klass, "class"), (dev, "device name")):
        if not part:
            raise ValueError(f"unqualified device {name!r}, missing {what}")
    try:
        validate_vendor(vendor)
        validate_class(klass)
        validate_device_name(dev)
    except ValueError as exc:
        raise ValueError(f"invalid device {name!r}: {exc}") from None
    return vendor, klass, dev


def is_qualified(name: str) -> bool:
    try:
        parse_qualified(name)
    except ValueError:
        return False
    return True


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _vendor_or_class(name: str, what: str) -> None:
    if not name:
        raise ValueError(f"invalid {what}, empty name")
    if not (name[0].isascii() and name[0].isalpha()):
        raise ValueError(f"invalid {what} {name!r}, should start with letter")
    for c in name[1:-1]:
        if not (_alnum(c) or c in "_-."):
            raise ValueError(f"invalid {what}: invalid character {c!r} in name {name!r}")
    if len(name) > 1 and not _alnum(name[-1]):
        raise ValueError(f"invalid {what} {name!r}, should end with a letter or digit")


def validate_vendor(name: str) -> None:
    _vendor_or_class(name, "vendor")


def validate_class(name: str) -> None:
    _vendor_or_class(name, "class")


def validate_device_name(name: str) -> None:
    if not name:
        raise ValueError("invalid (empty) device name")
    if not _alnum(name[0]):
        raise ValueError(f"invalid device name {name!r}, should start with a letter or digit")
    for c in name[1:-1]:
        if not (_alnum(c) or c in "_-.:"):
            raise ValueError(f"invalid character {c!r} in device name {name!r}")
    if len(name) > 1 and not _alnum(name[-1]):
        raise ValueError(f"invalid device name {name!r}, should end with a letter or digit")


def spec_files(directory: str) -> list[str]:
    """The ``*.json`` / ``*.yaml`` files of a spec dir, sorted (missing dir: none)."""
    try:
        names = sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise DeviceError(f"CDI spec dir {directory}: {exc.strerror}", errno=exc.errno) from None
    return [os.path.join(directory, n) for n in names
            if n.endswith((".json", ".yaml")) and os.path.isfile(os.path.join(directory, n))]
