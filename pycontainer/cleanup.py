"""A container's delete plan: what its creator asked ``delete`` to do after the runtime's own teardown.

The OCI runtime (container.py) never calls up into the docker layer, yet a
container that ``run IMAGE`` made owns more than the runtime knows of: a
container directory with its log, its monitor and an image hold. So the
creator registers the steps at create time (``Runtime.create(...,
on_delete=[...])``), the runtime keeps them in the container's state record
(``state.json``, under the root-only state dir: never read from config.json,
which a bundle's author writes), and ``delete`` runs them here, last, after
the cgroup, network and poststop hooks, each with the state record::

    on_delete = [{"call": "pycontainer.containerdir:remove_after_delete"}]

A step names a function of pycontainer itself (``module:function``); any
other name is refused. Steps are tolerant: a failing one is reported and the
next one runs, as the rest of ``delete`` does.
"""

from __future__ import annotations

from .errors import PyContainerError


def step(function) -> dict:
    """The plan entry that calls ``function(record)`` (a module-level function of pycontainer)."""
    return {"call": f"{function.__module__}:{function.__qualname__}"}


def check(plan) -> list[dict]:
    """Validate a plan before it is stored: a list of ``{"call": "pycontainer.x:function"}``."""
    if not isinstance(plan, list):
        raise PyContainerError(f"delete plan {plan!r}: not a list of steps")
    for s in plan:
        call = s.get("call") if isinstance(s, dict) else None
        module, _, func = (call or "").partition(":")
        if not (module.startswith("pycontainer.") and func.isidentifier()):
            raise PyContainerError(f"delete plan step {s!r}: want {{'call': 'pycontainer.MODULE:FUNCTION'}}")
    return plan


def run(plan, record: dict, warn) -> None:
    """Run each step with the state ``record``; ``warn(message)`` for one that fails."""
    import importlib
    for s in plan or ():
        try:
            module, _, func = check([s])[0]["call"].partition(":")
            getattr(importlib.import_module(module), func)(record)
        except Exception as exc:  # noqa: BLE001 - delete goes on
            warn(f"delete {record.get('id')}: {s.get('call') if isinstance(s, dict) else s}: {exc}")
