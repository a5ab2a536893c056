"""click classes for the docker-shaped verbs: docker's exit statuses and one-line errors.

runc's verbs exit 1 on error and click's usage errors exit 2; docker's exit
125 for both (``docker run --bogus``, ``docker inspect nosuch``), 126/127 when
the program cannot be executed or is missing (``exitcodes.py``). A command
or group made with ``cls=DockerCommand`` / ``cls=DockerGroup`` turns
``PyContainerError`` and click's usage errors into one line on stderr
(``pycontainer: ...``) and ``SystemExit(code)`` (click's own ``Exit`` would be
turned into a return value under ``standalone_mode=False``).
"""

from __future__ import annotations

import click


def _fail(exc: BaseException) -> SystemExit:
    from . import exitcodes, log
    from .errors import PyContainerError
    if isinstance(exc, PyContainerError):
        log.error(str(exc))
        return SystemExit(exitcodes.for_error(exc))
    msg = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None and \
        isinstance(exc, click.UsageError) else ""
    log.error(msg.replace("\n", " ") + where)
    return SystemExit(exitcodes.ENGINE)


def guard(fn, *a, **kw):
    """Call ``fn`` with docker's error mapping (for code outside a DockerCommand)."""
    from .errors import PyContainerError
    try:
        return fn(*a, **kw)
    except (PyContainerError, click.ClickException) as exc:
        raise _fail(exc) from None


class DockerCommand(click.Command):
    def make_context(self, *a, **kw):
        return guard(super().make_context, *a, **kw)

    def invoke(self, ctx):
        return guard(super().invoke, ctx)


class DockerGroup(click.Group):
    command_class = DockerCommand

    def make_context(self, *a, **kw):
        return guard(super().make_context, *a, **kw)

    def resolve_command(self, ctx, args):
        return guard(super().resolve_command, ctx, args)

    def invoke(self, ctx):
        return guard(super().invoke, ctx)


DockerGroup.group_class = DockerGroup
