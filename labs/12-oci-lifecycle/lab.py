"""Lab 12's program: a bundle from `pycontainer spec`, then create/start/state/kill/delete."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import labkit  # noqa: E402

ex = labkit.load_exercise(os.path.dirname(os.path.abspath(__file__)))
bundle = os.path.join(labkit.state_dir("12"), "bundle")
labkit.busybox_rootfs(os.path.join(bundle, "rootfs"))
if os.path.exists(os.path.join(bundle, "config.json")):
    os.unlink(os.path.join(bundle, "config.json"))
subprocess.run([sys.executable, "-m", "pycontainer", "spec"], cwd=bundle, check=True,
               env=dict(os.environ, PYTHONPATH=labkit.REPO))
with open(os.path.join(bundle, "config.json")) as f:
    config = json.load(f)
config["process"]["terminal"] = False
config["process"]["args"] = ["sleep", "60"]
with open(os.path.join(bundle, "config.json"), "w") as f:
    json.dump(config, f)

os.chdir(labkit.REPO)                 # so `python -m pycontainer` finds this checkout
cid = f"lab12-{os.getpid()}"
seen = []
ex.create(bundle, cid)
seen.append(("create", ex.status(cid)))
pid = json.loads(ex.runtime("state", cid).stdout)["pid"]
with open(f"/proc/{pid}/stat") as f:
    started = f.read().rsplit(")", 1)[1].split()[19]     # field 22: start time (proc(5))
ex.start(cid)
seen.append(("start", ex.status(cid)))
ex.kill(cid, "KILL")
for _ in range(100):
    if ex.status(cid) == "stopped":
        break
    time.sleep(0.05)
seen.append(("kill", ex.status(cid)))
ex.delete(cid)
gone = ex.runtime("state", cid)
labkit.report("12", cid=cid, pid=pid, started=started, seen=seen, root=ex.ROOT, bundle=bundle,
              state_after_delete=gone.returncode, message=gone.stderr.strip())
