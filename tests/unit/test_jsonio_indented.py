"""jsonio.dumps_indented is json.dumps(obj, indent=2), byte for byte (runc's state output)."""

import json

import pytest

from pycontainer import jsonio

SAMPLES = [
    {}, [], {"a": {}}, {"a": []}, [[], {}], 1, "x", None, True, 1.5,
    {"ociVersion": "1.0.2", "id": "c1", "pid": 123, "status": "running", "bundle": "/b",
     "rootfs": "/b/rootfs", "created": "2026-11-29T21:00:00.000000000Z", "owner": "",
     "annotations": {"org.example/k": "v\u00e9\n\"q\"", "n": "\U0001f600"}},
    {"nested": [1, [2, [3, {"x": [None, False, -0.0, 1e300]}]]], "t": (1, 2)},
]


@pytest.mark.parametrize("obj", SAMPLES)
@pytest.mark.parametrize("indent", [2, 4])
def test_same_as_json(obj, indent):
    assert jsonio.dumps_indented(obj, indent) == json.dumps(obj, indent=indent)


def test_what_json_converts_or_refuses_goes_to_json():
    assert jsonio.dumps_indented({1: "a", True: "b"}) == json.dumps({1: "a", True: "b"}, indent=2)
    assert jsonio.dumps_indented({"f": float("nan")}) == json.dumps({"f": float("nan")}, indent=2)
    with pytest.raises(TypeError):
        jsonio.dumps_indented({"o": object()})
