"""Defences that are not one kernel concept each but one attack class each.

* ``seccomp`` – the OCI ``linux.seccomp`` section compiled with libseccomp
  and loaded right before the container's program is exec'd, and docker's
  default profile for the porcelain (security.md S14);
* ``exeseal`` – the runtime's own executable out of the container's reach
  (CVE-2019-5736, security.md S01, S11).

Nothing here is imported on ``create``/``run`` unless the spec asks for it
(the package itself imports nothing).
"""
