"""Pull an image over the OCI distribution API (HTTP, with urllib).

The calls a pull makes (distribution-spec ``spec.md``; Docker's registry
token spec ``docs/spec/auth/token.md``)::

    GET /v2/                                   200, or 401 + WWW-Authenticate
      -> Bearer realm="...",service="...": GET realm?service=..&scope=repository:R:pull
         -> {"token": ...}; send "Authorization: Bearer <token>" from now on
    GET /v2/<repo>/manifests/<tag|digest>      Accept: OCI index, OCI manifest,
                                               Docker manifest list, Docker schema2
      -> an index/list: pick linux/<this arch>, GET manifests/<digest> again
    GET /v2/<repo>/blobs/<config digest>       the image config
    GET /v2/<repo>/blobs/<layer digest>        each layer (often a 307 to a CDN)

Everything fetched is verified: a manifest fetched by digest must hash to it
(and to the Docker-Content-Digest header when the registry sends one), every
blob must hash to its descriptor's digest and have its size. Blobs stream
into the store's ingest area and are renamed in only when they check out.

Registry quirks met on the way (see tests/clients/scripts/registry.sh): without
an Accept header naming OCI types, docker-registry 2.8 answers 404 for an OCI
manifest, and down-converts Docker schema2 to schema1; so Accept always
lists all four types. A redirect to a CDN must not carry our Authorization
header (it is added "unredirected").

Plain HTTP (``insecure``) is used for a loopback registry by default and for
any registry when asked; everything else is HTTPS.
"""

from __future__ import annotations

import json
import sys

from ..errors import ImageError
from . import reference
from .manifest import (INDEX_TYPES, MANIFEST_TYPES, MAX_JSON, MT_DOCKER_LIST, MT_DOCKER_MANIFEST,
                       MT_OCI_INDEX, MT_OCI_MANIFEST, pick_platform)

ACCEPT = ", ".join([MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST])
USER_AGENT = "pycontainer/0.1"


def pull(store, ref: str, *, insecure: bool | None = None, progress=None, timeout: float = 30.0,
         platform: dict | None = None, auth: tuple[str, str] | None = None,
         authfile: str | None = None):
    """Pull ``ref`` into ``store``; returns the store's ``Image``.

    ``insecure``: None = plain HTTP only for loopback registries, True = plain
    HTTP, False = HTTPS. ``progress``: a ``Progress`` (``TerminalProgress`` on
    a terminal), or None. ``timeout``: seconds without progress on any one
    request before giving up. ``auth``: (user, password) for the registry or its token
    service; without it, the auth files of credentials.py (``authfile`` first) are read
    when the registry asks for a login.
    """
    r = reference.parse(ref)
    if insecure is None:
        insecure = _is_loopback(r.api_host)
    client = Client(r, insecure=insecure, timeout=timeout, auth=auth, authfile=authfile)
    progress = progress or Progress()
    with store.adding():
        client.ping()
        data, mt, digest = client.manifest(r.remote)
        if mt in INDEX_TYPES:
            idx = _json(data, f"index {digest}")
            chosen = pick_platform(idx, f"{r.short}", platform)
            data, mt, digest = client.manifest(chosen["digest"])
            if mt in INDEX_TYPES:
                raise ImageError(f"pull {r.short}: nested index {digest}; not supported")
        if mt not in MANIFEST_TYPES:
            raise ImageError(f"pull {r.short}: unsupported manifest type {mt!r} "
                             "(need OCI or Docker schema2)")
        m = _json(data, f"manifest {digest}")
        descs = [m.get("config") or {}] + list(m.get("layers") or [])
        for i, d in enumerate(descs):
            dg = d.get("digest", "")
            if not reference.is_digest(dg):
                raise ImageError(f"pull {r.short}: manifest has a non-sha256 digest {dg!r}")
            with store.blob_lock(dg):
                if store.has_blob(dg):
                    progress.done(dg, "Already exists")
                    continue
                client.blob(store, d, progress, layer=i > 0)
        progress.note(f"Extracting {len(m['layers'])} layer(s)")
        img = store.add_image(data, [r.name], media_type=mt, progress=progress)
        progress.note(f"Digest: {img.digest}")
        from ..events import record
        record("image", "pull", r.name, name=r.name)
        return img


class Client:
    """One repository on one registry: ping, manifests, blobs, bearer tokens."""

    def __init__(self, ref: reference.Reference, *, insecure: bool, timeout: float,
                 auth: tuple[str, str] | None = None, actions: str = "pull",
                 authfile: str | None = None):
        import urllib.request
        self.ref, self.timeout, self.auth = ref, timeout, auth
        self.authfile, self.looked_up = authfile, auth is not None
        self.base = f"{'http' if insecure else 'https'}://{ref.api_host}"
        self.token: str | None = None
        self.basic: str | None = None
        # what a bearer token is asked for: this repository (pull, or pull,push for a push),
        # plus the source repositories of cross-repository mounts (add_scope)
        self.scopes = {f"repository:{ref.repository}:{actions}"}
        self.opener = urllib.request.build_opener(_Redirect())

    def add_scope(self, scope: str) -> None:
        """Ask the next token for ``scope`` too (a new token only after the next 401)."""
        self.scopes.add(scope)

    # -- HTTP -------------------------------------------------------------------------

    def _open(self, path: str, accept: str | None = None, _retry: bool = True, *,
              method: str = "GET", data=None, headers: dict | None = None):
        import socket
        import urllib.error
        import urllib.request
        url = path if path.startswith("http") else self.base + path
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"User-Agent": USER_AGENT, **(headers or {})})
        if accept:
            req.add_header("Accept", accept)
        if self.token:
            req.add_unredirected_header("Authorization", f"Bearer {self.token}")
        elif self.basic:
            req.add_unredirected_header("Authorization", f"Basic {self.basic}")
        try:
            return self.opener.open(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and _retry:
                challenge = exc.headers.get("WWW-Authenticate", "")
                exc.close()
                self._authenticate(challenge)
                if hasattr(data, "seek"):
                    data.seek(0)
                return self._open(path, accept, False, method=method, data=data, headers=headers)
            raise
        except (socket.timeout, TimeoutError):
            raise ImageError(f"registry {self.ref.api_host}: no answer within {self.timeout:g}s "
                             f"for {url}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            hint = ""
            if "SSL" in str(reason) or "WRONG_VERSION" in str(reason):
                hint = " (a plain-HTTP registry? use --insecure)"
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise ImageError(f"registry {self.ref.api_host}: no answer within "
                                 f"{self.timeout:g}s for {url}") from None
            raise ImageError(f"cannot reach registry {self.ref.api_host}: {reason}{hint}") \
                from None

    def _authenticate(self, challenge: str) -> None:
        import base64
        scheme, fields = parse_challenge(challenge)
        if not self.looked_up:              # a login is wanted: the auth files (credentials.py)
            from . import credentials
            self.looked_up = True
            self.auth = credentials.lookup(self.ref.registry, self.ref.repository, self.authfile)
        if scheme.lower() == "basic":
            if not self.auth:
                raise ImageError(f"registry {self.ref.api_host} requires a login (basic auth)")
            self.basic = base64.b64encode(":".join(self.auth).encode()).decode()
            return
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise ImageError(f"registry {self.ref.api_host}: unsupported auth challenge "
                             f"{challenge!r}")
        self.token = bearer_token(self.opener, fields, sorted(self.scopes),
                                  self.auth, self.timeout, f"registry {self.ref.api_host}")

    def request(self, method: str, path: str, data=None, headers: dict | None = None):
        """(status, headers, body) for any HTTP answer (push's PUT/PATCH/POST/HEAD), with the
        same auth (basic or bearer, one retry after a 401), redirects and one-line transport
        errors as the pull's GETs; only transport errors raise."""
        import urllib.error
        try:
            with self._open(path, method=method, data=data, headers=headers) as r:
                return r.status, r.headers, r.read(1 << 20)
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers, exc.read(1 << 16)

    # -- API ----------------------------------------------------------------------------

    def ping(self) -> None:
        import urllib.error
        try:
            with self._open("/v2/") as resp:
                resp.read(4096)
        except urllib.error.HTTPError as exc:
            raise ImageError(f"registry {self.ref.api_host}: GET /v2/ -> HTTP {exc.code}; "
                             "not an OCI/Docker registry?") from None

    def manifest(self, ref: str) -> tuple[bytes, str, str]:
        """(body, media type, digest) of manifests/<ref>, verified."""
        import hashlib
        import urllib.error
        path = f"/v2/{self.ref.repository}/manifests/{ref}"
        try:
            with self._open(path, accept=ACCEPT) as resp:
                data = resp.read(MAX_JSON + 1)
                mt = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
                header = resp.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, "manifest", ref) from None
        if len(data) > MAX_JSON:
            raise ImageError(f"{self.ref.short}: manifest over {MAX_JSON} bytes; refused")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.is_digest(ref) and digest != ref:
            raise ImageError(f"{self.ref.short}: manifest digest mismatch: asked {ref}, got "
                             f"{digest}")
        if header and header.startswith("sha256:") and header != digest:
            raise ImageError(f"{self.ref.short}: manifest digest {digest} differs from the "
                             f"registry's Docker-Content-Digest {header}")
        if not mt or mt in ("application/json", "text/plain"):
            mt = _json(data, f"manifest {digest}").get("mediaType", "")
        if mt.startswith("application/vnd.docker.distribution.manifest.v1"):
            raise ImageError(f"{self.ref.short}: registry sent a Docker schema1 manifest; "
                             "not supported")
        return data, mt, digest

    def blob(self, store, desc: dict, progress, layer: bool = True) -> str:
        """Download blob ``desc`` into the store, verified by digest and size."""
        import socket
        import urllib.error
        digest, size = desc["digest"], desc.get("size")
        try:
            with self._open(f"/v2/{self.ref.repository}/blobs/{digest}") as resp, \
                    store.ingest(digest, size) as w:
                total = size or int(resp.headers.get("Content-Length") or 0)
                if layer:
                    progress.start(digest, total)
                while True:
                    try:
                        chunk = resp.read(1 << 18)
                    except (socket.timeout, TimeoutError):
                        raise ImageError(f"{self.ref.short}: blob {digest[:19]}: no data for "
                                         f"{self.timeout:g}s; giving up") from None
                    if not chunk:
                        break
                    w.write(chunk)
                    if layer:
                        progress.update(digest, w.count)
                w.commit()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc, "blob", digest) from None
        if layer:
            progress.done(digest, "Pull complete")
        return digest

    def _http_error(self, exc, what: str, ref: str) -> ImageError:
        code = ""
        try:
            body = json.loads(exc.read(65536) or b"{}")
            err = (body.get("errors") or [{}])[0]
            code, msg = err.get("code", ""), err.get("message", "")
        except (ValueError, AttributeError, OSError):
            msg = ""
        finally:
            exc.close()
        name = self.ref.short.split("@")[0].rsplit(":", 1)[0] if "@" not in self.ref.short \
            else self.ref.short.split("@")[0]
        if code == "NAME_UNKNOWN":
            return ImageError(f"repository {name!r} not found on {self.ref.api_host}")
        if code in ("MANIFEST_UNKNOWN", "TAG_INVALID") or (exc.code == 404 and what == "manifest"):
            return ImageError(f"{what} {ref!r} not found in repository {name!r} on "
                              f"{self.ref.api_host}")
        if code == "BLOB_UNKNOWN" or exc.code == 404:
            return ImageError(f"{name}: {what} {ref} not found on {self.ref.api_host}")
        if exc.code in (401, 403):
            return ImageError(f"{name}: access denied by {self.ref.api_host} (repository "
                              "missing or private? log in or check the name)")
        return ImageError(f"{name}: GET {what} {ref} -> HTTP {exc.code} {code} {msg}".strip())


def parse_challenge(challenge: str) -> tuple[str, dict]:
    """A ``WWW-Authenticate`` header -> (scheme, {param: value}) (RFC 7235)."""
    import re
    scheme, _, params = challenge.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', params))


def login(host: str, user: str, password: str, *, insecure: bool | None = None,
          timeout: float = 30.0) -> None:
    """Check (user, password) against ``host`` as ``docker login`` does: GET /v2/, answer
    its challenge (Basic, or a Bearer token asked for with them), GET /v2/ again."""
    r = reference.parse(f"{host}/login")
    if insecure is None:
        insecure = _is_loopback(r.api_host)
    client = Client(r, insecure=insecure, timeout=timeout, auth=(user, password))
    client.scopes = set()                 # a token for the registry itself, no repository
    status, _, _ = client.request("GET", "/v2/")
    if status == 401:
        raise ImageError(f"login {host}: invalid username or password (HTTP 401)")
    if status != 200:
        raise ImageError(f"login {host}: GET /v2/ -> HTTP {status}; not an OCI/Docker registry?")


def bearer_token(opener, fields: dict, scopes: list[str], auth, timeout: float, who: str) -> str:
    """A token for ``scopes`` from the challenge's ``realm`` (Docker token spec ``token.md``).

    ``fields``: the Bearer challenge's params; ``auth``: (user, password) sent as
    Basic to the token service, or None; ``who`` starts each error message.
    """
    import base64
    import urllib.parse
    import urllib.request
    q = [("scope", s) for s in scopes]
    if fields.get("service"):
        q.append(("service", fields["service"]))
    url = fields["realm"] + ("&" if "?" in fields["realm"] else "?") + urllib.parse.urlencode(q)
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if auth:
        cred = base64.b64encode(":".join(auth).encode()).decode()
        req.add_unredirected_header("Authorization", f"Basic {cred}")
    try:
        with opener.open(req, timeout=timeout) as resp:
            body = json.loads(resp.read(1 << 20))
    except Exception as exc:  # noqa: BLE001 - any failure: one line
        raise ImageError(f"{who}: token request to {fields['realm']} failed: {exc}") from None
    token = body.get("token") or body.get("access_token")
    if not token:
        raise ImageError(f"{who}: token service {fields['realm']} gave no token")
    return token


def _redirect_class():
    import urllib.request

    class Redirect(urllib.request.HTTPRedirectHandler):
        """Follow 307/308 too; unredirected headers (Authorization) stay behind."""
        http_error_308 = urllib.request.HTTPRedirectHandler.http_error_302

        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if code == 308:
                code = 307
            return super().redirect_request(req, fp, code, msg, headers, newurl)
    return Redirect


def _Redirect():
    return _redirect_class()()


def _is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return h in ("localhost", "[::1]") or h.startswith("127.")


def _json(data: bytes, what: str) -> dict:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ImageError(f"{what} is not a JSON object")
    return obj


# --- progress --------------------------------------------------------------------------

class Progress:
    """Silent progress sink; subclass or use TerminalProgress."""

    def start(self, digest: str, total: int) -> None: ...
    def update(self, digest: str, done: int) -> None: ...
    def done(self, digest: str, msg: str) -> None: ...
    def note(self, msg: str) -> None: ...


class TerminalProgress(Progress):
    """One line per layer on a terminal (stderr): ``ab12cd34ef56: [#####     ] 1.2/3.4 MB``."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = 0.0

    def _line(self, digest: str, text: str, final: bool) -> None:
        if self.tty:
            self.stream.write(f"\r\x1b[K{digest[7:19]}: {text}" + ("\n" if final else ""))
        elif final:
            self.stream.write(f"{digest[7:19]}: {text}\n")
        self.stream.flush()

    def start(self, digest: str, total: int) -> None:
        self.total = total
        self._line(digest, "Downloading", False)

    def update(self, digest: str, done: int) -> None:
        import time
        now = time.monotonic()
        if not self.tty or now - self._last < 0.1:
            return
        self._last = now
        total = self.total or 0
        frac = done / total if total else 0
        bar = "#" * int(frac * 30)
        self._line(digest, f"[{bar:<30}] {done / 1e6:.1f}/{total / 1e6:.1f} MB", False)

    def done(self, digest: str, msg: str) -> None:
        self._line(digest, msg, True)

    def note(self, msg: str) -> None:
        self.stream.write(msg + "\n")
        self.stream.flush()
