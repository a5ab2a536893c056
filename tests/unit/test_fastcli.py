"""The click-free command lines agree with click's (pycontainer/_fastcli.py, runform.parse_fast).

For every command line the fast parser accepts, click (the command the same
line reaches through ``cli.main_group``) must read the same parameters; for
anything else it must step aside (None), so click gives its own messages.
"""


import pytest

from pycontainer import _fastcli, cli, porcelain, runform

RUN = porcelain.run_cmd


def _click_params(args):
    ctx = RUN.make_context("run", list(args))
    p = dict(ctx.params)
    image, command = p.pop("image"), list(p.pop("command"))
    given = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()
             if v not in (None, (), False) or k in ("pull", "image_root")}
    return given, image, command


def _option(name):
    for p in RUN.params:
        if name in p.opts or name in p.secondary_opts:
            return p
    raise AssertionError(f"{name} is not an option of porcelain.run_cmd")


# --- the tables name click's options, with click's kinds -----------------------------------------

def test_docker_run_tables_match_click():
    import click
    for name in runform.FAST_FLAGS:
        assert _option(name).is_flag, name
    for name in runform.FAST_VALUES | runform.FAST_INT | set(runform.FAST_CHOICE):
        p = _option(name)
        assert not p.is_flag and not p.multiple, name
    for name in runform.FAST_MULTI:
        assert _option(name).multiple and _option(name).type is click.STRING, name
    for name in runform.FAST_VALUES:
        assert _option(name).type is click.STRING, name
    for name in runform.FAST_INT:
        assert _option(name).type is click.INT, name
    for name, choices in runform.FAST_CHOICE.items():
        assert tuple(_option(name).type.choices) == choices and _option(name).default == "missing"
    for alias, name in runform.FAST_ALIAS.items():
        assert _option(alias) is _option(name), alias
    every = (runform.FAST_FLAGS | runform.FAST_VALUES | runform.FAST_MULTI | runform.FAST_INT |
             set(runform.FAST_CHOICE))
    for name in every:                         # the parameter each fills
        dest = runform.FAST_DEST.get(name, name[2:].replace("-", "_"))
        assert _option(name).name == dest, name
    assert "-h" not in runform.FAST_ALIAS      # docker's --hostname, or help: click decides
    assert _option("--image-root").envvar == runform.IMAGE_ROOT_ENV
    bundle = {o for p in cli.run_bundle.params for o in p.opts + p.secondary_opts}
    image = {o for p in RUN.params for o in p.opts + p.secondary_opts}
    assert runform.BOTH_FORMS == bundle & image


# --- the same parameters as click ----------------------------------------------------------------

AGREE = [
    ["--rm", "--net", "none", "busybox", "true"],
    ["--rm", "--net=none", "busybox", "sh", "-c", "exit 3"],
    ["--rm", "--network", "none", "busybox"],
    ["-d", "--name", "web", "busybox", "sleep", "9"],
    ["-it", "--rm", "busybox", "sh"],
    ["-dit", "busybox"],
    ["-e", "A=1", "-eB=2", "-e=C", "--env", "D=4", "--env=E=5", "busybox", "env"],
    ["-ite", "X=1", "busybox"],
    ["-iteX=1", "busybox"],
    ["-v", "/tmp:/t:ro", "--volume=/a:/b", "-p", "8080:80", "-l", "k=v", "busybox"],
    ["--rm", "-w", "/tmp", "-u", "1000:1000", "--entrypoint", "", "busybox", "ls", "--help"],
    ["-m", "64m", "--memory-swap", "-1", "--cpus", "0.5", "-c", "512", "--pids-limit", "10", "busybox"],
    ["--stop-timeout", "5", "--stop-signal", "SIGINT", "--health-retries=-1", "busybox"],
    ["--pull", "never", "busybox"],
    ["--pull=always", "--image-root", "/x", "busybox"],
    ["--name", "-x", "busybox"],                 # a value that looks like an option: click takes it
    ["--name=", "busybox"],
    ["--", "busybox", "true"],
    ["--rm", "--", "busybox", "--", "x"],
    ["--rm", "busybox", "--rm", "-d"],         # after IMAGE: the command's
    ["busybox", "true"],
    ["busybox"],                               # no config.json here: the image (rule 4)
    ["docker.io/library/busybox:latest"],
    ["-d", "busybox", "true"],                 # -d is both forms': rule 3/4 decide
    ["--rm", "--rm", "--name", "a", "--name", "b", "busybox"],   # the last one wins
    ["--read-only", "--privileged", "--init", "-P", "--no-healthcheck", "busybox"],
    ["--tmpfs", "/run", "--ulimit", "nofile=1:2", "--add-host", "h:1.2.3.4", "--dns", "1.1.1.1",
     "--dns-search", "x", "--log-opt", "max-size=1m", "--mount", "type=tmpfs,target=/x",
     "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--security-opt", "seccomp=unconfined",
     "--group-add", "10", "--device", "/dev/null", "--env-file", "/f", "--restart", "no",
     "--cidfile", "/c", "--platform", "linux/amd64", "--shm-size", "1m", "--userns", "host",
     "--hostname", "h", "--ip", "10.0.0.2", "--network-alias", "n", "--gpus", "all",
     "--health-cmd", "true", "--health-interval", "1s", "--health-timeout", "1s",
     "--health-start-period", "1s", "--blkio-weight", "10", "--device-cgroup-rule", "c 1:3 rwm",
     "busybox"],
    ["-"],                                     # "-" is an argument (click: the IMAGE)
]


@pytest.mark.parametrize("args", AGREE, ids=" ".join)
def test_parse_fast_agrees_with_click(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(runform.IMAGE_ROOT_ENV, raising=False)
    fast = runform.parse_fast(args)
    assert fast is not None, args
    params, image, command = fast
    assert (params, image, command) == _click_params(args)
    assert runform.choose(list(args), cli.run_bundle, RUN)[0] == "image"


def test_image_root_from_the_environment_as_click(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for value in ("/images", ""):
        monkeypatch.setenv(runform.IMAGE_ROOT_ENV, value)
        assert runform.parse_fast(["busybox"]) == _click_params(["busybox"])


# --- anything else: click's --------------------------------------------------------------------

FALLBACK = [
    [],                                        # click: missing IMAGE
    ["--rm"],
    ["--help"],
    ["-h"],
    ["-h", "box", "busybox"],                  # docker's hostname; click's rule
    ["--rm=1", "busybox"],                     # a flag with a value: click's error
    ["--bogus", "busybox"],
    ["-x", "busybox"],
    ["-iz", "busybox"],
    ["--name"],                                # no value
    ["-e"],
    ["--stop-timeout", "x", "busybox"],        # click's message for a bad number
    ["--stop-timeout", "1_0", "busybox"],
    ["--pull", "sometimes", "busybox"],
    ["-b", ".", "c1"],                         # runc's form
    ["--pid-file", "p", "busybox"],
    ["--bundle=.", "c1"],
    ["--keep", "c1"],
    ["--cdi-spec-dir", "d", "busybox"],
]


@pytest.mark.parametrize("args", FALLBACK, ids=lambda a: " ".join(a) or "(none)")
def test_parse_fast_leaves_the_rest_to_click(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runform.parse_fast(args) is None


def test_bundle_in_the_current_directory_goes_to_click(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runform.parse_fast(["c1"]) is not None              # no config.json: the image
    (tmp_path / "config.json").write_text("{}")
    assert runform.parse_fast(["c1"]) is None                  # rule 3: runc's run ID, or ambiguous
    assert runform.parse_fast(["-d", "c1"]) is None
    assert runform.parse_fast(["--rm", "c1"]) is not None      # a docker option: the image
    assert runform.parse_fast(["c1", "true"]) is not None
    assert runform.parse_fast(["busybox:latest"]) is not None


def test_globals_before_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g, params, image, command = _fastcli.parse_docker_run(
        ["--root", "/r", "--log-format=json", "--debug", "run", "--rm", "busybox", "true"])
    assert g == {"--root": "/r", "--log-format": "json", "--debug": True}
    assert params["remove"] and image == "busybox" and command == ["true"]
    for argv in (["--cdi-spec-dir", "d", "run", "busybox"], ["--rootless", "true", "run", "busybox"],
                 ["--log-format", "xml", "run", "busybox"], ["run", "--help"], ["ps"],
                 ["--root"], ["exec", "busybox"]):
        assert _fastcli.parse_docker_run(argv) is None, argv
    # runc's run -b stays with the runc table, docker's run IMAGE with this one
    assert _fastcli.parse(["run", "--rm", "busybox"]) is None
    assert _fastcli.parse_docker_run(["run", "-b", "/b", "c1"]) is None


# --- runc's update and ps ID -----------------------------------------------------------------------

def test_more_verbs_options_match_click():
    for verb, (values, flags, aliases) in _fastcli._MORE_VERBS.items():
        cmd = cli.main_group.commands[verb]
        byname = {o: p for p in cmd.params for o in p.opts}
        for name in values:
            assert not byname[name].is_flag and not byname[name].multiple, (verb, name)
        for name in flags:
            assert byname[name].is_flag, (verb, name)
        for alias, name in aliases.items():
            if (verb, alias) == ("ps", "-f"):   # click's -f: a filter without ID, --format with one
                assert byname[alias].multiple and not byname[name].multiple
                continue
            assert byname[alias] is byname[name], (verb, alias)
    upd = cli.main_group.commands["update"]
    docker_only = ("cpus", "restart")        # docker's update: always click (cli's update)
    assert {p.name for p in upd.params if p.name not in ("resources_file", "containers", *docker_only)} \
        == {o[2:].replace("-", "_") for o in _fastcli._MORE_VERBS["update"][0] - {"--resources"}}


UPDATE = [
    ["--memory", "32m", "c1"],
    ["--pids-limit", "7", "--memory=32m", "c1"],
    ["c1", "--cpu-shares", "512", "--cpu-share", "256"],       # interspersed; the last wins
    ["--resources", "-", "c1"],
    ["-r", "/f.json", "--cpu-quota", "x", "--cpu-period", "y", "c1"],   # bad values: order kept
    ["--cpuset-cpus", "0-1", "--cpuset-mems", "0", "--memory-swap", "-1", "--memory-reservation",
     "1m", "--kernel-memory", "1m", "--kernel-memory-tcp", "1m", "--cpu-rt-period", "1",
     "--cpu-rt-runtime", "1", "--blkio-weight", "10", "c1"],
    ["--", "c1"],
]


@pytest.mark.parametrize("args", UPDATE, ids=" ".join)
def test_update_agrees_with_click(args):
    g, verb, opts, pos = _fastcli.parse(["update", *args])
    ctx = cli.main_group.commands["update"].make_context("update", list(args))
    p = dict(ctx.params)
    resources, (cid,) = p.pop("resources_file"), p.pop("containers")
    p.pop("cpus"), p.pop("restart")
    assert pos == [cid] and opts.get("--resources") == resources
    assert list(_fastcli.update_flags(opts).items()) == [(k, v) for k, v in p.items() if v is not None]


PS = [(["ps", "c1"], "table"), (["ps", "--format", "json", "c1"], "json"), (["ps", "-f", "table", "c1"], "table"),
      (["ps", "c1", "--format=json"], "json")]


@pytest.mark.parametrize("argv, fmt", PS, ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_ps_id_agrees_with_click(argv, fmt):
    g, verb, opts, pos = _fastcli.parse(argv)
    ctx = cli.main_group.commands["ps"].make_context("ps", argv[1:])
    assert pos == [ctx.params["container_id"]] and not ctx.params["ps_args"]
    assert opts.get("--format", "table") == (ctx.params["fmt"] or "table") == fmt


@pytest.mark.parametrize("argv", [
    ["ps"], ["ps", "-a"], ["ps", "-a", "c1"], ["ps", "-q", "c1"], ["ps", "c1", "-ef"],
    ["ps", "c1", "x"], ["ps", "-f", "name=x", "c1"], ["ps", "--format", "{{.ID}}", "c1"],
    ["update"], ["update", "--memory", "1m"], ["update", "-r=/f", "c1"],
    ["update", "--bogus", "1", "c1"], ["update", "--memory", "1m", "c1", "c2"],
    ["create", "-b=/b", "c1"],                 # click reads "=/b": click decides
], ids=" ".join)
def test_more_verbs_leave_the_rest_to_click(argv):
    assert _fastcli.parse(argv) is None


# --- the wiring, in a fresh interpreter: no click, the same calls ----------------------------------

WIRING = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from pycontainer import _fastcli, container, runform
calls = []
def report(code):
    print(json.dumps({"calls": calls, "click": "click" in sys.modules}), flush=True)
    return code
def fake_run(root, image, command, **kw):
    calls.append(["run", root, image, command, kw])
    return report(7)
class FakeRuntime:
    def __init__(self, root): self.root = root
    def update(self, cid, res): calls.append(["update", cid, res]); report(0)
    def pids(self, cid): calls.append(["pids", cid]); return [1, 2]
runform.run = fake_run
container.Runtime = FakeRuntime
_fastcli.main(json.loads(sys.argv[2]))
"""


def _wired(argv, tmp_path):
    import json
    import subprocess
    import sys
    root = __file__.rsplit("/tests/", 1)[0]
    p = subprocess.run([sys.executable, "-c", WIRING, root, json.dumps(argv)], capture_output=True,
                       text=True, cwd=tmp_path)
    return p.returncode, p.stdout.splitlines()


def test_docker_run_is_wired_without_click(tmp_path):
    import json
    code, out = _wired(["--root", "r", "run", "--rm", "--net", "none", "-e", "A=1", "--name", "n",
                        "busybox", "true"], tmp_path)
    assert code == 7
    got = json.loads(out[0])
    assert not got["click"]
    assert got["calls"] == [["run", str(tmp_path / "r"), "busybox", ["true"],
                             {"remove": True, "name": "n", "pull": "missing", "image_root": None,
                              "flags": {"network": "none", "env": ["A=1"]}}]]


def test_update_and_ps_are_wired_without_click(tmp_path):
    import json
    (tmp_path / "r" / "c1").mkdir(parents=True)          # a container with that ID (its state dir)
    code, out = _wired(["--root", "r", "update", "--memory", "32m", "--pids-limit", "7", "c1"], tmp_path)
    got = json.loads(out[0])
    assert code == 0 and not got["click"]
    assert got["calls"] == [["update", "c1", {"memory": {"limit": 32 << 20}, "pids": {"limit": 7}}]]
    code, out = _wired(["ps", "--format", "json", "c1"], tmp_path)
    assert code == 0 and out == ["[1, 2]"]
