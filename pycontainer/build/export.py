"""``build --output``: the final stage's files on the host, as BuildKit's local and tar exporters.

``docker build -o out .`` (``type=local,dest=out``) writes the built image's merged
filesystem into the directory ``out``; ``-o - > out.tar`` or ``type=tar,dest=FILE``
writes it as one tar. The image is still made (in the store, unnamed without ``-t``:
the build cache); this walks its layers as overlayfs would show them
(``build/merged.py``: a whiteout or an opaque directory hides what is below) and copies
files, directories, symlinks (their targets verbatim: never followed) and FIFOs with
their modes and owners; device nodes are left out, as rootless BuildKit does.

The host side is written through directory fds: each entry is made with ``mkdirat``,
``openat(O_CREAT|O_EXCL|O_NOFOLLOW)`` or ``symlinkat`` relative to its parent's fd, so a
symlink the image put in the tree is never followed on the host. The destination must
be new or empty (nothing of the user's is overwritten); a failed export removes what it
wrote.

Read: docker's "docker buildx build --output" reference; openat(2), symlink(7).
"""

from __future__ import annotations

import os
import stat

from . import BuildError


def parse(spec: str) -> tuple[str, str]:
    """``-o DIR``, ``-o -``, ``type=local,dest=DIR``, ``type=tar,dest=FILE|-`` -> (type, dest)."""
    if "=" not in spec:
        return ("tar", "-") if spec == "-" else ("local", spec)
    kv = {}
    for part in spec.split(","):
        k, eq, v = part.partition("=")
        if not eq or k not in ("type", "dest"):
            raise BuildError(f"--output {spec!r}: give type=local|tar,dest=PATH (or a directory, or -)")
        kv[k] = v
    kind, dest = kv.get("type", "local"), kv.get("dest", "")
    if kind not in ("local", "tar"):
        raise BuildError(f"--output type={kind}: only local and tar (type=image is the default "
                         "without --output)")
    if not dest:
        raise BuildError(f"--output {spec!r}: give dest=PATH")
    return kind, dest


def check(kind: str, dest: str) -> None:
    """Before the build: a directory that is new or empty; a tar's parent directory exists."""
    if kind == "local":
        if os.path.lexists(dest) and (not os.path.isdir(dest) or os.path.islink(dest) or os.listdir(dest)):
            raise BuildError(f"--output {dest}: must be a new or empty directory")
    elif dest != "-" and not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
        raise BuildError(f"--output {dest}: its directory does not exist")


def write(layers: list[str], kind: str, dest: str, stdout=None) -> None:
    """Export the merged tree of ``layers`` (bottom first)."""
    from .merged import Tree
    tree = Tree(layers)
    if kind == "tar":
        _tar(tree, dest, stdout)
        return
    made = not os.path.exists(dest)
    os.makedirs(dest, exist_ok=True)
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _copy(tree, [], fd)
    except BaseException:
        import shutil
        os.close(fd)
        fd = -1
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for n in os.listdir(dest):
                p = os.path.join(dest, n)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        raise
    finally:
        if fd >= 0:
            os.close(fd)


def _copy(tree, parts: list[str], dirfd: int) -> None:
    for name in tree.listdir(parts):
        host, st = tree.find(parts + [name])
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=dirfd)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                _copy(tree, parts + [name], sub)
                os.fchown(sub, st.st_uid, st.st_gid)
                os.fchmod(sub, mode)
            finally:
                os.close(sub)
        elif stat.S_ISREG(st.st_mode):
            out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=dirfd)
            try:
                with open(host, "rb") as src:
                    while chunk := src.read(1 << 20):
                        os.write(out, chunk)
                os.fchown(out, st.st_uid, st.st_gid)
                os.fchmod(out, mode)
            finally:
                os.close(out)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(host), name, dir_fd=dirfd)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dirfd, follow_symlinks=False)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(name, mode, dir_fd=dirfd)
        # device nodes and sockets: not exported


def _tar(tree, dest: str, stdout) -> None:
    import sys
    import tarfile
    f = (stdout or sys.stdout.buffer) if dest == "-" else open(dest, "wb")
    try:
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            def walk(parts):
                for name in tree.listdir(parts):
                    host, st = tree.find(parts + [name])
                    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
                        continue
                    ti = tf.gettarinfo(host, arcname="/".join(parts + [name]))
                    ti.uname = ti.gname = ""
                    if ti.isreg():
                        with open(host, "rb") as src:
                            tf.addfile(ti, src)
                    else:
                        tf.addfile(ti)
                    if stat.S_ISDIR(st.st_mode):
                        walk(parts + [name])
            walk([])
    except BaseException:
        if dest != "-":
            f.close()
            os.unlink(dest)
        raise
    finally:
        if dest != "-" and not f.closed:
            f.close()
