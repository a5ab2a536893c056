"""click classes for the docker-shaped verbs: docker's exit statuses and one-line errors.

runc's verbs exit 1 on error and click's usage errors exit 2; docker's exit
125 for both (``docker run --bogus``, ``docker inspect nosuch``), 126/127 when
the program cannot be executed or is missing (``exitcodes.py``). A command
or group made with ``cls=DockerCommand`` / ``cls=DockerGroup`` turns
``PyContainerError`` and click's usage errors into one line on stderr
(``pycontainer: ...``) and ``SystemExit(code)`` (click's own ``Exit`` would be
turned into a return value under ``standalone_mode=False``).

The verbs whose errors docker reports as the daemon's answer (``pull``,
``rmi``, ``tag``, ``images``, ``build``, ``info``: ``Error response from
daemon``, exit 1) use ``UsageCommand`` / ``UsageGroup``: only click's usage
errors become docker's (``unknown flag``: one line, 125); the command's own
errors keep their status (an ``ImageError`` 1, a ``BuildError`` 125) and
are printed in one line by the main CLI.
"""

from __future__ import annotations

import click


def one_line(exc: click.ClickException) -> str:
    """click's error as one line, naming the help to read for a usage error."""
    ctx = getattr(exc, "ctx", None)
    where = f" (see '{ctx.command_path} --help')" if ctx is not None and \
        isinstance(exc, click.UsageError) else ""
    return exc.format_message().replace("\n", " ") + where


def help_instead(exc: BaseException) -> bool:
    """A group called without a command (``pycontainer``, ``pycontainer --root R``, ``pycontainer
    image``): click raises ``NoArgsIsHelpError`` (8.2+) or "Missing command.". Print the
    group's help on stdout instead, as docker and runc do; True if so (the status is then 0)."""
    kind = getattr(click.exceptions, "NoArgsIsHelpError", ())
    if not isinstance(exc, click.UsageError) or exc.ctx is None or \
            not (isinstance(exc, kind) or (isinstance(exc.ctx.command, click.Group)
                                           and exc.message == "Missing command.")):
        return False
    click.echo(exc.ctx.get_help())
    return True


def confirm_prune(what: str, force: bool) -> None:
    """docker's prunes ask first ("This will remove WHAT. Are you sure ...?"), unless ``-f``
    or stdin is not a terminal (no one to answer); "no" aborts (click.Abort: exit 130)."""
    import sys
    if not force and sys.stdin.isatty():
        click.confirm(f"WARNING! This will remove {what}. Are you sure you want to continue?",
                      abort=True)


def fail(exc: BaseException) -> SystemExit:
    """Print ``exc`` as docker does (one line) and return the SystemExit of its status."""
    from . import exitcodes, log
    from .errors import PyContainerError
    if help_instead(exc):
        return SystemExit(0)
    if isinstance(exc, PyContainerError):
        log.error(str(exc))
        return SystemExit(exitcodes.for_error(exc))
    log.error(one_line(exc))
    return SystemExit(exitcodes.ENGINE)


def guard(fn, *a, **kw):
    """Call ``fn`` with docker's error mapping (for code outside a DockerCommand)."""
    from .errors import PyContainerError
    try:
        return fn(*a, **kw)
    except (PyContainerError, click.ClickException) as exc:
        raise fail(exc) from None


def guard_usage(fn, *a, **kw):
    """Call ``fn``; only click's errors (a bad flag, a missing argument) become docker's."""
    try:
        return fn(*a, **kw)
    except click.ClickException as exc:
        raise fail(exc) from None


class DockerCommand(click.Command):
    guarded = staticmethod(guard)            # what becomes docker's: see the module's docstring

    def make_context(self, *a, **kw):
        return self.guarded(super().make_context, *a, **kw)

    def invoke(self, ctx):
        return self.guarded(super().invoke, ctx)


class DockerGroup(click.Group):
    command_class = DockerCommand
    guarded = staticmethod(guard)

    def make_context(self, *a, **kw):
        return self.guarded(super().make_context, *a, **kw)

    def resolve_command(self, ctx, args):
        return self.guarded(super().resolve_command, ctx, args)

    def invoke(self, ctx):
        return self.guarded(super().invoke, ctx)


class UsageCommand(DockerCommand):
    guarded = staticmethod(guard_usage)


class UsageGroup(DockerGroup):
    command_class = UsageCommand
    guarded = staticmethod(guard_usage)


DockerGroup.group_class = DockerGroup
UsageGroup.group_class = UsageGroup
