"""``/etc/hosts``, ``/etc/hostname`` and ``/etc/resolv.conf`` for one container.

The kernel knows nothing of these files: the C library's resolver reads them
(hosts(5), hostname(5), resolv.conf(5)). A container with its own network
namespace needs its own copies because

* ``/etc/hosts`` should map the container's hostname to *its* address;
* a nameserver on the host's loopback (``127.0.0.53`` of systemd-resolved,
  a local dnsmasq) is unreachable from another namespace's ``lo``, so such
  entries are dropped (the way Docker and podman filter them).

The files are written into a per-container directory (the runtime's state
dir) and bind-mounted by the container's init over the image's ones, as
runc-based engines do; they are never written into the image.
"""

from __future__ import annotations

import ipaddress
import os

from ..errors import NetworkError

HOST_RESOLV = "/etc/resolv.conf"


def hosts(hostname: str, address: str | None = None, extra: dict | None = None) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if address:
        lines.append(f"{address}\t{hostname}")
    else:
        lines[0] += f" {hostname}"
    for name, ip in (extra or {}).items():
        lines.append(f"{ip}\t{name}")
    return "\n".join(lines) + "\n"


def host_hosts(name: str, extra: dict | None = None, host_file: str = "/etc/hosts") -> str:
    """The host's network (``--network host``): the host's own /etc/hosts, as docker copies
    it, then ``extra`` (--add-host)."""
    try:
        with open(host_file) as f:
            text = f.read()
    except OSError:
        return hosts(name, None, extra)
    text = text if not text or text.endswith("\n") else text + "\n"
    return text + "".join(f"{ip}\t{n}\n" for n, ip in (extra or {}).items())


def hostname(name: str) -> str:
    return name + "\n"


def resolv_conf(dns=None, search=None, options=None, *, keep_loopback: bool = False,
                host_file: str = HOST_RESOLV) -> str:
    """resolv.conf text: the given servers, else the host's usable ones."""
    servers, dom, opts = list(dns or []), list(search or []), list(options or [])
    if not servers:
        try:
            with open(host_file) as f:
                text = f.read()
        except OSError:
            text = ""
        for line in text.splitlines():
            words = line.split()
            if len(words) < 2 or words[0].startswith(("#", ";")):
                continue
            if words[0] == "nameserver":
                try:
                    loop = ipaddress.ip_address(words[1].split("%")[0]).is_loopback
                except ValueError:
                    continue
                if keep_loopback or not loop:
                    servers.append(words[1])
            elif words[0] in ("search", "domain") and not search:
                dom = words[1:]
            elif words[0] == "options" and not options:
                opts += words[1:]
    out = [f"nameserver {s}" for s in servers]
    if not servers:
        out.append("# no usable nameserver on the host; give dns servers in the network request")
    if dom:
        out.append("search " + " ".join(dom))
    if opts:
        out.append("options " + " ".join(opts))
    return "\n".join(out) + "\n"


def write(directory: str, contents: dict[str, str], in_place: bool = False) -> dict[str, str]:
    """Write ``{"/etc/hosts": text, ...}`` as ``<directory>/hosts`` etc.; ``in_place``: into
    the files already there (the same inodes: the init may have bind-mounted them already).

    Returns ``{"/etc/hosts": "<directory>/hosts", ...}``: what the init bind-mounts.
    """
    made = {}
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        for target, text in contents.items():
            path = os.path.join(directory, os.path.basename(target))
            if in_place:
                with open(path, "r+") as f:
                    f.write(text)
                    f.truncate()
            else:
                with open(path + ".tmp", "w") as f:
                    f.write(text)
                os.chmod(path + ".tmp", 0o644)
                os.replace(path + ".tmp", path)
            made[target] = path
    except OSError as exc:
        raise NetworkError(f"write network files in {directory!r}: {exc.strerror}", stage="network",
                           errno=exc.errno) from None
    return made
