"""``pycontainer build``, ``commit``, ``push``, ``images.build``: real builds, offline, as root.

Every RUN step is a real pycontainer container (``--network none``) on the
built-in images (busybox, localhost/python:3.11). The checks look at the
result from outside: the image config (``image inspect``), the layer blobs
in the store (tar entries, whiteouts), the files as a container of the new
image sees them, and what is left on the host afterwards (``leakcheck``:
mounts, cgroups, state; plus no build dirs under the containers dir and no
half-written blob in the store's ingest).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time

import pytest

from conftest import ROOT

pytestmark = pytest.mark.root

CDIR = "/var/lib/pycontainer/containers"


@pytest.fixture(scope="module")
def image_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("images"))


@pytest.fixture
def pc(cli, image_root):
    def call(*args, **kw):
        env = dict(os.environ, PYCONTAINER_IMAGE_ROOT=image_root)
        env.update(kw.pop("env", {}))
        return cli(*args, env=env, timeout=kw.pop("timeout", 300), **kw)
    call.image_root = image_root
    return call


def ctx(tmp_path, files: dict, name="ctx") -> str:
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    for rel, content in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
    return str(d)


def build(pc, context, *args, ok=True):
    p = pc("build", "--network", "none", *args, context)
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def inspect(pc, ref) -> dict:
    p = pc("image", "inspect", ref)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)[0]


def run(pc, ref, *cmd) -> str:
    p = pc("run", "--rm", "--net", "none", ref, *cmd)
    assert p.returncode == 0, p.stderr
    return p.stdout


def layer_names(pc, ref, index=-1) -> list[str]:
    d = inspect(pc, ref)["Layers"][index]["digest"]
    with tarfile.open(os.path.join(pc.image_root, "blobs", "sha256", d[7:])) as tf:
        return tf.getnames()


def build_dirs() -> list[str]:
    return sorted(n for n in os.listdir(CDIR) if n.startswith("build-")) \
        if os.path.isdir(CDIR) else []


def store_state(pc) -> tuple:
    idx = os.path.join(pc.image_root, "index.json")
    data = open(idx, "rb").read() if os.path.exists(idx) else b""
    ingest = os.path.join(pc.image_root, "ingest")
    return (hashlib.sha256(data).hexdigest(),
            sorted(os.listdir(ingest)) if os.path.isdir(ingest) else [],
            sorted(n for n in os.listdir(os.path.join(pc.image_root, "layers"))
                   if n.startswith(".tmp")) if os.path.isdir(os.path.join(pc.image_root, "layers"))
            else [])


def _mine() -> tuple:
    """Cgroups and mounts of build containers (IDs ``build-*``), and build dirs.

    The shared ``leakcheck`` compares every pycontainer cgroup and mount on the
    host, which other work on the same machine changes meanwhile; this looks
    only at what a build makes."""
    cgroups = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        for hier in (os.listdir(base) if os.path.isdir(base) else []) + [""]:
            p = os.path.join(base, hier, "pycontainer")
            if os.path.isdir(p):
                cgroups += [os.path.join(p, d) for d in os.listdir(p) if d.startswith("build-")]
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if "build-" in line]
    return sorted(set(cgroups)), mounts, build_dirs()


@pytest.fixture
def leakcheck(cli):
    """Nothing of a build left: no build container's cgroup, mount, dir; empty state root."""
    yield
    for _ in range(50):
        if _mine() == ([], [], []):
            break
        time.sleep(0.05)
    assert _mine() == ([], [], [])
    left = os.listdir(cli.root) if os.path.isdir(cli.root) else []
    assert left == [], f"containers left behind: {left}"


# --- instructions and the image config -----------------------------------------------------

CONFIG_FILE = r"""# escape=\
ARG BASE=busybox
ARG VERSION
FROM ${BASE} AS base
ARG VERSION=0.9
ARG PLAIN
ENV APP_HOME=/opt/app \
    GREETING="hello world"
ENV LEGACY the legacy form
LABEL org.example.version=$VERSION "quoted key"="v w" default=${UNSET:-fallback}
WORKDIR $APP_HOME
WORKDIR sub
USER 1000:1000
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=3 CMD ["true"]
ONBUILD RUN echo triggered > /onbuild.txt
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/echo"]
CMD ["from", "cmd"]
"""


def test_metadata_instructions_fill_the_image_config(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": CONFIG_FILE})
    build(pc, c, "-t", "cfg:1", "--build-arg", "VERSION=2.0", "--label", "extra=1")
    i = inspect(pc, "cfg:1")
    cfg = i["Config"]
    assert "APP_HOME=/opt/app" in cfg["Env"] and "GREETING=hello world" in cfg["Env"]
    assert "LEGACY=the legacy form" in cfg["Env"]
    assert cfg["Labels"] == {"org.example.version": "2.0", "quoted key": "v w",
                             "default": "fallback", "extra": "1"}
    assert cfg["WorkingDir"] == "/opt/app/sub"
    assert cfg["User"] == "1000:1000"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5 * 10**9, "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo triggered > /onbuild.txt"]
    assert cfg["Entrypoint"] == ["/bin/echo"] and cfg["Cmd"] == ["from", "cmd"]
    # metadata steps are history entries without layers; WORKDIR made the missing dir
    hist = i["History"]
    assert sum(1 for h in hist if not h.get("empty_layer")) == len(i["Layers"])
    assert any(h["created_by"].startswith("ENV") and h.get("empty_layer") for h in hist)
    assert run(pc, "cfg:1").strip() == "from cmd"
    assert run(pc, "cfg:1", "x").strip() == "x"
    assert build_dirs() == []


def test_platform_rm_and_force_rm_flags(pc, tmp_path, leakcheck):
    # docker's --rm/--force-rm (no step's container is ever kept here) and --platform: this
    # machine's own, or one line and exit 1 before anything is built
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    d = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo hi > /x\n"})
    assert build(pc, d, "-q", "--rm", "--force-rm", "--platform", f"linux/{arch}").stdout.startswith("sha256:")
    other = "arm64" if arch != "arm64" else "amd64"
    p = build(pc, d, "--platform", f"linux/{other}", ok=False)
    assert p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "no emulation" in p.stderr
    # docker's --pull=false and podman's --pull=never (were "Option '--pull' does not take a
    # value"); a bare --pull before the context stays a flag
    for pull in ("--pull=false", "--pull=never", "--pull=Missing"):
        assert build(pc, d, "-q", pull).stdout.startswith("sha256:")
    p = build(pc, d, "--pull=sometimes", ok=False)
    assert p.returncode == 125 and p.stderr.strip().splitlines() == [
        "pycontainer: Invalid value for '--pull': 'sometimes': give true, false, always, missing "
        "or never (see 'pycontainer build --help')"]


def test_dockerfile_is_found_when_there_is_no_containerfile(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Dockerfile": "FROM busybox\nLABEL from=dockerfile\n"})
    build(pc, c, "-t", "df")
    assert inspect(pc, "df")["Config"]["Labels"] == {"from": "dockerfile"}


def test_entrypoint_resets_an_inherited_cmd_and_shell_form_uses_shell(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nCMD [\"sh\"]\n"})
    build(pc, c, "-t", "basecmd")
    c2 = ctx(tmp_path, {"Containerfile": "FROM basecmd\nSHELL [\"/bin/sh\", \"-xc\"]\n"
                        "ENTRYPOINT echo $0 hi\n"}, "c2")
    build(pc, c2, "-t", "ep")
    cfg = inspect(pc, "ep")["Config"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-xc", "echo $0 hi"]
    assert cfg.get("Cmd") is None
    assert "hi" in run(pc, "ep")


def test_continuations_comments_heredocs_and_the_escape_directive(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "# escape=`\nFROM busybox\n"
                       "RUN echo one `\n# a comment inside\n\n    two > /cont.txt\n"
                       "RUN <<EOF\necho from heredoc > /here.txt\necho line2 >> /here.txt\nEOF\n"
                       "ARG V=val\nCOPY <<EOT /etc/made.txt\ncontent $V \"q\" `$V\nEOT\n"
                       "COPY <<'EOT' /etc/raw.txt\nraw $V\nEOT\n"
                       "run cat <<-END > /tabs.txt\n\tindented\n\tEND\n"})
    build(pc, c, "-t", "syntax")
    assert run(pc, "syntax", "cat", "/cont.txt") == "one two\n"
    assert run(pc, "syntax", "cat", "/here.txt") == "from heredoc\nline2\n"
    assert run(pc, "syntax", "cat", "/etc/made.txt") == "content val \"q\" $V\n"
    assert run(pc, "syntax", "cat", "/etc/raw.txt") == "raw $V\n"
    assert run(pc, "syntax", "cat", "/tabs.txt") == "indented\n"


# --- COPY / ADD --------------------------------------------------------------------------

def test_copy_semantics_owners_modes_wildcards_and_dockerignore(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {
        "Containerfile": "FROM busybox\nWORKDIR /w\n"
                         "COPY file.txt .\n"
                         "COPY file.txt /renamed.txt\n"
                         "COPY dir /dest/\n"
                         "COPY *.md /docs/\n"
                         "COPY --chown=1234:5678 --chmod=600 file.txt /owned.txt\n"
                         "COPY --chown=nobody file.txt /nobody.txt\n"
                         "COPY ign /ign/\n",
        "file.txt": "F\n", "dir/a": "A\n", "dir/sub/b": "B\n",
        "one.md": "1", "two.md": "2", "three.txt": "3",
        "ign/keep.log": "k", "ign/drop.log": "d", "ign/other": "o", "secret.key": "s",
        ".dockerignore": "# comment\n*.key\nign/*.log\n!ign/keep.log\n"})
    os.chmod(os.path.join(c, "dir", "a"), 0o751)
    os.symlink("a", os.path.join(c, "dir", "link"))
    build(pc, c, "-t", "cp")
    out = run(pc, "cp", "sh", "-c",
              "cat /w/file.txt /renamed.txt /dest/a /dest/sub/b; ls /docs; "
              "stat -c '%n %u:%g %a' /dest/a /owned.txt /nobody.txt /w/file.txt; "
              "readlink /dest/link; ls /ign; ls / | grep -c secret || true")
    lines = out.split("\n")
    assert lines[:4] == ["F", "F", "A", "B"]
    assert lines[4:6] == ["one.md", "two.md"]
    assert lines[6:10] == ["/dest/a 0:0 751", "/owned.txt 1234:5678 600",
                           "/nobody.txt 65534:65534 644", "/w/file.txt 0:0 644"]
    assert lines[10] == "a"
    assert lines[11:13] == ["keep.log", "other"]
    assert lines[13] == "0"


def test_empty_wildcards_and_identical_empty_layers_as_buildkit(pc, tmp_path, leakcheck):
    """BuildKit copies a pattern that matches nothing as nothing (`COPY requirements.txt* ./`,
    AllowEmptyWildcard; a plain missing name stays an error). Such a COPY, like a RUN that
    changes nothing, is the empty layer: an image holds it twice, and overlayfs refuses a
    lower dir twice (ELOOP), so the rootfs stacks each layer dir once, where it is highest;
    the files stay what every step left."""
    c = ctx(tmp_path, {
        "Containerfile": "FROM busybox\nRUN true\nCOPY req*.txt nomatch* /app/\nRUN true\n"
                         "RUN echo one > /f\nRUN rm /f\nRUN true\nRUN echo one > /f\n"
                         "COPY nothing* /\nRUN cat /f; ls /app 2>&1 | head -1\n",
        "other": "x"})
    p = build(pc, c, "-t", "emptylayers")
    assert "one" in p.stdout and "No such file or directory" in p.stdout, p.stdout
    layers = inspect(pc, "emptylayers")["RootFS"]["Layers"]
    assert len(layers) > len(set(layers)), layers          # the empty layer, more than once
    assert run(pc, "emptylayers", "sh", "-c", "cat /f; test -e /app || echo no-app").split() == ["one", "no-app"]


def test_add_extracts_a_local_tar_and_fetches_a_url(pc, tmp_path, leakcheck):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"inside the tar\n"
        ti = tarfile.TarInfo("pkg/readme")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    body = b"from the url\n"

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        port = srv.server_address[1]
        c = ctx(tmp_path, {"Containerfile": f"FROM busybox\nADD bundle.tar.gz /opt/\n"
                           f"ADD http://127.0.0.1:{port}/files/data.txt /fetched/\n",
                           "bundle.tar.gz": buf.getvalue()})
        build(pc, c, "-t", "addimg")
    finally:
        srv.shutdown()
    assert run(pc, "addimg", "cat", "/opt/pkg/readme") == "inside the tar\n"
    out = run(pc, "addimg", "stat", "-c", "%a", "/fetched/data.txt")
    assert out.strip() == "600"
    assert run(pc, "addimg", "cat", "/fetched/data.txt") == "from the url\n"


# --- layers ---------------------------------------------------------------------------------

def test_run_layer_has_whiteouts_opaque_dirs_links_and_owners(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile":
                       "FROM busybox\nRUN mkdir -p /d/x && echo 1 > /d/x/f && echo k > /keep\n"
                       "RUN rm /bin/ls /keep && rm -rf /d && mkdir /d && echo new > /d/g && "
                       "echo h > /h1 && ln /h1 /h2 && ln -s /h1 /sl && chown 7:8 /h1 && "
                       "chmod 4755 /h1\n"})
    build(pc, c, "-t", "layers")
    names = layer_names(pc, "layers")
    assert "bin/.wh.ls" in names and ".wh.keep" in names
    assert "d/.wh..wh..opq" in names and "d/g" in names
    d = inspect(pc, "layers")["Layers"][-1]["digest"]
    with tarfile.open(os.path.join(pc.image_root, "blobs", "sha256", d[7:])) as tf:
        h1, h2, sl = tf.getmember("h1"), tf.getmember("h2"), tf.getmember("sl")
        assert h2.islnk() and h2.linkname == "h1"
        assert (h1.uid, h1.gid, h1.mode) == (7, 8, 0o4755)
        assert sl.issym() and sl.linkname == "/h1"
    out = run(pc, "layers", "sh", "-c", "ls /d; test -e /bin/ls || echo gone; cat /h2")
    assert out == "g\ngone\nh\n"


# --- cache ------------------------------------------------------------------------------------

def test_cache_reuses_every_layer_and_reruns_from_a_changed_file(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nCOPY a /a\nRUN cat /a > /a2\n"
                       "COPY b /b\nRUN cat /b > /b2\nCMD [\"cat\", \"/b2\"]\n",
                       "a": "A", "b": "B"})
    p1 = build(pc, c, "-t", "cache")
    id1 = p1.stdout.strip().splitlines()[-1]
    p2 = build(pc, c, "-t", "cache")
    assert p2.stdout.count("Using cache") == 4
    assert p2.stdout.strip().splitlines()[-1] == id1           # the same image
    os.utime(os.path.join(c, "a"))                            # touched, not changed: still cached
    assert build(pc, c, "-t", "cache").stdout.count("Using cache") == 4
    with open(os.path.join(c, "b"), "w") as f:
        f.write("B2")
    p3 = build(pc, c, "-t", "cache")
    assert p3.stdout.count("Using cache") == 2                # COPY a, RUN cat /a
    assert run(pc, "cache") == "B2"
    p4 = build(pc, c, "-t", "cache", "--no-cache")
    assert "Using cache" not in p4.stdout
    assert build_dirs() == []


# --- multi-stage ---------------------------------------------------------------------------

def test_multistage_copy_from_target_and_unused_stages_skipped(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile":
                       "FROM busybox AS builder\nRUN echo built > /artifact\n"
                       "RUN mkdir -p /home/app && touch /home/app/f && chown -R 1000:33 /home/app\n"
                       "FROM busybox AS unused\nRUN echo 'must not run' && exit 3\n"
                       "FROM builder AS derived\nRUN echo more >> /artifact\n"
                       "FROM busybox\nCOPY --from=derived /artifact /got\n"
                       "COPY --from=0 /artifact /first\n"
                       "COPY --from=builder /home /home\n"
                       "COPY --from=docker.io/library/busybox:latest /bin/busybox /opt/busybox\n"})
    shown, every = set(pc("images", "-q").stdout.split()), set(pc("images", "-aq").stdout.split())
    p = build(pc, c, "-t", "multi")
    assert "must not run" not in p.stdout
    # the stages before the last are this build's steps: `images` lists the image alone
    # (a <none> row per stage before), -a the stages too
    ident = pc("image", "inspect", "-f", "{{.Id}}", "multi").stdout.strip()[7:19]
    assert set(pc("images", "-q").stdout.split()) - shown == {ident}
    assert len(set(pc("images", "-aq").stdout.split()) - every) > 1
    assert run(pc, "multi", "cat", "/got", "/first") == "built\nmore\nbuilt\n"
    # a stage's owners stay (BuildKit, buildah); they became 0:0
    assert run(pc, "multi", "stat", "-c", "%u:%g", "/home/app", "/home/app/f") == "1000:33\n1000:33\n"
    assert run(pc, "multi", "/opt/busybox", "echo", "copied from an image") == "copied from an image\n"
    p = build(pc, c, "-t", "multi-builder", "--target", "builder")
    assert run(pc, "multi-builder", "cat", "/artifact") == "built\n"
    assert "STEP 3/3" in p.stdout and "STEP 4" not in p.stdout


def test_onbuild_triggers_run_in_the_child_build(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nONBUILD COPY x /from-onbuild\n"})
    build(pc, c, "-t", "onbase")
    c2 = ctx(tmp_path, {"Containerfile": "FROM onbase\nRUN cat /from-onbuild\n", "x": "X"}, "c2")
    build(pc, c2, "-t", "onchild")
    assert run(pc, "onchild", "cat", "/from-onbuild") == "X"
    assert not inspect(pc, "onchild")["Config"].get("OnBuild")


# --- bad input: one line, exit 1, nothing left ---------------------------------------------

BAD = [
    ("unknown", {"Containerfile": "FROM busybox\nFROBNICATE x\n"}, (),
     "Containerfile:2: unknown instruction: FROBNICATE"),
    ("nofrom", {"Containerfile": "# c\nRUN true\n"}, (), "Containerfile:2: RUN before FROM"),
    ("missing", {"Containerfile": "FROM busybox\nCOPY nothere /x\n"}, (),
     "Containerfile:2: COPY: source 'nothere' not found"),
    ("dotdot", {"Containerfile": "FROM busybox\nCOPY ../x /x\n"}, (),
     "Containerfile:2: COPY: source '../x' is outside the build context"),
    ("absolute", {"Containerfile": "FROM busybox\nCOPY /etc/passwd /x\n"}, (),
     "Containerfile:2: COPY: source '/etc/passwd' is an absolute path"),
    ("symlink", {"Containerfile": "FROM busybox\nRUN true\nCOPY out /x\n"}, (),
     "Containerfile:3: COPY: source 'out' is a symlink that leads out of the build context"),
    ("ignore", {"Containerfile": "FROM busybox\n", ".dockerignore": "ok\n[oops\n"}, (),
     ".dockerignore:2: syntax error in pattern"),
    ("target", {"Containerfile": "FROM busybox AS a\n"}, ("--target", "nope"),
     "--target 'nope': no stage of that name"),
    ("platform", {"Containerfile": "FROM --platform=linux/s390x busybox\n"}, (),
     "Containerfile:1: FROM --platform=linux/s390x: this builder runs linux/"),
    ("nofile", {"other": "x"}, (), "no Containerfile or Dockerfile in the build context"),
    ("badflag", {"Containerfile": "FROM busybox\nCOPY --frm=x a /b\n"}, (),
     "Containerfile:2: COPY unknown flag --frm"),
    ("runsecret", {"Containerfile": "FROM busybox\nRUN --mount=type=secret,id=k,required=true true\n"},
     (), "Containerfile:2: RUN secret 'k' is required: give build --secret id=k,src=FILE"),
    ("runssh", {"Containerfile": "FROM busybox\nRUN --mount=type=ssh true\n"}, (),
     "Containerfile:2: RUN --mount=type=ssh is not supported by this builder"),
    ("secretflag", {"Containerfile": "FROM busybox\n"}, ("--secret", "id=k,src=/nonexistent/k"),
     "--secret 'id=k,src=/nonexistent/k': /nonexistent/k: No such file or directory"),
    ("runmountopt", {"Containerfile": "FROM busybox\nRUN --mount=type=cache,target=/c,colour=red true\n"},
     (), "Containerfile:2: RUN --mount=type=cache,target=/c,colour=red: unknown option 'colour'"),
    ("runmountnotarget", {"Containerfile": "FROM busybox\nRUN --mount=type=tmpfs true\n"}, (),
     "Containerfile:2: RUN --mount=type=tmpfs: give a target"),
    ("runbindignored", {"Containerfile": "FROM busybox\nRUN --mount=source=s.txt,target=/s true\n",
                        "s.txt": "x", ".dockerignore": "s.txt\n"}, (),
     "Containerfile:2: RUN --mount: source 's.txt' not found"),
    ("runbindout", {"Containerfile": "FROM busybox\nRUN --mount=source=../x,target=/s true\n"}, (),
     "Containerfile:2: RUN --mount: source '../x' is outside the build context"),
]


@pytest.mark.parametrize("name,files,args,msg", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_line_exit_1_and_leaves_nothing(pc, tmp_path, leakcheck,
                                                           name, files, args, msg):
    build(pc, ctx(tmp_path, {"Containerfile": "FROM busybox\n"}, "base"))   # busybox in store
    c = ctx(tmp_path, files)
    if name == "symlink":
        os.symlink("/etc/passwd", os.path.join(c, "out"))
        with open(os.path.join(c, "warm"), "w") as f:
            f.write("FROM busybox\nRUN true\n")
        build(pc, c, "-f", os.path.join(c, "warm"))   # the RUN step is cached: no new image
    before = store_state(pc)
    p = build(pc, c, *args, ok=False)
    assert p.returncode == 1, p.stdout + p.stderr
    err = p.stderr.strip().splitlines()
    assert len(err) == 1 and msg in err[0], p.stderr
    assert build_dirs() == []
    assert store_state(pc) == before                          # no new image, no blob, no layer


def test_run_mounts_cache_bind_tmpfs_stay_out_of_the_layer(pc, tmp_path, leakcheck):
    """BuildKit's RUN --mount, as docker's Python template uses it: a cache kept between builds
    (builder prune empties it), a bind of a context file (.dockerignore applies; its content is
    in the cache key; rw writes are thrown away), a bind from another stage, a tmpfs; neither
    their contents nor the mount points the runtime made are in the step's layer."""
    tag = f"pyc-test-mounts-{os.getpid()}"
    cid = f"m{os.getpid()}"                  # a cache id of this test's own
    files = {"Containerfile": (
        "FROM busybox AS stage\nRUN echo from-stage > /built\n"
        "FROM busybox\nWORKDIR /app\n"
        f"RUN --mount=type=cache,id={cid},target=/root/.cache/pip,sharing=locked \\\n"
        "    --mount=type=bind,source=req.txt,target=req.txt \\\n"
        "    --mount=type=bind,source=.,target=/ctx,rw \\\n"
        "    --mount=type=bind,from=stage,source=/built,target=/mnt/built \\\n"
        "    --mount=type=tmpfs,target=/scratch \\\n"
        "    date >> /root/.cache/pip/runs && wc -l < /root/.cache/pip/runs > /runs && "
        "cat req.txt /mnt/built > /seen && ls /ctx > /ctx-list && touch /ctx/new /scratch/t && "
        "grep -c ' /scratch tmpfs' /proc/mounts > /tmpfs\n"),
        "req.txt": "numpy\n", "secret.txt": "s", ".dockerignore": "secret.txt\n"}
    c = ctx(tmp_path, files)
    build(pc, c, "-t", tag)
    out = run(pc, tag, "cat", "/runs", "/seen", "/ctx-list", "/tmpfs")
    assert out.split() == ["1", "numpy", "from-stage", "Containerfile", "req.txt", "1"], out
    assert not os.path.exists(os.path.join(c, "new"))                    # rw: thrown away
    ls = run(pc, tag, "sh", "-c", "ls -A /app; ls -d /root/.cache /mnt /ctx /scratch 2>&1 | wc -l")
    assert ls.split() == ["4"], ls                 # /app empty; the four mount points absent
    with open(os.path.join(c, "req.txt"), "w") as f:
        f.write("pandas\n")                        # the bind's content is in the cache key
    build(pc, c, "-t", tag)
    assert run(pc, tag, "cat", "/runs", "/seen").split() == ["2", "pandas", "from-stage"]
    p = pc("builder", "prune")
    assert p.returncode == 0 and "cache mount" in p.stdout, p.stdout
    build(pc, c, "-t", tag, "--no-cache")
    assert run(pc, tag, "cat", "/runs").split() == ["1"]                # emptied by prune
    assert pc("rmi", tag).returncode == 0


def test_run_mount_secret_is_in_no_layer_and_no_cache_key(pc, tmp_path, leakcheck, monkeypatch):
    """build --secret id=ID,src=FILE (or env=VAR) and RUN --mount=type=secret, as BuildKit: the
    file at /run/secrets/ID (or target), 0400 (mode/uid/gid), for that step only; absent from
    the image, its layers and its history; an optional one not given is skipped; the copy
    (on /dev/shm) is gone after the build."""
    import glob
    tag = f"pyc-test-secret-{os.getpid()}"
    (tmp_path / "tok").write_text("s3cret-value\n")
    monkeypatch.setenv("PYC_TEST_SECRET", "from-env")
    c = ctx(tmp_path, {"Containerfile": (
        "FROM busybox\nUSER 1000\n"
        "RUN --mount=type=secret,id=tok,uid=1000 stat -c '%a %u' /run/secrets/tok > /tmp/perm && "
        "wc -c < /run/secrets/tok > /tmp/len\n"
        "RUN --mount=type=secret,id=env,target=/etc/app.conf,mode=0444 cat /etc/app.conf > /tmp/envval; echo >> /tmp/envval\n"
        "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo skipped > /tmp/absent\n")})
    build(pc, c, "-t", tag, "--secret", f"id=tok,src={tmp_path / 'tok'}",
          "--secret", "id=env,env=PYC_TEST_SECRET")
    assert run(pc, tag, "cat", "/tmp/perm", "/tmp/len", "/tmp/envval", "/tmp/absent").split() == \
        ["400", "1000", "13", "from-env", "skipped"]
    assert run(pc, tag, "sh", "-c", "ls -d /run/secrets /etc/app.conf 2>&1 | wc -l").split() == ["2"]
    for i in range(3):
        names = layer_names(pc, tag, -1 - i)
        assert not any("secrets" in n or "app.conf" in n for n in names), names
    hist = json.dumps(inspect(pc, tag))
    assert "s3cret" not in hist and "from-env" not in hist
    assert glob.glob("/dev/shm/pyc-build-secret-*") == []
    (tmp_path / "tok").write_text("another-value-longer\n")     # not in the cache key (BuildKit)
    build(pc, c, "-t", tag, "--secret", f"id=tok,src={tmp_path / 'tok'}",
          "--secret", "id=env,env=PYC_TEST_SECRET")
    assert run(pc, tag, "cat", "/tmp/len").split() == ["13"]
    assert pc("rmi", tag).returncode == 0


def test_output_writes_the_result_to_a_directory_or_a_tar(pc, tmp_path, leakcheck):
    """build -o DIR / -o - / --output type=tar,dest=F (BuildKit's local and tar exporters): the
    final stage's merged files, symlinks as they are (never followed on the host), modes
    kept; a destination with files in it is refused before anything is built."""
    import io
    c = ctx(tmp_path, {"Containerfile": (
        "FROM busybox AS build\n"
        "RUN mkdir -p /out/bin && echo artifact > /out/a.txt && chmod 640 /out/a.txt && "
        "ln -s a.txt /out/link && ln -s /etc/shadow /out/abs && echo gone > /out/rm && rm /out/rm\n"
        "FROM scratch\nCOPY --from=build /out /\n")})
    out = tmp_path / "out"
    build(pc, c, "-q", "-o", str(out))
    assert sorted(os.listdir(out)) == ["a.txt", "abs", "bin", "link"]
    assert (out / "a.txt").read_text() == "artifact\n" and os.stat(out / "a.txt").st_mode & 0o777 == 0o640
    assert os.readlink(out / "abs") == "/etc/shadow" and os.readlink(out / "link") == "a.txt"
    p = subprocess.run([sys.executable, "-m", "pycontainer", "build", "--network", "none", "-o", "-", c],
                       capture_output=True, env=dict(os.environ, PYCONTAINER_IMAGE_ROOT=pc.image_root))
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:             # stdout: the tar alone
        assert sorted(tf.getnames()) == ["a.txt", "abs", "bin", "link"]
    build(pc, c, "-q", "--output", f"type=tar,dest={tmp_path / 'o.tar'}")
    with tarfile.open(tmp_path / "o.tar") as tf:
        assert tf.getmember("abs").issym() and tf.extractfile("a.txt").read() == b"artifact\n"
    for args, msg in ((("-o", str(out)), "must be a new or empty directory"),
                      (("--output", "type=registry,dest=x"), "only local and tar")):
        p = build(pc, c, *args, ok=False)
        assert p.returncode == 1 and msg in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_the_containerfile_from_stdin(pc, tmp_path, leakcheck):
    """docker build - < Containerfile (no context) and build -f - CONTEXT; nothing left in /tmp."""
    import glob
    before = set(glob.glob("/tmp/pyc-build-stdin-*"))
    p = pc("build", "--network", "none", "-q", "-t", "stdin-a", "-",
           input='FROM busybox\nRUN echo from-stdin > /s\nCMD ["cat", "/s"]\n')
    assert p.returncode == 0, p.stderr
    assert run(pc, "stdin-a") == "from-stdin\n"
    c = ctx(tmp_path, {"f.txt": "in-context\n"})
    p = pc("build", "--network", "none", "-q", "-t", "stdin-b", "-f", "-", c,
           input='FROM busybox\nCOPY f.txt /\nCMD ["cat", "/f.txt"]\n')
    assert p.returncode == 0, p.stderr
    assert run(pc, "stdin-b") == "in-context\n"
    p = pc("build", "--network", "none", "-", input="FROM busybox\nCOPY f.txt /\n")
    # named as it came, not by the scratch dir it was spooled to
    assert p.returncode == 1 and p.stderr.startswith(
        "pycontainer: Containerfile (stdin):2: COPY: source 'f.txt' not found"), p.stderr
    p = pc("build", "--network", "none", "-", input="f" * 257 + "ustar\x0000")   # a tar's header
    assert p.returncode == 1 and "tar archive" in p.stderr and len(p.stderr.splitlines()) == 1
    assert set(glob.glob("/tmp/pyc-build-stdin-*")) == before
    assert glob.glob(CDIR + "/build-stdin-*") == []
    assert pc("rmi", "stdin-a", "stdin-b").returncode == 0


def _tar(members, gz=False) -> bytes:
    """A tar of (name, content) or (name, "->", link target) or (name, "=>", hard link)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for m in members:
            ti = tarfile.TarInfo(m[0])
            if len(m) == 3:
                ti.type = tarfile.SYMTYPE if m[1] == "->" else tarfile.LNKTYPE
                ti.linkname = m[2]
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(m[1]), 0o755
                tf.addfile(ti, io.BytesIO(m[1]))
    return buf.getvalue()


def test_a_tar_context_on_stdin_as_docker(pc, tmp_path, leakcheck):
    """docker build - < context.tar[.gz]: the archive is the context (-f inside it, its
    .dockerignore honoured); an archive that climbs out, writes through a link out or
    hard-links a host file is refused (exit 1, one line) and leaves nothing."""
    import glob
    files = [("Dockerfile", b"FROM busybox\nCOPY . /c/\nRUN cat /c/a.txt /c/d/b.txt\n"),
             ("sub/Alt", b"FROM busybox\nCOPY a.txt /alt\nCMD [\"cat\", \"/alt\"]\n"),
             ("a.txt", b"a\n"), ("d/b.txt", b"b\n"), ("/abs.txt", b"abs\n"),
             ("secret.key", b"no\n"), (".dockerignore", b"*.key\n"), ("l", "->", "a.txt")]
    for gz in (False, True):
        p = pc("build", "--network", "none", "-q", "-t", "tarctx-a", "-", input=_tar(files, gz))
        assert p.returncode == 0, p.stderr
    assert run(pc, "tarctx-a", "ls", "/c").split() == ["Dockerfile", "a.txt", "abs.txt", "d", "l", "sub"]
    assert run(pc, "tarctx-a", "readlink", "/c/l") == "a.txt\n"
    p = pc("build", "--network", "none", "-q", "-t", "tarctx-b", "-f", "sub/Alt", "-",
           input=_tar(files, True))
    assert p.returncode == 0, p.stderr
    assert run(pc, "tarctx-b") == "a\n"
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    bad = {"climbs out": [("Dockerfile", b"FROM busybox\n"), ("../x", b"x")],
           "leads out of the context": [("Dockerfile", b"FROM busybox\n"), ("lnk", "->", str(decoy)),
                                        ("lnk/pwned", b"x")],
           "not to a file of the context": [("Dockerfile", b"FROM busybox\n"),
                                            ("h", "=>", "../../../../etc/passwd")],
           "compressed, but not a tar": None, "not a readable tar archive": b"\x1f\x8b" + b"\0" * 30}
    for msg, members in bad.items():
        data = members if isinstance(members, bytes) else _tar(members) if members \
            else __import__("gzip").compress(b"FROM busybox\n")
        p = pc("build", "--network", "none", "-t", "tarctx-bad", "-", input=data)
        assert p.returncode == 1 and msg in p.stderr and len(p.stderr.splitlines()) == 1, (msg, p.stderr)
    assert list(decoy.iterdir()) == []
    assert glob.glob(CDIR + "/build-stdin-*") == []
    assert pc("image", "inspect", "tarctx-bad").returncode != 0
    assert pc("rmi", "tarctx-a", "tarctx-b").returncode == 0


def test_a_failing_run_names_step_command_and_exit_code(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo partial > /p && exit 3\n"})
    p = build(pc, c, ok=False)
    assert p.returncode == 1
    err = p.stderr.strip().splitlines()[-1]
    assert "Containerfile:2: RUN echo partial > /p && exit 3" in err and "code 3" in err
    assert build_dirs() == []
    assert store_state(pc)[1:] == ([], [])


def test_ctrl_c_in_the_middle_of_a_step_leaves_nothing(pc, cli, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo started && sleep 60\n"})
    env = dict(os.environ, PYCONTAINER_IMAGE_ROOT=pc.image_root)
    proc = subprocess.Popen(cli.cmd("build", "--network", "none", c), cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # SIGINT as a terminal gives it, even if it came in ignored (a CI
                            # job in the background): Python then installs its handler
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    line = ""
    deadline = time.monotonic() + 60
    while line != "started\n" and time.monotonic() < deadline:
        line = proc.stdout.readline()
    assert line == "started\n"
    assert build_dirs() != []
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert build_dirs() == []
    assert store_state(pc)[1:] == ([], [])


# --- the seeds' service -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_wheel(tmp_path) -> str:
    src = tmp_path / "greet-src"
    (src / "greet").mkdir(parents=True)
    (src / "greet" / "__init__.py").write_text("def hello():\n    return 'hello from greet'\n")
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "greet"\nversion = "1.0"\n')
    wheels = tmp_path / "ctx" / "wheels"
    p = subprocess.run(["/usr/bin/python3", "-m", "pip", "wheel", "--no-index",
                        "--no-build-isolation", "--no-deps", "-w", str(wheels), str(src)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"pip wheel unavailable on the host: {p.stderr.strip()[-200:]}")
    return str(wheels)


SERVER = """import http.server, os, greet
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        b = greet.hello().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
http.server.HTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""


def test_seed_service_python_pip_wheels_expose_cmd_answers_http(pc, tmp_path, leakcheck):
    make_wheel(tmp_path)
    port = free_port()
    c = ctx(tmp_path, {"Containerfile":
                       "FROM localhost/python:3.11\nWORKDIR /srv\nCOPY requirements.txt .\n"
                       "COPY wheels /wheels\n"
                       "RUN pip install --no-index --find-links /wheels -r requirements.txt\n"
                       f"COPY app/ app/\nENV PORT={port}\nEXPOSE {port}\n"
                       "CMD [\"python3\", \"app/server.py\"]\n",
                       "requirements.txt": "greet\n", "app/server.py": SERVER})
    build(pc, c, "-t", "seed:latest")
    assert inspect(pc, "seed")["Config"]["ExposedPorts"] == {f"{port}/tcp": {}}
    name = f"seed-{port}"
    p = pc("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{port}", "seed")
    assert p.returncode == 0, p.stderr
    try:
        import urllib.request
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = None
        for _ in range(100):
            try:
                body = opener.open(f"http://127.0.0.1:{port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert body == b"hello from greet"
    finally:
        pc("rm", "-f", name)


# --- commit -------------------------------------------------------------------------------------

def test_commit_writes_the_upper_dir_as_a_layer_with_changes(pc, leakcheck):
    name = "commit-src"
    p = pc("run", "-d", "--net", "none", "--name", name, "busybox", "sh", "-c",
           "echo hi > /hello; rm /bin/ls; sleep 60")
    assert p.returncode == 0, p.stderr
    cid = p.stdout.strip()
    try:
        for _ in range(50):
            if os.path.exists(os.path.join(CDIR, cid, "upper", "hello")):
                break
            time.sleep(0.1)
        p = pc("commit", "-c", 'CMD ["cat", "/hello"]', "-c", "ENV X=1", "-m", "snap", "-a", "me",
               name, "committed:v1")
        assert p.returncode == 0, p.stderr
    finally:
        pc("rm", "-f", name)
    i = inspect(pc, "committed:v1")
    assert i["Config"]["Cmd"] == ["cat", "/hello"] and "X=1" in i["Config"]["Env"]
    assert i["History"][-1]["comment"] == "snap"
    assert i["History"][-1]["created_by"] == "sh -c echo hi > /hello; rm /bin/ls; sleep 60"  # docker's
    assert (i["Comment"], i["Author"]) == ("snap", "me")           # as docker's image inspect
    assert "bin/.wh.ls" in layer_names(pc, "committed:v1")
    assert run(pc, "committed:v1") == "hi\n"
    bad = pc("commit", "-c", "FROM x", "nosuch")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


# --- push ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    import shutil
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry not installed (apt-get install docker-registry)")
    work = tmp_path_factory.mktemp("registry")
    port = free_port()
    (work / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {work}/data\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_push_then_pull_back_monolithic_and_chunked(pc, tmp_path, registry, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo pushed > /p\n"})
    build(pc, c, "-t", "topush")
    p = pc("push", "topush", f"{registry}/t/one:v1")
    assert p.returncode == 0, p.stderr
    digest = p.stdout.strip()
    assert digest == inspect(pc, "topush")["Digest"]
    p2 = pc("push", "--chunk-size", "262144", "topush", f"{registry}/t/two:v1")
    assert p2.returncode == 0 and p2.stdout.strip() == digest, p2.stderr
    again = pc("push", "topush", f"{registry}/t/one:v1")
    assert "already exists" in again.stderr
    third = pc("push", "topush", f"{registry}/t/three:v1")        # blobs known in t/one
    assert third.returncode == 0 and "mounted from t/" in third.stderr, third.stderr
    other = tmp_path / "other-store"
    env = {"PYCONTAINER_IMAGE_ROOT": str(other)}
    assert pc("pull", f"{registry}/t/two:v1", env=env).returncode == 0
    r = pc("run", "--rm", "--net", "none", f"{registry}/t/two:v1", "cat", "/p", env=env)
    assert r.stdout == "pushed\n", r.stderr


# --- the Python API -----------------------------------------------------------------------------

def test_api_images_build_returns_image_and_log(pc, cli, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nARG X\nRUN echo $X > /x\n"
                       "LABEL l=1\n"})
    code = ("import sys, json; sys.path.insert(0, %r)\n"
            "import pycontainer\n"
            "cl = pycontainer.Client(%r, image_root=%r)\n"
            "img, log = cl.images.build(path=%r, tag='apibuilt', buildargs={'X': 'fromapi'}, "
            "network_mode='none', labels={'k': 'v'})\n"
            "print(json.dumps({'id': img.id, 'tags': img.tags, "
            "'log': ''.join(ch.get('stream', '') for ch in log)}))\n"
            "ids = lambda imgs: sorted(i.id for i in imgs)\n"
            "print(json.dumps({'plain': ids(cl.images.list()), 'all': ids(cl.images.list(all=True)), "
            "'name': [i.tags for i in cl.images.list(name='apibuilt')], "
            "'label': ids(cl.images.list(filters={'label': ['k=v', 'l']})), "
            "'nolabel': ids(cl.images.list(filters={'label': 'k=w'})), "
            "'dangling': ids(cl.images.list(filters={'dangling': True})), "
            "'history': [(h['CreatedBy'], h['Size'] > 0, h['Created'] > 0) for h in img.history()]}))\n"
            "try:\n    cl.images.list(filters={'colour': 'x'})\n"
            "except Exception as e:\n    print(type(e).__name__, e)\n"
            "try:\n    cl.images.build(path=%r, target='nope')\n"
            "except Exception as e:\n    print(type(e).__name__, e.msg)\n"
            % (ROOT, cli.root, pc.image_root, c, c))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    first, listed, bad, second = p.stdout.strip().splitlines()
    out = json.loads(first)
    # docker SDK images.list: the build cache's unnamed step images only with all=True
    listed = json.loads(listed)
    assert out["id"] in listed["plain"] and set(listed["plain"]) < set(listed["all"])
    assert listed["name"] == [["apibuilt:latest"]] and listed["label"] == [out["id"]]
    assert listed["nolabel"] == [] and out["id"] not in listed["dangling"]
    # docker SDK Image.history(): the steps newest first (LABEL, RUN, ARG..., then busybox's)
    hist = listed["history"]
    assert hist[0][0].startswith("LABEL") and hist[1][0].startswith("RUN") and hist[1][1:] == [True, True]
    assert hist[-1][0].startswith("images/build-busybox.sh") and hist[-1][1]
    assert bad.startswith("ImageError") and "invalid filter 'colour'" in bad
    assert out["tags"] == ["apibuilt:latest"] and "STEP 3/4: RUN echo $X > /x" in out["log"]
    assert run(pc, "apibuilt", "cat", "/x") == "fromapi\n"
    assert inspect(pc, "apibuilt")["Config"]["Labels"] == {"l": "1", "k": "v"}
    assert second.startswith("BuildFailed") and "--target 'nope'" in second


def test_api_images_build_from_fileobj_and_custom_context(pc, cli, tmp_path, leakcheck):
    """docker-py's images.build(fileobj=...): a Containerfile, or with custom_context=True a
    (gzip'd) tar of the context; an "aux" chunk names the image; timeout= stops the build as
    Ctrl-C does (nothing left); an option that would change the result is refused."""
    tgz = _tar([("sub/Df", b"FROM busybox\nCOPY a.txt /a\n"), ("a.txt", b"from-tar\n")], gz=True)
    (tmp_path / "ctx.tgz").write_bytes(tgz)
    code = ("import sys, io, json, time; sys.path.insert(0, %r)\n"
            "import pycontainer.api as docker\n"
            "cl = docker.Client(%r, image_root=%r)\n"
            "img, log = cl.images.build(fileobj=io.BytesIO(b'FROM busybox\\nRUN echo fo > /fo\\n'), "
            "tag='apifo', network_mode='none', forcerm=True, decode=True)\n"
            "log = list(log)\n"
            "print(json.dumps([img.tags, log[-1]['aux']['ID'] == img.id]))\n"
            "with open(%r, 'rb') as f:\n"
            "    img, _ = cl.images.build(fileobj=f, custom_context=True, encoding='gzip', "
            "dockerfile='sub/Df', tag='apicc')\n"
            "print(json.dumps(img.tags))\n"
            "for kw in ({'isolation': 'hyperv'}, {'squash': True}, {'fileobj': b'x', 'encoding': 'gzip'}):\n"
            "    try:\n        cl.images.build(path='/nonexistent', **kw)\n"
            "    except docker.errors.APIError as e:\n        print(type(e).__name__, e)\n"
            "t = time.monotonic()\n"
            "try:\n    cl.images.build(fileobj=b'FROM busybox\\nRUN sleep 60\\n', timeout=2, "
            "network_mode='none')\n"
            "except docker.errors.APIError as e:\n    print(type(e).__name__, e, time.monotonic() - t < 40)\n"
            % (ROOT, cli.root, pc.image_root, str(tmp_path / "ctx.tgz")))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert json.loads(lines[0]) == [["apifo:latest"], True]
    assert json.loads(lines[1]) == ["apicc:latest"]
    assert "unsupported option(s): isolation" in lines[2] and "unsupported option(s): squash" in lines[3]
    assert "encoding='gzip'" in lines[4]
    assert lines[5].startswith("BuildFailed") and "timeout=2" in lines[5] and lines[5].endswith("True")
    assert run(pc, "apifo", "cat", "/fo") == "fo\n" and run(pc, "apicc", "cat", "/a") == "from-tar\n"
    assert build_dirs() == []
    assert pc("rmi", "apifo", "apicc").returncode == 0


def test_history_lists_each_step_newest_first(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nENV A=1\nRUN echo hi > /f\n"
                       "CMD [\"cat\", \"/f\"]\n"})
    build(pc, c, "-t", "hist:1")
    p = pc("history", "hist:1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    rows = [json.loads(line) for line in pc("history", "--format", "json", "hist:1").stdout.splitlines()]
    by = [r["CreatedBy"] for r in rows]
    assert by[0] == 'CMD ["cat", "/f"]'                       # JSON, as the Containerfile wrote it
    assert "RUN" in by[1] and "echo hi > /f" in by[1] and "ENV" in by[2]
    assert by[3].startswith("images/build-busybox.sh")          # the base image's step
    assert rows[0]["ID"] == inspect(pc, "hist:1")["Id"] and {r["ID"] for r in rows[1:]} == {"<missing>"}
    assert rows[0]["Size"] == rows[2]["Size"] == 0 and rows[1]["Size"] > 0 and rows[3]["Size"] > 0
    assert pc("image", "history", "-q", "hist:1").stdout.split()[0] == rows[0]["ID"][7:19]
    p = pc("history", "no-such-image-here")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1
    assert pc("rmi", "hist:1").returncode == 0


def test_api_container_commit(pc, cli, leakcheck):
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import pycontainer\n"
            "cl = pycontainer.Client(%r, image_root=%r)\n"
            "c = cl.containers.create('busybox', ['sh', '-c', 'echo api > /a'], "
            "network_mode='none', name='apicommit')\n"
            "c.start(); c.wait()\n"
            "img = c.commit('apicommitted', 'v2', changes=['CMD [\"cat\", \"/a\"]'])\n"
            "c.remove()\n"
            "print(img.tags[0])\n" % (ROOT, cli.root, pc.image_root))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "apicommitted:v2"
    assert run(pc, "apicommitted:v2") == "api\n"


def test_run_steps_get_env_workdir_user_and_build_args_not_kept(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nENV E=env\nWORKDIR /w\nARG A=default\n"
                       "RUN echo \"$E $A $HTTP_PROXY $(pwd) $(id -u)\" > /w/o\n"
                       "USER 1000\nRUN id -u > /tmp/uid\n"})
    p = build(pc, c, "-q", "-t", "runenv", "--build-arg", "A=given",
              "--build-arg", "HTTP_PROXY=http://proxy.invalid:3128")
    assert p.stdout.strip().startswith("sha256:") and len(p.stdout.strip().splitlines()) == 1
    assert run(pc, "runenv", "cat", "/w/o", "/tmp/uid") == \
        "env given http://proxy.invalid:3128 /w 0\n1000\n"
    i = inspect(pc, "runenv")
    assert "proxy.invalid" not in json.dumps(i) and not any("A=" in e for e in i["Config"]["Env"])


def test_save_of_a_built_image_loads_in_skopeo_and_prune_reclaims_the_cache(pc, tmp_path,
                                                                           leakcheck):
    import shutil
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo x > /x\n"})
    build(pc, c, "-t", "saveme")
    out = tmp_path / "saveme.tar"
    assert pc("save", "-o", str(out), "saveme").returncode == 0
    if shutil.which("skopeo"):
        p = subprocess.run(["skopeo", "inspect", f"oci-archive:{out}"], capture_output=True,
                           text=True)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["Layers"] == [x["digest"] for x in
                                                  inspect(pc, "saveme")["Layers"]]
    assert pc("rmi", "saveme").returncode == 0
    p = pc("builder", "prune")
    assert p.returncode == 0 and "forgot" in p.stdout
    assert "Using cache" not in build(pc, c, "-t", "saveme").stdout


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_push_authenticates_bearer_or_basic_and_uploads_everything(pc, tmp_path, scheme):
    """A fake registry: every /v2/ call wants ``Bearer tok`` with the push scope, or (basic)
    the user's credentials on every request, as a registry behind a basic-auth proxy does."""
    import base64
    want = "Bearer tok" if scheme == "bearer" else "Basic " + base64.b64encode(b"u:p").decode()
    from pycontainer.image import push as push_mod
    from pycontainer.image.store import Store
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo t > /t\n"})
    build(pc, c, "-t", "tokpush")
    got = {"blobs": {}, "manifest": None, "scopes": []}

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _auth(self) -> bool:
            if self.headers.get("Authorization") == want:
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", f'Bearer realm="http://127.0.0.1:{port}/token",'
                             'service="fake"' if scheme == "bearer" else 'Basic realm="fake"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def _reply(self, code, headers=()):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            if self.path.startswith("/token"):
                got["scopes"].append(self.path)
                body = b'{"token": "tok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def do_HEAD(self):
            if self._auth():
                d = self.path.rsplit("/", 1)[1]
                self._reply(200 if d in got["blobs"] else 404)

        def do_POST(self):
            if self._auth():
                self._reply(202, [("Location", "/v2/x/y/blobs/uploads/u1?state=1")])

        def do_PUT(self):
            if not self._auth():
                return
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if "/manifests/" in self.path:
                got["manifest"] = data
                self._reply(201, [("Docker-Content-Digest",
                                   "sha256:" + hashlib.sha256(data).hexdigest())])
            else:
                d = self.path.split("digest=")[1]
                assert "sha256:" + hashlib.sha256(data).hexdigest() == d
                got["blobs"][d] = len(data)
                self._reply(201)
    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        st = Store(pc.image_root)
        if scheme == "bearer":
            digest = push_mod.push(st, "tokpush", f"127.0.0.1:{port}/x/y:v1")
        else:                                          # the docker SDK's images.push
            from pycontainer.api import Client
            st.tag("tokpush", f"127.0.0.1:{port}/x/y:v1")
            out = Client(image_root=pc.image_root).images.push(
                f"127.0.0.1:{port}/x/y", "v1", auth_config={"username": "u", "password": "p"})
            digest = json.loads(out.splitlines()[-1])["aux"]["Digest"]
            chunks = list(Client(image_root=pc.image_root).images.push(      # docker-py's stream
                f"127.0.0.1:{port}/x/y", "v1", auth_config={"username": "u", "password": "p"},
                stream=True, decode=True))
            assert chunks[-1]["aux"]["Digest"] == digest and all(isinstance(c, dict) for c in chunks)
    finally:
        srv.shutdown()
    m = json.loads(got["manifest"])
    assert digest == inspect(pc, "tokpush")["Digest"]
    assert set(got["blobs"]) == {x["digest"] for x in m["layers"]} | {m["config"]["digest"]}
    if scheme == "bearer":
        assert got["scopes"] and "repository%3Ax%2Fy%3Apull%2Cpush" in got["scopes"][0]


def test_copy_follows_symlinked_dirs_of_the_image_and_never_the_host(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN mkdir -p /usr/real && "
                       "ln -s /usr/real /lnk && ln -s ../../etc /usr/esc\n"
                       "COPY tree/ /\nCOPY c a b /dst/\n",
                       "tree/lnk/file": "in real\n", "tree/usr/esc/pwn-test": "x\n",
                       "c/x/f": "ok\n", "b/x/pwn-test2": "x\n"})
    os.makedirs(os.path.join(c, "a"))
    os.symlink("/etc", os.path.join(c, "a", "x"))
    build(pc, c, "-t", "symcopy")
    assert not os.path.exists("/etc/pwn-test") and not os.path.exists("/etc/pwn-test2")
    out = run(pc, "symcopy", "sh", "-c", "cat /usr/real/file; ls /etc/pwn-test")
    assert out == "in real\n/etc/pwn-test\n"


# --- issue 13 polish: docker's live progress view, and `images` without the cache's steps ----

PROGRESS_FILE = "FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8; do echo line-$i; done\nRUN echo second\n"


def _pty_build(pc, cli, context, *args) -> bytes:
    """``pycontainer build`` as the session leader of a new pty (a user's terminal)."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(ROOT)
            env = dict(os.environ, PYCONTAINER_IMAGE_ROOT=pc.image_root)
            os.execve(sys.executable, [sys.executable, "-m", "pycontainer", "--root", cli.root,
                                       "build", "--network", "none", *args, context], env)
        finally:
            os._exit(127)
    out, end = b"", time.monotonic() + 240
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:                     # EIO: the child closed its side
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")
    return out


def test_progress_tty_is_a_live_view_on_a_terminal_and_plain_elsewhere(pc, cli, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": PROGRESS_FILE})
    out = _pty_build(pc, cli, c, "--progress", "tty", "--no-cache", "-t", "ttyprogress").decode()
    assert "STEP 2/3" not in out                                     # not the plain form
    assert "\x1b[J" in out                                            # redrawn in place
    assert "  | line-8" in out                                        # the step's output tail
    for n, text in ((1, "FROM busybox"), (2, "RUN for i in"), (3, "RUN echo second")):
        assert f"=> [{n}/3] {text}" in out, out                      # one final line per step
    import re
    assert re.search(r"=> \[2/3\] RUN for i in [^\n]* \d+\.\ds\r?\n", out), out   # with its time
    again = _pty_build(pc, cli, c, "--progress", "tty", "-t", "ttyprogress").decode()
    assert "=> [2/3] RUN for i in" in again and "CACHED" in again
    # the same flag with stdout on a pipe: plain lines
    p = build(pc, c, "--progress", "tty", "--no-cache")
    assert "STEP 2/3: RUN for i in" in p.stdout and "line-8" in p.stdout and "\x1b[" not in p.stdout


def test_rmi_of_an_untagged_builds_id_takes_it_out_of_images(pc, tmp_path, leakcheck):
    # `build -q .` prints the ID; `rmi ID` removed the build cache's entry of the last step
    # (it shares the ID) and left the image itself listed as <none>
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo u > /u\n"})
    image_id = build(pc, c, "-q", "--no-cache").stdout.strip()
    assert image_id.startswith("sha256:") and image_id[7:19] in pc("images").stdout
    p = pc("rmi", image_id)
    assert p.returncode == 0 and p.stdout.startswith(f"Deleted: {image_id}\n"), p.stdout + p.stderr
    assert image_id[7:19] not in pc("images").stdout
    assert image_id[7:19] not in pc("images", "-a").stdout      # its step's image went along


def test_rmi_takes_a_builds_step_images_along_unless_no_prune(pc, tmp_path, leakcheck):
    # docker rmi deletes the image's untagged parents (its classic builder's intermediate
    # images), but not one that another image grew from; --no-prune keeps them
    files = "FROM busybox\nRUN echo one > /one\nRUN echo {} > /two\n"
    a = build(pc, ctx(tmp_path, {"Containerfile": files.format("a")}, name="a"), "-q", "--no-cache",
              "-t", "localhost/rmi-a:1").stdout.strip()
    b = build(pc, ctx(tmp_path, {"Containerfile": files.format("b")}, name="b"), "-q",
              "-t", "localhost/rmi-b:1").stdout.strip()       # step 1 from a's cache

    def ids():
        return set(pc("images", "-aq", "--no-trunc").stdout.split())
    before = ids()
    assert {a, b} <= before and len(before) >= 4           # busybox, step 1, a, b (and steps 2)
    out = pc("rmi", "localhost/rmi-a:1").stdout.splitlines()
    assert out[:2] == ["Untagged: localhost/rmi-a:1", f"Deleted: {a}"]
    after = ids()
    assert a not in after and b in after
    assert all(f"Deleted: {g}" in out for g in before - after)     # each image that went, said
    assert len(after) >= 3                                 # busybox, step 1 (b's too), b
    out = pc("rmi", "--no-prune", "localhost/rmi-b:1").stdout.splitlines()
    assert out[0] == "Untagged: localhost/rmi-b:1"
    assert after - {b} <= ids()                            # its steps' images stay
    # "Deleted: ID" only when the ID went: b's last step's image shares b's ID when both
    # were made in the same second (the config's "created"), and --no-prune keeps it
    assert (f"Deleted: {b}" in out) == (b not in ids()), out
    assert pc("image", "prune", "-f").returncode == 0


def test_images_hides_the_build_caches_intermediate_images_unless_all(pc, tmp_path, leakcheck):
    c = ctx(tmp_path, {"Containerfile": "FROM busybox\nRUN echo a > /a\nRUN echo b > /b\n"})
    build(pc, c, "--no-cache", "-t", "withsteps")
    every = json.loads(pc("images", "-a", "--json").stdout)
    # a step image's config can be a listed image's too (the last step's is the final image's)
    listed = {r["id"] for r in every if r["names"] or not r["intermediate"]}
    steps = [r["id"] for r in every if r["intermediate"] and not r["names"] and r["id"] not in listed]
    assert steps, every                                               # the RUN steps' images
    shown = pc("images").stdout
    assert "withsteps" in shown
    assert not any(i[7:19] in shown for i in steps), shown
    assert all(i[7:19] in pc("images", "-a").stdout for i in steps)
    assert all(i[7:19] in pc("image", "ls", "--all").stdout for i in steps)
    ids = pc("images", "-a", "-q").stdout.split()          # one ID, one row: the final step's
    assert len(ids) == len(set(ids)), ids                   # cache entry is not the image again
    quiet = pc("images", "-q").stdout.split()
    assert not set(i[7:19] for i in steps) & set(quiet)
