"""A container's network request: the modes and options, parsed and checked before any fork.

The request comes from the OCI annotation ``org.pycontainer.network`` (a
mode string or a JSON object) or, from the porcelain and the API, as a dict;
``parse_request`` turns it into a complete dict with a ``Mode``, and
``namespace_action`` says what the init (or stage 1) does with the network namespace
(network_namespaces(7)): unshare a new one, stay in the host's, or setns(2)
into a path. The keys and modes are listed in the package docstring
(``pycontainer/network/__init__.py``).
"""

from __future__ import annotations

from .. import jsonio
from ..errors import NetworkError

ANNOTATION = "org.pycontainer.network"
DEFAULT_STATE_DIR = "/var/lib/pycontainer/network"
DEFAULTS = {
    "mode": "bridge", "network": "pyc", "bridge": "pyc0", "subnet": "10.89.0.0/24",
    "gateway": None, "ip": None, "mtu": 1500, "ports": [], "masquerade": True,
    "hostname": None, "dns": None, "dns_search": None, "dns_options": None,
    "extra_hosts": {}, "state_dir": DEFAULT_STATE_DIR, "nft_table": "pycontainer",
    "egress_group": None,        # the host veth's interface group: a shared egress policy
    "mac": None,                 # the container end's address (--mac-address), else the kernel's
}
# the interface groups of the shared egress policies (egress.Shared): 0x40000000-0x7fffffff, far
# from the small numbers /etc/iproute2/group names (every interface starts in group 0)
EGRESS_GROUP_BASE = 0x40000000
# names are checked with str methods, not re: ``re`` (with enum, functools, ...) costs
# ~5 ms of a runc-form ``run`` that otherwise never imports it
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def valid_name(name: str, most: int, first_alnum: bool = False) -> bool:
    """1..``most`` of [A-Za-z0-9_.-] (a network's name: [A-Za-z0-9] first, at most 64)."""
    return 0 < len(name) <= most and _NAME_CHARS.issuperset(name) and \
        (not first_alnum or (name[0].isascii() and name[0].isalnum()))


class Mode(tuple):
    """``(kind, ref)``: kind none | host | bridge | container | netns; ref the container
    id or netns path (a tuple like typing.NamedTuple's, without importing typing)."""
    __slots__ = ()

    def __new__(cls, kind: str, ref: str | None = None):
        return tuple.__new__(cls, (kind, ref))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def ref(self) -> str | None:
        return self[1]

    def __repr__(self):
        return f"Mode(kind={self[0]!r}, ref={self[1]!r})"


def parse_mode(text: str) -> Mode:
    """``none|host|bridge|container:<id>|ns:<path>|/path`` → Mode; NetworkError otherwise."""
    s = (text or "").strip() if isinstance(text, str) else text
    if s in ("none", "host", "bridge"):
        return Mode(s)
    if isinstance(s, str) and s.startswith("container:") and len(s) > len("container:"):
        return Mode("container", s[len("container:"):])
    if isinstance(s, str) and s.startswith(("ns:", "netns:")):
        s = s.split(":", 1)[1]
    if isinstance(s, str) and s.startswith("/") and ".." not in s.split("/"):
        return Mode("netns", s)
    raise NetworkError(f"unknown network mode {text!r}: use none, host, bridge, container:<id> "
                       "or ns:<path>", stage="network")


def parse_request(value) -> dict:
    """A mode string, a JSON text or a dict → a complete, checked request dict."""
    if value is None:
        value = {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = jsonio.loads(text)
            except ValueError as exc:
                raise NetworkError(f"{ANNOTATION}: malformed JSON ({exc})", stage="network") from None
        else:
            value = {"mode": text}
    if not isinstance(value, dict):
        raise NetworkError(f"network request must be a mode string or an object, not {value!r}",
                           stage="network")
    unknown = set(value) - set(DEFAULTS)
    if unknown:
        raise NetworkError(f"unknown network option(s) {sorted(unknown)}: known are "
                           f"{sorted(DEFAULTS)}", stage="network")
    req = {**DEFAULTS, **value}
    m = req["mode"]
    req["mode"] = Mode(*m) if isinstance(m, (list, tuple)) else parse_mode(m)
    if not valid_name(str(req["network"]), 64, first_alnum=True):
        raise NetworkError(f"invalid network name {req['network']!r}", stage="network")
    if not valid_name(str(req["bridge"]), 15):
        raise NetworkError(f"invalid bridge name {req['bridge']!r}: 1-15 of [A-Za-z0-9_.-]",
                           stage="network")
    g = req["egress_group"]
    if g is not None and (type(g) is not int or not EGRESS_GROUP_BASE <= g < 2 * EGRESS_GROUP_BASE):
        raise NetworkError(f"egress_group {g!r}: an interface group of a shared egress policy, "
                           f"{EGRESS_GROUP_BASE:#x}-{2 * EGRESS_GROUP_BASE - 1:#x}", stage="network")
    mac = req["mac"]
    if mac is not None and not _unicast_mac(str(mac)):
        raise NetworkError(f"--mac-address {mac!r}: give a unicast address like 92:d0:c6:0a:29:33",
                           stage="network")
    if isinstance(req["ports"], str):
        req["ports"] = [req["ports"]]
    if req["ports"] and req["mode"].kind != "bridge":
        raise NetworkError(f"ports can only be published in bridge mode, not "
                           f"{req['mode'].kind}", stage="network")
    if req["ports"]:
        from .nat import parse_port
        req["ports"] = [parse_port(p) for p in req["ports"]]
    else:
        req["ports"] = []
    return req


def _unicast_mac(mac: str) -> bool:
    parts = mac.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p)
                                   for p in parts) and not int(parts[0], 16) & 1


def from_annotations(annotations: dict | None) -> dict | None:
    """The request in an OCI spec's annotations, or None when there is none."""
    if annotations and ANNOTATION in annotations:
        return parse_request(annotations[ANNOTATION])
    return None


def namespace_action(req: dict) -> tuple[str, str | None]:
    """What stage 1 does with the network namespace: ("new"|"host"|"join", path).

    For ``container:<id>`` the path is ``None`` here: the runtime resolves
    the other container's init pid and joins ``/proc/<pid>/ns/net``.
    """
    mode = req["mode"] if isinstance(req, dict) else parse_mode(req)
    if mode.kind == "host":
        return ("host", None)
    if mode.kind == "netns":
        return ("join", mode.ref)
    if mode.kind == "container":
        return ("join", None)
    return ("new", None)
