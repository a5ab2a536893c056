"""Lab 05, reference answers."""

import os

CGROUP_ROOT = "/sys/fs/cgroup"


def create_cgroup(name: str, controllers: list[str]) -> str:
    with open(os.path.join(CGROUP_ROOT, "cgroup.subtree_control"), "w") as f:
        f.write(" ".join(f"+{c}" for c in controllers))
    path = os.path.join(CGROUP_ROOT, name)
    os.makedirs(path, exist_ok=True)
    return path


def limit_memory(path: str, max_bytes: int) -> None:
    with open(os.path.join(path, "memory.max"), "w") as f:
        f.write(str(max_bytes))
    if os.path.exists(os.path.join(path, "memory.swap.max")):
        with open(os.path.join(path, "memory.swap.max"), "w") as f:
            f.write("0")


def join(path: str, pid: int) -> None:
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))
