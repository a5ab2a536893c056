/* See native.h: thin wrappers, errno left for the caller. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

int pyc_pivot_root(const char *new_root, const char *put_old)
{
    return (int) syscall(SYS_pivot_root, new_root, put_old);
}

int pyc_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int pyc_umount2(const char *target, int flags) { return umount2(target, flags); }

int pyc_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int pyc_close_range(unsigned int first, unsigned int last, int flags)
{
    return (int) syscall(SYS_close_range, first, last, flags);
}

struct pyc_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

long pyc_openat2(int dirfd, const char *path, unsigned long long flags,
                 unsigned long long mode, unsigned long long resolve)
{
    struct pyc_open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

long pyc_clone_fork(unsigned long flags)
{
    return syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

#include <sys/prctl.h>
int pyc_prctl(int option, unsigned long a2, unsigned long a3,
              unsigned long a4, unsigned long a5)
{
    return prctl(option, a2, a3, a4, a5);
}

#include <sys/resource.h>

int pyc_setrlimit(int resource, unsigned long long soft, unsigned long long hard)
{
    struct rlimit rl = { .rlim_cur = (rlim_t) soft, .rlim_max = (rlim_t) hard };
    return setrlimit(resource, &rl);
}

int pyc_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) != 0)
        return -1;
    *soft = rl.rlim_cur;
    *hard = rl.rlim_max;
    return 0;
}

#include <linux/capability.h>

int pyc_capset(unsigned long long effective, unsigned long long permitted,
               unsigned long long inheritable)
{
    /* Version 3: two 32-bit words per set, low word first (capget(2)). */
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {
        { (__u32) effective, (__u32) permitted, (__u32) inheritable },
        { (__u32) (effective >> 32), (__u32) (permitted >> 32), (__u32) (inheritable >> 32) },
    };
    return syscall(SYS_capset, &hdr, data);
}

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#ifndef SYS_execveat
#define SYS_execveat 322
#endif
#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

long pyc_seccomp_load(const void *bpf, unsigned int ninsns, unsigned int flags)
{
    struct sock_fprog prog = { .len = (unsigned short) ninsns,
                               .filter = (struct sock_filter *) bpf };
    return flags ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog)
                 : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (unsigned long) &prog, 0, 0);
}

long pyc_seccomp_exec(const void *bpf, unsigned int ninsns, unsigned int flags,
                      int dmz_fd, const char *dmz_path, char **dmz_argv,
                      const char *path, char **argv, char **envp)
{
    if (bpf != NULL && pyc_seccomp_load(bpf, ninsns, flags) < 0)
        return -1;
    if (dmz_fd >= 0) {
        /* execve(2) of /proc/self/fd/N: the one call every allow-list has. */
        execve(dmz_path, dmz_argv, envp);
        if (errno != ENOENT && errno != ENOTDIR)
            return -2;
        /* No procfs at /proc: execveat(2) needs none. If that fails too, the
         * program directly: without procfs the kernel cannot resolve a
         * "#!/proc/self/exe" (CVE-2019-5736) either. */
        syscall(SYS_execveat, dmz_fd, "", dmz_argv, envp, AT_EMPTY_PATH);
    }
    execve(path, argv, envp);
    return -2;
}

#ifndef SYS_sched_setattr
#define SYS_sched_setattr 314
#endif
struct pyc_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};
long pyc_sched_setattr(int pid, unsigned int policy, unsigned long long flags, int nice,
                       unsigned int priority, unsigned long long runtime,
                       unsigned long long deadline, unsigned long long period)
{
    struct pyc_sched_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.sched_policy = policy;
    a.sched_flags = flags;
    a.sched_nice = nice;
    a.sched_priority = priority;
    a.sched_runtime = runtime;
    a.sched_deadline = deadline;
    a.sched_period = period;
    return syscall(SYS_sched_setattr, pid, &a, 0);
}

long pyc_ioprio_set(int which, int who, int ioprio)
{
    return syscall(SYS_ioprio_set, which, who, ioprio);
}

long pyc_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, nodemask, maxnode);
}

#include <sys/personality.h>
int pyc_personality(unsigned long persona) { return personality(persona); }

#include <linux/bpf.h>

/* bpf(2): attr is a union bpf_attr the caller packed (and may read back). */
long pyc_bpf(int cmd, void *attr, unsigned int size)
{
    return syscall(SYS_bpf, cmd, attr, size);
}

/* bpf(2) BPF_PROG_LOAD: the attr's pointers are to the caller's buffers, which outlive the
 * call; prog_name is at most 15 characters (the kernel checks which). */
long pyc_bpf_prog_load(unsigned int prog_type, const void *insns, unsigned int insn_cnt,
                       const char *license, const char *name, char *log_buf,
                       unsigned int log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = prog_type;
    attr.insn_cnt = insn_cnt;
    attr.insns = (uintptr_t) insns;
    attr.license = (uintptr_t) license;
    if (log_buf != NULL && log_size > 0) {
        attr.log_level = 1;
        attr.log_size = log_size;
        attr.log_buf = (uintptr_t) log_buf;
    }
    strncpy(attr.prog_name, name, sizeof attr.prog_name - 1);
    return syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
}

/* madvise(2): addr is an address of this process, as an integer from Python. */
int pyc_madvise(unsigned long addr, unsigned long length, int advice)
{
    return madvise((void *)addr, length, advice);
}
