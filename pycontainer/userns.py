"""``--userns``/``--uidmap``/``--gidmap`` (podman's flags): checked, and refused with the reason.

A user namespace maps ranges of user and group IDs inside it to ranges
outside (``/proc/PID/uid_map``, ``gid_map``); the OCI config asks for one
with a ``user`` entry in ``linux.namespaces`` and
``linux.uidMappings``/``gidMappings``, and the runtime supports that for a
bundle whose rootfs is a plain directory (namespaces.write_id_maps).

A container made from an image cannot have one here. The runtime mounts the
image's overlay inside the container's namespaces, so inside its user
namespace; there overlayfs may not use the ``trusted.overlay.*`` xattrs
(EPERM: "redirect_dir requires permission to access trusted xattrs"), and
with ``userxattr`` it reads ``user.overlay.*`` instead, so the opaque
directories of the image's layers (``trusted.overlay.opaque``, layers.py)
would be ignored and deleted directories would show through: a wrong root.
Besides, a mapping that does not map host ID 0 shows the image's files as
owned by 65534 and makes them unwritable to the container's root; podman
copies and chowns the image per mapping, or idmaps the layers
(mount_setattr(2) MOUNT_ATTR_IDMAP), which the runtime does not do (it
refuses idmapped mounts: spec.py). So every value but ``host`` (docker's
default: no user namespace) is refused before anything is made, after its
syntax is checked, with that reason.

Read: user_namespaces(7), the kernel's Documentation/filesystems/overlayfs.rst
("Permission model", "userxattr"), podman-run(1) ``--uidmap``.
"""

from __future__ import annotations

from .errors import PyContainerError


def _parse(items, flag: str) -> list[dict]:
    out = []
    for item in items:
        parts = item.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[2]) < 1:
            raise PyContainerError(f"{flag} {item!r}: give CONTAINER_ID:HOST_ID:AMOUNT (numbers, "
                                   "AMOUNT 1 or more)")
        c, h, n = map(int, parts)
        if c + n > 2 ** 32 - 1 or h + n > 2 ** 32 - 1:
            raise PyContainerError(f"{flag} {item!r}: the range passes 4294967295")
        out.append({"containerID": c, "hostID": h, "size": n})
    if len(out) > 340:
        raise PyContainerError(f"{flag}: at most 340 ranges (the kernel's limit)")
    for i, a in enumerate(out):
        for b in out[i + 1:]:
            for key in ("containerID", "hostID"):
                if a[key] < b[key] + b["size"] and b[key] < a[key] + a["size"]:
                    raise PyContainerError(f"{flag}: ranges overlap ({key[:-2]} side)")
    return out


WHY = ("a container made from an image cannot have a user namespace here: the runtime mounts "
       "its overlay inside it, where overlayfs cannot use the layers' trusted.overlay xattrs, and "
       "it has no idmapped layers")


def check_flags(o: dict) -> None:
    """Check --userns/--uidmap/--gidmap in ``o``: a syntax error, or the refusal (WHY)."""
    mode = o.get("userns") or ""
    uid = _parse(o.get("uidmap") or [], "--uidmap")
    gid = _parse(o.get("gidmap") or [], "--gidmap")
    if mode in ("", "host") and not uid and not gid:
        return
    if mode == "host":
        raise PyContainerError("--userns host and --uidmap/--gidmap conflict")
    what = f"--userns {mode}" if mode else ("--uidmap" if uid else "--gidmap")
    raise PyContainerError(f"{what}: not supported: {WHY}")
