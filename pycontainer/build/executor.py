"""Run a Containerfile's steps: metadata into the image config, RUN/COPY/ADD into layers.

``build(Options)`` parses the Containerfile, plans the stages (``plan``),
and walks the needed stages' instructions. Each RUN runs in a pycontainer
container (``api.operations.op_run``: the same bundle ``run`` makes, docker's seccomp
profile and capabilities, the image's env/workdir/user plus the build args,
``--network``), on an overlay of the previous step's image; its upper dir
becomes a layer (``image/layerwriter.py``). COPY/ADD write into a fresh
upper dir (``copy``). Every layer step commits an unnamed image that the
cache (``cache``) records under the step's key; the last step commits the
named result. Metadata instructions only change the config and add an
``empty_layer`` history entry.

On any failure or Ctrl-C the step's container is deleted (cgroup, mounts,
its dir and image hold go with it) and temporary dirs are removed; blobs
are written through the store's ingest, so nothing half-written remains.

Read: Dockerfile reference; image-spec ``config.md`` (history, empty_layer).
"""

from __future__ import annotations

import copy as _copy
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field

from . import BuildError, StepFailed
from . import cache as cache_mod
from . import containerfile as cf
from . import copy as cp
from .merged import Tree
from .plan import Stage, plan_stages
from ..image.manifest import ANN_INTERMEDIATE   # on each step's image: `images` hides it unless -a

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class Options:
    context: str
    file: str | None = None
    tags: list = field(default_factory=list)
    build_args: dict = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: str = "missing"
    network: str = "bridge"
    labels: dict = field(default_factory=dict)
    quiet: bool = False
    root: str = "/run/pycontainer"
    image_root: str | None = None
    out: object = None                     # progress stream (text); default stdout
    progress: str = "plain"                # plain | tty | auto (progress.py)
    secrets: dict = field(default_factory=dict)     # build --secret: {id: bytes} (runmounts.py)
    file_label: str | None = None          # the Containerfile's name in errors (one from stdin)


@dataclass
class State:
    """One stage being built: its image so far."""

    config: dict                           # the whole image config (config, history, rootfs)
    manifest: dict
    ref: str | None                        # an image in the store with these layers
    layers: list                           # unpacked layer dirs (bottom first)
    key: str
    args: dict = field(default_factory=dict)      # ARGs declared in this stage
    shell: list = field(default_factory=lambda: list(DEFAULT_SHELL))
    cmd_set: bool = False


def find_file(context: str, file: str | None) -> str:
    if file:
        path = file if os.path.isabs(file) else os.path.abspath(file)
        if not os.path.isfile(path):
            raise BuildError(f"Containerfile {file!r} not found")
        return path
    for name in ("Containerfile", "Dockerfile"):
        p = os.path.join(context, name)
        if os.path.isfile(p):
            return p
    raise BuildError(f"no Containerfile or Dockerfile in the build context {context!r}")


class Builder:
    def __init__(self, opts: Options):
        from ..image.store import Store
        self.o = opts
        self.out = opts.out or sys.stdout
        from . import progress
        self.progress = progress.choose(opts.progress, self.out, opts.quiet)
        self.store = Store(opts.image_root)
        self.cache = cache_mod.Cache(self.store, disabled=opts.no_cache)
        self.stages: dict[int, State] = {}
        self.step = 0
        self.total = 0
        self.used_args: set = set()
        self.work: list[str] = []           # temp dirs to remove

    # -- output ---------------------------------------------------------------------------

    def say(self, msg: str) -> None:
        self.progress.say(msg)

    # -- driver ---------------------------------------------------------------------------

    def run(self):
        if not os.path.isdir(self.o.context):
            raise BuildError(f"build context {self.o.context!r} is not a directory")
        self.context = os.path.realpath(self.o.context)
        path = find_file(self.context, self.o.file)
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        ins = cf.parse(text, self.o.file_label or (
            os.path.relpath(path) if not os.path.isabs(self.o.file or "") else path))
        from . import ignore
        self.ignore = ignore.load(self.context)
        stages, global_args = plan_stages(ins, self.o.target, self.o.build_args)
        self.global_args = global_args
        self.stage_names = {s.index: s.name for s in stages}
        need = [s for s in stages if s.needed]
        self.total = sum(1 + len(s.instructions) for s in need)
        try:
            img = None
            for s in need:
                img = self.build_stage(s, final=s is need[-1])
            return img
        finally:
            self.progress.close()
            for d in self.work:
                shutil.rmtree(d, ignore_errors=True)

    def build_stage(self, s: Stage, final: bool):
        self.step += 1
        self.progress.step(self.step, self.total, s.from_ins.text())
        st = self.from_(s)
        todo = list(s.instructions)
        triggers = (st.config.get("config") or {}).get("OnBuild") or []
        if triggers:
            st.config.setdefault("config", {})["OnBuild"] = None
            trig = cf.parse("\n".join(triggers), f"{s.from_ins.where} (ONBUILD of the base)")
            todo = trig + todo
            self.total += len(trig)
        for ins in todo:
            t0 = time.monotonic()
            self.step += 1
            self.progress.step(self.step, self.total, ins.text())
            hit = self.instruction(st, ins)
            if hit:
                self.progress.cached(hit)
            self.progress.done(time.monotonic() - t0)
        labels = self.o.labels if final else {}
        k = cache_mod.key(st.key, "commit", labels)
        img = self.cache.get(k)
        names = list(self.o.tags) if final else []
        if img is None:
            cfg = _copy.deepcopy(st.config)
            if labels:
                c = cfg.setdefault("config", {})
                c["Labels"] = {**(c.get("Labels") or {}), **labels}
            cfg["created"] = _now()
            # a stage before the last is a step of this build: `images` shows it only with -a
            # (docker's BuildKit does not list it at all; podman's -a)
            img = self._commit(st, cfg, [], names, intermediate=not final)
            self.cache.put(k, img.digest)
        elif names:
            img = self._tag(img, names)
        self.stages[s.index] = State(img.config, img.manifest, img.digest, img.layers, st.key)
        return img

    # -- FROM -----------------------------------------------------------------------------

    def from_(self, s: Stage) -> State:
        ins = s.from_ins
        plat = ins.flags.get("platform")
        if plat:
            from ..image import reference
            plat = cf.word(plat, self.global_args, ins.escape)
            host = reference.host_platform()
            if plat.split("/")[:2] != [host["os"], host["architecture"]]:
                raise ins.error(f"--platform={plat}: this builder runs {host['os']}/"
                                f"{host['architecture']} only")
        if s.base_stage is not None:
            b = self.stages[s.base_stage]
            return State(_copy.deepcopy(b.config), b.manifest, b.ref, b.layers,
                         cache_mod.key("stage", b.ref))
        if s.base.lower() == "scratch":
            cfg = {"architecture": _arch(), "os": "linux", "config": {},
                   "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return State(cfg, {"layers": []}, None, [], cache_mod.key("scratch"))
        img = self.image(s.base, ins)
        cfg = _copy.deepcopy(img.config)
        cfg.setdefault("config", {})
        return State(cfg, img.manifest, img.digest, img.layers, cache_mod.key("from", img.digest))

    def image(self, ref: str, ins):
        from ..errors import ImageError
        from ..image.store import ImageNotFound
        try:
            if self.o.pull == "always":
                self.store.pull(ref)
            return self.store.resolve(ref)
        except ImageNotFound:
            if self.o.pull == "never":
                raise ins.error(f"image {ref!r} not found in the store (--pull=never)") from None
            try:
                self.store.pull(ref)
                return self.store.resolve(ref)
            except ImageError as exc:
                raise ins.error(f"{ref}: {exc}") from None
        except ImageError as exc:
            raise ins.error(f"{ref}: {exc}") from None

    # -- one instruction ------------------------------------------------------------------

    def env(self, st: State) -> dict:
        """Variables for substitution: the stage's ARGs, then the image's ENV over them."""
        out = dict(st.args)
        for item in (st.config.get("config") or {}).get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def instruction(self, st: State, ins: cf.Instruction):
        from . import metadata
        kw = ins.keyword
        c = st.config.setdefault("config", {})
        if kw == "ARG":
            for k, v in cf.key_values(ins, self.env(st)):
                if k in self.o.build_args:
                    v = self.o.build_args[k]
                    self.used_args.add(k)
                elif v is None:
                    v = self.global_args.get(k)
                if v is not None:
                    st.args[k] = v
                else:
                    st.args.setdefault(k, "")
            st.key = cache_mod.key(st.key, "ARG", sorted(st.args.items()))
            return None
        if kw in ("RUN", "COPY", "ADD") or (kw == "WORKDIR"):
            return getattr(self, "do_" + kw.lower())(st, ins)
        text = metadata.apply(st, ins, self.env(st))
        st.key = cache_mod.key(st.key, kw, text)
        st.config.setdefault("history", []).append(
            {"created": _now(), "created_by": text, "comment": "pycontainer build",
             "empty_layer": True})
        return None

    # -- WORKDIR: metadata, plus the directory when the image lacks it ----------------------

    def do_workdir(self, st: State, ins):
        from . import metadata
        text = metadata.apply(st, ins, self.env(st))
        wd = st.config["config"]["WorkingDir"]
        st.key = cache_mod.key(st.key, "WORKDIR", wd)
        tree = Tree(st.layers)
        if tree.lstat(tree.resolve(wd)) is not None:
            st.config.setdefault("history", []).append(
                {"created": _now(), "created_by": text, "empty_layer": True})
            return None

        def write(upper):
            cp.make_dirs(upper, tree, tree.resolve(wd), set(), ins.where)
        return self.layer_step(st, st.key, text, write)

    # -- RUN ------------------------------------------------------------------------------

    def do_run(self, st: State, ins):
        from . import runmounts, runstep
        bad = set(ins.flags) - {"network", "mount"}
        if bad:
            raise ins.error(f"--{sorted(bad)[0]} is not supported by this builder")
        if ins.flags.get("network", "none") not in ("none", "host", "bridge", "default"):
            raise ins.error(f"--network={ins.flags['network']}: want none, host or default")
        argv = self.run_argv(st, ins)
        env = self.run_env(st)
        c = st.config["config"]
        mounts = runmounts.parse([cf.word(m or "", self.env(st), ins.escape)
                                  for m in ins.flags.get("mount") or []],
                                 c.get("WorkingDir") or "/", ins.error)
        binds = {i: runmounts.bind_source(self, st, ins, m) for i, m in enumerate(mounts)
                 if m["type"] == "bind"}
        k = cache_mod.key(st.key, "RUN", argv, env, ins.flags, [b[1] for b in binds.values()])
        text = "RUN " + (" ".join(argv[len(st.shell):]) if not ins.json_form else str(argv))
        hit = self.cache.get(k)
        if hit:
            return self.adopt(st, hit, k)
        if st.ref is None:
            raise ins.error("cannot run on an image with no layers (FROM scratch)")
        net = ins.flags.get("network") or self.o.network
        net = self.o.network if net == "default" else net
        with runmounts.mounted(mounts, binds, self.store.path("build-mounts"), self.o.secrets,
                               ins.error) as specs:
            layer = runstep.run(self, st, ins, argv, env, c.get("WorkingDir") or "/",
                                c.get("User") or "", net, mounts=specs,
                                targets=[m["target"] for m in mounts])
        return self.commit_layer(st, k, text, layer)

    def run_argv(self, st: State, ins) -> list[str]:
        if ins.json_form is not None:
            if not ins.json_form:
                raise ins.error("needs a command")
            return list(ins.json_form)
        if ins.heredocs and ins.args.strip() == f"<<{ins.heredocs[0][0]}" or \
                ins.heredocs and ins.args.strip() == f"<<-{ins.heredocs[0][0]}":
            body = ins.heredocs[0][1]
            return list(st.shell) + [body]
        script = ins.args
        for w, body, _ in ins.heredocs:
            script += "\n" + body + w
        if not script.strip():
            raise ins.error("needs a command")
        return list(st.shell) + [script]

    def run_env(self, st: State) -> list[str]:
        env = {}
        for k, v in st.args.items():
            env[k] = v
        for k in PROXY_ARGS:
            if k in self.o.build_args:
                env[k] = self.o.build_args[k]
        for item in st.config["config"].get("Env") or []:
            k, _, v = item.partition("=")
            env[k] = v
        return [f"{k}={v}" for k, v in env.items()]

    # -- COPY / ADD -----------------------------------------------------------------------

    def do_copy(self, st: State, ins):
        return self._copy(st, ins, add=False)

    def do_add(self, st: State, ins):
        return self._copy(st, ins, add=True)

    def _copy(self, st: State, ins, add: bool):
        env = self.env(st)
        what = f"{ins.where}: {ins.keyword}"
        unknown = set(ins.flags) - {"from", "chown", "chmod", "link", "checksum"}
        if unknown or (add and "from" in ins.flags):
            raise ins.error(f"unknown flag --{sorted(unknown or {'from'})[0]}")
        if ins.json_form is not None:
            args = [cf.word(a, env, ins.escape) for a in ins.json_form]
        else:
            args = cf.words(ins.args, env, ins.escape)
        if ins.heredocs:
            args = [a for a in args if not a.startswith("<<")]       # the <<WORD markers
        if len(args) < (1 if ins.heredocs else 2):
            raise ins.error("requires at least two arguments: source(s) and destination")
        dest, sources = args[-1], args[:-1]
        c = st.config["config"]
        tree = Tree(st.layers)
        src = self.source(ins, env, what)
        if ins.heredocs or (add and any(s.startswith(("http://", "https://")) for s in sources)):
            src, sources = self.staged_sources(ins, env, sources, what)
        plan, _ = cp.plan(src, sources, dest, c.get("WorkingDir") or "/", tree, what, add=add)
        chown = ins.flags.get("chown")
        owner = None
        if chown:
            from ..image import runconfig
            from ..errors import ImageError
            spec = cf.word(chown, env, ins.escape)
            try:
                u = runconfig.resolve_user(st.layers, spec if ":" in spec or not spec.isdigit()
                                           else spec + ":" + spec)
            except ImageError as exc:
                raise ins.error(f"--chown={spec}: {exc}") from None
            owner = (u["uid"], u["gid"])
        chmod = ins.flags.get("chmod")
        mode = None
        if chmod:
            try:
                mode = int(chmod, 8)
                if not 0 <= mode <= 0o7777:
                    raise ValueError
            except ValueError:
                raise ins.error(f"--chmod={chmod}: not an octal mode") from None
        text = f"{ins.keyword} " + " ".join(
            [f"--{k}={v}" for k, v in sorted(ins.flags.items())] + list(args))
        k = cache_mod.key(st.key, ins.keyword, sources, dest, c.get("WorkingDir"),
                          ins.flags.get("from") and self.from_ref, plan.checksum(owner, mode))

        def write(upper):
            cp.apply(plan, upper, tree, owner, mode, what)
        return self.layer_step(st, k, text, write)

    def source(self, ins, env, what, ref=None):
        """Where COPY (or RUN --mount=type=bind) reads: the context, or ``--from`` / ``ref``'s
        stage or image."""
        ref = ref or ins.flags.get("from")
        self.from_ref = None
        if ref is None:
            return cp.ContextSource(self.context, self.ignore)
        ref = cf.word(ref, env, ins.escape)
        for i, stt in self.stages.items():
            if str(i) == ref or self.stage_names.get(i) == ref.lower():
                self.from_ref = stt.ref
                return cp.ImageSource(stt.layers, f"stage {ref!r}")
        img = self.image(ref, ins)
        self.from_ref = img.digest
        return cp.ImageSource(img.layers, f"image {ref!r}")

    def staged_sources(self, ins, env, sources, what):
        """Heredoc bodies and URLs become files in a temp dir used as the source."""
        tmp = self.tmpdir()
        names = []
        for w, body, expand in ins.heredocs:
            with open(os.path.join(tmp, w), "w") as f:
                f.write(cf.expand_vars(body, env, ins.escape) if expand else body)
            os.chmod(os.path.join(tmp, w), 0o644)
            names.append(w)
        for s in sources:
            if s.startswith(("http://", "https://")):
                sub = self.tmpdir()
                path, name = cp.fetch_url(s, sub, what)
                os.rename(path, os.path.join(tmp, name))
                names.append(name)
            elif not s.startswith("<<"):
                raise ins.error("cannot mix context sources with heredocs or URLs in this "
                                "builder")
        return cp.ContextSource(tmp, None), names

    # -- layers and images ----------------------------------------------------------------

    def tmpdir(self) -> str:
        import tempfile
        from ..image.rootfs import DEFAULT_CONTAINERS
        base = os.environ.get("PYCONTAINER_CONTAINERS_DIR") or DEFAULT_CONTAINERS
        os.makedirs(base, mode=0o711, exist_ok=True)
        d = tempfile.mkdtemp(prefix="build-", dir=base)
        from ..image.rootfs import mark_creator
        mark_creator(d)            # gc (containerdir.gc) takes it only once this build is gone
        self.work.append(d)
        return d

    def layer_step(self, st: State, k: str, text: str, write):
        hit = self.cache.get(k)
        if hit:
            return self.adopt(st, hit, k)
        upper = os.path.join(self.tmpdir(), "upper")
        os.mkdir(upper, 0o755)
        write(upper)
        from ..image import layerwriter
        layer = layerwriter.add_layer(self.store, upper)
        shutil.rmtree(os.path.dirname(upper), ignore_errors=True)
        return self.commit_layer(st, k, text, layer)

    def commit_layer(self, st: State, k: str, text: str, layer) -> None:
        cfg = _copy.deepcopy(st.config)
        cfg.setdefault("history", []).append({"created": _now(), "created_by": text,
                                              "comment": "pycontainer build"})
        cfg["created"] = _now()
        img = self._commit(st, cfg, [layer], [], intermediate=True)
        self.cache.put(k, img.digest)
        self._adopt(st, img, k)
        return None

    def _commit(self, st: State, cfg: dict, layers, names, intermediate: bool = False):
        from ..image import layerwriter
        return layerwriter.add_image(self.store, st.manifest, cfg, layers, names,
                                     {ANN_INTERMEDIATE: "true"} if intermediate else None)

    def _tag(self, img, names):
        for n in names:
            self.store.tag(img.digest, n)
        return self.store.resolve(img.digest)

    def adopt(self, st: State, img, k: str) -> str:
        self._adopt(st, img, k)
        return img.id[7:19]

    def _adopt(self, st: State, img, k: str) -> None:
        st.config = _copy.deepcopy(img.config)
        st.config.setdefault("config", {})
        st.manifest, st.ref, st.layers, st.key = img.manifest, img.digest, img.layers, k


def build(opts: Options):
    """Build; returns the store Image of the target stage."""
    b = Builder(opts)
    return b.run()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _arch() -> str:
    from ..image import reference
    return reference.host_platform()["architecture"]


def new_container_id() -> str:
    return "build-" + uuid.uuid4().hex[:20]
