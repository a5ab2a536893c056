"""capabilities: the capability numbers python-prctl can set."""

from pycontainer import capabilities


def test_the_known_set_is_python_prctls():
    """apply_sets reads python-prctl's C module; the set must be its prctl.ALL_CAPS."""
    import _prctl
    import prctl
    known = {getattr(_prctl, n) for n in dir(_prctl)
             if n.startswith("CAP_") and n not in capabilities._PRCTL_NOT_CAPS}
    assert known == set(prctl.ALL_CAPS)
