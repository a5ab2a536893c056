"""The Containerfile language and .dockerignore rules, without building anything."""

import pytest

from pycontainer.build import BuildError
from pycontainer.build import containerfile as cf
from pycontainer.build import ignore
from pycontainer.build.plan import plan_stages


def test_directives_continuations_comments_and_json_form():
    ins = cf.parse("# escape=`\n# syntax=x\nFROM a AS b\nRUN echo 1 `\n# c\n\n  2\n"
                   "CMD [\"x\", \"y\"]\nCMD not [json\n", "F")
    assert [i.keyword for i in ins] == ["FROM", "RUN", "CMD", "CMD"]
    assert ins[1].args == "echo 1   2" and ins[1].line == 4 and ins[1].escape == "`"
    assert ins[2].json_form == ["x", "y"] and ins[3].json_form is None


def test_heredocs_and_flags():
    ins = cf.parse("FROM a\nRUN --network=none <<EOF\nline $X\nEOF\nCOPY <<-'E' /f\n\tt\n\tE\n")
    assert ins[1].flags == {"network": "none"} and ins[1].heredocs == [("EOF", "line $X\n", True)]
    assert ins[2].heredocs == [("E", "t\n", False)]


@pytest.mark.parametrize("text,msg", [
    ("FROM a\nNOPE x\n", "F:2: unknown instruction: NOPE"),
    ("FROM a\nRUN <<EOF\nx\n", "F:2: heredoc <<EOF is not terminated"),
    ("FROM a\nSHELL sh -c\n", "F:2: SHELL requires the arguments to be a JSON array"),
    ("# escape=x\nFROM a\n", "F:1: invalid escape token"),
])
def test_parse_errors_name_file_and_line(text, msg):
    with pytest.raises(BuildError) as e:
        cf.parse(text, "F")
    assert msg in str(e.value)


def test_substitution_as_docker_does_it():
    env = {"A": "1", "E": ""}
    assert cf.word("$A-${A}-${B:-d}-${E:-d}-${E-d}-${A:+alt}-${B:+alt}", env) == "1-1-d-d--alt-"
    assert cf.words("a \"b $A\" 'c $A' d\\ e", env) == ["a", "b 1", "c $A", "d e"]
    with pytest.raises(BuildError):
        cf.word("${B:?needed}", env)


def test_env_label_forms():
    i = cf.parse('FROM a\nENV a=1 b="x y" c=$a\n')[1]
    assert cf.key_values(i, {"a": "0"}) == [("a", "1"), ("b", "x y"), ("c", "0")]
    i = cf.parse("FROM a\nENV k the rest\n")[1]
    assert cf.key_values(i, {}) == [("k", "the rest")]


def test_stages_target_and_missing_from():
    ins = cf.parse("ARG V=1\nFROM a:$V AS one\nRUN x\nFROM b AS two\nFROM one\n"
                   "COPY --from=two /x /y\n", "F")
    stages, g = plan_stages(ins, None, {})
    assert g == {"V": "1"} and stages[0].base == "a:1" and stages[2].base_stage == 0
    assert [s.needed for s in stages] == [True, True, True]
    stages, _ = plan_stages(ins, "one", {})
    assert [s.needed for s in stages] == [True]
    with pytest.raises(BuildError, match="no stage of that name"):
        plan_stages(ins, "zzz", {})
    with pytest.raises(BuildError, match="F:1: RUN before FROM"):
        plan_stages(cf.parse("RUN x\n", "F"), None, {})


def test_dockerignore_rules():
    m = ignore.parse("# c\n*.log\n!keep.log\nbuild/\n**/tmp\n/abs\n")
    assert m.excluded("a.log") and not m.excluded("keep.log")
    assert m.excluded("build/x/y") and m.excluded("a/b/tmp/c") and m.excluded("abs")
    assert not m.excluded("src/a.log")          # * stays within one component
    with pytest.raises(BuildError, match=r"\.dockerignore:2: syntax error"):
        ignore.parse("ok\n[x\n")


def test_run_mount_flags_repeat_and_parse():
    from pycontainer.build import runmounts
    ins = cf.parse("FROM busybox\nRUN --mount=type=cache,target=/c --mount=source=r.txt,target=r.txt,rw true\n")[1]
    assert ins.flags["mount"] == ["type=cache,target=/c", "source=r.txt,target=r.txt,rw"]
    assert ins.text() == "RUN --mount=type=cache,target=/c --mount=source=r.txt,target=r.txt,rw true"
    got = runmounts.parse(ins.flags["mount"], "/app", ins.error)
    assert got[0]["type"] == "cache" and got[0]["target"] == "/c" and got[0]["readonly"] is None
    assert got[1] == {"type": "bind", "source": "r.txt", "target": "/app/r.txt", "readonly": False}
    assert runmounts.docker_mount(got[1], "/tmp/x") == "type=bind,source=/tmp/x,target=/app/r.txt"
    assert runmounts.docker_mount({"type": "bind", "readonly": None, "target": "/r"}, "/s").endswith(",readonly")
    sec = runmounts.parse(["type=secret,id=k", "type=secret,target=/etc/x.conf,uid=5,mode=0440"],
                          "/", ins.error)
    assert (sec[0]["target"], sec[0]["mode"], sec[0]["required"]) == ("/run/secrets/k", 0o400, False)
    assert (sec[1]["id"], sec[1]["uid"], sec[1]["mode"]) == ("x.conf", 5, 0o440)
    for bad in ("type=cache,target=/c,mode=rwx", "type=cache,target=/", "type=secret",
                "type=bind,target=/a,unknown=1", "type=ssh", "type=cache,target=/c,sharing=maybe",
                "type=tmpfs,source=x,target=/t"):
        with pytest.raises(Exception) as ei:
            runmounts.parse([bad], "/", ins.error)
        assert "Containerfile:2" in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(Exception, match="same target"):
        runmounts.parse(["type=tmpfs,target=/t", "type=cache,target=/t"], "/", ins.error)
