"""The delete plan (cleanup.py): the OCI layer runs what the creator registered, nothing else."""

import pytest

from pycontainer import cleanup, containerdir
from pycontainer.errors import PyContainerError

CALLS = []


def record_call(record):
    CALLS.append(record["id"])


def test_plan_runs_registered_pycontainer_functions_with_the_record():
    CALLS.clear()
    plan = [cleanup.step(record_call)]
    assert plan == [{"call": f"{__name__}:record_call"}]
    # only pycontainer's own functions may be named
    with pytest.raises(PyContainerError):
        cleanup.check(plan)
    warned = []
    cleanup.run([{"call": "os:system"}, {"call": "pycontainer.no_such_module:f"}],
                {"id": "c1"}, warned.append)
    assert len(warned) == 2 and CALLS == []
    assert cleanup.check(containerdir.delete_plan()) == containerdir.delete_plan()
    assert containerdir.delete_plan() == [cleanup.step(containerdir.remove_after_delete)]


def test_remove_after_delete_leaves_a_dir_it_did_not_make(tmp_path):
    d = tmp_path / "c1"
    d.mkdir()
    warned = []
    cleanup.run(containerdir.delete_plan(),
                {"id": "c1", "annotations": {containerdir.ANN_DIR: str(d)}}, warned.append)
    assert d.is_dir() and warned == []


def test_the_oci_layer_imports_no_docker_layer_module():
    import ast
    import pathlib
    src = pathlib.Path(containerdir.__file__).with_name("container.py").read_text()
    names = {getattr(n, "module", None) or "" for n in ast.walk(ast.parse(src))
             if isinstance(n, ast.ImportFrom)}
    names |= {a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)
              for a in n.names}
    assert not names & {"image", "detach", "containerdir", "porcelain", "api", "monitor"}, names
    assert not any(n.startswith(("image", "api")) for n in names)
