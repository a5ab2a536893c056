"""``docker top``: the container's processes as ps(1) prints them.

A container's processes are the members of its cgroup (``cgroup.procs``;
see ``cgroups/``), read by the runtime; ps(1) runs in the host's PID
namespace with the caller's options (docker's default ``-ef``), and only
the rows whose PID column names one of those processes are kept. That is
what dockerd does: the titles and rows the CLI prints, and that the docker
SDK's ``Container.top()`` returns as ``{"Titles": [...], "Processes":
[[...], ...]}`` (the last column, the command, may hold spaces).

Read: ps(1) ("STANDARD FORMAT SPECIFIERS"), docker's "docker top" reference.
"""

from __future__ import annotations

import subprocess

from .errors import PyContainerError


def table(pids, ps_args=None) -> tuple[str, list[str]]:
    """(ps's title line, its lines for ``pids``). ``ps_args``: a list, default ``-ef``."""
    args = list(ps_args or ["-ef"])
    try:
        r = subprocess.run(["ps", *args], capture_output=True, text=True)
    except OSError as exc:
        raise PyContainerError(f"top: cannot run ps(1): {exc.strerror}") from None
    if r.returncode != 0:
        raise PyContainerError(f"top: ps {' '.join(args)}: {r.stderr.strip()}")
    lines = r.stdout.splitlines()
    if not lines:
        return "", []
    try:
        col = lines[0].split().index("PID")
    except ValueError:
        raise PyContainerError("top: the ps options must print a PID column") from None
    wanted = set(pids)
    rows = []
    for line in lines[1:]:
        f = line.split()
        if len(f) > col and f[col].isdigit() and int(f[col]) in wanted:
            rows.append(line)
    return lines[0], rows


def as_docker(title: str, rows: list[str]) -> dict:
    """The Engine API's shape: each row split into as many fields as there are titles, the
    last keeping the rest of the line (a command and its arguments)."""
    titles = title.split()
    n = len(titles)
    return {"Titles": titles, "Processes": [r.split(None, n - 1) for r in rows]}
