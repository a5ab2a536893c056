"""docker run's ``--security-opt``: what each option changes in config.json.

docker (moby's ``parseSecurityOpt``, daemon/create.go) takes ``KEY=VALUE`` (or the
older ``KEY:VALUE``) and the bare word ``no-new-privileges``:

* ``seccomp=unconfined|FILE`` -- no filter, or a profile file (seccomp_profile.py);
  the default is docker's profile (none with ``--privileged``).
* ``no-new-privileges[=BOOL]`` -- ``process.noNewPrivileges``: prctl(2)'s
  PR_SET_NO_NEW_PRIVS, after which execve(2) never grants privileges (setuid bits, file
  capabilities). pycontainer sets it by default (security.md S13), docker does not: a
  ``sudo`` or other setuid program in an image needs ``no-new-privileges=false`` here.
* ``systempaths=unconfined`` -- no masked or read-only /proc and /sys paths.
* ``label=...`` -- SELinux labels (``disable``, ``nested``, ``user:``, ``role:``, ``type:``,
  ``level:``, ``filetype:``); ``apparmor=PROFILE`` -- an AppArmor profile. pycontainer
  applies neither LSM: a label is taken where SELinux is off (as docker takes it), and
  ``apparmor=unconfined`` always (it is what every container gets here); a label on an
  SELinux host or a named AppArmor profile is refused rather than silently not applied.

Read: prctl(2) PR_SET_NO_NEW_PRIVS, seccomp(2), the kernel's
Documentation/userspace-api/no_new_privs.rst.
"""

from __future__ import annotations

import os

from ..errors import SpecError

KEYS = ("seccomp", "no-new-privileges", "systempaths", "label", "apparmor")
LABEL_KINDS = ("user", "role", "type", "level", "filetype")
_TRUE = ("1", "t", "T", "true", "TRUE", "True")          # Go's strconv.ParseBool
_FALSE = ("0", "f", "F", "false", "FALSE", "False")


def parse(opts) -> dict:
    """``--security-opt`` values -> {key: value} (the last one of a key wins, as docker's).
    Raises SpecError naming the option for an unknown key or a bad value."""
    out: dict = {}
    for opt in opts or ():
        if opt == "no-new-privileges":
            out["no-new-privileges"] = True
            continue
        sep = "=" if "=" in opt else ":"
        key, found, value = opt.partition(sep)
        if key not in KEYS or not found:
            raise SpecError(f"invalid --security-opt {opt!r}: use seccomp=unconfined|FILE, "
                            "no-new-privileges[=true|false], systempaths=unconfined, label=... "
                            "or apparmor=unconfined")
        if key == "no-new-privileges":
            if value not in _TRUE + _FALSE:
                raise SpecError(f"invalid --security-opt {opt!r}: no-new-privileges takes true or false")
            out[key] = value in _TRUE
        elif key == "seccomp":
            if not value:
                raise SpecError(f"invalid --security-opt {opt!r}: use seccomp=unconfined or seccomp=FILE")
            out[key] = value
        elif key == "systempaths":
            if value != "unconfined":
                raise SpecError(f"invalid --security-opt {opt!r}: systempaths takes only unconfined")
            out[key] = value
        elif key == "label":
            kind = value.partition(":")[0]
            if value not in ("disable", "nested") and (kind not in LABEL_KINDS or ":" not in value):
                raise SpecError(f"invalid --security-opt {opt!r}: label takes disable, nested or "
                                "user:, role:, type:, level:, filetype:")
            if value != "disable" and selinux_enabled():
                raise SpecError(f"--security-opt {opt!r}: pycontainer does not apply SELinux labels "
                                "(label=disable runs the container unlabelled)")
            out.setdefault("label", []).append(value)
        else:                                                   # apparmor
            if value != "unconfined":
                raise SpecError(f"--security-opt {opt!r}: pycontainer does not apply AppArmor "
                                "profiles (apparmor=unconfined is what every container gets)")
            out[key] = value
    return out


def selinux_enabled() -> bool:
    """SELinux is on when selinuxfs is mounted (libselinux's is_selinux_enabled)."""
    return os.path.exists("/sys/fs/selinux/enforce")


def apply(cfg: dict, opts=(), *, privileged: bool = False) -> dict:
    """Apply ``--security-opt`` to a config the porcelain or the Python API built (after
    ``--privileged``'s changes, so an explicit option wins). -> the parsed options."""
    parsed = parse(opts)
    proc = cfg.setdefault("process", {})
    if "no-new-privileges" in parsed:
        proc["noNewPrivileges"] = parsed["no-new-privileges"]
    if parsed.get("systempaths") == "unconfined":
        cfg.setdefault("linux", {}).pop("maskedPaths", None)
        cfg["linux"].pop("readonlyPaths", None)
    from . import seccomp_profile
    seccomp_profile.apply_choice(cfg, parsed.get("seccomp", "default"), privileged=privileged)
    return parsed
