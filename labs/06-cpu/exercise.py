"""Lab 06: complete these two functions (see README.md)."""

import os


def set_cpu_max(path: str, quota_us: int, period_us: int) -> None:
    """At most QUOTA_US of CPU time in every PERIOD_US: write "QUOTA PERIOD" to cpu.max."""
    raise NotImplementedError("TODO: write cpu.max")


def set_cpu_weight(path: str, weight: int) -> None:
    """The group's share when competing for CPU (1..10000): write cpu.weight."""
    raise NotImplementedError("TODO: write cpu.weight")
