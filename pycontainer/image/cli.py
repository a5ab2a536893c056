"""Image commands with docker's names: pull, images, image inspect/ls/rm/prune, tag, rmi, load, save.

Thin click commands over :class:`pycontainer.image.store.Store`; the main CLI
registers them with ``for c in image.cli.COMMANDS: main_group.add_command(c)``.
Errors are ``ImageError`` (a ``PyContainerError``), which the main CLI turns
into a one-line message and an exit status. The store root is
``--image-root``, else ``$PYCONTAINER_IMAGE_ROOT``, else
/var/lib/pycontainer/images.
"""

from __future__ import annotations

import json
import sys

import click

from ..dockercli import UsageCommand, UsageGroup
from ..errors import ImageError

_root = click.option("--image-root", "image_root", default=None, envvar="PYCONTAINER_IMAGE_ROOT",
                     help="Image store directory [default: /var/lib/pycontainer/images].")


def _store(image_root, devices: str = "reject"):
    from .store import Store
    return Store(image_root, devices=devices)


# --- pull ------------------------------------------------------------------------------

def parse_platform(value: str | None) -> dict | None:
    """--platform OS/ARCH[/VARIANT] -> an image-spec platform (None: not given)."""
    if not value:
        return None
    if len(value.split("/")) not in (2, 3) or not all(value.split("/")):
        raise click.BadParameter("want OS/ARCH[/VARIANT], e.g. linux/arm64/v8", param_hint="--platform")
    from .reference import platform_of
    return platform_of(value)


@click.command("pull", cls=UsageCommand)
@click.option("--insecure", is_flag=True, default=None,
              help="Plain HTTP (default only for localhost/127.0.0.1 registries).")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="Pick this platform from a multi-platform image [default: this machine].")
@click.option("--timeout", default=30.0, show_default=True, type=float,
              help="Seconds without an answer before giving up.")
@click.option("--devices", type=click.Choice(["reject", "skip", "allow"]), default="reject",
              show_default=True, help="Device nodes in layers: refuse, drop, or create.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--creds", default=None, metavar="USER:PASSWORD", help="Log in to the registry.")
@click.option("--authfile", default=None, metavar="PATH",
              help="Credentials file (default: $REGISTRY_AUTH_FILE, podman's, docker's).")
@_root
@click.argument("image")
def pull(insecure, platform, timeout, devices, quiet, creds, authfile, image_root, image):
    """Pull IMAGE from a registry (OCI distribution API)."""
    from . import credentials, reference, registry
    auth = credentials.parse_creds(creds) if creds else None
    reference.parse(image)                                   # bad names fail first
    progress = registry.Progress() if quiet else registry.TerminalProgress()
    img = _store(image_root, devices).pull(image, insecure=insecure, progress=progress,
                                           timeout=timeout, platform=parse_platform(platform),
                                           auth=auth, authfile=authfile)
    from .reference import familiar
    click.echo(familiar(img.name))


# --- list / inspect --------------------------------------------------------------------

def _ls(image_root, quiet, digests, as_json, all_=False, fmt=None, filters=(), name=None,
        no_trunc=False):
    from . import listing
    store = _store(image_root)
    rows = listing.select(store, store.list(), name=name, all_=all_,
                          filters=listing.parse_filters(filters))
    if as_json:
        click.echo(json.dumps([{k: v for k, v in r.items() if k != "shown"} for r in rows], indent=1))
        return
    if quiet:
        for r in rows:
            click.echo(r["id"] if no_trunc else r["id"][7:19])
        return
    lines = [dict(listing.fields(r, n, _size(r["size"])), **({"ID": r["id"]} if no_trunc else {}))
             for r in rows for n in r["shown"] or [None]]           # --no-trunc: all of sha256:ID
    from ..gotemplate import listing
    # docker's default: its table format, columns as wide as their widest cell (tabwriter)
    fmt = fmt or ("table {{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if digests else "")
                  + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    for line in ([json.dumps(f) for f in lines] if fmt == "json" else listing(fmt, lines, _HEADS)):
        click.echo(line)


_HEADS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
          "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE"}


def _size(n: int) -> str:
    """docker's SIZE column: go-units' HumanSize, three significant digits (``2.14MB``)."""
    from .space import human_size
    return human_size(n, False, 3)


_ls_opts = [click.option("-a", "--all", "all_", is_flag=True,
                         help="Also the build cache's intermediate images."),
            click.option("-q", "--quiet", is_flag=True, help="Only image IDs."),
            click.option("--digests", is_flag=True, help="Show manifest digests."),
            click.option("--no-trunc", is_flag=True, help="Whole image IDs (sha256:...)."),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
            click.option("--format", "fmt", default=None,
                         help="json, or a template: .ID .Repository .Tag .Digest .CreatedSince .Size"),
            click.option("--filter", "-f", "filters", multiple=True, metavar="KEY=VALUE",
                         help="dangling=true|false, label=K[=V], reference=PATTERN (repeatable)."),
            _root, click.argument("name", metavar="[REPOSITORY[:TAG]]", required=False)]


def _with(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


@click.command("images", cls=UsageCommand)
@_with(_ls_opts)
def images(all_, quiet, digests, no_trunc, as_json, fmt, filters, image_root, name):
    """List images in the store (docker images [REPOSITORY[:TAG]])."""
    _ls(image_root, quiet, digests, as_json, all_, fmt, filters, name, no_trunc)


@click.group("image", cls=UsageGroup)
def image():
    """Manage images (ls, inspect, pull, tag, rm, prune, load, save)."""


@image.command("ls")
@_with(_ls_opts)
def image_ls(all_, quiet, digests, no_trunc, as_json, fmt, filters, image_root, name):
    """List images in the store (docker images [REPOSITORY[:TAG]])."""
    _ls(image_root, quiet, digests, as_json, all_, fmt, filters, name, no_trunc)


@image.command("inspect")
@click.option("--format", "-f", "fmt", default=None, help="A template, e.g. '{{.Id}}'.")
@_root
@click.argument("images", nargs=-1, required=True)
def image_inspect(fmt, image_root, images):
    """Show images as JSON (config, layers and their unpacked dirs, users)."""
    st = _store(image_root)
    records = [st.inspect(i) for i in images]
    if fmt:
        from ..inspect import format as render
        for r in records:
            click.echo(render(fmt, r))
        return
    click.echo(json.dumps(records, indent=2))


@image.command("prune")
@click.option("--all", "-a", "all_", is_flag=True, help="Every image no container uses, named too.")
@click.option("--force", "-f", is_flag=True, help="Do not ask.")
@click.option("--filter", "filters", multiple=True, help="until=TIME (24h), label=K[=V], label!=K[=V].")
@_root
def image_prune(all_, force, filters, image_root):
    """Delete unnamed images no container uses (-a: every unused one), then blobs and layers
    nothing references."""
    from ..dockercli import confirm_prune
    from .listing import PRUNE_FILTERS, parse_filters, prune_digests
    flt = parse_filters(filters, PRUNE_FILTERS)
    confirm_prune("all images without at least one container associated to them" if all_
                  else "all dangling images", force)
    from ..containerdir import du
    from .space import human_size
    store = _store(image_root)
    before = du(store.root)
    from .prune import listing
    lines = listing(store.gc(dangling=True, unused=all_, only=prune_digests(store, flt)), prune=True)
    if lines:                                   # docker's shape: the list, then the total
        click.echo("Deleted Images:\n" + "\n".join(lines) + "\n")
    click.echo(f"Total reclaimed space: {human_size(max(0, before - du(store.root)), False)}")


# --- tag / rmi -------------------------------------------------------------------------

@click.command("tag", cls=UsageCommand)
@_root
@click.argument("source")
@click.argument("target")
def tag(image_root, source, target):
    """Give the image SOURCE the additional name TARGET."""
    from ..events import record
    record("image", "tag", _store(image_root).tag(source, target), name=target)


@click.command("rmi", cls=UsageCommand)
@click.option("-f", "--force", is_flag=True, help="Remove even if a container uses it.")
@click.option("--no-prune", is_flag=True, help="Keep its untagged parents (a build's step images).")
@_root
@click.argument("images", nargs=-1, required=True)
def rmi(force, no_prune, image_root, images):
    """Untag IMAGE; its last name removes it, its untagged parents, and the layers no other
    image uses (blobs that no image referenced are collected too, and said so)."""
    st = _store(image_root)
    failed = []
    for i in images:
        try:
            from .prune import listing
            for line in listing(st.remove(i, force=force, prune=not no_prune)):
                click.echo(line)
        except ImageError as exc:
            from .. import log
            log.error(str(exc))             # one line each, and the next image still goes
            failed.append(i)
    if failed:
        sys.exit(1)


# --- load / save ---------------------------------------------------------------------------

@click.command("load", cls=UsageCommand)
@click.option("-i", "--input", "src", default="-", help="Archive to read [default: stdin].")
@click.option("--name", default=None, help="Name for images the archive leaves unnamed.")
@click.option("--devices", type=click.Choice(["reject", "skip", "allow"]), default="reject",
              show_default=True, help="Device nodes in layers: refuse, drop, or create.")
@click.option("-q", "--quiet", is_flag=True, help="Accepted (no progress is printed anyway).")
@_root
def load(src, name, devices, quiet, image_root):
    """Load images from a docker-save tarball or an OCI archive."""
    if src == "-" and sys.stdin.isatty():
        raise click.UsageError("no archive on stdin; use -i FILE or a pipe")
    for n in _store(image_root, devices).load(src, name=name):
        click.echo(f"Loaded image: {n}")


@click.command("save", cls=UsageCommand)
@click.option("-o", "--output", "out", default="-", help="File to write [default: stdout].")
@_root
@click.argument("images", nargs=-1, required=True)
def save(out, image_root, images):
    """Write images as one tar: an OCI layout that docker load also reads."""
    if out == "-" and sys.stdout.isatty():
        raise click.UsageError("refusing to write a tar to a terminal; use -o FILE or a pipe")
    _store(image_root).save(list(images), out)


# --- history ---------------------------------------------------------------------------

@click.command("history", cls=UsageCommand)
@click.option("--no-trunc", is_flag=True, help="Whole IDs and commands.")
@click.option("-q", "--quiet", is_flag=True, help="Only the image ID.")
@click.option("-H", "--human", type=click.BOOL, default=True, show_default=True,
              help="Sizes and dates for people (--human=false: bytes and RFC 3339 times).")
@click.option("--format", "fmt", default=None,
              help="json, or a template over .ID .CreatedAt .CreatedSince .CreatedBy .Size .Comment.")
@_root
@click.argument("image_ref", metavar="IMAGE")
def history(no_trunc, quiet, human, fmt, image_root, image_ref):
    """The steps that made IMAGE, newest first, with their layers' sizes (docker history)."""
    from ..duration import ago
    from .history import rows as history_rows
    rows = history_rows(_store(image_root).inspect(image_ref))
    short = (lambda i: i) if no_trunc else (lambda i: i[7:19] if i.startswith("sha256:") else i)
    if quiet:
        for r in rows:
            click.echo(short(r["ID"]))
        return
    for r in rows:
        r["CreatedSince"] = ago(r["CreatedAt"]) if r["CreatedAt"] else "N/A"
    if fmt:
        from ..inspect import format as render
        for r in rows:
            click.echo(json.dumps(r) if fmt == "json" else render(fmt, dict(r, Size=_size(r["Size"]))))
        return
    table = []
    for r in rows:
        by = " ".join(r["CreatedBy"].split())
        if not no_trunc and len(by) > 45:
            by = by[:44] + "…"
        table.append((short(r["ID"]), r["CreatedSince"] if human else r["CreatedAt"], by,
                      _size(r["Size"]) if human else str(r["Size"]), r["Comment"]))
    head = ("IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT")
    widths = [max(len(t[i]) for t in table + [head]) + 3 for i in range(4)]    # as tabwriter
    for t in [head] + table:
        click.echo(("".join(f"{v:<{w}}" for v, w in zip(t, widths)) + t[4]).rstrip())


# --- login / logout ----------------------------------------------------------------------

@click.command("login", cls=UsageCommand)
@click.option("-u", "--username", default=None)
@click.option("-p", "--password", default=None, help="(shows in ps; prefer --password-stdin)")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@click.option("--authfile", default=None, metavar="PATH",
              help="Write here (default: $REGISTRY_AUTH_FILE, podman's, else docker's config.json).")
@click.option("--insecure", is_flag=True, default=None,
              help="Plain HTTP (default only for localhost/127.0.0.1 registries).")
@click.option("--timeout", default=30.0, show_default=True, type=float)
@click.argument("registry")
def login(username, password, password_stdin, authfile, insecure, timeout, registry):
    """Check a user and password with REGISTRY and keep them for pull and push (docker login)."""
    from . import credentials
    from .registry import login as check
    host = credentials.login_host(registry)
    if password is not None and password_stdin:
        raise ImageError("login: --password and --password-stdin cannot both be given")
    interactive = sys.stdin.isatty() and not password_stdin
    if username is None:
        if not interactive:
            raise ImageError("login: give --username (and the password with --password-stdin)")
        username = click.prompt("Username")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif password is None:
        if not interactive:
            raise ImageError("login: give the password with --password-stdin (stdin is not a terminal)")
        password = click.prompt("Password", hide_input=True)
    if not username or not password:
        raise ImageError("login: the username and password must not be empty")
    check(host, username, password, insecure=insecure, timeout=timeout)
    path = credentials.save(host, username, password, authfile)
    click.echo(f"Login Succeeded! (credentials in {path})")


@click.command("logout", cls=UsageCommand)
@click.option("--authfile", default=None, metavar="PATH", help="The file login wrote.")
@click.argument("registry")
def logout(authfile, registry):
    """Forget the credentials login kept for REGISTRY (docker logout)."""
    from . import credentials
    host = credentials.login_host(registry)
    path = credentials.remove(host, authfile)
    click.echo(f"Removed login credentials for {host}" if path else f"Not logged in to {host}")


for _cmd, _name in ((pull, "pull"), (tag, "tag"), (rmi, "rm"), (load, "load"), (save, "save"),
                    (history, "history"), (image_ls, "list")):
    image.add_command(_cmd, _name)

COMMANDS = [pull, images, image, tag, rmi, load, save, history, login, logout]
