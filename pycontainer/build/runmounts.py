"""RUN --mount (BuildKit's): what one RUN step sees beside the image, never in its layer.

Dockerfiles for Python services are written like docker's own template::

    RUN --mount=type=cache,target=/root/.cache/pip \\
        --mount=type=bind,source=requirements.txt,target=requirements.txt \\
        python -m pip install -r requirements.txt

* ``type=cache``: a directory kept between builds (``id``, default the target),
  under the image store (``build-mounts/``); ``builder prune`` empties them.
  ``mode``/``uid``/``gid`` apply when it is made; ``sharing=locked`` (and
  ``private``, here the same) lets one step at a time use it (flock(2)).
* ``type=bind``: a file or directory of the build context (``.dockerignore``
  applies), or of an earlier stage or an image (``from=``), read-only unless
  ``rw``, where the writes are thrown away as BuildKit does: the source is
  copied into a scratch directory (COPY's machinery, copy.py) that the step
  bind-mounts. Its content is part of the step's cache key, as in BuildKit.
* ``type=tmpfs``: an empty tmpfs(5) (``size``).
* ``type=secret``: a file given to ``build --secret id=ID,src=FILE`` (or ``env=VAR``), at
  ``/run/secrets/ID`` or ``target``, mode 0400 (``mode``, ``uid``, ``gid``), read-only, for
  this step only: a copy on a tmpfs (/dev/shm), removed when the step ends; neither its
  content nor the copy is in the layer or the cache key. One the build was not given is
  skipped, or an error with ``required=true``.

Each becomes a ``--mount`` of the step's container (runstep.py: the path
``run`` takes; mount(2) MS_BIND, tmpfs). A mount point the runtime had to
make for it is left out of the layer. ``type=ssh`` is refused (no agent is
forwarded), each error one line naming the line.
Read: docker's Dockerfile reference, "RUN --mount"; mount(2); tmpfs(5); flock(2).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from contextlib import contextmanager

_KEYS = {"type", "target", "dst", "destination", "source", "src", "from", "id", "sharing", "mode",
         "uid", "gid", "readonly", "ro", "rw", "readwrite", "size", "required"}


def parse(specs: list[str], workdir: str, error) -> list[dict]:
    """The step's ``--mount`` values -> checked dicts (type, target absolute, and per type the
    rest); ``error(msg)`` makes the step's one-line BuildError."""
    out = []
    for spec in specs:
        m = {"type": "bind", "readonly": None}
        for part in (spec or "").split(","):
            k, eq, v = part.strip().partition("=")
            k = k.lower()
            if k not in _KEYS:
                raise error(f"--mount={spec}: unknown option {k!r}")
            if k in ("readonly", "ro", "rw", "readwrite"):
                on = not eq or v.lower() in ("1", "true")
                m["readonly"] = on if k in ("readonly", "ro") else not on
            elif not eq:
                raise error(f"--mount={spec}: {k} needs a value")
            else:
                m[{"dst": "target", "destination": "target", "src": "source"}.get(k, k)] = v
        if m["type"] == "ssh":
            raise error("--mount=type=ssh is not supported by this builder (no agent is "
                        "forwarded): use type=secret")
        if m["type"] not in ("cache", "bind", "tmpfs", "secret"):
            raise error(f"--mount={spec}: type must be cache, bind, tmpfs or secret")
        if m["type"] == "secret":
            if not m.get("id") and not m.get("target"):
                raise error(f"--mount={spec}: a secret needs an id (or a target)")
            m.setdefault("id", posixpath.basename(m.get("target", "")))
            m.setdefault("target", "/run/secrets/" + m["id"])
            m["required"] = str(m.get("required", "false")).lower() in ("", "1", "true")
            m.setdefault("mode", "0400")
        if not m.get("target"):
            raise error(f"--mount={spec}: give a target")
        m["target"] = posixpath.normpath(posixpath.join(workdir or "/", m["target"]))
        if m["target"] == "/" or ".." in m["target"].split("/"):
            raise error(f"--mount={spec}: target {m['target']!r} is not a path below /")
        if m["type"] == "cache":
            if m.get("from") or m.get("source"):
                raise error(f"--mount={spec}: a cache from another stage is not supported")
            if m.get("sharing", "shared") not in ("shared", "private", "locked"):
                raise error(f"--mount={spec}: sharing must be shared, private or locked")
        if m["type"] in ("cache", "secret"):
            for k, base in (("mode", 8), ("uid", 10), ("gid", 10)):
                if k in m:
                    try:
                        m[k] = int(m[k], base)
                    except ValueError:
                        raise error(f"--mount={spec}: {k}={m[k]!r} is not a number") from None
        if m["type"] == "tmpfs" and (m.get("source") or m.get("from")):
            raise error(f"--mount={spec}: a tmpfs has no source")
        out.append(m)
    targets = [m["target"] for m in out]
    if len(set(targets)) != len(targets):
        raise error("two --mount options have the same target")
    return out


def cache_dir(mounts_root: str, m: dict) -> str:
    """The kept directory of a cache mount (its id's hash: any id is a safe name)."""
    name = hashlib.sha256(str(m.get("id") or m["target"]).encode()).hexdigest()[:32]
    d = os.path.join(mounts_root, name)
    if not os.path.isdir(d):
        os.makedirs(mounts_root, mode=0o700, exist_ok=True)
        tmp = d + ".new"
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, m.get("mode", 0o755))
        os.chown(tmp, m.get("uid", 0), m.get("gid", 0))
        try:
            os.rename(tmp, d)
        except OSError:                     # another build made it first
            os.rmdir(tmp)
    return d


def lock(d: str, m: dict):
    """For sharing=locked (and private): an open, flock(2)ed file; close it to release."""
    if m.get("sharing", "shared") == "shared":
        return None
    import fcntl
    f = open(d + ".lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def bind_source(builder, st, ins, m: dict) -> tuple[str, str]:
    """A bind's source copied into a scratch dir of the build (its writes thrown away,
    .dockerignore applied, ``from=`` a stage or image): (the path to mount, its checksum)."""
    from . import copy as cp
    from .merged import Tree
    what = f"{ins.where}: RUN --mount"
    src = builder.source(ins, builder.env(st), what, ref=m.get("from"))
    tmp = builder.tmpdir()
    plan, _ = cp.plan(src, [m.get("source") or "."], "/m", "/", Tree([]), what)
    cp.apply(plan, tmp, Tree([]), None, None, what)
    return os.path.join(tmp, "m"), plan.checksum(None, None)


@contextmanager
def mounted(mounts: list[dict], binds: dict, mounts_root: str, secrets: dict, error):
    """The step container's ``--mount`` values (``binds``: {index: bind_source()};
    ``secrets``: build --secret's {id: bytes}), with the locked caches' locks held and the
    secrets' copies there until the step is done."""
    locks, specs, shm = [], [], None
    try:
        for i, m in enumerate(mounts):
            src = binds[i][0] if i in binds else None
            if m["type"] == "cache":
                src = cache_dir(mounts_root, m)
                locks.append(lock(src, m))
            elif m["type"] == "secret":
                if m["id"] not in secrets:
                    if m["required"]:
                        raise error(f"secret {m['id']!r} is required: give build --secret "
                                    f"id={m['id']},src=FILE")
                    continue                           # BuildKit: an optional one is skipped
                shm = shm or _scratch()
                src = os.path.join(shm, str(i))
                fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with open(fd, "wb") as f:
                    f.write(secrets[m["id"]])
                os.chown(src, m.get("uid", 0), m.get("gid", 0))
                os.chmod(src, m["mode"])
                m = dict(m, readonly=True, type="bind")
            specs.append(docker_mount(m, src))
        yield specs
    finally:
        for f in locks:
            if f is not None:
                f.close()
        if shm:
            import shutil
            shutil.rmtree(shm, ignore_errors=True)


def _scratch() -> str:
    """A directory only root reads, on a tmpfs when there is one (a secret is never written
    to a disk), for this step's secrets."""
    import tempfile
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    return tempfile.mkdtemp(prefix="pyc-build-secret-", dir=base)


def read_secret(spec: str) -> tuple[str, bytes]:
    """``build --secret id=ID[,src=FILE|,env=VAR][,type=file|env]`` -> (id, content). Neither
    src nor env: the variable ID if it is set, else the file ID (BuildKit's rule)."""
    kv = {}
    for part in spec.split(","):
        k, eq, v = part.strip().partition("=")
        if k not in ("id", "src", "source", "env", "type") or not eq:
            raise ValueError(f"--secret {spec!r}: give id=ID with src=FILE or env=VAR")
        kv["src" if k == "source" else k] = v
    sid = kv.get("id") or ""
    if not sid:
        raise ValueError(f"--secret {spec!r}: give id=ID")
    kind = kv.get("type") or ("env" if "env" in kv or ("src" not in kv and sid in os.environ)
                               else "file")
    if kind == "env":
        var = kv.get("env") or sid
        if var not in os.environ:
            raise ValueError(f"--secret {spec!r}: the environment has no {var}")
        return sid, os.environ[var].encode()
    try:
        with open(kv.get("src") or sid, "rb") as f:
            return sid, f.read()
    except OSError as exc:
        raise ValueError(f"--secret {spec!r}: {kv.get('src') or sid}: {exc.strerror}") from None


def docker_mount(m: dict, source: str | None) -> str:
    """The step container's ``--mount`` (volumes.parse_mount's form) for ``m``."""
    if m["type"] == "tmpfs":
        return f"type=tmpfs,target={m['target']}" + (f",tmpfs-size={m['size']}" if m.get("size") else "")
    ro = m["readonly"] if m["readonly"] is not None else m["type"] == "bind"
    return f"type=bind,source={source},target={m['target']}" + (",readonly" if ro else "")


def made_points(upper: str, targets: list[str], in_lower) -> set[str]:
    """Paths (relative, like the layer writer's) the runtime made only to mount ``targets`` on:
    a target or a parent of one, absent below, and in the upper empty but for others of
    these. ``in_lower(rel)``: whether the image below has it."""
    cands: set[str] = set()
    for t in targets:
        parts = t.strip("/").split("/")
        for i in range(len(parts), 0, -1):
            rel = "/".join(parts[:i])
            if in_lower(rel):
                break
            cands.add(rel)
    made: set[str] = set()
    for rel in sorted(cands, key=lambda r: -r.count("/")):        # deepest first
        p = os.path.join(upper, rel)
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                if all(f"{rel}/{n}" in made for n in os.listdir(p)):
                    made.add(rel)
            elif os.path.isfile(p) and os.path.getsize(p) == 0:   # a file's mount point
                made.add(rel)
        except OSError:
            continue
    return made
