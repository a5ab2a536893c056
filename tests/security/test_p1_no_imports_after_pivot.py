"""P1: no Python code is imported from the container's filesystem after pivot_root.

After the pivot every sys.path entry resolves inside the image. The image
here plants, under each of those paths, modules the runtime could import
lazily (json.decoder, shlex, gettext, locale, encodings.idna, ctypes, the
pycontainer package itself...) whose body writes a marker; create/run/exec,
with seccomp, a terminal-less error path (bad cwd), a unicode hostname and
the userless defaults, must never run them. (exec is also covered in
tests/integration/test_exec.py.)
"""

import os
import subprocess
import sys
import textwrap

import pytest

from conftest import new_id
from _helpers import docker_seccomp

pytestmark = pytest.mark.root

MODULES = ("json", "shlex", "gettext", "locale", "ctypes", "subprocess", "pycontainer", "prctl", "_prctl",
           "capabilities", "encodings", "zlib", "struct", "_helpers", "site", "sitecustomize")


def _plant(rootfs: str) -> str:
    marker = os.path.join(rootfs, "tmp", "pwned")
    body = "open('/tmp/pwned', 'a').write(__name__ + '\\n')\n"
    for entry in sys.path:
        if not entry.startswith("/") or entry.endswith(".zip"):
            continue
        d = os.path.join(rootfs, entry.lstrip("/"))
        os.makedirs(d, exist_ok=True)
        for mod in MODULES:
            with open(os.path.join(d, mod + ".py"), "w") as f:
                f.write(body)
            pkg = os.path.join(d, mod)
            os.makedirs(pkg, exist_ok=True)
            for sub in ("__init__", "decoder", "idna", "util"):
                with open(os.path.join(pkg, sub + ".py"), "w") as f:
                    f.write(body)
    return marker


def test_P1_create_run_and_exec_never_import_from_the_image(cli, bundle, leakcheck):
    marker = _plant(bundle.rootfs)
    bundle.config["linux"]["seccomp"] = docker_seccomp()
    bundle.config["hostname"] = "hôte-ünïcode"
    bundle.args("sh", "-c", "echo ok")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    # create + start + exec
    bundle.args("sleep", "30")
    cid = new_id()
    assert cli.create(cid, bundle.path).returncode == 0
    assert cli("start", cid).returncode == 0
    p = cli("exec", cid, "sh", "-c", "echo ok")
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
    cli("delete", "--force", cid)
    # error paths after the pivot: a cwd that is a file (a missing one is created, as
    # runc does), a missing program
    bundle.config["process"]["cwd"] = "/etc/passwd"
    bundle.args("sh", "-c", "true")
    p = cli("run", "-b", bundle.path, new_id())
    assert p.returncode != 0 and "cwd" in p.stderr
    assert not os.path.exists(marker), open(marker).read()


def test_P1_the_audit_hook_refuses_imports_after_pivot():
    """Unit (a): the init's hook turns any import into an ImportError, without running it."""
    code = textwrap.dedent("""
        import sys
        from pycontainer.process import init
        sys.addaudithook(init.no_imports_after_pivot)
        try:
            import xml.dom.minidom   # not imported yet
        except ImportError as exc:
            print("refused:", exc)
        print("xml.dom.minidom" in sys.modules)
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert "refused:" in p.stdout and "after pivot_root" in p.stdout, (p.stdout, p.stderr)
    assert p.stdout.strip().endswith("False")
