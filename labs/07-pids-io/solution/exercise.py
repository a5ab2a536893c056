"""Lab 07, reference answers."""

import os


def limit_pids(path: str, max_tasks: int) -> None:
    with open(os.path.join(path, "pids.max"), "w") as f:
        f.write(str(max_tasks))


def limit_read_bps(path: str, major: int, minor: int, bps: int) -> None:
    with open(os.path.join(path, "io.max"), "w") as f:
        f.write(f"{major}:{minor} rbps={bps}")
