/*
 * pycontainer._native: the few Linux system calls Python 3.11 lacks.
 *
 * Thin wrappers only: each returns what the kernel returns (-1 on error)
 * and leaves errno for the caller (cffi saves it as ffi.errno). Policy,
 * retries and messages live in Python (pycontainer/syscalls.py).
 *
 * Grouped by man page.
 */

/* unshare(2), setns(2): csrc/nscalls.c only. pivot_root, mount, umount2, setdomainname,
 * close_range, openat2, prctl, setrlimit, getrlimit, capset, seccomp_load, seccomp_exec,
 * bpf and bpf_prog_load below are wrapped there too,
 * for the runtime's and the init's own path, which load no cffi (its header says why). */

/* pivot_root(2) */
int pyc_pivot_root(const char *new_root, const char *put_old);

/* mount(2), umount2(2) */
int pyc_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data);
int pyc_umount2(const char *target, int flags);

/* setdomainname(2) (sethostname is socket.sethostname) */
int pyc_setdomainname(const char *name, size_t len);

/* close_range(2) */
int pyc_close_range(unsigned int first, unsigned int last, int flags);

/* openat2(2): resolve a path with RESOLVE_* constraints */
long pyc_openat2(int dirfd, const char *path, unsigned long long flags,
                 unsigned long long mode, unsigned long long resolve);

/* clone(2) used like fork(2); lab use only, single-threaded callers only */
long pyc_clone_fork(unsigned long flags);

/* prctl(2) with integer arguments, for what python-prctl lacks
 * (PR_CAP_AMBIENT, capabilities above its table). */
int pyc_prctl(int option, unsigned long a2, unsigned long a3,
              unsigned long a4, unsigned long a5);

/* setrlimit(2), getrlimit(2): soft and hard as unsigned 64-bit (RLIM_INFINITY: all ones) */
int pyc_setrlimit(int resource, unsigned long long soft, unsigned long long hard);
int pyc_getrlimit(int resource, unsigned long long *soft, unsigned long long *hard);

/* capset(2) of the calling thread: the effective, permitted and inheritable sets as
 * 64-bit masks (bit N: capability N; _LINUX_CAPABILITY_VERSION_3). */
int pyc_capset(unsigned long long effective, unsigned long long permitted,
               unsigned long long inheritable);

/* Load a seccomp filter of ninsns BPF instructions into the calling thread:
 * flags != 0: seccomp(SECCOMP_SET_MODE_FILTER, flags), else prctl(PR_SET_SECCOMP). */
long pyc_seccomp_load(const void *bpf, unsigned int ninsns, unsigned int flags);

/* seccomp(2) + execve(2) in one call, so that nothing runs under the filter
 * but the exec. bpf == NULL: no filter. ninsns: BPF instructions; flags != 0:
 * seccomp(SECCOMP_SET_MODE_FILTER, flags), else prctl(PR_SET_SECCOMP).
 * dmz_fd >= 0: execve(dmz_path = "/proc/self/fd/N", dmz_argv); only if that
 * path does not exist (no procfs at /proc), execveat(dmz_fd, "", AT_EMPTY_PATH)
 * and then execve(path, argv). Returns only on failure: -1 the filter load
 * failed, -2 the exec failed; errno from the last attempt. */
long pyc_seccomp_exec(const void *bpf, unsigned int ninsns, unsigned int flags,
                      int dmz_fd, const char *dmz_path, char **dmz_argv,
                      const char *path, char **argv, char **envp);

/* sched_setattr(2): the fields of struct sched_attr, flat */
long pyc_sched_setattr(int pid, unsigned int policy, unsigned long long flags, int nice,
                       unsigned int priority, unsigned long long runtime,
                       unsigned long long deadline, unsigned long long period);

/* ioprio_set(2) */
long pyc_ioprio_set(int which, int who, int ioprio);

/* set_mempolicy(2): nodemask as an array of unsigned long */
long pyc_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);

/* personality(2) */
int pyc_personality(unsigned long persona);

/* bpf(2): BPF_PROG_ATTACH / BPF_PROG_QUERY for the cgroup v2 device program;
 * attr is a packed union bpf_attr (no pointers in it), read back by the caller. */
long pyc_bpf(int cmd, void *attr, unsigned int size);

/* bpf(2) BPF_PROG_LOAD of insn_cnt 8-byte instructions: union bpf_attr is filled here,
 * because it holds pointers (the instructions, the license, the verifier's log).
 * log_buf == NULL: no log (log level 0). Returns the program's fd. */
long pyc_bpf_prog_load(unsigned int prog_type, const void *insns, unsigned int insn_cnt,
                       const char *license, const char *name, char *log_buf,
                       unsigned int log_size);

/* madvise(2) on the caller's own memory: MADV_POPULATE_WRITE prefaults a range
 * writable (api/prefault.py) */
int pyc_madvise(unsigned long addr, unsigned long length, int advice);
