/* racedet._lifetime: know when an object without weakref support dies, without holding it.
 *
 * Shadow memory (racedet.engine) keys an object's state by its address.  The
 * state must go when the object dies, before CPython can hand the address to
 * a new object (a stale state would make a false race), and it must not keep
 * the object alive (a reference would delay its __del__, keep the cycles it
 * is part of from being collected and change gc.collect()'s counts).  Objects
 * with weakref support are followed by weak references.  For the others
 * (list, dict, tuple, closure cells, instances of classes with __slots__ and
 * no __weakref__) this module does what Go's race runtime does on free: the
 * deallocator of their type is wrapped once, and when a watched address is
 * deallocated its entry in the bound shadow dict is deleted, synchronously,
 * before the memory can be reused.  Nothing is held: the watch table stores
 * addresses and the shadow dict's own keys.
 *
 * Only deallocators known to be safe to wrap are wrapped (list, tuple, dict,
 * cell, and object's, which every class with __slots__ reaches through
 * CPython's subtype_dealloc); objects of other types are not watchable and
 * the engine holds them as before.  The wrapper keeps CPython's "trashcan"
 * (the guard that turns the freeing of a deeply nested structure into a loop)
 * for the types that use it: their own guard no longer recognises the type's
 * slot, so the wrapper applies it in their place.
 *
 * Wrapping is for the life of the process (an extension type created later
 * may have copied the wrapper into its own slot); with nothing watched the
 * wrapper costs one branch and one indirect call per deallocation.  Each
 * entry point runs under the GIL; free-threaded builds are refused.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* ------------------------------------------------------------------------ */
/* Wrapped types */

typedef struct {
    PyTypeObject *type;
    destructor orig;      /* the type's deallocator before it was wrapped */
    int trashcan;         /* orig guards itself with Py_TRASHCAN_BEGIN(op, orig) */
    int wrapped;
} owner_t;

static owner_t owners[5];
static int n_owners;
static destructor subtype_dealloc;    /* CPython's deallocator of classes made by `class` */

/* ------------------------------------------------------------------------ */
/* Watch table: address -> the shadow dict's key for it (a strong reference
 * to that int, so forgetting allocates nothing).  Open addressing, linear
 * probing, tombstones; at most half full. */

#define TOMB ((void *)1)
typedef struct { void *p; PyObject *key; } slot_t;

static slot_t *table;
static size_t mask;                   /* capacity - 1 (capacity a power of 2), or 0 */
static size_t n_live, n_used;          /* entries; entries + tombstones */
static PyObject *shadow;               /* the bound dict (strong) */
static int inert;                      /* set after the interpreter has finalized */

static inline size_t
hash_ptr(void *p)
{
    size_t h = (size_t)p >> 4;
    return (h ^ (h >> 17)) * (size_t)0x9E3779B97F4A7C15ULL;
}

static int
resize(size_t cap)
{
    slot_t *old = table;
    size_t old_cap = table ? mask + 1 : 0;
    slot_t *t = PyMem_Calloc(cap, sizeof(slot_t));
    if (t == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    table = t;
    mask = cap - 1;
    n_used = n_live;
    for (size_t i = 0; i < old_cap; i++) {
        void *p = old[i].p;
        if (p == NULL || p == TOMB)
            continue;
        size_t j = hash_ptr(p) & mask;
        while (t[j].p != NULL)
            j = (j + 1) & mask;
        t[j] = old[i];
    }
    PyMem_Free(old);
    return 0;
}

/* The slot of p, or NULL. */
static inline slot_t *
lookup(void *p)
{
    if (table == NULL)
        return NULL;
    size_t i = hash_ptr(p) & mask;
    for (;;) {
        void *q = table[i].p;
        if (q == p)
            return &table[i];
        if (q == NULL)
            return NULL;
        i = (i + 1) & mask;
    }
}

static int
insert(void *p, PyObject *key)
{
    slot_t *s = lookup(p);
    if (s != NULL) {
        Py_INCREF(key);
        Py_SETREF(s->key, key);
        return 0;
    }
    if (table == NULL || 2 * (n_used + 1) > mask + 1) {
        size_t cap = 64;
        while (4 * (n_live + 1) > cap)      /* at most a quarter full after the resize */
            cap *= 2;
        if (resize(cap) < 0)
            return -1;
    }
    size_t i = hash_ptr(p) & mask;
    while (table[i].p != NULL && table[i].p != TOMB)
        i = (i + 1) & mask;
    if (table[i].p == NULL)
        n_used++;
    table[i].p = p;
    table[i].key = Py_NewRef(key);
    n_live++;
    return 0;
}

/* p died: take its entry out of the table and its state out of the shadow dict. */
static void
forget(void *p)
{
    slot_t *s = lookup(p);
    if (s == NULL)
        return;
    PyObject *key = s->key;
    s->p = TOMB;
    s->key = NULL;
    n_live--;
    if (shadow != NULL) {
        /* Deleting the state runs no Python code (racedet's own objects and
         * plain keys die), but an exception may be in flight: keep it. */
#if PY_VERSION_HEX >= 0x030C0000
        PyObject *exc = PyErr_GetRaisedException();
        if (PyDict_DelItem(shadow, key) < 0)
            PyErr_Clear();
        PyErr_SetRaisedException(exc);
#else
        PyObject *typ, *val, *tb;
        PyErr_Fetch(&typ, &val, &tb);
        if (PyDict_DelItem(shadow, key) < 0)
            PyErr_Clear();
        PyErr_Restore(typ, val, tb);
#endif
    }
    Py_DECREF(key);
}

/* ------------------------------------------------------------------------ */
/* The wrapper */

static void watched_dealloc(PyObject *op);

/* The wrapped type whose deallocator is running for op: the first wrapped
 * type on op's tp_base chain (op's own type, a class with __slots__ above a
 * wrapped base, or a type that copied the wrapper when it was made). */
static inline const owner_t *
owner_for(PyTypeObject *tp)
{
    for (; tp != NULL; tp = tp->tp_base) {
        for (int i = 0; i < n_owners; i++)
            if (owners[i].type == tp && owners[i].wrapped)
                return &owners[i];
    }
    return NULL;
}

static void
watched_dealloc(PyObject *op)
{
    PyTypeObject *tp = Py_TYPE(op);
    const owner_t *o = owner_for(tp);
    if (o == NULL) {            /* cannot happen: the wrapper is only in wrapped chains */
        Py_FatalError("racedet._lifetime: deallocator of an unknown type");
        return;
    }
    if (n_live && !inert)
        forget(op);
    if (o->trashcan && tp->tp_dealloc == watched_dealloc) {
        /* What orig's own guard did before its slot was wrapped: an object
         * put aside by the guard must be untracked first. */
        PyObject_GC_UnTrack(op);
        Py_TRASHCAN_BEGIN(op, watched_dealloc)
        o->orig(op);
        Py_TRASHCAN_END
    }
    else {
        o->orig(op);
    }
}

/* The wrappable type whose deallocator frees instances of t (after the
 * subtype_dealloc of classes with __slots__), or NULL. */
static owner_t *
owner_of(PyTypeObject *t)
{
    while (t != NULL && t->tp_dealloc == subtype_dealloc)
        t = t->tp_base;
    if (t == NULL)
        return NULL;
    for (int i = 0; i < n_owners; i++) {
        owner_t *o = &owners[i];
        if (o->type != t)
            continue;
        if (!o->wrapped) {
            if (t->tp_dealloc != o->orig)   /* someone else wrapped it: leave it alone */
                return NULL;
            t->tp_dealloc = watched_dealloc;
            o->wrapped = 1;
        }
        return t->tp_dealloc == watched_dealloc ? o : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Module functions */

PyDoc_STRVAR(bind_doc, "bind(shadow)\n\nThe dict whose entry is deleted when a watched object dies.");

static PyObject *
lt_bind(PyObject *m, PyObject *d)
{
    if (!PyDict_CheckExact(d)) {
        PyErr_SetString(PyExc_TypeError, "bind() needs a dict");
        return NULL;
    }
    Py_INCREF(d);
    Py_XSETREF(shadow, d);
    Py_RETURN_NONE;
}

/* For the C access core (capsule racedet._lifetime._watch_capsule): 1 watched, 0
 * not watchable, -1 error. */
static int
watch_obj(PyObject *obj, PyObject *key)
{
    if (inert || owner_of(Py_TYPE(obj)) == NULL)
        return 0;
    return insert((void *)obj, key) < 0 ? -1 : 1;
}

PyDoc_STRVAR(watch_doc, "watch(obj, key) -> bool\n\n"
"Delete shadow[key] when obj dies (obj is not referenced).  False when obj's type\n"
"cannot be watched.");

static PyObject *
lt_watch(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2) {
        PyErr_SetString(PyExc_TypeError, "watch() takes 2 arguments");
        return NULL;
    }
    int r = watch_obj(a[0], a[1]);
    if (r < 0)
        return NULL;
    return PyBool_FromLong(r);
}

PyDoc_STRVAR(watchable_doc, "watchable(type) -> bool\n\nCan instances of this type be watched?");

static PyObject *
lt_watchable(PyObject *m, PyObject *t)
{
    if (!PyType_Check(t)) {
        PyErr_SetString(PyExc_TypeError, "watchable() needs a type");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)t;
    while (tp != NULL && tp->tp_dealloc == subtype_dealloc)
        tp = tp->tp_base;
    for (int i = 0; tp != NULL && i < n_owners; i++)
        if (owners[i].type == tp)
            return PyBool_FromLong(owners[i].wrapped ? tp->tp_dealloc == watched_dealloc
                                                     : tp->tp_dealloc == owners[i].orig);
    Py_RETURN_FALSE;
}

PyDoc_STRVAR(forget_all_doc, "forget_all()\n\nStop watching everything (the shadow dict was cleared).");

static void
drop_table(int decref)
{
    slot_t *t = table;
    size_t cap = t ? mask + 1 : 0;
    table = NULL;
    mask = n_live = n_used = 0;
    for (size_t i = 0; decref && i < cap; i++)
        if (t[i].p != NULL && t[i].p != TOMB)
            Py_DECREF(t[i].key);
    if (decref)
        PyMem_Free(t);
}

static PyObject *
lt_forget_all(PyObject *m, PyObject *unused)
{
    drop_table(1);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(count_doc, "count() -> int\n\nHow many objects are watched.");

static PyObject *
lt_count(PyObject *m, PyObject *unused)
{
    return PyLong_FromSize_t(n_live);
}

static PyMethodDef methods[] = {
    {"bind", lt_bind, METH_O, bind_doc},
    {"watch", (PyCFunction)(void (*)(void))lt_watch, METH_FASTCALL, watch_doc},
    {"watchable", lt_watchable, METH_O, watchable_doc},
    {"forget_all", lt_forget_all, METH_NOARGS, forget_all_doc},
    {"count", lt_count, METH_NOARGS, count_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "racedet._lifetime",
    "Know when an object without weakref support dies, without holding it (see _lifetime.c).",
    -1, methods,
};

/* After the interpreter has finalized, the bound dict is gone: do nothing more. */
static void
at_exit(void)
{
    inert = 1;
    shadow = NULL;
    drop_table(0);
}

PyMODINIT_FUNC
PyInit__lifetime(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError, "racedet._lifetime: free-threaded builds are not supported");
    return NULL;
#endif
    if (subtype_dealloc == NULL) {
        /* subtype_dealloc is static in CPython: take it from a class made here. */
        PyObject *probe = PyObject_CallFunction((PyObject *)&PyType_Type, "s()N", "_probe",
                                                Py_BuildValue("{s()}", "__slots__"));
        if (probe == NULL)
            return NULL;
        subtype_dealloc = ((PyTypeObject *)probe)->tp_dealloc;
        Py_DECREF(probe);
        PyTypeObject *types[5] = {&PyList_Type, &PyTuple_Type, &PyDict_Type, &PyCell_Type,
                                  &PyBaseObject_Type};
        int trashcan[5] = {1, 1, 1, 0, 0};
        for (int i = 0; i < 5; i++) {
            owners[i].type = types[i];
            owners[i].orig = types[i]->tp_dealloc;
            owners[i].trashcan = trashcan[i];
            owners[i].wrapped = 0;
        }
        n_owners = 5;
        (void)Py_AtExit(at_exit);   /* fails only when its table is full: nothing to do then */
    }
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    PyObject *cap = PyCapsule_New((void *)watch_obj, "racedet._lifetime._watch_capsule", NULL);
    if (cap == NULL || PyModule_AddObject(m, "_watch_capsule", cap) < 0) {
        Py_XDECREF(cap);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
