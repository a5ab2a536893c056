"""Go durations (pycontainer/duration.py): the porcelain's health flags and HEALTHCHECK agree."""

import pytest

from pycontainer import duration, health
from pycontainer.errors import PyContainerError


@pytest.mark.parametrize("text,ns", [
    ("1m30s", 90 * 10**9), ("200ms", 2 * 10**8), ("1.5h", 5400 * 10**9), ("0", 0),
    ("1h2m3.5s", 3723500 * 10**6), (".5s", 5 * 10**8), ("10us", 10**4), ("7ns", 7), ("-1s", -10**9),
])
def test_go_durations(text, ns):
    assert duration.nanoseconds(text) == ns


@pytest.mark.parametrize("text", ["", "s", "5x", "1m30", "10", "1.2.3s", "m1", "1s2"])
def test_not_go_durations(text):
    with pytest.raises(ValueError):
        duration.nanoseconds(text)


def test_bare_number_is_seconds_only_when_asked():
    assert duration.seconds("10", bare_seconds=True) == 10.0
    with pytest.raises(ValueError):
        duration.seconds("10")


def test_health_flags_take_compound_durations_and_refuse_negative():
    health.check_flags({"health_interval": "1m30s", "health_timeout": "1.5s"})
    with pytest.raises(PyContainerError, match="cannot be negative"):
        health.check_flags({"health_interval": "-1s"})
    with pytest.raises(PyContainerError, match="1m30s"):
        health.check_flags({"health_interval": "5x"})
