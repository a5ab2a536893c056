"""`run` serves runc's users (a bundle) and docker's (an image): which form, and one help page.

See pycontainer/runform.py for the rule. These run the real runtime from a
bundle directory (cwd), as runc's users type `runc run ID` there.
"""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.root


def run_in(cli, cwd, *args, timeout=60):
    env = dict(os.environ, PYTHONPATH=ROOT)           # this checkout, from any directory
    return subprocess.run([sys.executable, "-m", "pycontainer", "--root", cli.root, "run", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_run_id_in_a_bundle_directory_runs_that_bundle(cli, bundle, leakcheck):
    bundle.args("sh", "-c", "echo from-the-bundle; exit 3")
    p = run_in(cli, bundle.path, "form1")
    assert (p.returncode, p.stdout) == (3, "from-the-bundle\n"), p.stderr
    assert not os.path.exists(os.path.join(cli.root, "form1"))       # run deletes it, as runc's
    p = run_in(cli, bundle.path, "--pid-file", "pid", "form2")       # runc-only option, no -b
    assert p.returncode == 3 and os.path.exists(os.path.join(bundle.path, "pid")), p.stderr


def test_a_name_that_is_also_a_local_image_is_refused_with_what_to_type(cli, bundle, leakcheck):
    p = run_in(cli, bundle.path, "busybox")                          # the built-in image
    assert p.returncode == 1 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "ambiguous" in p.stderr
    assert "run -b . busybox" in p.stderr and "busybox:latest" in p.stderr
    assert not os.listdir(cli.root) if os.path.isdir(cli.root) else True
    p = run_in(cli, bundle.path, "--rm", "--net", "none", "--name", "rf-image", "busybox:latest", "echo",
               "the-image")
    assert (p.returncode, p.stdout) == (0, "the-image\n"), p.stderr


def test_both_forms_options_at_once_are_refused(cli, bundle, leakcheck):
    p = run_in(cli, bundle.path, "--rm", "--pid-file", "pid", "busybox")
    assert p.returncode == 1 and "--pid-file" in p.stderr and "--rm" in p.stderr
    p = run_in(cli, bundle.path)
    assert p.returncode == 1 and "pycontainer run --help" in p.stderr


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--rm", "--help"], ["-b", ".", "--help"]])
def test_help_shows_both_forms(cli, tmp_path, args):
    p = run_in(cli, tmp_path, *args)
    assert p.returncode == 0, p.stderr
    for option in ("--bundle", "--console-socket", "--pid-file", "--preserve-fds",   # runc's
                   "--rm", "--publish", "--env", "--memory", "--hostname"):          # docker's
        assert option in p.stdout, option
    assert "config.json" in p.stdout                                    # the rule is explained


def test_what_follows_the_image_is_the_commands_as_with_docker(cli, tmp_path, leakcheck):
    p = run_in(cli, tmp_path, "--rm", "--net", "none", "--name", "rf-ls", "busybox", "ls", "--help")
    assert "Usage: ls" in p.stdout + p.stderr
    p = run_in(cli, tmp_path, "--rm", "--net", "none", "--name", "rf-help", "busybox", "--help")
    assert p.returncode != 0 and "'--help'" in p.stderr and "not found" in p.stderr
    p = run_in(cli, tmp_path, "--rm", "--net", "none", "--name", "rf-h", "-h", "named", "busybox", "hostname")
    assert (p.returncode, p.stdout) == (0, "named\n"), p.stderr         # -h before it: --hostname
