"""The verbs ``build``, ``commit``, ``push`` and ``builder prune`` (docker/podman flags).

Thin click commands over ``executor.build``, ``commit.commit`` and
``image/push.py``; the main CLI registers ``COMMANDS``. Bad input is a
``BuildError`` (exit 1, one line, as docker build's; an unknown flag 125); a failed RUN
exits 1; Ctrl-C 130.

Read: ``docker build``, ``docker commit``, ``docker push`` references.
"""

from __future__ import annotations

import os
import sys

import click

from ..dockercli import UsageCommand, UsageGroup

_root = click.option("--image-root", "image_root", default=None, envvar="PYCONTAINER_IMAGE_ROOT",
                     hidden=True)


def _state_root(ctx) -> str:
    obj = ctx.find_root().obj
    return getattr(obj, "root", "/run/pycontainer")


def _pairs(values, flag: str) -> dict:
    from . import BuildError
    out = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise BuildError(f"{flag} {v!r}: want KEY=VALUE")
        if not eq:
            if flag != "--build-arg":
                raise BuildError(f"{flag} {v!r}: want KEY=VALUE")
            if k not in os.environ:
                continue                     # docker: K alone takes $K, if set
            val = os.environ[k]
        out[k] = val
    return out


def _tags(ctx, param, tags):
    """docker/cli validates -t as it parses the flags: a bad name is a flag error (125)."""
    from ..errors import ImageError
    from ..image import reference
    for t in tags:
        try:
            reference.parse(t)
        except ImageError as exc:
            raise click.BadParameter(f"{t!r}: {exc}") from None
    return tags


def _policy(value: str | None) -> str | None:
    """--pull=VALUE -> always, missing or never (docker's true/false too)."""
    if value is None:
        return None
    v = {"true": "always", "false": "missing"}.get(value.lower(), value.lower())
    if v not in ("always", "missing", "never"):
        raise click.BadParameter(f"{value!r}: give true, false, always, missing or never",
                                 param_hint="'--pull'")
    return v


class BuildCommand(UsageCommand):
    """docker's ``--pull`` is a bool, also written ``--pull=true|false``; podman's takes a
    policy (``--pull=never``). click's flag takes no ``=value`` (and an optional value would
    swallow ``build --pull .``'s context): the attached form becomes a hidden option."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, [f"--pull-policy={a.partition('=')[2]}"
                                        if a.startswith("--pull=") else a for a in args])


@click.command("build", cls=BuildCommand)
@click.option("-t", "--tag", "tags", multiple=True, callback=_tags,
              help="Name the image NAME[:TAG] (repeatable).")
@click.option("-f", "--file", "file", default=None, help="Containerfile [default: "
              "CONTEXT/Containerfile, then CONTEXT/Dockerfile].")
@click.option("--build-arg", "build_args", multiple=True, help="KEY=VALUE for an ARG.")
@click.option("--target", default=None, help="Build up to this stage.")
@click.option("--no-cache", is_flag=True, help="Do not reuse cached steps.")
@click.option("--pull", "pull", flag_value="always", default="missing",
              help="Pull the base images even if present (also --pull=true|false, and podman's "
              "--pull=always|missing|never).")
@click.option("--pull-policy", hidden=True, default=None, callback=lambda c, p, v: _policy(v))
@click.option("--network", default="bridge", show_default=True,
              type=click.Choice(["none", "bridge", "host"]), help="Network of RUN steps.")
@click.option("--label", "labels", multiple=True, help="KEY=VALUE label on the image.")
@click.option("--progress", type=click.Choice(["auto", "plain", "tty"]), default="auto",
              help="tty: one line per step, redrawn in place with its output's tail "
              "(a terminal only); plain: every line. auto: tty on a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.option("--iidfile", default=None, help="Write the image ID to this file.")
@click.option("--platform", default=None, help="OS/ARCH: this machine's only (no emulation).")
@click.option("--rm", "rm_", is_flag=True, help="Accepted: no step's container is ever kept.")
@click.option("--force-rm", is_flag=True, help="Accepted, the same.")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID[,src=FILE|,env=VAR]",
              help="A secret for RUN --mount=type=secret,id=ID (in no layer, no cache key).")
@click.option("-o", "--output", default=None, metavar="DIR|-|type=local|tar,dest=PATH",
              help="Also write the result's files to a new directory, or a tar (- : stdout).")
@_root
@click.argument("context")
@click.pass_context
def build(ctx, tags, file, build_args, target, no_cache, pull, pull_policy, network, labels,
          progress, quiet, iidfile, platform, rm_, force_rm, secrets, output, image_root, context):
    """Build an image from a Containerfile in CONTEXT (docker build). CONTEXT '-': a tar of the
    context (plain or compressed), or the Containerfile alone, on stdin."""
    pull = pull_policy or pull
    from . import executor
    from ..image import reference
    from . import BuildError
    from .runmounts import read_secret
    try:
        given = dict(read_secret(s) for s in secrets)
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    if output:
        from . import export
        out_kind, out_dest = export.parse(output)
        export.check(out_kind, out_dest)
        if out_dest == "-":
            quiet = True                           # stdout is the tar's: the progress is not
    if platform:
        from ..errors import PyContainerError
        from ..run_flags import check_platform
        try:
            check_platform(platform)
        except PyContainerError as exc:
            raise BuildError(str(exc)) from None
    import shutil
    scratch = label = None
    if context == "-":                         # docker build - < Containerfile | context.tar
        from .tarcontext import from_stream, scratch as new_scratch
        scratch = new_scratch()
        try:
            context, text = from_stream(sys.stdin.buffer, scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        if text and file and file != "-":
            shutil.rmtree(scratch, ignore_errors=True)
            raise BuildError("-f with a Containerfile on stdin: give one or the other")
        file = text or (os.path.join(context, file) if file and file != "-" else None)
        label = "Containerfile (stdin)" if text else None
    elif file == "-":                          # build -f - CONTEXT: the Containerfile on stdin
        from .tarcontext import scratch as new_scratch
        scratch = new_scratch()
        file, label = os.path.join(scratch, "Containerfile"), "Containerfile (stdin)"
        with open(file, "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f)
    opts = executor.Options(context=context, file=file, tags=list(tags),
                            build_args=_pairs(build_args, "--build-arg"), target=target,
                            no_cache=no_cache, pull=pull, network=network,
                            labels=_pairs(labels, "--label"), quiet=quiet, progress=progress,
                            root=_state_root(ctx), image_root=image_root, secrets=given,
                            file_label=label)
    try:
        img = executor.build(opts)
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if output:
        export.write(img.layers, out_kind, out_dest)
        if out_dest == "-":
            return
    if iidfile:
        with open(iidfile, "w") as f:
            f.write(img.id)
    if quiet:
        click.echo(img.id)
        return
    for t in tags:
        click.echo(f"Successfully tagged {reference.familiar(reference.parse(t).name)}")
    click.echo(img.id)


@click.command("commit", cls=UsageCommand)
@click.option("-c", "--change", "changes", multiple=True,
              help="A Containerfile instruction (CMD, ENV, LABEL, ...) for the new image.")
@click.option("-m", "--message", default=None, help="Commit message (in the history).")
@click.option("-a", "--author", default=None)
@click.option("--pause/--no-pause", "-p", default=True, show_default=True,
              help="Freeze the container while its changes are read.")
@_root
@click.argument("container")
@click.argument("image", required=False)
@click.pass_context
def commit(ctx, changes, message, author, pause, image_root, container, image):
    """Make an image of a container's changes (docker commit)."""
    from . import commit as commit_mod
    img = commit_mod.commit(_state_root(ctx), container, image, changes=list(changes),
                            message=message, author=author, pause=pause, image_root=image_root)
    click.echo(img.id)


@click.command("push", cls=UsageCommand)
@click.option("--insecure", is_flag=True, default=None, help="Plain HTTP (default only for "
              "localhost/127.0.0.1 registries).")
@click.option("--chunk-size", default=None, type=int, hidden=True)
@click.option("-q", "--quiet", is_flag=True)
@click.option("--creds", default=None, metavar="USER:PASSWORD", help="Log in to the registry.")
@click.option("--authfile", default=None, metavar="PATH",
              help="Credentials file (default: $REGISTRY_AUTH_FILE, podman's, docker's).")
@_root
@click.argument("image")
@click.argument("destination", required=False)
def push(insecure, chunk_size, quiet, creds, authfile, image_root, image, destination):
    """Push IMAGE to a registry, as DESTINATION if given (docker push)."""
    from ..image import credentials
    from ..image import push as push_mod
    from ..image.store import Store
    kw = {"chunk_size": chunk_size} if chunk_size else {}
    if creds:
        kw["auth"] = credentials.parse_creds(creds)
    digest = push_mod.push(Store(image_root), image, destination, insecure=insecure,
                           authfile=authfile,
                           log=None if quiet else (lambda m: click.echo(m, err=True)), **kw)
    click.echo(digest)


@click.command("import", cls=UsageCommand)
@click.option("-c", "--change", "changes", multiple=True,
              help="A Containerfile instruction (CMD, ENV, LABEL, ...) for the new image.")
@click.option("-m", "--message", default=None, help="Commit message (in the history).")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="The image's platform (default: this machine's).")
@_root
@click.argument("source", metavar="FILE|-")
@click.argument("repository", required=False, metavar="[REPOSITORY[:TAG]]")
def import_(changes, message, platform, image_root, source, repository):
    """A root filesystem tarball (plain, gz, bz2, xz, zst) as a one-layer image (docker import)."""
    import sys
    from ..image.cli import parse_platform
    from ..image.store import Store
    from .importer import import_tarball
    src = sys.stdin.buffer if source == "-" else source
    img = import_tarball(Store(image_root), src, repository, changes=list(changes), message=message,
                         platform=parse_platform(platform), label=source)
    click.echo(img.id)


@click.group("builder", cls=UsageGroup)
def builder():
    """Manage the build cache."""


@builder.command("prune")
@_root
def builder_prune(image_root):
    """Forget the build cache and delete the unnamed images it kept."""
    from ..image.store import Store
    from .cache import Cache
    st = Store(image_root)
    n = Cache(st).prune()
    m = Cache(st).prune_mounts()
    for line in st.gc(dangling=True):
        click.echo(line)
    click.echo(f"forgot {n} cached step(s)" + (f", emptied {m} cache mount(s)" if m else ""))


COMMANDS = [build, commit, push, import_, builder]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(build())
