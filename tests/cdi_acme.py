"""A CDI spec for a made-up vendor, for the host and VM lanes (no GPU needed).

``make(dirpath)`` creates, under ``dirpath``: ``acme0``, a character device
with the numbers of the host's /dev/fuse (10:229: harmless, present on every
kernel) under another name, mode 0660; ``libs/`` with a fake library; a
createContainer hook that writes the container's state to ``marker``; and
``specs/acme.json`` naming it all as ``acme.example/widget=w0``.
"""

import json
import os

NAME = "acme.example/widget=w0"
MAJOR, MINOR = 10, 229


def make(d: str) -> dict:
    os.makedirs(d, exist_ok=True)
    node = os.path.join(d, "acme0")
    os.mknod(node, 0o20660, os.makedev(MAJOR, MINOR))
    os.chmod(node, 0o660)
    os.makedirs(os.path.join(d, "libs"))
    with open(os.path.join(d, "libs", "libacme.so.1"), "w") as f:
        f.write("not really a library\n")
    marker = os.path.join(d, "marker")
    spec = {"cdiVersion": "0.6.0", "kind": "acme.example/widget",
            "containerEdits": {
                "env": ["ACME_VISIBLE_DEVICES=w0"],
                "mounts": [{"hostPath": os.path.join(d, "libs"), "containerPath": "/opt/acme/lib",
                            "options": ["ro", "nosuid", "nodev", "bind"]}],
                "hooks": [{"hookName": "createContainer", "path": "/bin/sh",
                           "args": ["sh", "-c", f"cat > {marker}"], "timeout": 10}]},
            "devices": [{"name": "w0", "containerEdits": {"deviceNodes": [
                {"path": "/dev/acme0", "hostPath": node, "permissions": "rw"}]}}]}
    os.makedirs(os.path.join(d, "specs"))
    with open(os.path.join(d, "specs", "acme.json"), "w") as f:
        json.dump(spec, f)
    return {"specs": os.path.join(d, "specs"), "marker": marker, "node": node}


# Run inside the container: one line per fact the tests check.
CHECK = ("stat -c 'node %F %t:%T %a' /dev/acme0; echo env $ACME_VISIBLE_DEVICES; "
         "cat /opt/acme/lib/libacme.so.1; touch /opt/acme/lib/x 2>/dev/null || echo mount ro; "
         ": < /dev/acme0 && echo open allowed ok; "
         "mknod /dev/same c 10 229 && : < /dev/same && echo same numbers ok; "
         "mknod /dev/other c 10 228 && echo mknod other ok; "
         "(: < /dev/other) 2>&1 | grep -q 'Operation not permitted' && echo open other EPERM; "
         "mknod /dev/mem2 c 1 1 && (: < /dev/mem2) 2>&1 | grep -q 'Operation not permitted' "
         "&& echo open mem EPERM")

EXPECTED = ["node character special file a:e5 660", "env w0", "not really a library",
            "mount ro", "open allowed ok", "same numbers ok", "mknod other ok",
            "open other EPERM", "open mem EPERM"]
