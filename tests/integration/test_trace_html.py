"""--trace-to FILE.html: a self-contained timeline page, rendered by a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import new_id

pytestmark = pytest.mark.root


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless browser (apt-get install chromium)")


@pytest.fixture
def page(cli, bundle, tmp_path, leakcheck):
    bundle.args("sh", "-c", "echo hi; exit 3")
    path = str(tmp_path / "trace.html")
    r = cli("--trace-to", path, "run", "-b", bundle.path, new_id())
    assert r.returncode == 3, r.stderr
    return path


def test_page_is_self_contained_and_has_every_stage(page):
    text = open(page).read()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "the page must fetch nothing"
    for stage in ("runtime", "init", "program"):
        assert f"data-stage='{stage}'" in text, stage
    assert "exit status = 3" in text              # the program's end, from the runtime's reap
    assert "execve" in text and "pivot_root" in text


def test_headless_browser_renders_the_timeline(page, tmp_path):
    browser = _browser()
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(base + ["--dump-dom", f"file://{page}"], capture_output=True, text=True,
                         timeout=120).stdout
    for stage in ("runtime", "init", "program"):
        assert f'data-stage="{stage}"' in dom, f"{stage} row not in the rendered page"
    assert dom.count('class="bar') >= 20
    shot = tmp_path / "timeline.png"
    subprocess.run(base + [f"--screenshot={shot}", "--window-size=1400,700", f"file://{page}"],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_docker_form_on_the_bridge_shows_image_config_and_network_steps(cli, tmp_path, leakcheck):
    """The picture in labs/: ``run --rm -p ... busybox true`` (PYC_SAVE_TIMELINE=labs/trace-timeline.png)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = str(tmp_path / "docker.html")
    r = cli("--trace-to", path, "run", "--rm", "-p", f"127.0.0.1:{port}:80", "busybox", "true")
    assert r.returncode == 0, r.stderr
    text = open(path).read()
    for step in ("startup", "find in index.json", "write config.json", "import pyroute2",
                 "rtnetlink link add", "nft -j", "pivot_root", "execve"):
        assert step in text, step
    browser = _browser()
    shot = tmp_path / "timeline.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1400,760", f"file://{path}"], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    if os.environ.get("PYC_SAVE_TIMELINE"):          # how labs/trace-timeline.png is made
        shutil.copy(shot, os.environ["PYC_SAVE_TIMELINE"])
