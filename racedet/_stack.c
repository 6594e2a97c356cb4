/* racedet._stack: run the program's main code on python's stack, not racedet's.
 *
 * ``python app.py`` evaluates the main module with nothing below it, and
 * ``python -m pkg`` with runpy's two frames below it.  Under racedet the
 * launcher's own frames (runpy's for racedet, racedet/__main__.py, cli.py,
 * runner.py) sit there instead, and the program can see them:
 * ``traceback.extract_stack()``, ``sys._getframe(n)``, ``inspect.stack()``,
 * ``warnings.warn(stacklevel=N)``, faulthandler dumps, pdb's ``where``; and
 * they use up recursion depth the program would have had.
 *
 * ``run()`` evaluates a code object with the thread's current-frame link set
 * to the frame python would have below the program (runpy's ``_run_code``, or
 * none), and with the recursion counters set to the depth python's own main
 * would run at; both are put back when the evaluation returns, whatever way
 * it ends (a return, an exception, KeyboardInterrupt, SystemExit: CPython
 * always returns to the caller of PyEval_EvalCode).  The launcher's frames
 * stay alive on the C stack and the data stack meanwhile, only unlinked: the
 * frame the program's frame is pushed on is a live frame of this thread
 * (runpy's, which called racedet), so every walk of the stack stays on valid
 * frames.  Other threads have their own thread states and are not touched.
 *
 * Depths are measured, not derived: ``depth()`` reports the counters as a
 * module frame sees them, racedet/__main__.py records them where python
 * would run a ``-m`` program's module, and ``run()`` calibrates how much one
 * module evaluation adds, so no version's call accounting is written here.
 *
 * Everything that depends on the CPython version is in the one section
 * marked VERSION-SPECIFIC below.  Each entry point runs under the GIL.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>

/* ======================================================================== */
/* VERSION-SPECIFIC: the thread's current-frame link and recursion counters */
/* ======================================================================== */

#if PY_VERSION_HEX >= 0x030B0000
/* 3.11+: frame objects and interpreter frames are internal structures. */
#  ifndef Py_BUILD_CORE
#    define Py_BUILD_CORE 1
#  endif
#  include "internal/pycore_frame.h"
#  undef Py_BUILD_CORE
#endif

#if PY_VERSION_HEX >= 0x030E0000 || PY_VERSION_HEX < 0x030A0000
#  error "racedet._stack supports CPython 3.10 to 3.13"
#endif

/* The link a new frame is pushed on: 3.10 a frame object, 3.11+ an interpreter frame. */
typedef void *stack_link;

/* The current-frame link of ``ts``. */
static stack_link
link_get(PyThreadState *ts)
{
#if PY_VERSION_HEX >= 0x030D0000
    return ts->current_frame;
#elif PY_VERSION_HEX >= 0x030B0000
    return ts->cframe->current_frame;
#else
    return ts->frame;
#endif
}

static void
link_set(PyThreadState *ts, stack_link link)
{
#if PY_VERSION_HEX >= 0x030D0000
    ts->current_frame = (struct _PyInterpreterFrame *)link;
#elif PY_VERSION_HEX >= 0x030B0000
    ts->cframe->current_frame = (struct _PyInterpreterFrame *)link;
#else
    ts->frame = (PyFrameObject *)link;
#endif
}

/* The link of an executing frame object (one of this thread's live frames). */
static stack_link
link_of_frame(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030B0000
    return f->f_frame;
#else
    return f;
#endif
}

/* How much of the recursion limits ``ts`` uses: Python frames, C calls (0 where one counter counts both). */
static void
used_get(PyThreadState *ts, int *py, int *c)
{
#if PY_VERSION_HEX >= 0x030D0000
    *py = ts->py_recursion_limit - ts->py_recursion_remaining;
    *c = Py_C_RECURSION_LIMIT - ts->c_recursion_remaining;
#elif PY_VERSION_HEX >= 0x030C0000
    *py = ts->py_recursion_limit - ts->py_recursion_remaining;
    *c = C_RECURSION_LIMIT - ts->c_recursion_remaining;
#elif PY_VERSION_HEX >= 0x030B0000
    *py = ts->recursion_limit - ts->recursion_remaining;
    *c = 0;
#else
    *py = ts->recursion_depth;
    *c = 0;
#endif
}

static void
used_set(PyThreadState *ts, int py, int c)
{
#if PY_VERSION_HEX >= 0x030D0000
    ts->py_recursion_remaining = ts->py_recursion_limit - py;
    ts->c_recursion_remaining = Py_C_RECURSION_LIMIT - c;
#elif PY_VERSION_HEX >= 0x030C0000
    ts->py_recursion_remaining = ts->py_recursion_limit - py;
    ts->c_recursion_remaining = C_RECURSION_LIMIT - c;
#elif PY_VERSION_HEX >= 0x030B0000
    ts->recursion_remaining = ts->recursion_limit - py;
    (void)c;
#else
    ts->recursion_depth = py;
    (void)c;
#endif
}

/* ======================================================================== */
/* End of the version-specific section                                      */
/* ======================================================================== */

static PyObject *
stack_depth(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int py, c;
    (void)module;
    (void)args;
    if (nargs != 0) {
        PyErr_SetString(PyExc_TypeError, "depth() takes no arguments");
        return NULL;
    }
    used_get(PyThreadState_Get(), &py, &c);
    return Py_BuildValue("(ii)", py, c);
}

/* What one module evaluation adds to the counters, as ``depth()`` sees them from its body. */
static int
calibrate(PyThreadState *ts, PyObject *probe, PyObject *probe_globals, int *dpy, int *dc)
{
    int py, c, seen_py, seen_c;
    PyObject *r, *seen;
    used_get(ts, &py, &c);
    r = PyEval_EvalCode(probe, probe_globals, probe_globals);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    seen = PyDict_GetItemString(probe_globals, "depth_seen");  /* borrowed */
    if (seen == NULL || !PyArg_ParseTuple(seen, "ii", &seen_py, &seen_c)) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "racedet._stack: the probe recorded no depth");
        return -1;
    }
    *dpy = seen_py - py;
    *dc = seen_c - c;
    return 0;
}

static PyObject *
stack_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *code, *globals, *below, *target, *probe, *probe_globals, *result;
    PyThreadState *ts = PyThreadState_Get();
    stack_link saved_link, new_link = NULL;
    int saved_py, saved_c, want_py = 0, want_c = 0, dpy = 0, dc = 0;
    (void)module;

    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError,
                        "run(code, globals, below, target, probe, probe_globals) takes 6 arguments");
        return NULL;
    }
    code = args[0];
    globals = args[1];
    below = args[2];
    target = args[3];
    probe = args[4];
    probe_globals = args[5];
    if (!PyCode_Check(code) || !PyDict_Check(globals)) {
        PyErr_SetString(PyExc_TypeError, "run() needs a code object and a globals dict");
        return NULL;
    }
    if (below != Py_None && !PyFrame_Check(below)) {
        PyErr_SetString(PyExc_TypeError, "run(): below must be a frame or None");
        return NULL;
    }
    if (target != Py_None) {
        /* The counters as a module frame below which ``below`` runs would see them. */
        if (!PyArg_ParseTuple(target, "ii", &want_py, &want_c))
            return NULL;
        if (!PyCode_Check(probe) || !PyDict_Check(probe_globals)) {
            PyErr_SetString(PyExc_TypeError, "run(): a target depth needs the probe code and its globals");
            return NULL;
        }
        if (calibrate(ts, probe, probe_globals, &dpy, &dc) < 0)
            return NULL;
        want_py -= dpy;
        want_c -= dc;
        if (want_py < 0)
            want_py = 0;
        if (want_c < 0)
            want_c = 0;
    }
    if (below != Py_None)
        new_link = link_of_frame((PyFrameObject *)below);

    saved_link = link_get(ts);
    used_get(ts, &saved_py, &saved_c);
    Py_INCREF(below);  /* the frame the program's stack ends on outlives the evaluation */
    link_set(ts, new_link);
    used_set(ts, want_py, want_c);

    result = PyEval_EvalCode(code, globals, globals);

    link_set(ts, saved_link);
    used_set(ts, saved_py, saved_c);
    Py_DECREF(below);
    return result;
}

static PyMethodDef stack_methods[] = {
    {"depth", (PyCFunction)(void (*)(void))stack_depth, METH_FASTCALL,
     "depth() -> (py, c): how much of the recursion limits this thread uses now."},
    {"run", (PyCFunction)(void (*)(void))stack_run, METH_FASTCALL,
     "run(code, globals, below, target, probe, probe_globals): evaluate code on python's stack.\n\n"
     "The new frame is linked to the live frame ``below`` (or to none), and runs at the\n"
     "recursion depth ``target`` (a depth() tuple as a module frame would see it; None:\n"
     "a fresh thread's).  ``probe`` is module code that stores depth() in\n"
     "probe_globals['depth_seen'] (it measures what one evaluation adds).  The link and\n"
     "the counters are restored however the evaluation ends."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef stack_module = {
    PyModuleDef_HEAD_INIT, "racedet._stack",
    "Evaluate the program's main code with python's stack below it, not racedet's.",
    -1, stack_methods,
};

PyMODINIT_FUNC
PyInit__stack(void)
{
    return PyModule_Create(&stack_module);
}
