/* pycontainer._nscalls: the system calls of the runtime's and the init's own path.
 *
 * unshare(2) and setns(2), which Python 3.11 (Debian 12) lacks: the runtime chooses the
 * PID namespace of the init it forks (pycontainer/pidns.py). And the calls the init makes
 * between its fork and the container's program: mount(2), umount2(2), pivot_root(2),
 * setdomainname(2), close_range(2), openat2(2), prctl(2), setrlimit(2), capset(2), the
 * seccomp load and the seccomp load + execve. And bpf(2) for the cgroup v2 device program,
 * which the runtime loads and attaches on every create on a cgroup v2 host.
 *
 * Why a module of the CPython limited API and not the cffi extension (pycontainer._native,
 * which keeps the rarer calls): loading cffi's backend and the extension costs a forked
 * init ~1.5 ms (dlopen and its relocations, measured), on the path of every create, and the
 * runtime's own process would carry ~0.35 MiB more (bench/perf_results.md). The wrappers
 * are native.c's own functions, compiled into this module too: one copy of each call.
 *
 * No policy here: a failed call raises OSError(errno) and Python words the message
 * (pycontainer/syscalls.py). Read: unshare(2), setns(2), mount(2), umount2(2),
 * pivot_root(2), setdomainname(2), close_range(2), openat2(2), prctl(2), setrlimit(2),
 * getrlimit(2), capset(2), seccomp(2), execve(2), bpf(2). */
#define _GNU_SOURCE
#define PY_SSIZE_T_CLEAN
#define Py_LIMITED_API 0x030b0000
#include <Python.h>
#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include "native.h"

static PyObject *nscalls_unshare(PyObject *self, PyObject *args)
{
    int flags;
    if (!PyArg_ParseTuple(args, "i:unshare", &flags))
        return NULL;
    if (unshare(flags) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

static PyObject *nscalls_setns(PyObject *self, PyObject *args)
{
    int fd, nstype = 0;
    if (!PyArg_ParseTuple(args, "i|i:setns", &fd, &nstype))
        return NULL;
    if (setns(fd, nstype) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    Py_RETURN_NONE;
}

/* A long result: -1 with errno raises, anything else is returned. */
static PyObject *result(long r)
{
    if (r < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(r);
}

static PyObject *nscalls_mount(PyObject *self, PyObject *args)
{
    const char *source, *target, *fstype, *data;
    unsigned long flags;
    if (!PyArg_ParseTuple(args, "zszkz:mount", &source, &target, &fstype, &flags, &data))
        return NULL;
    return result(pyc_mount(source, target, fstype, flags, data));
}

static PyObject *nscalls_umount2(PyObject *self, PyObject *args)
{
    const char *target;
    int flags;
    if (!PyArg_ParseTuple(args, "si:umount2", &target, &flags))
        return NULL;
    return result(pyc_umount2(target, flags));
}

static PyObject *nscalls_pivot_root(PyObject *self, PyObject *args)
{
    const char *new_root, *put_old;
    if (!PyArg_ParseTuple(args, "ss:pivot_root", &new_root, &put_old))
        return NULL;
    return result(pyc_pivot_root(new_root, put_old));
}

static PyObject *nscalls_setdomainname(PyObject *self, PyObject *args)
{
    const char *name;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "s#:setdomainname", &name, &len))
        return NULL;
    return result(pyc_setdomainname(name, (size_t) len));
}

static PyObject *nscalls_close_range(PyObject *self, PyObject *args)
{
    unsigned int first, last;
    int flags;
    if (!PyArg_ParseTuple(args, "IIi:close_range", &first, &last, &flags))
        return NULL;
    return result(pyc_close_range(first, last, flags));
}

static PyObject *nscalls_openat2(PyObject *self, PyObject *args)
{
    int dirfd;
    const char *path;
    unsigned long long flags, mode, resolve;
    if (!PyArg_ParseTuple(args, "isKKK:openat2", &dirfd, &path, &flags, &mode, &resolve))
        return NULL;
    return result(pyc_openat2(dirfd, path, flags, mode, resolve));
}

static PyObject *nscalls_prctl(PyObject *self, PyObject *args)
{
    int option;
    unsigned long a2, a3, a4, a5;
    if (!PyArg_ParseTuple(args, "ikkkk:prctl", &option, &a2, &a3, &a4, &a5))
        return NULL;
    return result(pyc_prctl(option, a2, a3, a4, a5));
}

/* setrlimit(resource, soft, hard); getrlimit(resource) -> (soft, hard). The RLIMIT_*
 * numbers and RLIM_INFINITY are this module's constants, from <sys/resource.h>. */
static PyObject *nscalls_setrlimit(PyObject *self, PyObject *args)
{
    int res;
    unsigned long long soft, hard;
    if (!PyArg_ParseTuple(args, "iKK:setrlimit", &res, &soft, &hard))
        return NULL;
    return result(pyc_setrlimit(res, soft, hard));
}

static PyObject *nscalls_getrlimit(PyObject *self, PyObject *args)
{
    int res;
    unsigned long long soft, hard;
    if (!PyArg_ParseTuple(args, "i:getrlimit", &res))
        return NULL;
    if (pyc_getrlimit(res, &soft, &hard) != 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    return Py_BuildValue("(KK)", soft, hard);
}

/* capset(effective, permitted, inheritable): the three sets as 64-bit masks. */
static PyObject *nscalls_capset(PyObject *self, PyObject *args)
{
    unsigned long long eff, prm, inh;
    if (!PyArg_ParseTuple(args, "KKK:capset", &eff, &prm, &inh))
        return NULL;
    return result(pyc_capset(eff, prm, inh));
}

/* seccomp_load(bpf, flags): the filter into the calling thread, now (the init's early load,
 * without no_new_privs: it needs CAP_SYS_ADMIN, so it comes before capabilities go). */
static PyObject *nscalls_seccomp_load(PyObject *self, PyObject *args)
{
    const char *bpf;
    Py_ssize_t bpf_len;
    unsigned int flags;
    if (!PyArg_ParseTuple(args, "y#I:seccomp_load", &bpf, &bpf_len, &flags))
        return NULL;
    if (bpf_len == 0 || bpf_len % 8 != 0 || bpf_len / 8 > 0xffff) {
        PyErr_SetString(PyExc_ValueError, "seccomp_load: bpf is 1-65535 whole 8-byte instructions");
        return NULL;
    }
    return result(pyc_seccomp_load(bpf, (unsigned int) (bpf_len / 8), flags));
}

/* A list of bytes -> a NULL-terminated char *[] pointing into them (the list keeps them
 * alive for the call); None -> NULL. PyMem_Free the array. */
static int byte_strings(PyObject *list, char ***out)
{
    *out = NULL;
    if (list == Py_None)
        return 1;
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "seccomp_exec: argv and envp are lists of bytes");
        return 0;
    }
    Py_ssize_t n = PyList_Size(list);
    char **arr = PyMem_Malloc((size_t) (n + 1) * sizeof *arr);
    if (arr == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        arr[i] = PyBytes_AsString(PyList_GetItem(list, i));   /* borrowed; TypeError if not bytes */
        if (arr[i] == NULL) {
            PyMem_Free(arr);
            return 0;
        }
    }
    arr[n] = NULL;
    *out = arr;
    return 1;
}

/* seccomp_exec(bpf, flags, dmz_fd, dmz_path, dmz_argv, path, argv, envp): every argument is
 * converted before pyc_seccomp_exec loads the filter, so nothing but the exec runs under
 * it. Returns only on failure: (which, errno), which = -1 the load failed, -2 the exec. */
static PyObject *nscalls_seccomp_exec(PyObject *self, PyObject *args)
{
    const char *bpf, *dmz_path, *path;
    Py_ssize_t bpf_len;
    unsigned int flags;
    int dmz_fd;
    PyObject *dmz_argv_list, *argv_list, *envp_list;
    char **dmz_argv = NULL, **argv = NULL, **envp = NULL;
    if (!PyArg_ParseTuple(args, "z#IizOsOO:seccomp_exec", &bpf, &bpf_len, &flags, &dmz_fd,
                          &dmz_path, &dmz_argv_list, &path, &argv_list, &envp_list))
        return NULL;
    if (bpf != NULL && (bpf_len % 8 != 0 || bpf_len / 8 > 0xffff)) {
        PyErr_SetString(PyExc_ValueError, "seccomp_exec: bpf is whole 8-byte instructions, at most 65535");
        return NULL;
    }
    if (!byte_strings(dmz_argv_list, &dmz_argv) || !byte_strings(argv_list, &argv) ||
            !byte_strings(envp_list, &envp)) {
        PyMem_Free(dmz_argv);
        PyMem_Free(argv);
        return NULL;
    }
    long which = pyc_seccomp_exec(bpf, bpf ? (unsigned int) (bpf_len / 8) : 0, flags, dmz_fd,
                                  dmz_path, dmz_argv, path, argv, envp);
    int err = errno;
    PyMem_Free(dmz_argv);
    PyMem_Free(argv);
    PyMem_Free(envp);
    return Py_BuildValue("(li)", which, err);
}

/* bpf(cmd, attr): bpf(2) with a packed union bpf_attr in a bytearray (BPF_PROG_ATTACH,
 * BPF_PROG_QUERY: no pointers in it), into which the kernel may write its answer. */
static PyObject *nscalls_bpf(PyObject *self, PyObject *args)
{
    int cmd;
    Py_buffer attr;
    if (!PyArg_ParseTuple(args, "iw*:bpf", &cmd, &attr))
        return NULL;
    long r = pyc_bpf(cmd, attr.buf, (unsigned int) attr.len);
    int err = errno;
    PyBuffer_Release(&attr);
    errno = err;
    return result(r);
}

/* bpf_prog_load(prog_type, insns, license, name, log): BPF_PROG_LOAD -> the program's fd.
 * insns: whole 8-byte instructions; log: a bytearray the verifier writes its log into
 * (log level 1), or None for no log. The v2 device program (pycontainer/cgroups/ebpf.py). */
static PyObject *nscalls_bpf_prog_load(PyObject *self, PyObject *args)
{
    unsigned int prog_type;
    const char *insns, *license, *name;
    Py_ssize_t insns_len;
    PyObject *log;
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "Iy#yyO:bpf_prog_load", &prog_type, &insns, &insns_len,
                          &license, &name, &log))
        return NULL;
    if (insns_len == 0 || insns_len % 8 != 0 || insns_len / 8 > 1000000) {
        PyErr_SetString(PyExc_ValueError, "bpf_prog_load: insns is 1-1000000 whole 8-byte instructions");
        return NULL;
    }
    if (log != Py_None && PyObject_GetBuffer(log, &buf, PyBUF_WRITABLE) < 0)
        return NULL;
    long r = pyc_bpf_prog_load(prog_type, insns, (unsigned int) (insns_len / 8), license, name,
                               log != Py_None ? buf.buf : NULL,
                               log != Py_None ? (unsigned int) (buf.len > 0xffffffffL ? 0xffffffffL : buf.len) : 0);
    int err = errno;
    if (log != Py_None)
        PyBuffer_Release(&buf);
    errno = err;
    return result(r);
}

static PyMethodDef nscalls_methods[] = {
    {"unshare", nscalls_unshare, METH_VARARGS, "unshare(flags): unshare(2)"},
    {"setns", nscalls_setns, METH_VARARGS, "setns(fd, nstype=0): setns(2)"},
    {"mount", nscalls_mount, METH_VARARGS, "mount(source|None, target, fstype|None, flags, data|None)"},
    {"umount2", nscalls_umount2, METH_VARARGS, "umount2(target, flags)"},
    {"pivot_root", nscalls_pivot_root, METH_VARARGS, "pivot_root(new_root, put_old)"},
    {"setdomainname", nscalls_setdomainname, METH_VARARGS, "setdomainname(name)"},
    {"close_range", nscalls_close_range, METH_VARARGS, "close_range(first, last, flags)"},
    {"openat2", nscalls_openat2, METH_VARARGS, "openat2(dirfd, path, flags, mode, resolve) -> fd"},
    {"prctl", nscalls_prctl, METH_VARARGS, "prctl(option, a2, a3, a4, a5) -> int"},
    {"setrlimit", nscalls_setrlimit, METH_VARARGS, "setrlimit(resource, soft, hard)"},
    {"getrlimit", nscalls_getrlimit, METH_VARARGS, "getrlimit(resource) -> (soft, hard)"},
    {"capset", nscalls_capset, METH_VARARGS, "capset(effective, permitted, inheritable): 64-bit masks"},
    {"seccomp_load", nscalls_seccomp_load, METH_VARARGS, "seccomp_load(bpf, flags)"},
    {"seccomp_exec", nscalls_seccomp_exec, METH_VARARGS,
     "seccomp_exec(bpf|None, flags, dmz_fd, dmz_path|None, dmz_argv|None, path, argv, envp)"
     " -> (which, errno) on failure only"},
    {"bpf", nscalls_bpf, METH_VARARGS, "bpf(cmd, attr: bytearray) -> int"},
    {"bpf_prog_load", nscalls_bpf_prog_load, METH_VARARGS,
     "bpf_prog_load(prog_type, insns, license, name, log: bytearray|None) -> fd"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef nscalls_module = {
    PyModuleDef_HEAD_INIT, "pycontainer._nscalls",
    "The system calls of the runtime's and the init's path (csrc/nscalls.c)", -1, nscalls_methods,
};

PyMODINIT_FUNC PyInit__nscalls(void)
{
    static const struct { const char *name; int value; } rlimits[] = {
        {"RLIMIT_AS", RLIMIT_AS}, {"RLIMIT_CORE", RLIMIT_CORE}, {"RLIMIT_CPU", RLIMIT_CPU},
        {"RLIMIT_DATA", RLIMIT_DATA}, {"RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"RLIMIT_LOCKS", RLIMIT_LOCKS}, {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
        {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
        {"RLIMIT_NOFILE", RLIMIT_NOFILE}, {"RLIMIT_NPROC", RLIMIT_NPROC},
        {"RLIMIT_RSS", RLIMIT_RSS}, {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
        {"RLIMIT_RTTIME", RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"RLIMIT_STACK", RLIMIT_STACK},
    };
    PyObject *m = PyModule_Create(&nscalls_module);
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof rlimits / sizeof rlimits[0]; i++)
        if (PyModule_AddIntConstant(m, rlimits[i].name, rlimits[i].value) < 0)
            goto fail;
    if (PyModule_AddObject(m, "RLIM_INFINITY", PyLong_FromUnsignedLongLong(RLIM_INFINITY)) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
