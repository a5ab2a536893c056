"""Registry credentials: ``--creds USER:PASSWORD``, or the auth files docker and podman keep.

A registry that wants a login answers 401 with a ``Basic`` challenge, or a
``Bearer`` one whose token service takes the user's credentials as Basic
auth (image/registry.py). Where they come from, in podman's order:

1. ``--creds USER:PASSWORD`` on the command line (podman's flag);
2. ``--authfile PATH``, else ``$REGISTRY_AUTH_FILE``, else
   ``$XDG_RUNTIME_DIR/containers/auth.json`` (podman login), else
   ``~/.docker/config.json`` (docker login): ``{"auths": {"HOST": {"auth":
   base64("USER:PASSWORD")}}}``. Credential helpers (``credsStore``) are not
   run: a file that only names one gives no credentials.

``login`` (registry.login checks the credentials first) writes an entry with
``save`` into the first of those files that its flags or environment name,
else docker's; ``logout`` takes it out with ``remove``. The file is rewritten
whole (a temporary file renamed over it, mode 0600: it holds a password),
keeping every other key (``credsStore``, other registries).

No kernel interface here; read containers-auth.json(5) and docker's
"docker login" reference (the config.json ``auths`` map).
"""

from __future__ import annotations

import base64
import json
import os

from ..errors import ImageError


def parse_creds(text: str) -> tuple[str, str]:
    """``"USER:PASSWORD"`` -> (user, password); one line of error otherwise."""
    user, sep, password = (text or "").partition(":")
    if not user or not sep:
        raise ImageError("--creds: give USER:PASSWORD (a password cannot be asked for here)")
    return user, password


def auth_files(authfile: str | None = None) -> list[str]:
    """Where to look, first match wins."""
    if authfile:
        return [authfile]
    out = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        out.append(os.environ["REGISTRY_AUTH_FILE"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        out.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    out.append(os.path.join(os.path.expanduser("~"), ".docker", "config.json"))
    return out


def lookup(host: str, repository: str = "", authfile: str | None = None) -> tuple[str, str] | None:
    """The stored (user, password) for ``host`` (also ``host/repository`` keys and
    docker.io's historical ``https://index.docker.io/v1/``), or None."""
    keys = [f"{host}/{repository}"] if repository else []
    keys += [host, f"https://{host}", f"http://{host}"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    for path in auth_files(authfile):
        try:
            with open(path) as f:
                auths = (json.load(f) or {}).get("auths") or {}
        except FileNotFoundError:
            if authfile:
                raise ImageError(f"--authfile {path}: no such file") from None
            continue
        except (OSError, ValueError) as exc:
            raise ImageError(f"registry auth file {path}: cannot read it ({exc})") from None
        for k in keys:
            entry = auths.get(k) or {}
            if entry.get("auth"):
                try:
                    return parse_creds(base64.b64decode(entry["auth"]).decode())
                except (ValueError, ImageError):
                    raise ImageError(f"registry auth file {path}: the entry for {k} is not "
                                     "base64 of USER:PASSWORD") from None
    return None


def resolve(ref, creds: str | None, authfile: str | None) -> tuple[str, str] | None:
    """Credentials for the parsed reference ``ref`` (image/reference.py)."""
    if creds:
        return parse_creds(creds)
    return lookup(ref.registry, ref.repository, authfile)


def login_host(registry: str) -> str:
    """docker login's argument: a host[:port], also given as a URL (https://host/v1/)."""
    h = registry.split("://", 1)[-1].split("/", 1)[0]
    if not h:
        raise ImageError(f"login {registry!r}: give a registry host, e.g. localhost:5000")
    # Docker Hub by any of its names: the key pull's lookup uses for it
    return "docker.io" if h in ("index.docker.io", "registry-1.docker.io") else h


def login_file(authfile: str | None = None) -> str:
    """Where ``login`` writes: --authfile, $REGISTRY_AUTH_FILE, podman's file when
    $XDG_RUNTIME_DIR is set, else docker's ~/.docker/config.json."""
    return auth_files(authfile)[0]


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            doc = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ImageError(f"registry auth file {path}: cannot read it ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("auths", {}), dict):
        raise ImageError(f"registry auth file {path}: not an auth file ({{\"auths\": {{...}}}})")
    return doc


def _write(path: str, doc: dict) -> None:
    from .. import atomicfile
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        atomicfile.write(path, json.dumps(doc, indent="\t") + "\n", mode=0o600)
    except OSError as exc:
        raise ImageError(f"registry auth file {path}: cannot write it ({exc.strerror})") from None


def save(host: str, user: str, password: str, authfile: str | None = None) -> str:
    """Store (user, password) for ``host``; -> the file written."""
    path = login_file(authfile)
    doc = _read(path)
    doc.setdefault("auths", {})[host] = {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, doc)
    return path


def remove(host: str, authfile: str | None = None) -> str | None:
    """Take ``host``'s entry out of the first file holding one; -> that file, or None."""
    keys = [host, f"https://{host}", f"http://{host}"]
    for path in auth_files(authfile):
        doc = _read(path)
        auths = doc.get("auths") or {}
        found = [k for k in keys if k in auths]
        if found:
            for k in found:
                del auths[k]
            _write(path, doc)
            return path
    return None
