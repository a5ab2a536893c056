"""runc's ``ps ID``: the processes of one container, as the host's ps(1) shows them.

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
