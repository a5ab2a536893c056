"""The API's Client with an in-process transport (no helper, no root): requests and replies."""

import pytest

import pycontainer
from pycontainer.api import MockTransport


def _client(tmp_path, handler):
    t = MockTransport(handler)
    return pycontainer.Client(root=str(tmp_path / "state"), transport=t), t


def test_run_sends_sdk_options_as_porcelain_options_and_returns_output(tmp_path):
    def handler(req, stdin):
        return {"exit_code": 0, "oom_killed": False, "timed_out": False}, b"out\n", b"err\n"
    client, t = _client(tmp_path, handler)
    assert client.containers.run("busybox", "echo 'a b'", remove=True, mem_limit="64m",
                                 network_mode="none", environment={"K": "v"}) == b"out\n"
    assert client.containers.run("busybox", ["true"], remove=True, stderr=True) == b"out\nerr\n"
    req = t.requests[0]
    assert req["op"] == "run" and req["remove"] is True and req["root"] == client.root
    o = req["options"]
    assert o["image"] == "busybox" and o["command"] == ["echo", "a b"]
    assert o["memory"] == "64m" and o["network"] == "none" and o["env"] == ["K=v"]
    client.close()
    assert t.closed


def test_nonzero_exit_raises_container_error_with_stderr(tmp_path):
    client, _ = _client(tmp_path, lambda req, stdin: (
        {"exit_code": 3, "oom_killed": False, "timed_out": False}, b"", b"bad\n"))
    with pytest.raises(pycontainer.ContainerError) as ei:
        client.containers.run("busybox", ["false"], remove=True)
    assert ei.value.exit_status == 3 and ei.value.stderr == b"bad\n"


def test_sandbox_passes_stdin_and_reports_limits(tmp_path):
    def handler(req, stdin):
        assert req["timeout"] == 2.5
        return {"exit_code": 137, "oom_killed": True, "timed_out": False}, stdin.upper(), b""
    client, _ = _client(tmp_path, handler)
    r = client.containers.sandbox("busybox", "cat", timeout=2.5, input=b"abc")
    assert (r.exit_code, r.stdout, r.oom_killed, r.timed_out) == (137, b"ABC", True, False)


def test_errors_in_the_handler_come_back_as_the_api_exceptions(tmp_path):
    from pycontainer.errors import ContainerNotFound, SpecError

    def handler(req, stdin):
        if req["options"]["image"] == "nosuch":
            from pycontainer.image.store import ImageNotFound
            raise ImageNotFound("image 'nosuch' is not in the store")
        raise SpecError("-v x: use HOST:CONTAINER[:ro|rw]")
    client, _ = _client(tmp_path, handler)
    with pytest.raises(pycontainer.ImageNotFound, match="nosuch"):
        client.containers.run("nosuch", remove=True)
    with pytest.raises(pycontainer.APIError, match="HOST:CONTAINER"):
        client.containers.run("busybox", remove=True)
    c = pycontainer.Container(client, "box", attrs={"Config": {"Image": "busybox"}})
    client.transport.handler = lambda req, stdin: (_ for _ in ()).throw(ContainerNotFound("no box"))
    with pytest.raises(pycontainer.NotFound):
        c.exec_run("true")


def test_exec_run_demux_and_detach(tmp_path):
    def handler(req, stdin):
        assert req["op"] == "exec" and req["id"] == "box" and req["args"] == ["sh", "-c", "x y"]
        return {"exit_code": 0}, b"o", b"e"
    client, t = _client(tmp_path, handler)
    c = pycontainer.Container(client, "box", attrs={})
    assert c.exec_run("sh -c 'x y'", demux=True) == (0, (b"o", b"e"))
    assert c.exec_run(["sh", "-c", "x y"]) == (0, b"oe")
    assert c.exec_run(["sh", "-c", "x y"], detach=True) == (None, None)
    assert t.requests[-1]["detach"] is True


def test_unsupported_sdk_option_is_refused_before_any_request(tmp_path):
    client, t = _client(tmp_path, lambda req, stdin: {})
    with pytest.raises(pycontainer.APIError, match="unsupported option"):
        client.containers.run("busybox", remove=True, bogus=1)
    assert t.requests == []


def test_one_error_codec_round_trips_class_text_stage_errno():
    """errors.encode/decode is the one encoding between processes (sync socket, run -d, helper)."""
    import errno
    from pycontainer import errors
    for exc in (errors.MountError("mount proc on '/proc'", stage="rootfs", errno=errno.EPERM),
                errors.ImageNotFound("image 'x' not found"), errors.ContainerNotFound("no box"),
                errors.SpecError("bad")):
        back = errors.decode(errors.encode(exc))
        assert (type(back), str(back), back.errno) == (type(exc), str(exc), exc.errno)
        assert getattr(back, "stage", "") == getattr(exc, "stage", "")
    back = errors.decode(errors.encode(FileNotFoundError(errno.ENOENT, "No such file", "/x")))
    assert type(back) is errors.PyContainerError and str(back) == "No such file: /x"
    assert back.errno == errno.ENOENT
    assert type(errors.decode(errors.encode(KeyError("k")), errors.ContainerSetupError)) \
        is errors.ContainerSetupError
    # the API's names are these classes: one hierarchy, no translation
    assert pycontainer.APIError is errors.PyContainerError
    assert issubclass(errors.ImageNotFound, pycontainer.NotFound) and pycontainer.ImageNotFound is errors.ImageNotFound
    from pycontainer.image.store import ImageNotFound
    assert ImageNotFound is errors.ImageNotFound


def test_exec_result_is_docker_pys_pair():
    # docker-py: ExecResult = namedtuple('ExecResult', 'exit_code,output')
    from pycontainer.api.results import ExecResult
    r = ExecResult(3, b"out")
    code, out = r
    assert (code, out, r.exit_code, r.output, r.timed_out) == (3, b"out", 3, b"out", False)
    assert repr(r) == "ExecResult(exit_code=3, output=b'out')"


def test_every_docker_py_7_run_keyword_is_taken_or_refused_in_words():
    """docker-py 7's RUN_CREATE_KWARGS and RUN_HOST_CONFIG_KWARGS (its models/containers.py):
    each is mapped, accepted as what is already so (isolation='default', runtime='runc',
    volume_driver='local', use_config_proxy, version) or refused naming why; none is the
    bare 'unsupported option(s)' it was for 12 of them."""
    from pycontainer.api.config import options_from_kwargs
    from pycontainer.errors import PyContainerError
    o = options_from_kwargs("busybox", ["true"], blkio_weight_device=[{"Path": "/dev/vda", "Weight": 100}],
                            isolation="default", runtime="runc", volume_driver="local",
                            use_config_proxy=True, version="1.41", kernel_memory="64m")
    assert o["blkio_weight_device"] == ["/dev/vda:100"] and o["kernel_memory"] is True
    for kw, words in (({"cpu_count": 1}, "Windows"), ({"cpu_rt_runtime": 100}, "real-time"),
                      ({"lxc_conf": {"a": "b"}}, "LXC"), ({"runtime": "nvidia"}, "only 'runc'"),
                      ({"isolation": "hyperv"}, "only 'default'")):
        with pytest.raises(PyContainerError, match=words):
            options_from_kwargs("busybox", ["true"], **kw)
