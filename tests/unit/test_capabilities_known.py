"""capabilities: the capability table, checked against python-prctl's."""

from pycontainer import capabilities

# the CAP_* names of python-prctl's C module that are not capabilities but its set names
# (CAP_LAST_CAP is the highest its headers knew)
_PRCTL_NOT_CAPS = ("CAP_EFFECTIVE", "CAP_INHERITABLE", "CAP_PERMITTED", "CAP_LAST_CAP")


def test_every_capability_python_prctl_knows_has_its_number_here():
    """capset(2) takes masks built from capabilities.CAPS (pycontainer._nscalls): each name
    python-prctl's C module has (from the system's <linux/capability.h>) must be in the
    table with the same number."""
    import _prctl
    theirs = {n: getattr(_prctl, n) for n in dir(_prctl)
              if n.startswith("CAP_") and n not in _PRCTL_NOT_CAPS}
    assert theirs
    assert {n: capabilities.CAPS.get(n) for n in theirs} == theirs


def test_masks_and_names():
    assert capabilities.mask(["CAP_CHOWN", "net_bind_service", "CAP_NOPE"]) == 1 | 1 << 10
    assert capabilities.mask(None) == 0
