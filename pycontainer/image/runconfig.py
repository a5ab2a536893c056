"""From an image config to the OCI ``process``: docker's rules for Entrypoint, Cmd, Env, User.

The image config's ``config`` object (image-spec ``config.md``) holds the
defaults a ``run`` starts from. Docker's rules, which ``process()`` applies:

* args = Entrypoint + Cmd; a command given on the command line replaces Cmd;
  ``--entrypoint`` replaces Entrypoint *and clears Cmd* (only the command
  line's command follows it); no args at all is an error.
* env = the image's Env, then ``-e`` values replace by name; PATH gets
  Docker's default if neither set it.
* cwd = ``-w``, else WorkingDir, else ``/``; it must be absolute. A missing
  one is created in the container's upper dir (``make_workdir``), owned by
  root, as docker does.
* env also gets docker's ``HOSTNAME``, ``HOME`` (the user's passwd entry,
  else ``/``) and, with a terminal, ``TERM=xterm``, unless the image or
  ``-e`` set them.
* user = ``-u``, else User: ``name|uid[:group|gid]``. Names are looked up in
  the image's ``/etc/passwd`` and ``/etc/group``; a name also brings its
  supplementary groups. A numeric uid absent from passwd gets gid 0.

The image's /etc files are read from the unpacked layers top-down, the way
overlayfs would show them (a whiteout or an opaque directory stops the
search), opening every component with ``O_NOFOLLOW``: a symlinked
``/etc/passwd`` in an image is not followed on the host (such an image
gets "no passwd file"; numeric users still work).

Read: Docker ``run`` reference ("ENTRYPOINT", "USER"); image-spec ``config.md``.
"""

from __future__ import annotations

import errno
import os
import stat

from ..errors import ImageError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MAX_ETC = 1 << 20


def process(config: dict, *, layers: list[str] = (), command: list[str] | None = None,
            entrypoint: str | None = None, env: list[str] = (), workdir: str | None = None,
            user: str | None = None, hostname: str | None = None, tty: bool = False) -> dict:
    """The OCI ``process`` fields (args, env, cwd, user) for running this image.

    ``config`` is the image config (``Image.config``); ``layers`` its unpacked
    layer dirs (``Image.layers``), needed only to resolve user/group names.
    """
    c = config.get("config") or {}
    if entrypoint is not None:
        args = ([entrypoint] if entrypoint else []) + list(command or [])
    else:
        args = list(c.get("Entrypoint") or []) + list(command or c.get("Cmd") or [])
    if not args:
        raise ImageError("no command specified: the image has no Entrypoint or Cmd; give one")
    merged: dict[str, str] = {}
    base = ([f"HOSTNAME={hostname}"] if hostname else []) + (["TERM=xterm"] if tty else [])
    for item in base + list(c.get("Env") or []) + list(env):
        k, sep, v = item.partition("=")
        if not k:
            raise ImageError(f"invalid environment variable {item!r}")
        merged[k] = f"{k}={v}" if sep else f"{k}="
    if "PATH" not in merged:
        merged = {"PATH": DEFAULT_PATH, **merged}
    cwd = workdir or c.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise ImageError(f"working directory {cwd!r} must be an absolute path")
    u = resolve_user(layers, user if user is not None else c.get("User") or "")
    if "HOME" not in merged:
        merged["HOME"] = "HOME=" + _home(layers, u["uid"])
    return {"args": args, "env": list(merged.values()), "cwd": cwd, "user": u}


def _home(layers: list[str], uid: int) -> str:
    """The home directory of ``uid`` in the image's /etc/passwd, else ``/`` (docker's rule)."""
    for row in _table(layers, "etc/passwd") or []:
        if len(row) >= 6 and row[2] == str(uid) and row[5].startswith("/"):
            return row[5]
    return "/"


def make_workdir(layers: list[str], upper: str | None, cwd: str) -> None:
    """Create ``cwd`` in the upper dir when the image lacks it (docker creates ``-w``).

    Each component is opened with O_NOFOLLOW below ``upper``; a component
    that the image has as a non-directory (a file or a symlink) is refused
    rather than followed.
    """
    parts = [p for p in cwd.split("/") if p and p != "."]
    if not upper or not parts or ".." in parts:
        return
    if _exists_in_image(layers, parts):
        return
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_DIRECTORY
    fd = os.open(upper, flags)
    try:
        for i, name in enumerate(parts):
            kind = _kind_in_image(layers, parts[:i + 1])
            if kind not in (None, "dir"):
                raise ImageError(f"working directory {cwd!r}: /{'/'.join(parts[:i + 1])} is not a "
                                 "directory in the image")
            try:
                os.mkdir(name, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            try:
                nfd = os.open(name, flags, dir_fd=fd)
            except OSError as exc:
                raise ImageError(f"working directory {cwd!r}: {exc.strerror}") from None
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


def _exists_in_image(layers, parts) -> bool:
    return _kind_in_image(layers, parts) == "dir"


def _kind_in_image(layers, parts) -> str | None:
    """"dir", "other" or None (absent) for a path in the merged image."""
    from .merged import find
    hit = find(layers, parts)
    if hit is None:
        return None
    return "dir" if stat.S_ISDIR(hit[1].st_mode) else "other"


def exposed_ports(config: dict) -> list[str]:
    """``["80/tcp", "53/udp"]`` from ExposedPorts (a JSON object whose keys matter)."""
    ports = (config.get("config") or {}).get("ExposedPorts") or {}
    return sorted(p if "/" in p else f"{p}/tcp" for p in ports)


def port_range(text) -> tuple[int, int, str] | None:
    """``80``, ``80/udp``, ``8000-8080/tcp`` (EXPOSE's and ``--expose``'s forms, ps's
    ``expose=``/``publish=`` filters) -> (first, last, protocol); None for anything else (a
    port outside 1-65535, a backward range, a protocol other than tcp, udp or sctp)."""
    num, _, proto = str(text).partition("/")
    lo, _, hi = num.partition("-")
    if not lo.isdigit() or hi and not hi.isdigit() or (proto or "tcp") not in ("tcp", "udp", "sctp"):
        return None
    first, last = int(lo), int(hi or lo)
    return (first, last, proto or "tcp") if 0 < first <= last < 65536 else None


def resolve_user(layers: list[str], spec: str) -> dict:
    """OCI ``process.user`` ({uid, gid, additionalGids}) for ``name|uid[:group|gid]``."""
    if not spec:
        return {"uid": 0, "gid": 0}
    name, _, group = spec.partition(":")
    passwd = _table(layers, "etc/passwd")
    uid = gid = None
    login = None
    if name.isdigit():
        uid = int(name)
        for row in passwd or []:
            if len(row) >= 4 and row[2] == name:
                login, gid = row[0], _num(row[3], "passwd gid")
                break
    else:
        if passwd is None:
            raise ImageError(f"unable to find user {name!r}: the image has no /etc/passwd")
        for row in passwd:
            if len(row) >= 4 and row[0] == name:
                login, uid, gid = name, _num(row[2], "passwd uid"), _num(row[3], "passwd gid")
                break
        else:
            raise ImageError(f"unable to find user {name!r}: no matching entry in /etc/passwd")
    groups = _table(layers, "etc/group") or []
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            for row in groups:
                if len(row) >= 3 and row[0] == group:
                    gid = _num(row[2], "group gid")
                    break
            else:
                raise ImageError(f"unable to find group {group!r}: no matching entry in /etc/group")
    if gid is None:
        gid = 0
    out = {"uid": uid, "gid": gid}
    if login and not group:
        extra = sorted({_num(r[2], "group gid") for r in groups
                        if len(r) >= 4 and login in r[3].split(",") and r[2].isdigit()} - {gid})
        if extra:
            out["additionalGids"] = extra
    return out


def _num(s: str, what: str) -> int:
    if not s.isdigit():
        raise ImageError(f"malformed {what} {s!r} in the image")
    return int(s)


def _table(layers: list[str], path: str) -> list[list[str]] | None:
    data = read_file(layers, path)
    if data is None:
        return None
    return [line.split(":") for line in data.decode("utf-8", "replace").splitlines()
            if line and not line.startswith("#")]


def read_file(layers: list[str], path: str) -> bytes | None:
    """The bytes of ``path`` as the merged image shows it, or None (top layer first)."""
    parts = [p for p in path.split("/") if p]
    for layer in reversed(list(layers)):
        found, stop = _read_in_layer(layer, parts)
        if found is not None or stop:
            return found
    return None


def _read_in_layer(layer: str, parts: list[str]) -> tuple[bytes | None, bool]:
    """(content, stop searching lower layers) for ``parts`` in one layer dir."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(layer, flags | os.O_DIRECTORY)
    except OSError:
        return None, False
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return None, _opaque(fd)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None, True                         # whiteout
            if last:
                if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_ETC:
                    return None, True
                nfd = os.open(name, flags, dir_fd=fd)
                with os.fdopen(nfd, "rb") as f:
                    return f.read(_MAX_ETC), True
            if not stat.S_ISDIR(st.st_mode):
                return None, True                         # a symlink or file hides the path
            try:
                nfd = os.open(name, flags | os.O_DIRECTORY, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    return None, True
                raise
            os.close(fd)
            fd = nfd
        return None, True
    finally:
        os.close(fd)


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False
