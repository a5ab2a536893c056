"""Lab 05: complete these three functions (see README.md)."""

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def create_cgroup(name: str, controllers: list[str]) -> str:
    """Make the cgroup CGROUP_ROOT/NAME with CONTROLLERS usable in it; return its path.

    First enable each controller for the root's children: write "+memory" (etc.)
    to CGROUP_ROOT/cgroup.subtree_control. Then mkdir the directory.
    """
    raise NotImplementedError("TODO: write +CONTROLLER to cgroup.subtree_control, then mkdir")


def limit_memory(path: str, max_bytes: int) -> None:
    """Limit the cgroup to MAX_BYTES: memory.max, and 0 to memory.swap.max if it exists."""
    raise NotImplementedError("TODO: write memory.max (and memory.swap.max)")


def join(path: str, pid: int) -> None:
    """Move process PID into the cgroup (write it to cgroup.procs)."""
    raise NotImplementedError("TODO: write the PID to cgroup.procs")
