"""Benchmark (not a timed test): apply_layer vs GNU ``tar -x`` on the same large layer.

Run with ``PYC_BENCH=1 python -m pytest -s tests/unit/test_layers_bench.py``;
``PYC_BENCH_DIRS`` (default: /usr/lib/python3.11 /usr/share/perl /usr/include)
picks what goes into the layer. Prints both medians and the ratio; asserts
only that both produced the same tree.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

import pytest

from pycontainer.image.layers import apply_layer

pytestmark = pytest.mark.skipif(os.environ.get("PYC_BENCH") != "1",
                                reason="benchmark: set PYC_BENCH=1 to run")


def test_bench_apply_layer_vs_tar(tmp_path):
    dirs = os.environ.get("PYC_BENCH_DIRS", "/usr/lib/python3.11 /usr/share/perl /usr/include").split()
    dirs = [d.lstrip("/") for d in dirs if os.path.isdir(d)]
    layer = tmp_path / "layer.tar"
    subprocess.run(["tar", "-cf", str(layer), "-C", "/", *dirs], check=True)
    entries = int(subprocess.run(f"tar -tf {layer} | wc -l", shell=True, capture_output=True,
                                 text=True).stdout)
    ours, gnu = [], []
    for i in range(3):
        for kind in ("tar", "py"):
            dest = tmp_path / f"{kind}{i}"
            dest.mkdir()
            subprocess.run(["sync"])
            t0 = time.perf_counter()
            if kind == "tar":
                subprocess.run(["tar", "-xf", str(layer), "-C", str(dest), "--same-owner",
                                "--same-permissions", "--xattrs"], check=True)
                gnu.append(time.perf_counter() - t0)
            else:
                apply_layer(str(layer), str(dest))
                ours.append(time.perf_counter() - t0)
        if i:
            shutil.rmtree(tmp_path / f"tar{i}")
            shutil.rmtree(tmp_path / f"py{i}")
    diff = subprocess.run(["diff", "-r", "--no-dereference", str(tmp_path / "tar0"),
                           str(tmp_path / "py0")], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout[:2000]
    mo, mg = statistics.median(ours), statistics.median(gnu)
    print(f"\nlayer: {layer.stat().st_size / 1e6:.0f} MB, {entries} entries; "
          f"apply_layer {mo:.2f}s, tar -x {mg:.2f}s, ratio {mo / mg:.2f}x")
