"""Lab 07: complete these two functions (see README.md)."""

import os


def limit_pids(path: str, max_tasks: int) -> None:
    """At most MAX_TASKS processes and threads in the cgroup: write pids.max."""
    raise NotImplementedError("TODO: write pids.max")


def limit_read_bps(path: str, major: int, minor: int, bps: int) -> None:
    """Throttle reads from block device MAJOR:MINOR to BPS bytes/s: "MAJ:MIN rbps=BPS" to io.max."""
    raise NotImplementedError("TODO: write io.max")
