"""A leak check for the docker-verb tests that other helpers' containers cannot upset.

The shared ``leakcheck`` compares every pycontainer cgroup and mount on the
host, so containers that other test runs start meanwhile make it fail. Here
only what this test can have made counts: its state root, the container
dirs that name that root, and cgroups and mounts whose path holds one of the
IDs the test's root ever listed (``Seen.ids``; tests name containers with
``new_id``).
"""

import os

import pytest

from conftest import _cgroups, _mounts

CDIR = "/var/lib/pycontainer/containers"


def owned_dirs(root: str) -> list[str]:
    out = []
    for n in os.listdir(CDIR) if os.path.isdir(CDIR) else []:
        try:
            with open(os.path.join(CDIR, n, "root")) as f:
                if f.read().strip() == root:
                    out.append(n)
        except OSError:
            pass
    return sorted(out)


@pytest.fixture
def dleak(cli):
    seen: set[str] = set()
    orig = cli.__class__.__call__

    def spy(self, *args, **kw):
        p = orig(self, *args, **kw)
        for a in args:                       # every ID/name the test mentions
            if isinstance(a, str) and len(a) >= 8 and "-" in a and "/" not in a:
                seen.add(a)
        for n in os.listdir(self.root) if os.path.isdir(self.root) else []:
            seen.add(n)
        seen.update(owned_dirs(self.root))
        return p
    cli.__class__.__call__ = spy
    try:
        yield seen
    finally:
        cli.__class__.__call__ = orig
    import time
    for _ in range(50):
        left = [c for c in _cgroups() + _mounts() if any(i in c for i in seen)]
        if not left:
            break
        time.sleep(0.05)
    assert not left, f"left behind: {left}"
    assert os.listdir(cli.root) == [] if os.path.isdir(cli.root) else True, os.listdir(cli.root)
    assert owned_dirs(cli.root) == [], owned_dirs(cli.root)
