"""COPY and ADD: sources from the context (or a stage/image), written into a fresh upper dir.

The step's changes go into an empty directory that becomes the layer (the
same form as a container's overlay upper dir, so ``image/layerwriter.py``
writes both). Docker's rules, which ``plan`` applies:

* sources are relative to the context; ``..`` out of it, an absolute path,
  or a symlink whose target leads out of it is refused; ``.dockerignore``d
  files do not exist; ``*?[]`` wildcards match per path component;
* a directory source copies its *contents*; several sources or a wildcard
  need a destination ending in ``/``; a file lands *in* the destination when
  it ends in ``/`` or is an existing directory in the image, else *as* it;
* a relative destination is relative to WORKDIR; symlinks on the
  destination path are resolved inside the image (``merged.Tree.resolve``);
  directories that exist below get their metadata copied up, missing ones
  are made 0755 root;
* files from the context become 0:0, files from a stage or an image keep
  their owners (BuildKit and buildah), unless ``--chown``; ``--chmod`` sets
  the mode; modes and mtimes are otherwise kept;
* ADD extracts a local tar archive (plain or compressed) through the image
  layer unpacker (``image/layers.py``, whiteouts applied as deletions) and
  fetches an http(s) URL (mode 0600).

The checksum (``Plan.checksum``) is BuildKit's idea: paths, types, modes,
owners, link targets and file contents of what would be copied, never
mtimes alone, so the cache notices a changed file and not a touched one.

Read: Dockerfile reference "COPY", "ADD"; image-spec ``layer.md``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat

from . import BuildError
from .merged import MAX_LINKS, Tree, split


class ContextSource:
    """The build context directory, minus ignored files; symlinks may not lead out."""

    keeps_owners = False             # the user's files: root's in the image, as docker's

    def __init__(self, root: str, matcher):
        self.root = os.path.realpath(root)
        self.matcher = matcher
        self.label = "context"

    def lstat(self, parts):
        if self.matcher and self.matcher.excluded("/".join(parts)):
            return None
        p = self.root
        for i, name in enumerate(parts):
            p = os.path.join(p, name)
            try:
                st = os.lstat(p)
            except OSError:
                return None
            if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                return None
        return st if parts else os.lstat(self.root)

    def path(self, parts):
        return os.path.join(self.root, *parts)

    def listdir(self, parts):
        return sorted(n for n in os.listdir(self.path(parts))
                      if not (self.matcher and self.matcher.excluded("/".join(parts + [n]))))

    def readlink(self, parts):
        return os.readlink(self.path(parts))

    def resolve(self, rel: str, what: str) -> list[str]:
        """A top-level source: symlinks followed, but never out of the context."""
        if rel.startswith("/"):
            raise BuildError(f"{what}: source {rel!r} is an absolute path; sources are "
                             "relative to the build context")
        todo, done, hops = rel.split("/"), [], 0
        while todo:
            name = todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if not done:
                    raise BuildError(f"{what}: source {rel!r} is outside the build context")
                done.pop()
                continue
            st = self.lstat(done + [name])
            if st is not None and stat.S_ISLNK(st.st_mode):
                hops += 1
                target = self.readlink(done + [name])
                if target.startswith("/") or hops > MAX_LINKS:
                    raise BuildError(f"{what}: source {rel!r} is a symlink that leads out of the "
                                     f"build context ({target})")
                todo = target.split("/") + todo
                continue
            done.append(name)
        return done


class ImageSource:
    """Another stage's (or an image's) merged tree."""

    keeps_owners = True              # COPY --from: a stage's chown stays

    def __init__(self, layers: list[str], label: str):
        self.tree = Tree(layers)
        self.label = label

    def lstat(self, parts):
        return self.tree.lstat(parts)

    def path(self, parts):
        return self.tree.host_path(parts)

    def listdir(self, parts):
        return self.tree.listdir(parts)

    def readlink(self, parts):
        return os.readlink(self.path(parts))

    def resolve(self, rel: str, what: str) -> list[str]:
        return self.tree.resolve(rel)


class Plan:
    """What one COPY/ADD will write: [(source parts, dest parts, lstat)] plus extracts."""

    def __init__(self, src):
        self.src = src
        self.entries: list[tuple[list[str], list[str], os.stat_result]] = []
        self.extract: list[tuple[str, list[str]]] = []        # (host tar path, dest dir parts)
        self.dest_dirs: set[tuple[str, ...]] = set()          # dirs we create as "contents of"

    def checksum(self, chown, chmod) -> str:
        rule = (chown, chmod, "owners kept") if self.src.keeps_owners else (chown, chmod)
        h = hashlib.sha256(repr(rule).encode())      # (layers cached before owners were kept:
        for s, d, st in self.entries:                #  another key, never reused)
            h.update(("\0".join(["/".join(s), "/".join(d), oct(st.st_mode), str(st.st_uid),
                                 str(st.st_gid)]) + "\n").encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(self.src.readlink(s).encode() + b"\n")
            elif stat.S_ISREG(st.st_mode):
                h.update(_file_sha(self.src.path(s)).encode())
        for p, d in self.extract:
            h.update(("x" + "/".join(d) + _file_sha(p)).encode())
        return "sha256:" + h.hexdigest()


def _file_sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def _has_glob(s: str) -> bool:
    return any(c in s for c in "*?[")


def _expand(src, rel: str, what: str) -> list[list[str]]:
    if not _has_glob(rel):
        parts = src.resolve(rel, what)
        if src.lstat(parts) is None:
            raise BuildError(f"{what}: source {rel!r} not found in the {src.label}")
        return [parts]
    if rel.startswith("/") or ".." in rel.split("/"):
        raise BuildError(f"{what}: source {rel!r} is outside the build context")
    found = [[]]
    for pat in [p for p in rel.split("/") if p not in ("", ".")]:
        nxt = []
        for base in found:
            st = src.lstat(base)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            names = src.listdir(base)
            nxt += [base + [n] for n in names if fnmatch.fnmatchcase(n, pat)] \
                if _has_glob(pat) else ([base + [pat]] if pat in names else [])
        found = nxt
    return found    # a pattern may match nothing (BuildKit's AllowEmptyWildcard): `COPY req.txt* ./`


def plan(src, sources: list[str], dest: str, workdir: str, tree: Tree, what: str,
         add: bool = False) -> tuple[Plan, list[str]]:
    """(Plan, destination parts in the image) for ``COPY sources dest``."""
    if not dest:
        raise BuildError(f"{what}: no destination")
    if not dest.startswith("/"):
        dest = (workdir.rstrip("/") or "") + "/" + dest
    dir_dest = dest.endswith("/") or dest.endswith("/.")
    matched = []
    for rel in sources:
        matched += _expand(src, rel, what)
    if (len(matched) > 1 or len(sources) > 1 or any(_has_glob(s) for s in sources)) \
            and not dir_dest:
        st = tree.lstat(tree.resolve(dest))
        if not (st and stat.S_ISDIR(st.st_mode)):
            raise BuildError(f"{what}: when copying more than one source the destination "
                             f"must be a directory and end with a /")
    dparts = tree.resolve(dest)
    if not dir_dest:
        st = tree.lstat(dparts)
        dir_dest = bool(st and stat.S_ISDIR(st.st_mode))
    p = Plan(src)
    for sp in matched:
        st = src.lstat(sp)
        if stat.S_ISDIR(st.st_mode):
            p.dest_dirs.add(tuple(dparts))
            _walk(src, sp, dparts, p)
        elif add and stat.S_ISREG(st.st_mode) and _is_archive(src.path(sp)):
            p.extract.append((src.path(sp), dparts))
        else:
            target = dparts + [sp[-1]] if dir_dest else dparts
            p.entries.append((sp, target, st))
    return p, dparts


def _walk(src, sp, dp, p: Plan) -> None:
    for name in src.listdir(sp):
        s, d = sp + [name], dp + [name]
        st = src.lstat(s)
        if st is None:
            continue
        p.entries.append((s, d, st))
        if stat.S_ISDIR(st.st_mode):
            _walk(src, s, d, p)


def _is_archive(path: str) -> bool:
    import tarfile
    with open(path, "rb") as f:
        head = f.read(265)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" \
            or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar" or tarfile.is_tarfile(path)


# --- writing into the upper dir ------------------------------------------------------------

def apply(p: Plan, upper: str, tree: Tree, owner: tuple[int, int] | None, chmod: int | None,
          what: str) -> None:
    """Write the plan's entries into ``upper`` (a fresh dir; ``tree`` is the image below)."""
    made: set[tuple[str, ...]] = set()
    for d in sorted(p.dest_dirs):
        make_dirs(upper, tree, list(d), made, what, final_owner=owner)
    parents: dict[tuple[str, ...], list[str]] = {}
    for s, d, st in p.entries:
        key = tuple(d[:-1])
        if key not in parents:             # a symlinked dir of the image: follow it, inside it
            parents[key] = tree.resolve("/".join(key))
        d = parents[key] + [d[-1]]
        make_dirs(upper, tree, d[:-1], made, what)
        path = os.path.join(upper, *d)
        mode = chmod if chmod is not None else stat.S_IMODE(st.st_mode)
        uid, gid = owner or ((st.st_uid, st.st_gid) if p.src.keeps_owners else (0, 0))
        below = tree.lstat(d)
        if stat.S_ISDIR(st.st_mode) and below is not None and stat.S_ISLNK(below.st_mode):
            real = tree.resolve("/".join(d))           # a symlink to a dir in the image:
            rst = tree.lstat(real)                      # copy into its target, as docker does
            if rst is not None and stat.S_ISDIR(rst.st_mode):
                make_dirs(upper, tree, real, made, what)
                continue
        if stat.S_ISDIR(st.st_mode):
            if below is not None and not stat.S_ISDIR(below.st_mode):
                raise BuildError(f"{what}: cannot copy directory to /{'/'.join(d)}: a "
                                 "non-directory is there")
            if not os.path.isdir(path) or os.path.islink(path):
                _clear(path)
                os.mkdir(path, 0o700)
            made.add(tuple(d))
        else:
            if below is not None and stat.S_ISDIR(below.st_mode):
                raise BuildError(f"{what}: cannot overwrite directory /{'/'.join(d)} with a "
                                 "non-directory")
            _clear(path)
            gone = tuple(d)                # a dir we made may now be a file or a symlink:
            for k in [k for k in made if k[:len(gone)] == gone]:
                made.discard(k)            # never write through it (make_dirs re-checks)
            for k in [k for k in parents if k[:len(gone)] == gone]:
                del parents[k]
            if stat.S_ISLNK(st.st_mode):
                os.symlink(p.src.readlink(s), path)
                os.chown(path, uid, gid, follow_symlinks=False)
                os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
                continue
            if not stat.S_ISREG(st.st_mode):
                raise BuildError(f"{what}: /{'/'.join(s)} is not a regular file, directory or "
                                 "symlink")
            _copy_file(p.src.path(s), path)
        os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(path, mode)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for tar, d in p.extract:
        from ..image import layers
        make_dirs(upper, tree, d, made, what)
        try:
            layers.apply_layer(tar, os.path.join(upper, *d), whiteouts="delete", devices="skip",
                               label=f"{what}: {os.path.basename(tar)}")
        except BuildError:
            raise
        except Exception as exc:  # noqa: BLE001 - an unsafe/corrupt archive: one line
            raise BuildError(f"{what}: {exc}") from None


def make_dirs(upper: str, tree: Tree, parts: list[str], made: set, what: str,
          final_owner=None) -> None:
    """Make ``parts`` in upper: lower dirs keep their metadata (copy-up), new ones 0755 root."""
    for i in range(1, len(parts) + 1):
        key = tuple(parts[:i])
        if key in made:
            continue
        path = os.path.join(upper, *key)
        st = os.lstat(path) if os.path.lexists(path) else None
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise BuildError(f"{what}: /{'/'.join(key)} is not a directory")
            made.add(key)
            continue
        below = tree.lstat(list(key))
        if below is not None and not stat.S_ISDIR(below.st_mode):
            raise BuildError(f"{what}: /{'/'.join(key)} exists in the image and is not a "
                             "directory")
        os.mkdir(path, 0o755)
        if below is not None:
            os.chown(path, below.st_uid, below.st_gid)
            os.chmod(path, stat.S_IMODE(below.st_mode))
            os.utime(path, ns=(below.st_atime_ns, below.st_mtime_ns))
        elif final_owner and i == len(parts):
            os.chown(path, *final_owner)
        made.add(key)


def _clear(path: str) -> None:
    import shutil
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _copy_file(src: str, dst: str) -> None:
    fi = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        fo = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        try:
            size = os.fstat(fi).st_size
            off = 0
            while off < size:
                try:
                    n = os.copy_file_range(fi, fo, size - off)
                except OSError:
                    n = os.sendfile(fo, fi, None, size - off)
                if n == 0:
                    break
                off += n
        finally:
            os.close(fo)
    finally:
        os.close(fi)


def fetch_url(url: str, dest_dir: str, what: str) -> tuple[str, str]:
    """ADD http(s)://...: download into ``dest_dir``; (host path, file name)."""
    import urllib.parse
    import urllib.request
    u = urllib.parse.urlsplit(url)
    name = os.path.basename(u.path) or "index.html"
    handlers = []
    if u.hostname in ("127.0.0.1", "localhost", "::1"):
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    path = os.path.join(dest_dir, "download")
    try:
        with opener.open(url, timeout=60) as r, open(path, "wb") as f:
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                f.write(b)
            lm = r.headers.get("Last-Modified")
    except OSError as exc:
        raise BuildError(f"{what}: fetching {url}: {exc}") from None
    os.chmod(path, 0o600)
    if lm:
        import email.utils
        try:
            t = email.utils.parsedate_to_datetime(lm).timestamp()
            os.utime(path, (t, t))
        except (TypeError, ValueError):
            pass
    return path, name


def split_dest(path: str) -> list[str]:
    return split(path)
