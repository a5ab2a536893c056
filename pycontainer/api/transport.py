"""In-process transports for ``Client``: what the helper does, without a process (httpx's MockTransport).

A transport carries the requests that fork (``run``, ``create``, ``exec``)::

    request(req: dict, *, capture=False, separate=True, stdin=None) -> (reply, stdout, stderr)
    close()

``HelperTransport`` (api/helper.py) sends them to the helper process.
``MockTransport(handler)`` calls ``handler(req, stdin)`` in the caller's
process; the handler returns the reply dict, or ``(reply, stdout, stderr)``,
or raises: the exception travels as the helper's would (``{"error": errors.encode(exc)}``),
so the client's error path is the real one::

    def handler(req, stdin):
        assert req["op"] == "run"
        return {"exit_code": 0, "oom_killed": False, "timed_out": False}, b"hi\\n", b""

    client = pycontainer.Client(root=tmp, transport=MockTransport(handler))
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\\n"
"""

from __future__ import annotations

import json

from ..errors import encode


class MockTransport:
    """Requests answered by ``handler(req, stdin)`` in this process; ``requests`` records them."""

    def __init__(self, handler):
        self.handler = handler
        self.requests: list[dict] = []
        self.closed = False

    def request(self, req: dict, *, capture: bool = False, separate: bool = True,
                stdin: bytes | None = None, timeout: float | None = None) -> tuple[dict, bytes, bytes]:
        req = json.loads(json.dumps(req))             # what goes over the wire: JSON only
        self.requests.append(req)
        try:
            res = self.handler(req, stdin)
        except Exception as exc:  # noqa: BLE001 -- as the helper's worker: any failure is a reply
            return {"error": encode(exc)}, b"", b""
        reply, out, err = res if isinstance(res, tuple) else (res, b"", b"")
        if not capture:
            return reply, b"", b""
        return reply, (out + err if not separate else out), (err if separate else b"")

    def open(self, req: dict, *, separate: bool = True, stdin: bytes | None = None, deadline=None):
        """As HelperTransport.open: a generator of (stream, bytes) that returns the reply."""
        reply, out, err = self.request(req, capture=True, separate=separate, stdin=stdin)
        if out:
            yield 1, out
        if err:
            yield 2, err
        return reply

    def call(self, req: dict, stdio=(None, None, None)):
        raise NotImplementedError("MockTransport has no sockets (exec_run(socket=True))")

    def close(self) -> None:
        self.closed = True
