"""click classes for the docker-shaped verbs: docker's exit statuses and one-line errors.

runc's verbs exit 1 on error and click's usage errors exit 2. docker's CLI
(docker/cli: cmd/docker/docker.go, cli/required.go, cli/command/inspect)
exits 125 for a flag it cannot parse (``docker stop --bogus``: its flag-error
function's status), 1 for a wrong number of arguments or an unknown command,
and 1 for what the daemon refuses (``docker inspect nosuch``, ``docker stop
nosuch``, ``docker ps --filter colour=red``); only ``run`` and ``create``
report the engine's refusals as 125, and 126/127 when the program cannot be
executed or is missing (``exitcodes.py``). A command or group made with
``cls=DockerCommand`` / ``cls=DockerGroup`` turns ``PyContainerError`` and
click's usage errors into one line on stderr (``pycontainer: ...``) and
``SystemExit(code)`` (click's own ``Exit`` would be turned into a return
value under ``standalone_mode=False``); ``EngineCommand`` is run's and
create's (125).

The verbs whose errors are the daemon's answer with their own status
(``pull``, ``rmi``, ``tag``, ``images``, ``build``, ``info``) use
``UsageCommand`` / ``UsageGroup``: only click's usage errors are mapped;
the command's own errors keep their status (an ``ImageError`` or a
``BuildError``: 1) and are printed in one line by the main CLI.
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


def each(refs, fn, single_raises: bool = True) -> None:
    """docker's verbs of several containers (stop, kill, pause, start, rm ...): ``fn(ref)``
    for each, an error on its own line and status 1 at the end; one container's error is
    raised as it is when ``single_raises`` (else it too is status 1: stop, rm, restart)."""
    from . import log
    from .errors import PyContainerError
    failed = False
    for ref in refs:
        try:
            fn(ref)
        except PyContainerError as exc:
            if len(refs) == 1 and single_raises:
                raise
            log.error(str(exc))
            failed = True
        except SystemExit as exc:            # a guarded call's: its error is printed already
            if len(refs) == 1 and single_raises or not exc.code:
                raise
            failed = True
    if failed:
        raise SystemExit(1)


def usage_status(exc: click.ClickException) -> int:
    """docker/cli's status for a usage error: 125 for a flag (unknown, without its value, a
    value it rejects), 1 for the arguments (missing, extra) or an unknown subcommand."""
    param = getattr(exc, "param", None)
    if isinstance(exc, (click.NoSuchOption, click.BadOptionUsage)) or isinstance(param, click.Option):
        return 125
    return 1


def fail(exc: BaseException, engine: int = 1, programs: bool = True) -> SystemExit:
    """Print ``exc`` as docker does (one line) and return the SystemExit of its status
    (``engine``: a PyContainerError's that is not the program's; 125 for run and create).
    ``programs``: a program that cannot be started is 126/127 (run, exec, start -a of a
    running one); without, ``engine`` too (docker's ``start``: the daemon's error, 1)."""
    from . import exitcodes, log
    from .errors import PyContainerError
    if help_instead(exc):
        return SystemExit(0)
    if isinstance(exc, PyContainerError):
        log.error(str(exc))
        return SystemExit(exitcodes.for_error(exc, engine) if programs else engine)
    log.error(one_line(exc))
    return SystemExit(usage_status(exc))


def _guarding(engine: int, programs: bool = True):
    def guarded(fn, *a, **kw):
        from .errors import PyContainerError
        try:
            return fn(*a, **kw)
        except (PyContainerError, click.ClickException) as exc:
            raise fail(exc, engine, programs) from None
    return guarded


guard = _guarding(1)
guard.__doc__ = "Call ``fn`` with docker's error mapping (for code outside a DockerCommand)."
guard_engine = _guarding(125)
guard_engine.__doc__ = "``guard`` for run's and create's: the engine's refusals are 125."
guard_start = _guarding(1, programs=False)
guard_start.__doc__ = ("``guard`` for docker's start: every error, a missing program's too, is "
                       "the daemon's answer (1; docker/cli's start maps no status).")


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


class EngineCommand(DockerCommand):
    guarded = staticmethod(guard_engine)


class UsageCommand(DockerCommand):
    guarded = staticmethod(guard_usage)


class UsageGroup(DockerGroup):
    command_class = UsageCommand
    guarded = staticmethod(guard_usage)


DockerGroup.group_class = DockerGroup
UsageGroup.group_class = UsageGroup
