"""``diff`` and ``export``: a container's files against its image, and all of them as a tar.

* ``diff CONTAINER``: what the container changed, one ``A|C|D /path`` line each,
  read from its overlay upper dir (image/changes.py), running or stopped.
* ``export [-o FILE] CONTAINER``: its root filesystem as a tar (filecopy.export):
  a running one's through its init's root, a stopped one's overlay mounted in a
  private mount namespace; what is mounted on it (/proc, volumes) stays out.
  A tar is never written to a terminal (docker: "cowardly refusing"), and a
  failed ``-o FILE`` leaves no partial file.

Errors are one line, exit 125 (``DockerCommand``). Read: ``docker diff`` and
``docker export`` references; overlayfs.rst.
"""

from __future__ import annotations

import os
import sys

import click

from .dockercli import DockerCommand
from .errors import PyContainerError


def _record(ctx, ref: str) -> dict:
    from .api import operations as ops
    from .inspect import resolve_id
    root = ctx.find_object(dict).root
    return ops.inspect(root, resolve_id(root, ref))


@click.command("diff", cls=DockerCommand)
@click.argument("container")
@click.pass_context
def diff(ctx, container):
    """Files the container added (A), changed (C) or deleted (D) in its image (docker diff)."""
    from .image.changes import changes
    from .lifecycle import overlay_plan
    plan = overlay_plan(_record(ctx, container))
    if plan is None or not plan.upper:
        raise PyContainerError(f"diff {container}: not a container made from an image (no "
                               "writable layer)")
    for kind, path in changes(plan.upper, plan.lower):
        click.echo(f"{kind} {path}")


@click.command("export", cls=DockerCommand)
@click.option("--output", "-o", default=None, help="Write the tar to FILE, not stdout.")
@click.argument("container")
@click.pass_context
def export(ctx, output, container):
    """The container's filesystem as a tar archive (docker export)."""
    from . import filecopy
    from .manage import copy_target
    if output is None and sys.stdout.isatty():
        raise PyContainerError("export: cowardly refusing to write a tar to a terminal: use "
                               "-o FILE or a pipe")
    target = copy_target(_record(ctx, container), container, "export")
    if output is None:
        filecopy.export(target, sys.stdout.buffer)
        return
    try:
        f = open(output, "wb")
    except OSError as exc:
        raise PyContainerError(f"export -o {output}: {exc.strerror}") from None
    try:
        with f:
            filecopy.export(target, f)
    except BaseException:
        os.unlink(output)
        raise


COMMANDS = [diff, export]
