#!/usr/bin/env python3
"""Image builds: pycontainer build against ``buildah bud --layers``, same Containerfiles, same run.

Three timings per Containerfile, each the median of ``-n`` runs, the two
builders interleaved so load changes hit both alike:

* cold: ``--no-cache`` (the base image is present in both stores; every
  step runs and every layer is written);
* no-change rebuild: the same build again with the cache;
* one changed file: one copied file (late in the file) edited, then build.

Both builders run RUN steps with ``--network none``; buildah uses its
default runc isolation and the overlay driver, in its own temporary storage
(``--root``/``--runroot``), into which our base images are loaded with
``pycontainer save`` + ``buildah pull oci-archive:``. pycontainer uses a
temporary image store. Goals (issue 13): cold <= 1.0x buildah,
no-change <= 0.5x.

    sudo python3 bench/build.py [-n RUNS]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable

BUSYBOX = """FROM docker.io/library/busybox:latest
ENV N=300
COPY data/ /data/
RUN mkdir /gen && i=0; while [ $i -lt $N ]; do echo $i > /gen/$i; i=$((i+1)); done
WORKDIR /app
COPY app.txt .
RUN wc -c app.txt > size.txt
CMD ["cat", "/app/size.txt"]
"""

SEED = """FROM localhost/python:3.11
WORKDIR /srv
COPY requirements.txt .
COPY wheels /wheels
RUN pip install --no-index --find-links /wheels -r requirements.txt
COPY app/ app/
EXPOSE 8080
CMD ["python3", "app/server.py"]
"""


def sh(cmd, **kw):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, **kw)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr.strip()[-500:]}")
    return p.stdout


def timed(cmd, env=None) -> float:
    t = time.perf_counter()
    sh(cmd, env=env)
    return time.perf_counter() - t


def contexts(work: str) -> dict:
    out = {}
    b = os.path.join(work, "busybox")
    os.makedirs(os.path.join(b, "data"))
    for i in range(200):
        with open(os.path.join(b, "data", f"f{i}"), "w") as f:
            f.write(f"file {i}\n" * 50)
    with open(os.path.join(b, "app.txt"), "w") as f:
        f.write("version 0\n")
    with open(os.path.join(b, "Containerfile"), "w") as f:
        f.write(BUSYBOX)
    out["busybox"] = (b, "app.txt")
    s = os.path.join(work, "seed")
    os.makedirs(os.path.join(s, "app"))
    src = os.path.join(work, "greet-src")
    os.makedirs(os.path.join(src, "greet"))
    with open(os.path.join(src, "greet", "__init__.py"), "w") as f:
        f.write("def hello():\n    return 'hello'\n")
    with open(os.path.join(src, "pyproject.toml"), "w") as f:
        f.write('[build-system]\nrequires = ["setuptools"]\nbuild-backend = '
                '"setuptools.build_meta"\n[project]\nname = "greet"\nversion = "1.0"\n')
    sh(["/usr/bin/python3", "-m", "pip", "wheel", "--no-index", "--no-build-isolation",
        "--no-deps", "-w", os.path.join(s, "wheels"), src])
    with open(os.path.join(s, "requirements.txt"), "w") as f:
        f.write("greet\n")
    with open(os.path.join(s, "app", "server.py"), "w") as f:
        f.write("import greet\nprint(greet.hello())\n# 0\n")
    with open(os.path.join(s, "Containerfile"), "w") as f:
        f.write(SEED)
    out["seed"] = (s, "app/server.py")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3)
    a = ap.parse_args()
    if shutil.which("buildah") is None:
        raise SystemExit("buildah is not installed (apt-get install buildah)")
    work = tempfile.mkdtemp(prefix="bench-build-")
    store = os.path.join(work, "images")
    state = os.path.join(work, "state")
    env = dict(os.environ, PYCONTAINER_IMAGE_ROOT=store)
    pyc = [PY, "-m", "pycontainer", "--root", state, "build", "-q", "--network", "none"]
    bah = ["buildah", "--root", os.path.join(work, "b-root"), "--runroot",
           os.path.join(work, "b-run"), "--storage-driver", "overlay"]
    bud = bah + ["bud", "-q", "--layers", "--network", "none"]
    os.chdir(HERE)
    try:
        ctxs = contexts(work)
        for ref in ("docker.io/library/busybox:latest", "localhost/python:3.11"):
            sh([PY, "-m", "pycontainer", "--root", state, "run", "--rm", "--net", "none", ref,
                "true"], env=env)                                  # builds the built-in image
            tar = os.path.join(work, "base.tar")
            sh([PY, "-m", "pycontainer", "save", "-o", tar, ref], env=env)
            iid = sh(bah + ["pull", "-q", f"oci-archive:{tar}"]).split()[-1]
            sh(bah + ["tag", iid, ref])
            os.unlink(tar)
        # buildah prefers crun when installed, which refuses a hybrid cgroup host: use runc
        bah_env = dict(os.environ, BUILDAH_RUNTIME=shutil.which("runc") or "runc")
        res = {}
        for name, (ctx, changed) in ctxs.items():
            r = {k: {"pycontainer": [], "buildah": []} for k in ("cold", "nochange", "onefile")}
            for i in range(a.n):
                for who, cmd, e in (("pycontainer", pyc, env), ("buildah", bud, bah_env)):
                    r["cold"][who].append(timed(cmd + ["--no-cache", "-t", f"b-{name}", ctx], e))
                    timed(cmd + ["-t", f"b-{name}", ctx], e)      # warm the cache
                    r["nochange"][who].append(timed(cmd + ["-t", f"b-{name}", ctx], e))
                    with open(os.path.join(ctx, changed), "a") as f:
                        f.write(f"# change {who} {i}\n")
                    r["onefile"][who].append(timed(cmd + ["-t", f"b-{name}", ctx], e))
            res[name] = r
        print(f"{'build':<10} {'case':<10} {'pycontainer s':>14} {'buildah s':>10} {'ratio':>7}")
        for name, r in res.items():
            for case, v in r.items():
                p, b = statistics.median(v["pycontainer"]), statistics.median(v["buildah"])
                print(f"{name:<10} {case:<10} {p:>14.3f} {b:>10.3f} {p / b:>7.2f}")
    finally:
        subprocess.run(bah + ["rmi", "--all", "--force"], capture_output=True)
        subprocess.run(["umount", "-R", os.path.join(work, "b-root", "overlay")],
                       capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
