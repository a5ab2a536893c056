"""Linux capabilities: the five sets a container process gets.

A process's root privilege is split into ~41 capabilities (capabilities(7)).
Each thread has five sets:

* **bounding** – the most a program may ever gain through execve; dropped
  with ``prctl(PR_CAPBSET_DROP)`` and never regained;
* **permitted** – what it may put into effective;
* **effective** – what the kernel checks right now;
* **inheritable** – what may pass through execve to a program with file caps;
* **ambient** – what passes through execve to a program without file caps.

Order matters: the bounding set is trimmed first (needs CAP_SETPCAP, which is
dropped later), then the user is switched with ``PR_SET_KEEPCAPS`` so the
permitted set survives setuid(2), then capset(2) sets
effective/permitted/inheritable, then ambient capabilities are raised (each
must already be permitted and inheritable). ``syscalls.capset`` and
``syscalls.prctl`` make the calls (pycontainer._nscalls, which the init loads
anyway: no second C module on every container's path).
"""

from __future__ import annotations

# capability(7) numbers, from <linux/capability.h>
CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}


def cap_number(name: str) -> int | None:
    """``CAP_CHOWN``/``chown`` -> 0; None for an unknown name."""
    key = name.upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    return CAPS.get(key)


def last_cap() -> int:
    """The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPS.values())


def mask(names) -> int:
    m = 0
    for n in names or ():
        num = cap_number(n)
        if num is not None:
            m |= 1 << num
    return m


def drop_bounding(keep: list[str], top: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set (needs CAP_SETPCAP)."""
    from . import syscalls
    keep_mask = mask(keep)
    for cap in range(top + 1):
        if not keep_mask & (1 << cap):
            try:
                syscalls.prctl(syscalls.PR_CAPBSET_DROP, cap)
            except OSError as exc:
                if exc.errno != 22:   # EINVAL: the kernel does not know this cap
                    raise


def apply_sets(caps: dict, top: int | None = None) -> None:
    """capset(2) the effective, permitted and inheritable sets, then raise ambient.

    Capabilities above ``top`` (the kernel's last; default ``last_cap()``) are left out, as
    runc leaves them: a kernel refuses to put into permitted what it does not know."""
    from . import syscalls
    known = (1 << ((last_cap() if top is None else top) + 1)) - 1
    eff, prm, inh = (mask(caps.get(k)) & known for k in ("effective", "permitted", "inheritable"))
    syscalls.capset(eff, prm, inh)
    amb = [n for n in (cap_number(x) for x in caps.get("ambient") or ()) if n is not None]
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for c in amb:
        if prm & inh & (1 << c):
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, c)
