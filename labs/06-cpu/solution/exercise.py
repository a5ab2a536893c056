"""Lab 06, reference answers."""

import os


def set_cpu_max(path: str, quota_us: int, period_us: int) -> None:
    with open(os.path.join(path, "cpu.max"), "w") as f:
        f.write(f"{quota_us} {period_us}")


def set_cpu_weight(path: str, weight: int) -> None:
    with open(os.path.join(path, "cpu.weight"), "w") as f:
        f.write(str(weight))
