"""runc's ``ps ID``: the processes of one container, as the host's ps(1) shows them; and
runc's ``list`` (``show_list``).

The kernel keeps a container's processes in its cgroup (``cgroup.procs``,
see cgroups(7)); ``Runtime.pids`` reads them. ``--format json`` prints that
list; ``table`` (the default) runs the host's ``ps`` (``-ef`` unless other ps
options follow the ID) and keeps its header and the lines whose PID column
is one of them, as runc does. Both the click command (``cli.ps``) and the
click-free one (``_fastcli``) print through ``show``. Read: ps(1), runc-ps(8).
"""

from __future__ import annotations

import sys

from .errors import PyContainerError


def show(rt, cid: str, fmt: str, ps_args=()) -> None:
    """Print the container's processes; ``fmt`` is ``table`` or ``json`` (checked by the caller)."""
    pids = rt.pids(cid)
    out = sys.stdout
    if fmt == "json":
        from . import jsonio
        out.write(jsonio.dumps(pids) + "\n")
        out.flush()
        return
    import subprocess
    text = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True).stdout
    lines = text.splitlines()
    if not lines:
        return
    header = lines[0]
    try:
        col = header.split().index("PID")
    except ValueError:
        raise PyContainerError("ps: the ps output has no PID column") from None
    wanted = set(pids)
    keep = [header] + [ln for ln in lines[1:]
                       if len(f := ln.split()) > col and f[col].isdigit() and int(f[col]) in wanted]
    out.write("".join(ln + "\n" for ln in keep))
    out.flush()


def show_list(rt, fmt: str, quiet: bool) -> None:
    """runc's ``list``: IDs (``quiet``), one compact JSON line (``json``), or its table."""
    import json
    import os
    states = rt.list()
    for s in states:
        s["owner"] = s["owner"] or _owner(os.path.join(rt.root, s["id"]))
    if quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
    elif fmt == "json":
        # none: runc prints Go's nil slice, null
        sys.stdout.write(json.dumps(states or None, separators=(",", ":")) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"])
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        sys.stdout.write("".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n"
                                 for r in rows))


def _owner(path: str) -> str:
    """runc list's OWNER: the user owning the container's state dir (#UID without a name)."""
    import os
    import pwd
    try:
        uid = os.stat(path).st_uid
        return pwd.getpwuid(uid).pw_name
    except OSError:
        return ""
    except KeyError:
        return f"#{uid}"
