"""Defences that are not one kernel concept each but one attack class each.

* ``seccomp`` – the OCI ``linux.seccomp`` section compiled with libseccomp
  and loaded right before the container's program is exec'd, and docker's
  default profile for the porcelain and the Python API (security.md S14);
* ``exeseal`` – the runtime's own executable out of the container's reach
  (CVE-2019-5736, security.md S01, S11): non-dumpable stages and a sealed
  exec helper;
* ``fds`` – the caller's stray fds closed before the container's setup
  (CVE-2024-21626, S02);
* ``securityopt`` – docker's ``--security-opt`` for the porcelain and the API:
  seccomp, no-new-privileges (on by default here, S13), systempaths.

Elsewhere, in the module each one belongs to: ``/dev/console`` bound from the
pty's fd (CVE-2025-52565, process/init.py), masking refused without a real
``/dev/null`` (CVE-2025-31133, rootfs.py), no mounts inside ``/proc`` but procfs
and lxcfs-style binds (CVE-2025-52881, spec.py), a session of its own for a
program without a terminal (TIOCSTI, CVE-2017-5226, process/init.py).

Devices: on cgroup v1 the ``devices`` controller denies every node but the
OCI defaults (cgroups/devices.py), so docker's CAP_MKNOD makes nodes that
cannot be opened. On a pure cgroup v2 host that would take an eBPF
``BPF_PROG_TYPE_CGROUP_DEVICE`` program, which pycontainer does not build;
there, drop CAP_MKNOD (``--cap-drop MKNOD``) and keep volumes ``nodev``
(tests/security/test_devices.py skips the v1 check with that reason).

Nothing here is imported on ``create``/``run`` unless the spec asks for it,
except ``exeseal`` and ``fds`` (0.3 ms together; the package itself imports
nothing).
"""
