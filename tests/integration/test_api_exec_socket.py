"""``exec_run(socket=True)`` as docker-py 7's (issue 14): a socket that carries docker's
multiplexed stream without a tty (8-byte header: stream 1/2, three zero bytes, big-endian
uint32 length, then the payload), raw bytes with one; ``stdin=True`` lets the caller write
the program's stdin and ``shutdown(SHUT_WR)`` end it. Read with a reader of our own and,
when a docker SDK is installed (/tmp/pyc-dockersdk), with docker-py's own helpers."""

import json
import os
import socket
import struct
import subprocess
import textwrap
import time

import pytest

from test_api_sandbox import client  # noqa: F401  -- the fixture: nothing left behind

pytestmark = pytest.mark.root

DOCKER_SDK_PYTHON = os.environ.get("PYC_DOCKER_SDK_PYTHON", "/tmp/pyc-dockersdk/bin/python")


def read_all(sock, timeout: float = 20) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def frames(raw: bytes) -> list[tuple[int, bytes]]:
    """Our own reader of docker's multiplexed stream; asserts the header's shape."""
    out, i = [], 0
    while i < len(raw):
        assert len(raw) - i >= 8, raw[i:]
        stream, zeros, n = raw[i], raw[i + 1:i + 4], struct.unpack(">I", raw[i + 4:i + 8])[0]
        assert stream in (1, 2) and zeros == b"\0\0\0", raw[i:i + 8]
        assert len(raw) - i - 8 >= n
        out.append((stream, raw[i + 8:i + 8 + n]))
        i += 8 + n
    return out


def joined(fr, stream: int) -> bytes:
    return b"".join(d for s, d in fr if s == stream)


@pytest.fixture
def ctr(client):  # noqa: F811
    c = client.containers.run("busybox", ["sleep", "120"], detach=True, network_mode="none")
    yield c
    c.remove(force=True)


def test_socket_without_tty_is_docker_multiplexed_and_takes_stdin(ctr):
    sock = ctr.exec_run(["sh", "-c", "echo out; echo err >&2; cat; echo done >&2"],
                        socket=True, stdin=True).output
    assert sock._sock is sock and hasattr(sock, "read") and hasattr(sock, "recv")
    sock.sendall(b"from the caller\n")
    sock.shutdown(socket.SHUT_WR)              # the program's stdin ends: cat returns
    fr = frames(read_all(sock))
    sock.close()
    assert joined(fr, 1) == b"out\nfrom the caller\n"
    assert joined(fr, 2) == b"err\ndone\n"
    ctr.reload()
    assert ctr.status == "running"


def test_socket_streams_not_attached_are_left_out(ctr):
    sock = ctr.exec_run(["sh", "-c", "echo out; echo err >&2; cat"], socket=True, stderr=False).output
    fr = frames(read_all(sock))                # no stdin: cat reads end of file at once
    sock.close()
    assert fr == [(1, b"out\n")]


def test_socket_with_tty_is_raw(ctr):
    sock = ctr.exec_run(["sh", "-c", "echo hi; echo err >&2"], socket=True, tty=True).output
    raw = read_all(sock)
    sock.close()
    assert raw == b"hi\r\nerr\r\n"


def test_socket_large_output_arrives_whole_in_order(ctr):
    sock = ctr.exec_run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo; echo end >&2"],
                        socket=True).output
    time.sleep(0.5)                            # a slow reader: the program waits, nothing is lost
    fr = frames(read_all(sock))
    sock.close()
    assert joined(fr, 1) == b"x" * 3000000 + b"\n"
    assert joined(fr, 2) == b"end\n"


def test_socket_timeout_kills_the_exec_not_the_container(ctr):
    t0 = time.monotonic()
    sock = ctr.exec_run(["sh", "-c", "echo started; sleep 100"], socket=True, timeout=1).output
    fr = frames(read_all(sock))
    sock.close()
    assert fr == [(1, b"started\n")]
    assert time.monotonic() - t0 < 10
    ctr.reload()
    assert ctr.status == "running"
    assert b"sleep 100" not in ctr.exec_run(["ps", "-o", "args"]).output


@pytest.mark.skipif(not os.path.exists(DOCKER_SDK_PYTHON), reason="no docker SDK venv")
def test_docker_py_reads_our_frames(ctr):
    probe = subprocess.run([DOCKER_SDK_PYTHON, "-c", "import docker.utils.socket"], capture_output=True)
    if probe.returncode:
        pytest.skip("the docker package is not installed there")
    sock = ctr.exec_run(["sh", "-c", "echo out; echo err >&2; cat; printf end"], socket=True,
                        stdin=True).output
    sock.sendall(b"typed\n")
    sock.shutdown(socket.SHUT_WR)
    reader = textwrap.dedent("""
        import json, socket, sys
        from docker.utils.socket import frames_iter, demux_adaptor, consume_socket_output
        s = socket.socket(fileno=int(sys.argv[1]))
        got = [demux_adaptor(*f) for f in frames_iter(s, False)]
        out, err = consume_socket_output(iter(got), demux=True)
        print(json.dumps([out.decode(), err.decode()]))
    """)
    r = subprocess.run([DOCKER_SDK_PYTHON, "-I", "-c", reader, str(sock.fileno())],
                       pass_fds=(sock.fileno(),), capture_output=True, timeout=30)
    sock.close()
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["out\ntyped\nend", "err\n"]


def test_closing_the_socket_ends_the_exec(ctr):
    sock = ctr.exec_run(["yes", "flood"], socket=True).output
    sock.settimeout(20)
    assert sock.recv(8)[:1] == b"\1"           # flowing
    sock.close()                               # the caller is gone: its exec goes too
    deadline = time.monotonic() + 15
    while b"yes" in ctr.exec_run(["ps", "-o", "args"]).output and time.monotonic() < deadline:
        time.sleep(0.2)
    assert b"yes" not in ctr.exec_run(["ps", "-o", "args"]).output
    ctr.reload()
    assert ctr.status == "running"
