"""The tail every container process shares: its identity, its limits, seccomp, execve.

The init (``process/init.py``) and exec's new process (``process/execute.py``)
end through the same two functions, as runc's ``finalizeNamespace`` serves
both of its init paths, so a defence is applied in one place or nowhere:

``prepare(proc, seccomp, in_userns)`` -- may fail, so ``create``/``exec`` fail:
    rlimits (setrlimit(2)) -> scheduler, I/O priority (procattrs) -> [the seccomp filter, when there is no
    no_new_privs: loading one then needs CAP_SYS_ADMIN, seccomp(2)] ->
    the bounding set (PR_CAPBSET_DROP, needs CAP_SETPCAP) -> stdio owned by the
    user, HOME in env (userenv, runc's setupUser/prepareEnv) -> groups, gid,
    uid (setgroups(2), setresgid(2), setresuid(2); PR_SET_KEEPCAPS keeps the
    permitted set across the uid change, capabilities(7)) -> the program,
    looked up as that user -> the capability sets (capset(2), ambient
    prctl) -> umask -> the cwd exists and is a directory.

``exec_program(...)`` -- never returns:
    setsid (no terminal: no tty shared with the caller, CVE-2017-5226) ->
    no_new_privs -> close every fd but 0-2, the preserved ones, the report socket and the
    sealed dmz (close_range(2); where it is missing or refused, one close(2)
    per fd) -> chdir, checked to be inside the root (CVE-2024-21626: after
    the close, so no host directory fd can be the way out) -> default
    signal dispositions and an empty mask -> the filter
    and the exec, in *one* C call (``syscalls.seccomp_exec``).

What runs after the filter is loaded, with no_new_privs (documented and
tested against a minimal allow-list, tests/security/test_seccomp_tail.py):
``execve("/proc/self/fd/N")`` of the sealed dmz (security.exeseal) -- or,
only where /proc is not a procfs, ``execveat(N, "", AT_EMPTY_PATH)`` of it
and then ``execve`` of the program (without procfs no ``#!/proc/self/exe``
can resolve either) -- then, in the dmz, ``execve(program)`` and, if that
fails, ``exit_group(126|127)``. So an allow-list needs ``execve`` and
``exit_group`` beyond what its program needs (plus ``execveat`` for a
container without /proc under a KILL default). A failure to exec is then
reported with one write(2) to the report socket (a filter may refuse it:
the exit status still says 126/127). Without no_new_privs the filter must be
loaded while CAP_SYS_ADMIN is still held (seccomp(2)), so, as in runc, the
identity steps and the init's start barrier (accept4, recvfrom) run under
it; each of them falls back where an older profile lacks a newer call.
"""

from __future__ import annotations

import errno
import fcntl
import posix
import stat

from .. import paths
from .. import capabilities, procattrs, userenv
from .. import syscalls as sc
from .. import trace
from ..errors import ContainerSetupError, ExecError, SecurityError
from ..security import exeseal

PR_SET_KEEPCAPS = 8
PR_SET_NO_NEW_PRIVS = 38
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def prepare(proc: dict, seccomp, in_userns: bool) -> str:
    """Limits and identity of the process; return the program's path in the container."""
    for r in proc.get("rlimits", []):
        with trace.step("setrlimit", "process.rlimits", type=r["type"], soft=r["soft"], hard=r["hard"]):
            setrlimit(r)
    procattrs.apply_process(proc)       # scheduler, ioPriority: while we have every cap
    if seccomp is not None and not proc.get("noNewPrivileges"):
        seccomp.load()     # without NNP a filter needs CAP_SYS_ADMIN: load it before the drop (runc)
    caps = proc.get("capabilities")
    if caps is not None:
        top = capabilities.last_cap()
        # The bounding set needs CAP_SETPCAP to shrink: do it while we have everything.
        with trace.step("prctl PR_CAPBSET_DROP", "process.capabilities.bounding",
                        keep=caps.get("bounding", [])):
            capabilities.drop_bounding(caps.get("bounding", []), top)
    uid = proc.get("user", {}).get("uid", 0)
    userenv.fix_stdio(uid)                              # runc's setupUser
    proc["env"] = userenv.prepare_env(proc.get("env", []), uid)   # HOME, no duplicates
    set_user(proc.get("user", {}), keep_caps=caps is not None, in_userns=in_userns)
    path = find_program(proc["args"][0], proc.get("env", []), proc.get("cwd", "/"))
    if caps is not None:
        with trace.step("capset", "process.capabilities", effective=caps.get("effective", []),
                        ambient=caps.get("ambient", [])):
            capabilities.apply_sets(caps, top)
    if "umask" in proc.get("user", {}):
        posix.umask(proc["user"]["umask"])
    # The cwd must be a directory the user reaches, so that `create` fails (as
    # runc's does); the chdir itself waits until every host fd is closed.
    check_cwd(proc.get("cwd", "/"))
    return path


def exec_program(path: str, proc: dict, report_sock, preserve_fds: int, dmz_fd, seccomp,
                 report) -> None:
    """The last steps before the program. Never returns.

    A failure is written to the report socket as ``report(exc)`` (the start
    barrier reads text, exec's runtime a sync message); success closes the
    socket by execve (it is close-on-exec).
    """
    if not proc.get("terminal"):
        posix.setsid()
    if proc.get("noNewPrivileges"):
        # After this, execve can never grant privileges (setuid bits, file caps).
        with trace.step("prctl PR_SET_NO_NEW_PRIVS", "process.noNewPrivileges"):
            sc.prctl(PR_SET_NO_NEW_PRIVS, 1)
    keep = 3 + preserve_fds
    fd = move_fd_above(report_sock.detach(), keep)
    dmz = exeseal.place(dmz_fd, fd + 1)            # sealed exec helper (CVE-2019-5736), a free fd
    trace.event("close_range", "--preserve-fds", first=keep, keep=f"0-2, {preserve_fds} preserved fds")
    trace.event("execve", "process.args", path=path, args=proc["args"], cwd=proc.get("cwd", "/"))
    if seccomp is not None and not seccomp.loaded:
        trace.event("seccomp SECCOMP_SET_MODE_FILTER + execve", "linux.seccomp",
                    instructions=len(seccomp.bpf) // 8, note="one C call: nothing else runs under the filter")
    trace.close()
    close_from(keep, fd, dmz)
    for i in range(3, keep):
        posix.set_inheritable(i, True)
    try:
        chdir_inside(proc.get("cwd", "/"))
        reset_signals()
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in proc.get("env", []))
        ea = sc.ExecArgs(path, proc["args"], [f"{k}={v}" for k, v in env.items()], dmz)
        bpf = seccomp.bpf if seccomp is not None and not seccomp.loaded else None
        err = sc.seccomp_exec(bpf, seccomp.flags if bpf else 0, ea)
        if err.filename == "seccomp":
            hint = " (without noNewPrivileges this needs CAP_SYS_ADMIN)" \
                if err.errno in (errno.EPERM, errno.EACCES) else ""
            raise SecurityError(f"seccomp: load the filter: {err.strerror}{hint}",
                                stage="seccomp", errno=err.errno)
        raise err
    except ContainerSetupError as exc:
        _report(fd, report, exc)
        posix._exit(1)
    except OSError as exc:
        _report(fd, report, ExecError(f"exec {proc['args'][0]!r}: {posix.strerror(exc.errno).lower()}",
                                      stage="exec", errno=exc.errno))
        posix._exit(126 if exc.errno in (errno.EACCES, errno.EPERM) else 127)
    posix._exit(127)


def _report(fd: int, report, exc) -> None:
    """Tell the runtime why the exec failed. MSG_NOSIGNAL: the signals are default again
    (reset_signals) and runc's ``start`` does not wait for this, so the peer may be gone:
    no SIGPIPE, the exit status still tells (126/127)."""
    import _socket
    data = report(exc)
    try:
        s = _socket.socket(fileno=fd)
        try:
            s.send(data, _socket.MSG_NOSIGNAL)
            return
        finally:
            s.detach()
    except BrokenPipeError:
        return          # nobody waits (runc's start): the exit status tells
    except OSError:
        pass            # a filter without sendto(2): try write(2)
    try:
        posix.write(fd, data)
    except OSError:
        pass            # a filter without write(2) either: the exit status still tells


def close_from(keep: int, report_fd: int, dmz: int | None) -> None:
    """Close every fd >= ``keep`` but ``report_fd`` and ``dmz``.

    close_range(2) where the kernel has it and no filter refuses it; else
    posix.closerange, which falls back to one close(2) per fd.
    """
    spared = sorted({report_fd} | ({dmz} if dmz is not None else set()))
    ranges, lo = [], keep
    for fd in spared:
        ranges.append((lo, fd - 1))
        lo = fd + 1
    ranges.append((lo, 0xFFFFFFFF))
    for lo, hi in ranges:
        if lo > hi:
            continue
        try:
            sc.close_range(lo, hi)
        except OSError as exc:
            if exc.errno not in (errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EINVAL):
                raise
            limit = sc.getrlimit(sc.rlimit_number("RLIMIT_NOFILE"))[0]
            posix.closerange(lo, min(hi + 1, limit if limit != sc.RLIM_INFINITY else 1 << 20))


def setrlimit(r: dict) -> None:
    inf = sc.RLIM_INFINITY
    soft = inf if r["soft"] >= (1 << 63) - 1 else r["soft"]
    hard = inf if r["hard"] >= (1 << 63) - 1 else r["hard"]
    try:
        sc.setrlimit(sc.rlimit_number(r["type"]), soft, hard)
    except AttributeError:
        why = "this C library has no such limit"
    except OSError as exc:
        why = {errno.EINVAL: "the soft limit is above the hard limit",
               errno.EPERM: "raising a hard limit needs CAP_SYS_RESOURCE"}.get(exc.errno, exc.strerror)
    else:
        return
    raise ContainerSetupError(f"setrlimit {r['type']} soft={r['soft']} hard={r['hard']}: {why}",
                              stage="rlimits")


def find_program(arg0: str, env: list[str], cwd: str) -> str:
    """Resolve process.args[0] in the container (PATH from process.env) and check it runs."""
    if "/" in arg0:
        candidates = [arg0 if arg0.startswith("/") else paths.join(cwd, arg0)]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
        candidates = [paths.join(d or ".", arg0) for d in path.split(":")]
    denied = None
    for c in candidates:
        try:
            st = posix.stat(c)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) or not posix.access(c, posix.X_OK):
            denied = denied or c
            continue
        return c
    if denied:
        raise ExecError(f"exec {arg0!r}: permission denied", stage="exec", errno=errno.EACCES)
    where = "" if "/" in arg0 else " in $PATH"
    raise ExecError(f"exec {arg0!r}: executable file not found{where}: no such file or directory",
                    stage="exec", errno=errno.ENOENT)


def set_user(user: dict, keep_caps: bool, in_userns: bool) -> None:
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    with trace.step("setresuid/setresgid", "process.user", uid=uid, gid=gid,
                    additionalGids=user.get("additionalGids", [])):
        try:
            groups = user.get("additionalGids", [])
            try:
                posix.setgroups(groups)
            except PermissionError:
                if groups or not in_userns:   # setgroups may be denied in a user ns
                    raise
            posix.setresgid(gid, gid, gid)
            if keep_caps and uid != 0:
                sc.prctl(PR_SET_KEEPCAPS, 1)      # keep permitted across setuid(2)
            posix.setresuid(uid, uid, uid)
            if keep_caps and uid != 0:
                sc.prctl(PR_SET_KEEPCAPS, 0)
        except OSError as exc:
            raise ContainerSetupError(f"set user {uid}:{gid}: {exc.strerror}", stage="user",
                                      errno=exc.errno) from None


def move_fd_above(fd: int, low: int) -> int:
    if fd >= low:
        posix.set_inheritable(fd, False)
        return fd
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low)
    posix.close(fd)
    return new


def check_cwd(cwd: str) -> None:
    try:
        st_ = posix.stat(cwd)
    except OSError as exc:
        raise ContainerSetupError(f"process.cwd {cwd!r}: {exc.strerror}", stage="cwd",
                                  errno=exc.errno) from None
    if not stat.S_ISDIR(st_.st_mode):
        raise ContainerSetupError(f"process.cwd {cwd!r}: not a directory", stage="cwd",
                                  errno=errno.ENOTDIR)


def chdir_inside(cwd: str) -> None:
    try:
        posix.chdir(cwd)
    except OSError as exc:
        raise ContainerSetupError(f"chdir to cwd {cwd!r} (set in process.cwd): {exc.strerror}",
                                  stage="cwd", errno=exc.errno) from None
    here = posix.getcwd()
    if not here.startswith("/"):
        raise ContainerSetupError(f"cwd {cwd!r} resolves outside the container root", stage="cwd")


def reset_signals() -> None:
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive execve, so restore them.
    # _signal, the C module: `signal` would build its enums (~3 ms) for five numbers
    import _signal
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
