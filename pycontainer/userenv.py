"""What a container process gets from its user, as runc sets it up before execve.

Three small things a program run as ``process.user`` expects, each done by
runc's init (libcontainer: env.go ``prepareEnv``, rootfs_linux.go
``prepareRootfs``, init_linux.go ``fixStdioPermissions``):

* ``HOME``: when ``process.env`` has none (or an empty one), it is the home
  field of the container's own ``/etc/passwd`` entry for the uid
  (passwd(5)), or ``/`` when there is no entry; duplicate variables are
  dropped, keeping the last (as execve users expect from a shell);
* ``process.cwd``: created when missing (mkdir(2) of each missing component,
  mode 0755, given to the process user so the program can use it); an
  existing path that is not a directory is an error;
* stdio: fds 0-2 are fchown(2)ed to the uid, unless already its or
  ``/dev/null``, so that a non-root program can use its own terminal; an
  owner not mapped in a user namespace (EPERM) or a read-only file (EROFS)
  is left as it is.

All of it runs in the container, after pivot_root and before the user
change: the lookups resolve inside the container's root, and the module
imports nothing after its own import (the init imports it before the pivot).
"""

from __future__ import annotations

import errno
import posix
import stat

from . import paths
from .errors import ContainerSetupError

_PASSWD_MAX = 1 << 20        # an /etc/passwd larger than 1 MiB is not read


def home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    """The home directory of ``uid`` in ``passwd`` (a regular file only), else ``/``."""
    try:
        fd = posix.open(passwd, posix.O_RDONLY | posix.O_NONBLOCK | posix.O_CLOEXEC | posix.O_NOCTTY)
    except OSError:
        return "/"
    try:
        if not stat.S_ISREG(posix.fstat(fd).st_mode):       # never block on a FIFO or device
            return "/"
        data = posix.read(fd, _PASSWD_MAX)
    except OSError:
        return "/"
    finally:
        posix.close(fd)
    for line in data.decode(errors="replace").splitlines():
        f = line.split(":")
        if len(f) >= 6 and f[2].strip() == str(uid):
            return f[5] or "/"
    return "/"


def prepare_env(env: list[str], uid: int) -> list[str]:
    """``process.env`` deduplicated (last wins) with HOME added when missing or empty."""
    out: list[str] = []
    seen: set[str] = set()
    has_home = False
    for kv in reversed(env):
        key, _, val = kv.partition("=")
        if key in seen:
            continue
        seen.add(key)
        if key == "HOME":
            if not val:
                continue
            has_home = True
        out.append(kv)
    out.reverse()
    if not has_home:
        out.append("HOME=" + home_of(uid))
    return out


def make_cwd(cwd: str, user: dict) -> None:
    """Create a missing ``process.cwd`` (each missing component, 0755, owned by the user)."""
    try:
        st_ = posix.stat(cwd)
    except FileNotFoundError:
        st_ = None
    except OSError as exc:
        raise ContainerSetupError(f"process.cwd {cwd!r}: {exc.strerror}", stage="cwd",
                                  errno=exc.errno) from None
    if st_ is not None:
        if not stat.S_ISDIR(st_.st_mode):
            raise ContainerSetupError(f"process.cwd {cwd!r}: not a directory", stage="cwd",
                                      errno=errno.ENOTDIR)
        return
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    path = "/"
    for part in [p for p in paths.normpath(cwd).split("/") if p]:
        path = paths.join(path, part)
        try:
            posix.mkdir(path, 0o755)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ContainerSetupError(f"process.cwd {cwd!r}: mkdir {path}: {exc.strerror}",
                                      stage="cwd", errno=exc.errno) from None
        try:
            posix.chown(path, uid, gid, follow_symlinks=False)
        except OSError as exc:
            raise ContainerSetupError(f"process.cwd {cwd!r}: chown {path}: {exc.strerror}",
                                      stage="cwd", errno=exc.errno) from None


def fix_stdio(uid: int) -> None:
    """fchown fds 0-2 to ``uid`` (runc's fixStdioPermissions)."""
    try:
        null = posix.stat("/dev/null").st_rdev
    except OSError:
        null = None
    for fd in (0, 1, 2):
        try:
            st_ = posix.fstat(fd)
        except OSError:
            continue
        if st_.st_uid == uid or (stat.S_ISCHR(st_.st_mode) and st_.st_rdev == null):
            continue
        try:
            posix.fchown(fd, uid, -1)
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.EROFS, errno.EINVAL):
                continue
            raise ContainerSetupError(f"chown of stdio fd {fd} to uid {uid}: {exc.strerror}",
                                      stage="user", errno=exc.errno) from None
