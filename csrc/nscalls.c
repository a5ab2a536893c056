/* pycontainer._nscalls: unshare(2) and setns(2), the project's one copy of them.
 *
 * The runtime chooses the PID namespace of the init it forks (pycontainer/pidns.py),
 * and its own process loads no cffi (the extension's backend is ~0.35 MiB of the
 * largest process of a run: bench/perf_results.md); Python 3.11 (Debian 12) has no
 * os.unshare or os.setns. So these two calls are a module of the CPython limited API,
 * which pycontainer/syscalls.py uses as well. No policy here. */
#define _GNU_SOURCE
#define Py_LIMITED_API 0x030b0000
#include <Python.h>
#include <sched.h>

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

static PyMethodDef nscalls_methods[] = {
    {"unshare", nscalls_unshare, METH_VARARGS, "unshare(flags): unshare(2)"},
    {"setns", nscalls_setns, METH_VARARGS, "setns(fd, nstype=0): setns(2)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef nscalls_module = {
    PyModuleDef_HEAD_INIT, "pycontainer._nscalls",
    "unshare(2) and setns(2), as os.unshare and os.setns of Python 3.12", -1, nscalls_methods,
};

PyMODINIT_FUNC PyInit__nscalls(void) { return PyModule_Create(&nscalls_module); }
