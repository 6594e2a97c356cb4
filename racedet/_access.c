/* The compiled access core: racedet/access_py.py in C, with the same functions and semantics.
 *
 * racedet/access_py.py is the reference: every function here does what its
 * namesake there does, in the same order, with the same Python-visible
 * effects on the engine's state (shadow dicts, per-location lists, history
 * records, reports).  What is faster here:
 *
 *   - ``if (!active) return obj;`` first (a C flag set through engine.set_active_hook);
 *   - the calling thread's ThreadState from a one-entry cache keyed by the
 *     interpreter's PyThreadState (pointer and unique id), refilled from
 *     ``engine._tls.ts`` after a GIL hand-off, invalidated by ``engine._on_bind``;
 *   - ThreadState's __slots__ (epoch, tid, vc, hval) read through the member
 *     descriptors' offsets, found once at import;
 *   - the same-epoch case: one shadow lookup, one location lookup, one identity test;
 *   - FastTrack's read/write checks on C integers (exact Python arithmetic
 *     when an int does not fit 63 bits), and the history record of
 *     engine.hist walked on the frame stack in C, with the same per-thread
 *     cache (one record per site, calling line and test) keyed by identity;
 *   - the first shadow of weakly referenceable objects (engine.new_shadow's
 *     common case) made here; every other kind goes to engine.new_shadow.
 *
 * It also has the bookkeeping of the Lock and RLock models
 * (racedet.models.locks._took_py/_leaving_py: the happens-before edge and
 * the held-locks list), as took() and leaving(); see "Locks" below.
 *
 * Reports (engine.report), adopting a thread (engine.adopt_current_thread),
 * the rare shadow kinds and the first sight of a code object
 * (frames.code_hidden) call the Python code, which then sees the user's
 * frame as its caller, as it does under access_py (racedet's frames are
 * hidden).
 *
 * Each hook runs under the GIL without calling back into Python in its
 * common paths, so it is atomic on the default (GIL) builds of 3.10-3.13.
 * Free-threaded builds are not supported: the module refuses to import
 * there and racedet.core falls back to access_py.
 *
 * A bug here must not change the program: like access_py, every hook turns
 * an internal Exception into one note on stderr and returns normally.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <structmember.h>

#ifndef T_OBJECT_EX
#define T_OBJECT_EX 16
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define MY_ERR_FETCH(exc) ((exc) = PyErr_GetRaisedException())
#endif

/* Epochs are (clock << TID_BITS) | tid (racedet/clock.py). */
#define TID_BITS 32
#define TID_MASK 0xFFFFFFFFLL

enum { M_READ = 1, M_WRITE = 2, M_RMW = 3, M_DEL = 4 };
enum { LOC_ATTR, LOC_GLOBAL, LOC_CELL, LOC_ITEM, LOC_CONTENTS, N_LOC };
enum { ATOMIC_MUT, ITEM_MUT, WHOLE_READ, INDEX_READ, ITEM_SET, LEN_READ, KEYS_READ, N_KINDS };
enum { H_RELEASE = 1, H_ACQUIRE = 2 };    /* access_py.H_*: hand-off flags */

/* ------------------------------------------------------------------------ */
/* Module state (single-phase init: one interpreter). */

static int active;                     /* access_py.ACTIVE */
static long n_errors;                  /* access_py._errors */

static PyObject *engine_dict;          /* racedet.engine.__dict__ */
static PyObject *frames_mod;           /* racedet.frames */
static PyObject *access_py;            /* racedet.access_py: METHOD_KINDS */
static PyObject *shadow;               /* engine.shadow, bound once like access_py._shadow_get */
static PyObject *new_shadow_fn;        /* engine.new_shadow */
static PyObject *report_fn;            /* engine.report */
static PyObject *adopt_fn;             /* engine.adopt_current_thread */
static PyObject *tls;                  /* engine._tls */
static PyObject *IGNORED, *CONTENTS, *CELL, *REF;
static PyObject *on_death;             /* engine._on_death */
static PyObject *Ref_type;             /* engine._Ref */
static PyObject *type_kind;            /* engine._type_kind */
static PyObject *classify_fn;          /* engine._classify */
static PyObject *hidden_codes;         /* frames._hidden_codes */
static PyObject *code_hidden_fn;       /* frames.code_hidden */
static PyObject *method_kinds;         /* access_py.METHOD_KINDS */
static PyObject *ctypes_cache;         /* access_py._ctypes, this core's own */
static PyObject *container_types;      /* (list, dict, set, bytearray, deque) */
static PyTypeObject *deque_type;       /* collections.deque (held by container_types) */
static PyObject *HANDOFF;              /* engine.HANDOFF */
static PyObject *method_handoff;       /* access_py.METHOD_HANDOFF */
static PyObject *store_one_element;    /* access_py._STORE_ONE_ELEMENT */
static PyTypeObject *ThreadState_type;
static Py_ssize_t off_epoch, off_tid, off_vc, off_hval, off_clk, off_held, off_loads, off_stores;
static PyTypeObject *SyncVar_type;     /* engine.SyncVar */
static Py_ssize_t off_sv_vc, off_sv_tid;
static PyObject *lockorder_dict;       /* racedet.lockorder.__dict__ */
static PyObject *join_into_fn;         /* engine.join_into (racedet.clock.join_into) */
static long long rebase_at;            /* engine.REBASE_AT */

static PyObject *s___name__;   /* the module key of a global: its module's __name__ */
static PyObject *s_ts, *s_epoch, *s_tid, *s_vc, *s_hval, *s_read, *s_write, *s_oid,
    *s_history_size, *s_current_test, *s_closure, *s_sweep_every, *s_sweep;
static PyObject *s_clk, *s_held, *s__sv, *s__uid, *s__desc, *s_edges, *s_enabled, *s_acquired,
    *s_released, *s_acquire, *s_published, *s_pop, *s_append, *s_loads, *s_stores;
static PyObject *ZERO, *ONE, *MINUS_ONE;
static PyObject *LOC[N_LOC];
static long kind_weak = -1, kind_strong = -1, kind_ignore = -1, kind_watch = -1;   /* engine._KIND_* */
/* racedet._lifetime's watch (engine._watch) when it is built: 1 watched, 0 not watchable, -1 error */
static int (*lifetime_watch)(PyObject *obj, PyObject *key);
static PyObject *strong_list;          /* engine._strong (only ever changed in place) */

/* ------------------------------------------------------------------------ */
/* Errors: never into user code (access_py._internal_error). */

/* After a failed step: swallow an Exception (note the first on stderr) and
 * return 1; return 0 for a BaseException that must propagate (as access_py's
 * ``except Exception`` lets KeyboardInterrupt through). */
static int
swallow(void)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception))
        return 0;
    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        /* The program is at its recursion limit: this access goes unrecorded. */
        PyErr_Clear();
        return 1;
    }
    n_errors++;
    if (n_errors != 1) {
        PyErr_Clear();
        return 1;
    }
#ifdef MY_ERR_FETCH
    PyObject *exc;
    MY_ERR_FETCH(exc);
#else
    PyObject *typ, *exc, *tb;
    PyErr_Fetch(&typ, &exc, &tb);
    PyErr_NormalizeException(&typ, &exc, &tb);
    if (tb != NULL && exc != NULL)
        PyException_SetTraceback(exc, tb);
    Py_XDECREF(typ);
    Py_XDECREF(tb);
#endif
    PySys_WriteStderr("racedet: internal error (please report); detection continues:\n");
    PyObject *tbmod = PyImport_ImportModule("traceback");
    PyObject *res = NULL;
    if (tbmod != NULL && exc != NULL)
        res = PyObject_CallMethod(tbmod, "print_exception", "O", exc);
    Py_XDECREF(res);
    Py_XDECREF(tbmod);
    Py_XDECREF(exc);
    PyErr_Clear();
    return 1;
}

/* ------------------------------------------------------------------------ */
/* The calling thread's ThreadState. */

static PyThreadState *cached_tstate;
static uint64_t cached_tstate_id;
static PyObject *cached_ts;            /* strong */
static PyObject *cached_cap;           /* capsule of cached_ts's history table (strong) */
struct hv_table;
static struct hv_table *cached_tab;    /* the table in cached_cap */

static PyObject *
get_ts_slow(PyThreadState *t)
{
    /* ts = _tls.ts or _adopt() */
    PyObject *ts = PyObject_GetAttr(tls, s_ts);
    if (ts == NULL)
        return NULL;
    int truth = PyObject_IsTrue(ts);
    if (truth < 0) {
        Py_DECREF(ts);
        return NULL;
    }
    if (!truth) {
        Py_DECREF(ts);
        ts = PyObject_CallNoArgs(adopt_fn);
        if (ts == NULL)
            return NULL;
    }
    if (Py_TYPE(ts) == ThreadState_type && ts != cached_ts) {
        PyObject *old = cached_ts, *old_cap = cached_cap;
        Py_INCREF(ts);
        cached_ts = ts;
        cached_cap = NULL;       /* its history table is found on first use (hv_table_of) */
        cached_tab = NULL;
        Py_XDECREF(old);
        Py_XDECREF(old_cap);
    }
    if (ts == cached_ts) {
        cached_tstate = t;
        cached_tstate_id = t->id;
    }
    return ts;
}

/* A new reference to the calling thread's ThreadState, or NULL with an error. */
static inline PyObject *
get_ts(void)
{
    PyThreadState *t = PyThreadState_Get();
    if (t == cached_tstate && t->id == cached_tstate_id) {
        Py_INCREF(cached_ts);
        return cached_ts;
    }
    return get_ts_slow(t);
}

/* engine._on_bind entry: a thread's ``_tls.ts`` was (re)bound. */
static PyObject *
c_bound(PyObject *m, PyObject *ts)
{
    cached_tstate = NULL;
    Py_RETURN_NONE;
}

/* Slot ``off`` (named ``name``) of ThreadState ``ts``: a new reference. */
static inline PyObject *
ts_get(PyObject *ts, Py_ssize_t off, PyObject *name)
{
    if (Py_TYPE(ts) == ThreadState_type) {
        PyObject *v = *(PyObject **)((char *)ts + off);
        if (v != NULL) {
            Py_INCREF(v);
            return v;
        }
    }
    return PyObject_GetAttr(ts, name);
}

/* Borrowed epoch for the fast path's identity test (NULL: use the slow path). */
static inline PyObject *
ts_epoch_borrowed(PyObject *ts)
{
    if (Py_TYPE(ts) == ThreadState_type)
        return *(PyObject **)((char *)ts + off_epoch);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

/* ``a != b`` for two ints (epochs): 1 different, 0 equal, -1 error. */
static inline int
ne(PyObject *a, PyObject *b)
{
    if (a == b)
        return 0;
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        int oa, ob;   /* no error is possible for exact ints */
        long long x = PyLong_AsLongLongAndOverflow(a, &oa);
        long long y = PyLong_AsLongLongAndOverflow(b, &ob);
        if (!oa && !ob)
            return x != y;
    }
    int eq = PyObject_RichCompareBool(a, b, Py_EQ);
    return eq < 0 ? -1 : !eq;
}

/* vc.get(t, 0) as a C integer (clocks beyond 63 bits saturate: only compared). */
static int
vc_get(PyObject *vc, long long t, long long *out)
{
    PyObject *k = PyLong_FromLongLong(t);
    if (k == NULL)
        return -1;
    PyObject *v;
    if (PyDict_CheckExact(vc)) {
        v = PyDict_GetItemWithError(vc, k);
        Py_XINCREF(v);
    }
    else {
        v = PyObject_CallMethod(vc, "get", "O", k);
        if (v == Py_None)
            Py_CLEAR(v);
    }
    Py_DECREF(k);
    if (v == NULL) {
        if (PyErr_Occurred())
            return -1;
        *out = 0;
        return 0;
    }
    int overflow;
    long long c = PyLong_AsLongLongAndOverflow(v, &overflow);
    Py_DECREF(v);
    if (c == -1 && PyErr_Occurred())
        return -1;
    *out = overflow > 0 ? LLONG_MAX : (overflow < 0 ? LLONG_MIN : c);
    return 0;
}

/* Is time ``c`` of thread ``t`` later than what the base of clock ``vc``
 * (its entry under key 0, see racedet.clock) knows?  1, 0 or -1.  Called
 * only after the own entry failed to cover ``c``. */
static int
beyond_base(PyObject *vc, long long t, long long c)
{
    PyObject *base;
    if (PyDict_CheckExact(vc)) {
        base = PyDict_GetItemWithError(vc, ZERO);
        if (base == NULL)
            return PyErr_Occurred() ? -1 : 1;
        Py_INCREF(base);
    }
    else {
        base = PyObject_CallMethod(vc, "get", "O", ZERO);
        if (base == NULL)
            return -1;
        if (base == Py_None) {
            Py_DECREF(base);
            return 1;
        }
    }
    long long b;
    int rc = vc_get(base, t, &b);
    Py_DECREF(base);
    return rc < 0 ? -1 : c > b;
}

/* d.get(k) as a new reference (NULL without error: missing). */
static inline PyObject *
dict_get(PyObject *d, PyObject *k)
{
    PyObject *v = PyDict_GetItemWithError(d, k);
    Py_XINCREF(v);
    return v;
}

/* d[k] = v, through __setitem__ when d is a dict subclass (engine.IGNORED drops it). */
static inline int
dict_set(PyObject *d, PyObject *k, PyObject *v)
{
    if (PyDict_CheckExact(d))
        return PyDict_SetItem(d, k, v);
    return PyObject_SetItem(d, k, v);
}

/* vs[i] = v (v borrowed). */
static inline void
vs_set(PyObject *vs, Py_ssize_t i, PyObject *v)
{
    Py_INCREF(v);
    PyObject *old = PyList_GET_ITEM(vs, i);
    PyList_SET_ITEM(vs, i, v);
    Py_XDECREF(old);
}

/* vs[i] as a new reference. */
static inline PyObject *
vs_get(PyObject *vs, Py_ssize_t i)
{
    PyObject *v = PyList_GET_ITEM(vs, i);
    Py_INCREF(v);
    return v;
}

static int
check_vs(PyObject *vs)
{
    if (PyList_CheckExact(vs) && PyList_GET_SIZE(vs) == 4)
        return 0;
    PyErr_Format(PyExc_TypeError, "racedet: bad location state %R", vs);
    return -1;
}

/* A new location state [a, b, c, d] (all borrowed).
 *
 * It is not tracked by the cyclic GC: it holds only epochs, history records
 * and dicts of them, none of which can lead back to it, so it can never be
 * part of a cycle, and a program with millions of shadowed locations does
 * not pay for traversing them in every collection. */
static PyObject *
new_vs(PyObject *a, PyObject *b, PyObject *c, PyObject *d)
{
    PyObject *vs = PyList_New(4);
    if (vs == NULL)
        return NULL;
    Py_INCREF(a); PyList_SET_ITEM(vs, 0, a);
    Py_INCREF(b); PyList_SET_ITEM(vs, 1, b);
    Py_INCREF(c); PyList_SET_ITEM(vs, 2, c);
    Py_INCREF(d); PyList_SET_ITEM(vs, 3, d);
    PyObject_GC_UnTrack(vs);
    return vs;
}

/* A tuple of the engine's records ((epoch, history), history records,
 * (code, line) pairs), untracked by the cyclic GC for the same reason as
 * location states: nothing in it can lead back to it. */
static PyObject *
record_tuple(Py_ssize_t n, PyObject *a, PyObject *b, PyObject *c)
{
    PyObject *t = n == 2 ? PyTuple_Pack(2, a, b) : PyTuple_Pack(3, a, b, c);
    if (t != NULL)
        PyObject_GC_UnTrack(t);
    return t;
}

/* id(obj) as an int, from a small cache of recent objects: the key only
 * names an address, so it stays right even if the object it came from died. */
#define KEY_CACHE 256
static struct { void *p; PyObject *key; } key_cache[KEY_CACHE];

static inline PyObject *
id_key(PyObject *obj)
{
    size_t i = ((size_t)obj >> 4) & (KEY_CACHE - 1);
    if (key_cache[i].p == (void *)obj) {
        Py_INCREF(key_cache[i].key);
        return key_cache[i].key;
    }
    PyObject *k = PyLong_FromVoidPtr(obj);
    if (k == NULL)
        return NULL;
    PyObject *old = key_cache[i].key;
    Py_INCREF(k);
    key_cache[i].key = k;
    key_cache[i].p = obj;
    Py_XDECREF(old);
    return k;
}

/* ------------------------------------------------------------------------ */
/* Hidden code (frames.code_hidden), memoised by code object address.
 *
 * Hashing a code object costs 0.3-10 us (it hashes its bytecode and
 * constants), so frames._hidden_codes is asked only on a miss here.  An
 * entry is valid for the code object now at that address when its
 * co_filename is the same string object: hiding depends on the file only
 * (frames.is_hidden), and the entry holds that string, so no other string
 * can take its address.  No code object is kept alive by this table. */

#define HC_SIZE 4096
static struct { void *code; PyObject *filename; int hidden; } hc[HC_SIZE];

/* 1 hidden, 0 shown, -1 error. */
static int
code_hidden(PyCodeObject *code)
{
    size_t i = ((size_t)code >> 4) & (HC_SIZE - 1);
    PyObject *fn = code->co_filename;
    if (hc[i].code == (void *)code && hc[i].filename == fn)
        return hc[i].hidden;
    /* h = _hidden_codes.get(co); if h is None: h = code_hidden(co) */
    PyObject *h = PyDict_GetItemWithError(hidden_codes, (PyObject *)code);
    if (h != NULL)
        Py_INCREF(h);
    else if (PyErr_Occurred())
        return -1;
    else if ((h = PyObject_CallOneArg(code_hidden_fn, (PyObject *)code)) == NULL)
        return -1;
    int hidden = PyObject_IsTrue(h);
    Py_DECREF(h);
    if (hidden < 0)
        return -1;
    PyObject *old = hc[i].filename;
    Py_INCREF(fn);
    hc[i].filename = fn;
    hc[i].code = (void *)code;
    hc[i].hidden = hidden;
    Py_XDECREF(old);
    return hidden;
}

/* ------------------------------------------------------------------------ */
/* History records: engine.hist(site, ts) for the user frame calling the hook.
 *
 * engine.hist keeps one record per (site, caller's code, caller's line,
 * test, held locks) per thread in ts.hval, cleared when it reaches 512
 * entries.  The same cache is kept here in C (keys compared by identity, so
 * no code object is hashed), one table per ThreadState, held in a capsule in
 * ts.hval.  The held locks are the descriptions in ts.held (``e[1]`` of each
 * entry), read afresh at every access and compared in place, so a hit
 * allocates nothing. */

#define HV_MAX 512            /* entries before the table is cleared, as engine.hist */
#define HV_MIN_CAP 16         /* slots at first; doubled while more than half full */

typedef struct { PyObject *site, *code, *test, *held, *rec; size_t hh; int line; } hv_entry;
typedef struct hv_table { hv_entry *e; Py_ssize_t cap, used; } hv_table;

static PyObject *HV_KEY;              /* key of the capsule in ts.hval */

/* The test (a pytest node id, or None) is compared by value, as in
 * engine.hist; the site and the code object by identity, as the constant
 * tuple and the code of one source location are single objects. */
static inline size_t
test_hash(PyObject *test)
{
    if (PyUnicode_CheckExact(test))
        return (size_t)PyObject_Hash(test);    /* cached in the str */
    return (size_t)test >> 4;
}

static inline int
same_test(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    return PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) && PyUnicode_Compare(a, b) == 0;
}

static inline size_t
hv_hash(PyObject *site, PyObject *code, int line, PyObject *test, size_t hh)
{
    size_t h = (size_t)site >> 4;
    h = h * 1000003u ^ ((size_t)code >> 4);
    h = h * 1000003u ^ (size_t)(unsigned)line;
    h = h * 1000003u ^ test_hash(test);
    h = h * 1000003u ^ hh;
    return h ^ (h >> 17);
}

/* The held locks of an access, as borrowed pointers to their descriptions
 * (outermost first): straight from ts.held's entries when it is a list of
 * tuples (no code runs while they are used), else from ``own``, the tuple
 * ``tuple(e[1] for e in held)`` built the slow way. */
#define HELD_VIEW 8
typedef struct { PyObject *buf[HELD_VIEW]; PyObject **d; Py_ssize_t n; PyObject *own; } held_view;

static int
held_view_of(PyObject *held, held_view *v)
{
    v->own = NULL;
    v->d = v->buf;
    v->n = 0;
    if (PyList_CheckExact(held) && PyList_GET_SIZE(held) <= HELD_VIEW) {
        Py_ssize_t n = PyList_GET_SIZE(held), i;
        for (i = 0; i < n; i++) {
            PyObject *e = PyList_GET_ITEM(held, i);
            if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) < 2)
                break;
            v->buf[i] = PyTuple_GET_ITEM(e, 1);
        }
        if (i == n) {
            v->n = n;
            return 0;
        }
    }
    /* held = tuple([e[1] for e in held]) if held else () */
    int truth = PyObject_IsTrue(held);
    if (truth < 0)
        return -1;
    PyObject *lst = truth ? PySequence_List(held) : PyList_New(0);
    if (lst == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lst); i++) {
        PyObject *d = PySequence_GetItem(PyList_GET_ITEM(lst, i), 1);
        if (d == NULL) {
            Py_DECREF(lst);
            return -1;
        }
        PyList_SetItem(lst, i, d);
    }
    v->own = PyList_AsTuple(lst);
    Py_DECREF(lst);
    if (v->own == NULL)
        return -1;
    v->d = &PyTuple_GET_ITEM(v->own, 0);
    v->n = PyTuple_GET_SIZE(v->own);
    return 0;
}

/* The held view of thread state ``ts`` (release it with held_view_done). */
static int
held_view_ts(PyObject *ts, held_view *v)
{
    PyObject *held = ts_get(ts, off_held, s_held);
    if (held == NULL)
        return -1;
    int r = held_view_of(held, v);
    Py_DECREF(held);
    return r;
}

static inline void
held_view_done(held_view *v)
{
    Py_CLEAR(v->own);
}

static inline size_t
held_hash(const held_view *v)
{
    size_t h = (size_t)v->n;
    for (Py_ssize_t i = 0; i < v->n; i++)
        h = h * 1000003u ^ ((size_t)v->d[i] >> 4);
    return h;
}

/* Does the tuple ``t`` of a cache entry name the same descriptions (by identity)? */
static inline int
held_same(PyObject *t, const held_view *v)
{
    if (PyTuple_GET_SIZE(t) != v->n)
        return 0;
    for (Py_ssize_t i = 0; i < v->n; i++)
        if (PyTuple_GET_ITEM(t, i) != v->d[i])
            return 0;
    return 1;
}

/* The view as a tuple: a new reference. */
static PyObject *
held_tuple(const held_view *v)
{
    if (v->own != NULL)
        return Py_NewRef(v->own);
    PyObject *t = PyTuple_New(v->n);
    if (t == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < v->n; i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(v->d[i]));
    return t;
}

/* (site, callers, test, held): a history record, untracked as record_tuple's. */
static PyObject *
hist_record(PyObject *site, PyObject *callers, PyObject *test, PyObject *held)
{
    PyObject *t = PyTuple_Pack(4, site, callers, test, held);
    if (t != NULL)
        PyObject_GC_UnTrack(t);
    return t;
}

static void
hv_clear(hv_table *t)
{
    /* Detach first: a decref may run code that comes back here. */
    hv_entry *old = t->e;
    Py_ssize_t n = t->cap;
    t->e = NULL;
    t->cap = t->used = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(old[i].site); Py_XDECREF(old[i].code); Py_XDECREF(old[i].test);
        Py_XDECREF(old[i].held); Py_XDECREF(old[i].rec);
    }
    PyMem_Free(old);
}

/* Room for one more entry (the table may move).  0 or -1 (no memory). */
static int
hv_reserve(hv_table *t)
{
    if (2 * (t->used + 1) <= t->cap)
        return 0;
    Py_ssize_t cap = t->cap ? 2 * t->cap : HV_MIN_CAP;
    hv_entry *e = PyMem_Calloc((size_t)cap, sizeof(hv_entry));
    if (e == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = (size_t)cap - 1;
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        hv_entry *x = &t->e[i];
        if (x->site == NULL)
            continue;
        size_t j = hv_hash(x->site, x->code, x->line, x->test, x->hh) & mask;
        while (e[j].site != NULL)
            j = (j + 1) & mask;
        e[j] = *x;
    }
    PyMem_Free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

static void
hv_capsule_free(PyObject *cap)
{
    hv_table *t = PyCapsule_GetPointer(cap, "racedet._access.hval");
    if (t != NULL) {
        hv_clear(t);
        PyMem_Free(t);
    }
}

/* The table of thread state ``ts`` (borrowed: kept alive by its capsule). */
static hv_table *
hv_table_of(PyObject *ts)
{
    if (ts == cached_ts && cached_tab != NULL)
        return cached_tab;
    PyObject *hval = ts_get(ts, off_hval, s_hval);
    if (hval == NULL)
        return NULL;
    if (!PyDict_Check(hval)) {
        Py_DECREF(hval);
        PyErr_SetString(PyExc_TypeError, "racedet: ThreadState.hval is not a dict");
        return NULL;
    }
    PyObject *cap = dict_get(hval, HV_KEY);
    if (cap == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(hval);
            return NULL;
        }
        hv_table *t = PyMem_Calloc(1, sizeof(hv_table));
        if (t == NULL) {
            Py_DECREF(hval);
            PyErr_NoMemory();
            return NULL;
        }
        cap = PyCapsule_New(t, "racedet._access.hval", hv_capsule_free);
        if (cap == NULL) {
            PyMem_Free(t);
            Py_DECREF(hval);
            return NULL;
        }
        if (PyDict_SetItem(hval, HV_KEY, cap) < 0) {
            Py_DECREF(cap);
            Py_DECREF(hval);
            return NULL;
        }
    }
    Py_DECREF(hval);
    hv_table *t = PyCapsule_GetPointer(cap, "racedet._access.hval");
    if (t == NULL) {
        Py_DECREF(cap);
        return NULL;
    }
    if (ts == cached_ts) {
        Py_XSETREF(cached_cap, cap);    /* keeps the table alive even if ts.hval is cleared */
        cached_tab = t;
        return t;
    }
    /* Not the cached thread (cannot happen from a hook): the table lives on in ts.hval. */
    Py_DECREF(cap);
    return t;
}

/* Line numbers of suspended frames, by (code object, last instruction).
 *
 * PyFrame_GetLineNumber scans the code's line table from its start, which
 * costs microseconds in a long function or module body; the caller of an
 * instrumented function sits at the same call for as long as it runs.  The
 * cache holds the code objects it names (at most LC_SIZE), and, once asked
 * for, the one-frame stack ``((code, line),)`` of a lock taken there.  It is
 * used only when no trace function is set on the thread: a tracer may set
 * f_lineno. */

#define LC_SIZE 1024
static struct { PyObject *code, *stack; int lasti, line; } lc[LC_SIZE];

/* The line of suspended frame ``f`` running ``co`` in ``*line``, and the
 * index of its cache entry (filled on a miss), or -1 when a tracer is set
 * (nothing cached).  Freeing what a refilled entry held may run code that
 * refills it again: callers check the entry before using it. */
static Py_ssize_t
lc_entry(PyFrameObject *f, PyCodeObject *co, int *line)
{
#if PY_VERSION_HEX >= 0x030B0000
    if (PyThreadState_Get()->c_tracefunc != NULL) {
        *line = PyFrame_GetLineNumber(f);
        return -1;
    }
    int lasti = PyFrame_GetLasti(f);
#else
    if (f->f_trace != NULL || PyThreadState_Get()->c_tracefunc != NULL) {
        *line = PyFrame_GetLineNumber(f);
        return -1;
    }
    int lasti = f->f_lasti;
#endif
    size_t i = (((size_t)co >> 4) ^ (size_t)(unsigned)lasti * 2654435761u) & (LC_SIZE - 1);
    if (lc[i].code == (PyObject *)co && lc[i].lasti == lasti) {
        *line = lc[i].line;
        return (Py_ssize_t)i;
    }
    *line = PyFrame_GetLineNumber(f);
    PyObject *old = lc[i].code, *old_stack = lc[i].stack;
    Py_INCREF(co);
    lc[i].code = (PyObject *)co;
    lc[i].lasti = lasti;
    lc[i].line = *line;
    lc[i].stack = NULL;
    Py_XDECREF(old);
    Py_XDECREF(old_stack);
    return (Py_ssize_t)i;
}

static inline int
frame_line(PyFrameObject *f, PyCodeObject *co)
{
    int line;
    lc_entry(f, co, &line);
    return line;
}

/* f.f_lineno: the line, or -1 when the frame has none (None in Python). */
static inline PyObject *
line_obj(int line)
{
    if (line < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(line);
}

/* frames.capture_raw(f, limit): ((code, line), ...) innermost first, hidden frames skipped. */
static PyObject *
capture_raw(PyFrameObject *f, Py_ssize_t limit)
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    Py_XINCREF(f);
    Py_ssize_t n = 0;
    while (f != NULL && n < limit) {
        PyCodeObject *co = PyFrame_GetCode(f);
        int h = code_hidden(co);
        if (h < 0) {
            Py_DECREF(co);
            goto error;
        }
        if (!h) {
            PyObject *line = line_obj(frame_line(f, co));
            PyObject *pair = line ? record_tuple(2, (PyObject *)co, line, NULL) : NULL;
            Py_XDECREF(line);
            if (pair == NULL || PyList_Append(out, pair) < 0) {
                Py_XDECREF(pair);
                Py_DECREF(co);
                goto error;
            }
            Py_DECREF(pair);
            n++;
        }
        Py_DECREF(co);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    PyObject *t = PyList_AsTuple(out);
    Py_DECREF(out);
    if (t != NULL)
        PyObject_GC_UnTrack(t);
    return t;
error:
    Py_XDECREF(f);
    Py_DECREF(out);
    return NULL;
}

/* engine.history_size, engine.current_test and engine._SWEEP_EVERY, read again only when the
 * engine's globals changed (the dict's version before 3.12, a dict watcher
 * from 3.12 on). */
static PyObject *g_test;              /* current_test (strong) */
static Py_ssize_t g_sweep_every;      /* _SWEEP_EVERY */
static int g_on;                      /* bool(history_size) */
static Py_ssize_t g_limit;            /* history_size */
#if PY_VERSION_HEX >= 0x030C0000
static int g_dirty = 1;

static int
engine_dict_changed(PyDict_WatchEvent event, PyObject *dict, PyObject *key, PyObject *new_value)
{
    g_dirty = 1;
    return 0;
}
#define G_STALE() (g_dirty)
#define G_FRESH() (g_dirty = 0)
#else
static uint64_t g_version;
static int g_valid;
#define G_STALE() (!g_valid || ((PyDictObject *)engine_dict)->ma_version_tag != g_version)
#define G_FRESH() (g_valid = 1, g_version = ((PyDictObject *)engine_dict)->ma_version_tag)
#endif

static int
load_globals(void)
{
    if (!G_STALE())
        return 0;
    PyObject *hs = PyDict_GetItemWithError(engine_dict, s_history_size);
    PyObject *test = hs ? PyDict_GetItemWithError(engine_dict, s_current_test) : NULL;
    if (test == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "racedet.engine lost history_size or current_test");
        return -1;
    }
    PyObject *every = PyDict_GetItemWithError(engine_dict, s_sweep_every);
    if (every == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "racedet.engine lost _SWEEP_EVERY");
        return -1;
    }
    Py_ssize_t sweep_every = PyNumber_AsSsize_t(every, PyExc_OverflowError);
    if (sweep_every == -1 && PyErr_Occurred())
        return -1;
    Py_INCREF(hs);
    Py_INCREF(test);
    int on = PyObject_IsTrue(hs);
    Py_ssize_t limit = on > 0 ? PyNumber_AsSsize_t(hs, PyExc_OverflowError) : 0;
    Py_DECREF(hs);
    if (on < 0 || (limit == -1 && PyErr_Occurred())) {
        Py_DECREF(test);
        return -1;
    }
    Py_XSETREF(g_test, test);
    g_on = on;
    g_limit = limit;
    g_sweep_every = sweep_every;
    G_FRESH();
    return 0;
}

/* (site, callers, test, held) with the held locks of ``ts`` read now. */
static PyObject *
record_now(PyObject *site, PyObject *callers, PyObject *test, PyObject *ts)
{
    held_view v;
    if (held_view_ts(ts, &v) < 0)
        return NULL;
    PyObject *held = held_tuple(&v);
    held_view_done(&v);
    if (held == NULL)
        return NULL;
    PyObject *r = hist_record(site, callers, test, held);
    Py_DECREF(held);
    return r;
}

/* engine.hist(site, ts), called from a hook: the hook's caller is the top frame.
 * A new reference. */
static PyObject *
hist(PyObject *site, PyObject *ts)
{
    if (load_globals() < 0)
        return NULL;
    PyObject *res = NULL, *test = g_test, *heldt = NULL;
    PyFrameObject *f = NULL, *back = NULL;
    PyCodeObject *bco = NULL;
    Py_ssize_t limit = g_limit;
    held_view v = {.own = NULL};
    Py_INCREF(test);
    if (!g_on) {       /* if not history_size: return (site, None, current_test, held) */
        res = record_now(site, Py_None, test, ts);
        goto done;
    }
    /* f = _user_frame(sys._getframe(1)) */
    f = PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != NULL) {
        PyCodeObject *co = PyFrame_GetCode(f);
        int h = code_hidden(co);
        Py_DECREF(co);
        if (h < 0)
            goto done;
        if (!h)
            break;
        PyFrameObject *b = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = b;
    }
    if (f == NULL || (back = PyFrame_GetBack(f)) == NULL) {
        PyObject *empty = PyTuple_New(0);       /* (site, (), current_test, held) */
        res = empty ? record_now(site, empty, test, ts) : NULL;
        Py_XDECREF(empty);
        goto done;
    }
    /* key = (site, back.f_code, back.f_lineno, current_test, held) */
    bco = PyFrame_GetCode(back);
    int line = frame_line(back, bco);
    hv_table *t = hv_table_of(ts);
    if (t == NULL || held_view_ts(ts, &v) < 0)
        goto done;
    if (v.own != NULL && (t = hv_table_of(ts)) == NULL)   /* code ran: the table may have moved */
        goto done;
    /* No code runs from here to the lookup's end: v's borrowed descriptions stay valid. */
    size_t hh = held_hash(&v);
    size_t h = hv_hash(site, (PyObject *)bco, line, test, hh);
    if (t->cap) {
        size_t mask = (size_t)t->cap - 1, i = h & mask;
        while (t->e[i].site != NULL) {
            hv_entry *x = &t->e[i];
            if (x->site == site && x->code == (PyObject *)bco && x->line == line && x->hh == hh
                    && same_test(x->test, test) && held_same(x->held, &v)) {
                res = Py_NewRef(x->rec);
                goto done;
            }
            i = (i + 1) & mask;
        }
    }
    /* miss: if len(cache) >= 512: cache.clear(); h = cache[key] = (site, capture_raw(back, n), test, held) */
    heldt = held_tuple(&v);
    held_view_done(&v);
    if (heldt == NULL)
        goto done;
    if (t->used >= HV_MAX)
        hv_clear(t);
    PyObject *callers = capture_raw(back, limit);
    if (callers == NULL)
        goto done;
    res = hist_record(site, callers, test, heldt);
    Py_DECREF(callers);
    if (res == NULL)
        goto done;
    /* capture_raw may have run Python code (frames.code_hidden): look again for a free slot */
    if (t == hv_table_of(ts) && t->used < HV_MAX) {
        if (hv_reserve(t) < 0) {
            Py_CLEAR(res);
            goto done;
        }
        size_t mask = (size_t)t->cap - 1, i = h & mask;
        while (t->e[i].site != NULL)
            i = (i + 1) & mask;
        hv_entry *x = &t->e[i];
        x->site = Py_NewRef(site);
        x->code = Py_NewRef((PyObject *)bco);
        x->test = Py_NewRef(test);
        x->held = Py_NewRef(heldt);
        x->rec = Py_NewRef(res);
        x->hh = hh;
        x->line = line;
        t->used++;
    }
    else if (PyErr_Occurred())
        Py_CLEAR(res);
done:
    held_view_done(&v);
    Py_XDECREF(heldt);
    Py_XDECREF(bco);
    Py_XDECREF(f);
    Py_XDECREF(back);
    Py_DECREF(test);
    return res;
}

/* ------------------------------------------------------------------------ */
/* Shadow memory */

/* engine.new_shadow(obj) for the weak, watched, strong and ignored kinds
 * (modules go to the Python function).  The key in ``shadow`` is the very int
 * id_key gives, so later lookups compare keys by identity. */
static PyObject *
make_shadow(PyObject *obj, PyObject *oid)
{
    /* kind = _type_kind.get(id(t)); if kind is None: kind = _classify(t) */
    PyTypeObject *t = Py_TYPE(obj);
    PyObject *tkey = id_key((PyObject *)t);
    if (tkey == NULL)
        return NULL;
    PyObject *kobj = PyDict_GetItemWithError(type_kind, tkey);
    Py_DECREF(tkey);
    if (kobj != NULL)
        Py_INCREF(kobj);
    else if (PyErr_Occurred() || (kobj = PyObject_CallOneArg(classify_fn, (PyObject *)t)) == NULL)
        return NULL;
    long kind = PyLong_CheckExact(kobj) ? PyLong_AsLong(kobj) : -1;
    Py_DECREF(kobj);
    PyObject *sh = NULL;
    if (kind == kind_weak) {
        /* r = _Ref(obj, _on_death) (a TypeError: watched after all); r.oid = oid;
         * sh = {REF: r}; shadow[oid] = sh */
        PyObject *r = PyObject_CallFunctionObjArgs(Ref_type, obj, on_death, NULL);
        if (r == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return NULL;
            PyErr_Clear();
            kind = kind_watch;
        }
        else {
            if (PyObject_SetAttr(r, s_oid, oid) == 0 && (sh = PyDict_New()) != NULL) {
                if (PyDict_SetItem(sh, REF, r) < 0 || PyDict_SetItem(shadow, oid, sh) < 0)
                    Py_CLEAR(sh);
            }
            Py_DECREF(r);
            return sh;
        }
    }
    if (kind == kind_watch) {
        /* if _watch(obj, oid): sh = shadow[oid] = {}; else strong */
        int w = lifetime_watch != NULL ? lifetime_watch(obj, oid) : 0;
        if (w < 0)
            return NULL;
        if (w) {
            if ((sh = PyDict_New()) != NULL && PyDict_SetItem(shadow, oid, sh) < 0)
                Py_CLEAR(sh);
            return sh;
        }
        kind = kind_strong;
    }
    if (kind == kind_strong) {
        /* sh = {REF: obj}; shadow[oid] = sh; _strong.append(oid)
         * if len(_strong) >= _SWEEP_EVERY: sweep() */
        if (load_globals() < 0 || (sh = PyDict_New()) == NULL)
            return NULL;
        if (PyDict_SetItem(sh, REF, obj) < 0 || PyDict_SetItem(shadow, oid, sh) < 0
                || PyList_Append(strong_list, oid) < 0) {
            Py_DECREF(sh);
            return NULL;
        }
        if (PyList_GET_SIZE(strong_list) >= g_sweep_every) {
            PyObject *sweep = PyDict_GetItemWithError(engine_dict, s_sweep);
            PyObject *res = sweep ? PyObject_CallNoArgs(sweep) : NULL;
            if (res == NULL) {
                if (!PyErr_Occurred())
                    PyErr_SetString(PyExc_AttributeError, "racedet.engine lost sweep");
                Py_DECREF(sh);
                return NULL;
            }
            Py_DECREF(res);
        }
        return sh;
    }
    if (kind == kind_ignore)
        return Py_NewRef(IGNORED);
    return PyObject_CallOneArg(new_shadow_fn, obj);   /* modules: their __dict__'s shadow */
}

/* sh = _shadow_get(id(obj)); if sh is None: sh = _new_shadow(obj).  New reference. */
static inline PyObject *
get_shadow(PyObject *obj)
{
    PyObject *oid = id_key(obj);
    if (oid == NULL)
        return NULL;
    PyObject *sh = PyDict_GetItemWithError(shadow, oid);
    if (sh != NULL) {
        Py_INCREF(sh);
        Py_DECREF(oid);
        return sh;
    }
    if (!PyErr_Occurred())
        sh = make_shadow(obj, oid);
    Py_DECREF(oid);
    if (sh != NULL && !PyDict_Check(sh)) {
        Py_DECREF(sh);
        PyErr_SetString(PyExc_TypeError, "racedet: a shadow is not a dict");
        return NULL;
    }
    return sh;
}

/* _state(sh, key): the location's [W, WH, R, RH], made on first use. */
static PyObject *
get_state(PyObject *sh, PyObject *key)
{
    PyObject *vs = dict_get(sh, key);
    if (vs != NULL || PyErr_Occurred())
        return vs;
    vs = new_vs(ZERO, Py_None, ZERO, Py_None);
    if (vs != NULL && dict_set(sh, key, vs) < 0)
        Py_CLEAR(vs);
    return vs;
}

/* ------------------------------------------------------------------------ */
/* FastTrack read and write on one location state (access_py._read/_write). */

static int
call_report(PyObject *ts, PyObject *kind, PyObject *site, PyObject *pkind, PyObject *pepoch,
            PyObject *phist, int lk, PyObject *obj, PyObject *key)
{
    PyObject *args[9] = {ts, kind, site, pkind, pepoch, phist, LOC[lk], obj, key};
    PyObject *r = PyObject_Vectorcall(report_fn, args, 9, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Exact Python arithmetic, for ints beyond 63 bits (never in practice). */
static int
unordered_py(PyObject *vc, PyObject *t, PyObject *e, PyObject *tid)
{
    /* t != tid and (e >> B) > vc.get(t, 0) */
    int r = PyObject_RichCompareBool(t, tid, Py_NE);
    if (r <= 0)
        return r;
    PyObject *bits = PyLong_FromLong(TID_BITS);
    PyObject *c = bits ? PyNumber_Rshift(e, bits) : NULL;
    PyObject *v = c ? PyObject_CallMethod(vc, "get", "OO", t, ZERO) : NULL;
    r = v ? PyObject_RichCompareBool(c, v, Py_GT) : -1;
    Py_XDECREF(v);
    if (r > 0) {   /* the own entry does not cover it: ask the base (racedet.clock.beyond) */
        PyObject *base = PyObject_CallMethod(vc, "get", "O", ZERO);
        if (base == NULL)
            r = -1;
        else if (base != Py_None) {
            v = PyObject_CallMethod(base, "get", "OO", t, ZERO);
            r = v ? PyObject_RichCompareBool(c, v, Py_GT) : -1;
            Py_XDECREF(v);
        }
        Py_XDECREF(base);
    }
    Py_XDECREF(bits);
    Py_XDECREF(c);
    return r;
}

/* ``t != tid and (e >> B) > vc.get(t, 0)``: did access epoch ``e`` of thread
 * ``t`` not happen before the current thread (tid, vc)?  1, 0 or -1. */
static int
unordered_t(PyObject *vc, PyObject *t, PyObject *e, PyObject *tid)
{
    int o1, o2, o3;
    long long tv = PyLong_AsLongLongAndOverflow(t, &o1);
    if (tv == -1 && PyErr_Occurred())
        return -1;
    long long ev = PyLong_AsLongLongAndOverflow(e, &o2);
    if (ev == -1 && PyErr_Occurred())
        return -1;
    long long tidv = PyLong_AsLongLongAndOverflow(tid, &o3);
    if (tidv == -1 && PyErr_Occurred())
        return -1;
    if (o1 || o2 || o3)
        return unordered_py(vc, t, e, tid);
    if (tv == tidv)
        return 0;
    long long c;
    if (vc_get(vc, tv, &c) < 0)
        return -1;
    if ((ev >> TID_BITS) <= c)   /* >> floors on gcc/clang, as in Python */
        return 0;
    return beyond_base(vc, tv, ev >> TID_BITS);
}

/* ``(e & M) != tid and (e >> B) > vc.get(e & M, 0)``: the same for a bare epoch. */
static int
unordered(PyObject *vc, PyObject *e, PyObject *tid)
{
    int o1, o2;
    long long ev = PyLong_AsLongLongAndOverflow(e, &o1);
    if (ev == -1 && PyErr_Occurred())
        return -1;
    long long tidv = PyLong_AsLongLongAndOverflow(tid, &o2);
    if (tidv == -1 && PyErr_Occurred())
        return -1;
    if (!o1 && !o2) {
        /* & and >> on a negative long long give Python's results too */
        long long t = ev & TID_MASK, c;
        if (t == tidv)
            return 0;
        if (vc_get(vc, t, &c) < 0)
            return -1;
        if ((ev >> TID_BITS) <= c)
            return 0;
        return beyond_base(vc, t, ev >> TID_BITS);
    }
    PyObject *mask = PyLong_FromLongLong(TID_MASK);
    PyObject *t = mask ? PyNumber_And(e, mask) : NULL;
    Py_XDECREF(mask);
    if (t == NULL)
        return -1;
    int r = unordered_py(vc, t, e, tid);
    Py_DECREF(t);
    return r;
}

/* Sign of an int: -1, 0, 1; -2 on error. */
static inline int
sign_of(PyObject *x)
{
    int o;
    long long v = PyLong_AsLongLongAndOverflow(x, &o);
    if (v == -1 && PyErr_Occurred())
        return -2;
    if (o)
        return o;
    return v > 0 ? 1 : (v < 0 ? -1 : 0);
}

typedef struct {
    PyObject *e, *tid, *vc;    /* new references */
} tsinfo;

static int
ts_info(PyObject *ts, tsinfo *ti)
{
    ti->e = ts_get(ts, off_epoch, s_epoch);
    ti->tid = ti->e ? ts_get(ts, off_tid, s_tid) : NULL;
    ti->vc = ti->tid ? ts_get(ts, off_vc, s_vc) : NULL;
    return ti->vc == NULL ? -1 : 0;
}

static void
ts_info_clear(tsinfo *ti)
{
    Py_CLEAR(ti->e);
    Py_CLEAR(ti->tid);
    Py_CLEAR(ti->vc);
}

/* ent[0] of a (epoch, history) entry: a new reference. */
static inline PyObject *
first(PyObject *ent)
{
    if (PyTuple_CheckExact(ent) && PyTuple_GET_SIZE(ent) >= 1)
        return Py_NewRef(PyTuple_GET_ITEM(ent, 0));
    return PySequence_GetItem(ent, 0);
}

/* A snapshot ``tuple(d.items())`` of the (epoch, history) entries of dict ``d``. */
static PyObject *
items_of(PyObject *d)
{
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "racedet: per-thread entries are not a dict");
        return NULL;
    }
    PyObject *its = PyDict_Items(d);
    PyObject *t = its ? PySequence_Tuple(its) : NULL;
    Py_XDECREF(its);
    return t;
}

/* ``for t, (oe, oh) in tuple(d.items()): if t != tid and (oe >> B) > vc.get(t, 0):
 *      _report(ts, kind, site, pkind, oe, oh, lk, obj, key)`` */
/* Would the loop below report anything?  0: surely not; 1: maybe (or not
 * sure: odd values); -1: error.  It runs no Python code and allocates no
 * tracked object, so walking ``d`` in place is safe; it spares the snapshot
 * in the common case where every entry happened before. */
static int
any_unordered(PyObject *d, tsinfo *ti)
{
    if (!PyDict_CheckExact(d) || !PyDict_CheckExact(ti->vc) || !PyLong_CheckExact(ti->tid))
        return 1;
    int o;
    long long tid = PyLong_AsLongLongAndOverflow(ti->tid, &o);
    if (o)
        return 1;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (!PyLong_CheckExact(k) || !PyTuple_CheckExact(v) || PyTuple_GET_SIZE(v) != 2
                || !PyLong_CheckExact(PyTuple_GET_ITEM(v, 0)))
            return 1;
        int o1, o2;
        long long t = PyLong_AsLongLongAndOverflow(k, &o1);
        long long e = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(v, 0), &o2);
        if (o1 || o2)
            return 1;
        if (t == tid)
            continue;
        long long c;
        if (vc_get(ti->vc, t, &c) < 0)
            return -1;
        if ((e >> TID_BITS) > c) {
            int u = beyond_base(ti->vc, t, e >> TID_BITS);
            if (u != 0)
                return u;
        }
    }
    return 0;
}

static int
report_unordered(PyObject *d, tsinfo *ti, PyObject *ts, PyObject *kind, PyObject *site,
                 PyObject *pkind, int lk, PyObject *obj, PyObject *key)
{
    int any = any_unordered(d, ti);
    if (any <= 0)
        return any;
    PyObject *items = items_of(d);
    if (items == NULL)
        return -1;
    int rc = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *kv = PyTuple_GET_ITEM(items, i);
        PyObject *val = PyTuple_GET_ITEM(kv, 1);
        if (!PyTuple_Check(val) || PyTuple_GET_SIZE(val) != 2) {
            PyErr_SetString(PyExc_ValueError, "racedet: bad (epoch, history) entry");
            rc = -1;
            break;
        }
        PyObject *oe = PyTuple_GET_ITEM(val, 0), *oh = PyTuple_GET_ITEM(val, 1);
        int u = unordered_t(ti->vc, PyTuple_GET_ITEM(kv, 0), oe, ti->tid);
        if (u > 0)
            u = call_report(ts, kind, site, pkind, oe, oh, lk, obj, key);
        if (u < 0) {
            rc = -1;
            break;
        }
    }
    Py_DECREF(items);
    return rc;
}

/* vs[0] (W) conflicts: ``if w and (w & M) != tid and (w >> B) > vc.get(w & M, 0): _report(...)`` */
static int
check_w(PyObject *vs, tsinfo *ti, PyObject *ts, PyObject *kind, PyObject *site, int lk,
        PyObject *obj, PyObject *key)
{
    PyObject *w = vs_get(vs, 0);
    int u = PyObject_IsTrue(w);
    if (u > 0)
        u = unordered(ti->vc, w, ti->tid);
    if (u > 0) {
        PyObject *wh = vs_get(vs, 1);
        u = call_report(ts, kind, site, s_write, w, wh, lk, obj, key);
        Py_DECREF(wh);
    }
    Py_DECREF(w);
    return u < 0 ? -1 : 0;
}

static int
ft_read(PyObject *ts, PyObject *vs, PyObject *site, int lk, PyObject *obj, PyObject *key)
{
    tsinfo ti;
    int rc = -1;
    PyObject *r = NULL, *h = NULL, *d = NULL;
    if (check_vs(vs) < 0 || ts_info(ts, &ti) < 0)
        return -1;
    if (check_w(vs, &ti, ts, s_read, site, lk, obj, key) < 0 || check_vs(vs) < 0)
        goto done;
    r = vs_get(vs, 2);
    int s = sign_of(r);
    if (s == -2)
        goto done;
    if (s >= 0) {
        /* if r == 0 or (r & M) == tid or (r >> B) <= vc.get(r & M, 0): */
        int u = s == 0 ? 0 : unordered(ti.vc, r, ti.tid);
        if (u < 0)
            goto done;
        if (!u) {
            /* vs[3] = _hist(site, ts); vs[2] = e */
            if ((h = hist(site, ts)) == NULL || check_vs(vs) < 0)
                goto done;
            vs_set(vs, 3, h);
            vs_set(vs, 2, ti.e);
        }
        else {
            /* vs[3] = {r & M: (r, vs[3]), tid: (e, _hist(site, ts))}; vs[2] = -1 */
            PyObject *mask = PyLong_FromLongLong(TID_MASK);
            PyObject *rt = mask ? PyNumber_And(r, mask) : NULL;
            PyObject *rh = vs_get(vs, 3);
            PyObject *p1 = rt ? record_tuple(2, r, rh, NULL) : NULL;
            PyObject *p2 = NULL;
            Py_XDECREF(mask);
            Py_DECREF(rh);
            if (p1 != NULL && (h = hist(site, ts)) != NULL && (p2 = record_tuple(2, ti.e, h, NULL)) != NULL
                    && (d = PyDict_New()) != NULL) {
                if (PyDict_SetItem(d, rt, p1) < 0 || PyDict_SetItem(d, ti.tid, p2) < 0)
                    Py_CLEAR(d);
            }
            Py_XDECREF(rt);
            Py_XDECREF(p1);
            Py_XDECREF(p2);
            if (d == NULL || check_vs(vs) < 0)
                goto done;
            vs_set(vs, 3, d);
            vs_set(vs, 2, MINUS_ONE);
        }
    }
    else {
        /* rs = vs[3]; ent = rs.get(tid); if ent is None or ent[0] != e: rs[tid] = (e, _hist(site, ts)) */
        PyObject *rs = vs_get(vs, 3);
        int fresh = 1;
        if (!PyDict_Check(rs)) {
            PyErr_SetString(PyExc_TypeError, "racedet: shared reads are not a dict");
            fresh = -1;
        }
        else {
            PyObject *ent = dict_get(rs, ti.tid);
            if (ent != NULL) {
                PyObject *e0 = first(ent);
                fresh = e0 ? ne(e0, ti.e) : -1;
                Py_XDECREF(e0);
                Py_DECREF(ent);
            }
            else if (PyErr_Occurred())
                fresh = -1;
        }
        if (fresh > 0) {
            h = hist(site, ts);
            PyObject *p = h ? record_tuple(2, ti.e, h, NULL) : NULL;
            fresh = p ? dict_set(rs, ti.tid, p) : -1;
            Py_XDECREF(p);
        }
        Py_DECREF(rs);
        if (fresh < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(r);
    Py_XDECREF(h);
    Py_XDECREF(d);
    ts_info_clear(&ti);
    return rc;
}

static int
ft_write(PyObject *ts, PyObject *vs, PyObject *site, int lk, PyObject *obj, PyObject *key)
{
    tsinfo ti;
    int rc = -1;
    PyObject *r = NULL, *h = NULL;
    if (check_vs(vs) < 0 || ts_info(ts, &ti) < 0)
        return -1;
    if (check_w(vs, &ti, ts, s_write, site, lk, obj, key) < 0 || check_vs(vs) < 0)
        goto done;
    r = vs_get(vs, 2);
    int s = sign_of(r);
    if (s == -2)
        goto done;
    if (s > 0) {
        /* if (r & M) != tid and (r >> B) > vc.get(r & M, 0): _report(ts, "write", site, "read", r, vs[3], ...) */
        int u = unordered(ti.vc, r, ti.tid);
        if (u > 0) {
            PyObject *rh = vs_get(vs, 3);
            u = call_report(ts, s_write, site, s_read, r, rh, lk, obj, key);
            Py_DECREF(rh);
        }
        if (u < 0)
            goto done;
    }
    else if (s < 0) {
        PyObject *rs = vs_get(vs, 3);
        int u = report_unordered(rs, &ti, ts, s_write, site, s_read, lk, obj, key);
        Py_DECREF(rs);
        if (u < 0)
            goto done;
    }
    /* vs[1] = _hist(site, ts); vs[0] = e; vs[2] = 0; vs[3] = None */
    if ((h = hist(site, ts)) == NULL || check_vs(vs) < 0)
        goto done;
    vs_set(vs, 1, h);
    vs_set(vs, 0, ti.e);
    vs_set(vs, 2, ZERO);
    vs_set(vs, 3, Py_None);
    rc = 0;
done:
    Py_XDECREF(r);
    Py_XDECREF(h);
    ts_info_clear(&ti);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The hooks' bodies: 0 done, -1 error. */

/* engine.data_descriptor(type(obj), name): is ``obj.name`` a data
 * descriptor's code (property, getset, __set__/__delete__) and not memory?
 * __slots__ members are memory.  _PyType_Lookup is the lookup attribute
 * access makes, through the interpreter's type cache (keyed by version tags,
 * so a class changed since is looked up afresh): no cache of ours to go stale. */
static inline int
is_data_descriptor(PyObject *obj, PyObject *name)
{
    if (!PyUnicode_CheckExact(name))
        return 0;
    PyObject *d = _PyType_Lookup(Py_TYPE(obj), name);   /* borrowed; sets no error */
    if (d == NULL)
        return 0;
    PyTypeObject *dt = Py_TYPE(d);
    return dt != &PyMemberDescr_Type && dt->tp_descr_set != NULL;
}

/* engine.attr_hooks(type(obj)), limited to the hooks an access in ``mode``
 * runs: HOOK_GETATTR | HOOK_GETATTRIBUTE for reads, HOOK_SETATTR for stores
 * and deletes.  A plain class inherits object's generic tp_getattro and
 * tp_setattro: two pointer compares, and no cache of ours.  A class with a
 * Python __getattr__/__getattribute__/__setattr__/__delattr__ has slot
 * functions there; a C type's own slots (type, modules, threading.local)
 * appear as slot wrappers, and are not user hooks. */
enum { HOOK_GETATTR = 1, HOOK_GETATTRIBUTE = 2, HOOK_SETATTR = 4 };
static PyObject *s___getattr__, *s___getattribute__, *s___setattr__, *s___delattr__;

static int
hook_names(void)
{
    if (s___delattr__ != NULL)
        return 0;
    if ((s___getattr__ = PyUnicode_InternFromString("__getattr__")) == NULL
        || (s___getattribute__ = PyUnicode_InternFromString("__getattribute__")) == NULL
        || (s___setattr__ = PyUnicode_InternFromString("__setattr__")) == NULL
        || (s___delattr__ = PyUnicode_InternFromString("__delattr__")) == NULL)
        return -1;
    return 0;
}

static inline int
user_slot(PyTypeObject *tp, PyObject *name)
{
    PyObject *d = _PyType_Lookup(tp, name);   /* borrowed; sets no error */
    return d != NULL && Py_TYPE(d) != &PyWrapperDescr_Type;
}

/* The hooks' bits, 0 for none, -1 on error. */
static inline int
attr_hooks(PyTypeObject *tp, int mode)
{
    int get = (mode & M_READ) && tp->tp_getattro != PyObject_GenericGetAttr;
    int set = (mode & M_WRITE) && tp->tp_setattro != PyObject_GenericSetAttr;
    if (!get && !set)
        return 0;
    if (hook_names() < 0)
        return -1;
    int h = 0;
    if (get) {
        if (user_slot(tp, s___getattribute__))
            h |= HOOK_GETATTRIBUTE;
        else if (_PyType_Lookup(tp, s___getattr__) != NULL)
            h |= HOOK_GETATTR;
    }
    if (set && (user_slot(tp, s___setattr__) || user_slot(tp, s___delattr__)))
        h |= HOOK_SETATTR;
    return h;
}

/* engine.hooked_memory: is ``obj.name`` memory although its type has the
 * user hooks ``hooks`` (of attr_hooks, for this access)?  Memory when the
 * name is in the instance __dict__ (as object.__setattr__ stores it: no user
 * code runs; for a class, its MRO) or a __slots__ member; a read through
 * __getattr__ also when the type has the name.  1 yes, 0 no. */
static int
hooked_memory(PyObject *obj, PyObject *name, int hooks)
{
    if (!PyUnicode_CheckExact(name))
        return 1;
    if (PyType_Check(obj)) {
        /* a class under a metaclass with hooks: its own MRO, as type's lookup */
        if (_PyType_Lookup((PyTypeObject *)obj, name) != NULL)
            return 1;
    }
    else {
        PyObject *d = PyObject_GenericGetDict(obj, NULL);
        if (d == NULL)
            PyErr_Clear();   /* no instance __dict__ */
        else {
            int in = PyDict_Check(d) ? PyDict_Contains(d, name) : 0;
            Py_DECREF(d);
            if (in < 0)
                PyErr_Clear();
            else if (in)
                return 1;
        }
    }
    PyObject *found = _PyType_Lookup(Py_TYPE(obj), name);   /* borrowed */
    if (found != NULL && Py_TYPE(found) == &PyMemberDescr_Type)
        return 1;
    if (hooks & (HOOK_SETATTR | HOOK_GETATTRIBUTE))
        return 0;
    return found != NULL;
}

/* Is ``obj.name``, a location not seen yet, code rather than memory: a data
 * descriptor's, or a user attribute hook's?  1 yes, 0 no, -1 error. */
static int
not_memory(PyObject *obj, PyObject *name, int mode)
{
    if (is_data_descriptor(obj, name))
        return 1;
    int h = attr_hooks(Py_TYPE(obj), mode);
    if (h <= 0)
        return h;
    return !hooked_memory(obj, name, h);
}

/* rd_attr / wr_attr / rmw_attr */
static int
attr_access(PyObject *obj, PyObject *name, PyObject *site, int mode)
{
    int rc = -1;
    PyObject *vs = NULL, *e = NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    PyObject *sh = get_shadow(obj);
    if (sh == NULL)
        goto done;
    if (mode == M_RMW) {
        /* vs = sh.get(name)
         * if vs is None: (return if IGNORED or a descriptor); vs = sh[name] = [0, None, 0, None]
         * if vs[0] != ts.epoch: (if vs[2] != ts.epoch: _read); _write */
        vs = dict_get(sh, name);
        if (vs == NULL) {
            if (PyErr_Occurred())
                goto done;
            int nm = sh == IGNORED ? 1 : not_memory(obj, name, mode);
            if (nm != 0) {
                rc = nm < 0 ? -1 : 0;
                goto done;
            }
        }
        if ((vs == NULL && (vs = get_state(sh, name)) == NULL) || check_vs(vs) < 0)
            goto done;
        PyObject *eb = ts_epoch_borrowed(ts);
        if (eb != NULL && PyList_GET_ITEM(vs, 0) == eb) {
            rc = 0;
            goto done;
        }
        if ((e = ts_get(ts, off_epoch, s_epoch)) == NULL)
            goto done;
        int d = ne(PyList_GET_ITEM(vs, 0), e);
        if (d > 0) {
            int d2 = ne(PyList_GET_ITEM(vs, 2), e);
            if (d2 < 0 || (d2 > 0 && ft_read(ts, vs, site, LOC_ATTR, obj, name) < 0))
                goto done;
            if (ft_write(ts, vs, site, LOC_ATTR, obj, name) < 0)
                goto done;
        }
        else if (d < 0)
            goto done;
        rc = 0;
        goto done;
    }
    vs = dict_get(sh, name);
    if (vs == NULL) {
        if (PyErr_Occurred())
            goto done;
        int nm = sh == IGNORED ? 1 : not_memory(obj, name, mode);
        if (nm != 0) {
            rc = nm < 0 ? -1 : 0;
            goto done;
        }
        /* sh[name] = [0, None, ts.epoch, _hist(site, ts)]  (read)
         * sh[name] = [ts.epoch, _hist(site, ts), 0, None]  (write) */
        if ((e = ts_get(ts, off_epoch, s_epoch)) == NULL)
            goto done;
        PyObject *h = hist(site, ts);
        if (h == NULL)
            goto done;
        vs = mode == M_READ ? new_vs(ZERO, Py_None, e, h) : new_vs(e, h, ZERO, Py_None);
        Py_DECREF(h);
        if (vs == NULL || dict_set(sh, name, vs) < 0)
            goto done;
        rc = 0;
        goto done;
    }
    if (check_vs(vs) < 0)
        goto done;
    Py_ssize_t i = mode == M_READ ? 2 : 0;
    PyObject *eb = ts_epoch_borrowed(ts);
    if (eb != NULL && PyList_GET_ITEM(vs, i) == eb) {   /* same epoch */
        rc = 0;
        goto done;
    }
    /* elif vs[2] != ts.epoch: _read(...)   /   elif vs[0] != ts.epoch: _write(...) */
    if ((e = ts_get(ts, off_epoch, s_epoch)) == NULL)
        goto done;
    int d = ne(PyList_GET_ITEM(vs, i), e);
    if (d < 0)
        goto done;
    if (d > 0 && (mode == M_READ ? ft_read : ft_write)(ts, vs, site, LOC_ATTR, obj, name) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(e);
    Py_XDECREF(vs);
    Py_XDECREF(sh);
    Py_DECREF(ts);
    return rc;
}

/* The end of _named, _cell and _item, on a location state ``vs``:
 *   e = ts.epoch
 *   if read and vs[2] != e and vs[0] != e: _read(ts, vs, site, lk, obj, key)
 *   if write and vs[0] != e: _write(ts, vs, site, lk, obj, key) */
static int
rw_state(PyObject *ts, PyObject *vs, PyObject *site, int lk, PyObject *obj, PyObject *key, int mode)
{
    if (check_vs(vs) < 0)
        return -1;
    PyObject *eb = ts_epoch_borrowed(ts);
    if (eb != NULL) {
        /* same epoch: neither test below can pass */
        PyObject *w = PyList_GET_ITEM(vs, 0);
        if (w == eb || (!(mode & M_WRITE) && PyList_GET_ITEM(vs, 2) == eb))
            return 0;
    }
    PyObject *e = ts_get(ts, off_epoch, s_epoch);
    if (e == NULL)
        return -1;
    int rc = -1;
    if (mode & M_READ) {
        int d = ne(PyList_GET_ITEM(vs, 2), e);
        if (d > 0)
            d = ne(PyList_GET_ITEM(vs, 0), e);
        if (d < 0 || (d > 0 && ft_read(ts, vs, site, lk, obj, key) < 0))
            goto done;
    }
    if (mode & M_WRITE) {
        if (check_vs(vs) < 0)
            goto done;
        int d = ne(PyList_GET_ITEM(vs, 0), e);
        if (d < 0 || (d > 0 && ft_write(ts, vs, site, lk, obj, key) < 0))
            goto done;
    }
    rc = 0;
done:
    Py_DECREF(e);
    return rc;
}

/* _named (globals: key is the name) and _cell (key is CELL, desc the description):
 * the state is made on first use, with no IGNORED test. */
static int
named_access(PyObject *holder, PyObject *key, PyObject *desc, PyObject *site, int lk, int mode)
{
    int rc = -1;
    PyObject *vs = NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    PyObject *sh = get_shadow(holder);
    if (sh == NULL)
        goto done;
    if ((vs = get_state(sh, key)) == NULL)
        goto done;
    rc = rw_state(ts, vs, site, lk, holder, desc, mode);
done:
    Py_XDECREF(vs);
    Py_XDECREF(sh);
    Py_DECREF(ts);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Containers */

#define MAX_CONFLICTS 4
static const int CONFLICTS[N_KINDS][MAX_CONFLICTS] = {
    {WHOLE_READ, INDEX_READ, LEN_READ, KEYS_READ},   /* ATOMIC_MUT */
    {WHOLE_READ, LEN_READ, KEYS_READ, -1},           /* ITEM_MUT: adds or removes a key */
    {ATOMIC_MUT, ITEM_MUT, ITEM_SET, -1},            /* WHOLE_READ: the values */
    {ATOMIC_MUT, -1, -1, -1},                        /* INDEX_READ */
    {WHOLE_READ, -1, -1, -1},                        /* ITEM_SET: an existing key's value */
    {ATOMIC_MUT, ITEM_MUT, -1, -1},                  /* LEN_READ */
    {ATOMIC_MUT, ITEM_MUT, -1, -1},                  /* KEYS_READ: a dict's or set's keys */
};
static const int IS_WRITE[N_KINDS] = {1, 1, 0, 0, 1, 0, 0};

static PyObject *plus_one(PyObject *c);
static PyObject *make_epoch(PyObject *c, PyObject *tid);
static int join_into(PyObject *dst, PyObject *src);
static PyObject *slot_get(PyObject *obj, PyTypeObject *tp, Py_ssize_t off, PyObject *name);
static int slot_set(PyObject *obj, PyTypeObject *tp, Py_ssize_t off, PyObject *name, PyObject *v);

/* ts.tick() */
static int
ts_tick(PyObject *ts)
{
    /* c = self.clk + 1; self.clk = c; self.vc[self.tid] = c; self.epoch = (c << TID_BITS) | self.tid */
    int rc = -1;
    PyObject *clk = NULL, *c = NULL, *tid = NULL, *vc = NULL, *epoch = NULL;
    if ((clk = ts_get(ts, off_clk, s_clk)) == NULL || (c = plus_one(clk)) == NULL
            || slot_set(ts, ThreadState_type, off_clk, s_clk, c) < 0
            || (tid = ts_get(ts, off_tid, s_tid)) == NULL || (vc = ts_get(ts, off_vc, s_vc)) == NULL
            || dict_set(vc, tid, c) < 0 || (epoch = make_epoch(c, tid)) == NULL
            || slot_set(ts, ThreadState_type, off_epoch, s_epoch, epoch) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(epoch);
    Py_XDECREF(vc);
    Py_XDECREF(tid);
    Py_XDECREF(c);
    Py_XDECREF(clk);
    return rc;
}

/* engine.release_merge(sv) by ``ts``, for a hand-off clock (the GIL makes it atomic). */
static int
release_merge(PyObject *ts, PyObject *sv)
{
    int rc = -1;
    PyObject *vc = NULL, *owner = NULL, *tsvc = NULL, *mine = NULL;
    if ((vc = slot_get(sv, SyncVar_type, off_sv_vc, s_vc)) == NULL
            || (owner = slot_get(sv, SyncVar_type, off_sv_tid, s_tid)) == NULL
            || (tsvc = ts_get(ts, off_vc, s_vc)) == NULL)
        goto done;
    int shared = PyObject_IsTrue(owner);
    if (shared < 0)
        goto done;
    if (vc == Py_None || shared) {
        /* vc = dict(vc) if vc else {}; join_into(vc, ts.vc); sv.tid = 0; sv.vc = vc */
        int t = vc == Py_None ? 0 : PyObject_IsTrue(vc);
        if (t < 0)
            goto done;
        mine = t ? PyDict_Copy(vc) : PyDict_New();
        if (mine == NULL || join_into(mine, tsvc) < 0
                || slot_set(sv, SyncVar_type, off_sv_tid, s_tid, ZERO) < 0
                || slot_set(sv, SyncVar_type, off_sv_vc, s_vc, mine) < 0)
            goto done;
    }
    else if (join_into(vc, tsvc) < 0)
        goto done;
    rc = ts_tick(ts);
done:
    Py_XDECREF(mine);
    Py_XDECREF(tsvc);
    Py_XDECREF(owner);
    Py_XDECREF(vc);
    return rc;
}

/* access_py._handoff(ts, sh, how): the clock (a new reference, NULL for an
 * ignored shadow) in *svp; the read window closed; released if it stores. */
static int
handoff(PyObject *ts, PyObject *sh, int how, PyObject **svp)
{
    *svp = NULL;
    PyObject *sv = dict_get(sh, HANDOFF);
    if (sv == NULL) {
        if (PyErr_Occurred())
            return -1;
        if (sh == IGNORED)
            return 0;
        if ((sv = PyObject_CallNoArgs((PyObject *)SyncVar_type)) == NULL)
            return -1;
        if (dict_set(sh, HANDOFF, sv) < 0) {
            Py_DECREF(sv);
            return -1;
        }
    }
    *svp = sv;
    /* if sv in loads: loads.remove(sv) */
    PyObject *loads = ts_get(ts, off_loads, s_loads);
    if (loads == NULL)
        return -1;
    if (!PyList_CheckExact(loads)) {
        Py_DECREF(loads);
        PyErr_SetString(PyExc_TypeError, "racedet: ThreadState.loads is not a list");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(loads); i++) {
        if (PyList_GET_ITEM(loads, i) == sv) {
            if (PyList_SetSlice(loads, i, i + 1, NULL) < 0) {
                Py_DECREF(loads);
                return -1;
            }
            break;
        }
    }
    Py_DECREF(loads);
    return (how & H_RELEASE) ? release_merge(ts, sv) : 0;
}

#define LOADS_KEPT 4

/* access_py._acquired(ts, sv): acquire the clock; keep it open for engine._handed_off. */
static int
acquired(PyObject *ts, PyObject *sv)
{
    if (sv == NULL)
        return 0;
    PyObject *vc = slot_get(sv, SyncVar_type, off_sv_vc, s_vc);
    if (vc == NULL)
        return -1;
    int t = vc == Py_None ? 0 : PyObject_IsTrue(vc);
    int rc = t;
    if (t > 0) {
        PyObject *tsvc = ts_get(ts, off_vc, s_vc);
        rc = tsvc ? join_into(tsvc, vc) : -1;
        Py_XDECREF(tsvc);
    }
    Py_DECREF(vc);
    if (rc < 0)
        return -1;
    /* loads.insert(0, sv); if len(loads) > _LOADS_KEPT: del loads[_LOADS_KEPT:] */
    PyObject *loads = ts_get(ts, off_loads, s_loads);
    if (loads == NULL)
        return -1;
    rc = PyList_CheckExact(loads) ? PyList_Insert(loads, 0, sv) : -1;
    if (rc == 0 && PyList_GET_SIZE(loads) > LOADS_KEPT)
        rc = PyList_SetSlice(loads, LOADS_KEPT, PyList_GET_SIZE(loads), NULL);
    if (rc < 0 && !PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "racedet: ThreadState.loads is not a list");
    Py_DECREF(loads);
    return rc;
}

/* _is_container(type(obj)): 1, 0 or -1 */
static inline int
is_container(PyObject *obj)
{
    PyTypeObject *t = Py_TYPE(obj);
    if (t == &PyList_Type || t == &PyDict_Type)
        return 1;
    PyObject *ok = PyDict_GetItemWithError(ctypes_cache, (PyObject *)t);
    if (ok != NULL)
        return ok == Py_True;
    if (PyErr_Occurred())
        return -1;
    int r = PyObject_IsSubclass((PyObject *)t, container_types);
    if (r < 0)
        return -1;
    /* Classes are not cached: the cache would keep them, and their module's globals, alive. */
    if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE)
            && PyDict_SetItem(ctypes_cache, (PyObject *)t, r ? Py_True : Py_False) < 0)
        return -1;
    return r;
}

/* access_py._contents(ts, obj, sh, site, how) */
static int
contents(PyObject *ts, PyObject *obj, PyObject *sh, PyObject *site, int how)
{
    int rc = -1;
    tsinfo ti = {NULL, NULL, NULL};
    PyObject *h = NULL;
    PyObject *cs = dict_get(sh, CONTENTS);
    if (cs == NULL) {
        if (PyErr_Occurred())
            return -1;
        /* cs = sh[_CONTENTS] = ({}, {}, {}, {}, {}, {}, {}) */
        cs = PyTuple_New(N_KINDS);
        if (cs == NULL)
            return -1;
        for (int i = 0; i < N_KINDS; i++) {
            PyObject *d = PyDict_New();
            if (d == NULL)
                goto done;
            PyTuple_SET_ITEM(cs, i, d);
        }
        if (dict_set(sh, CONTENTS, cs) < 0)
            goto done;
    }
    if (!PyTuple_CheckExact(cs) || PyTuple_GET_SIZE(cs) != N_KINDS) {
        PyErr_SetString(PyExc_TypeError, "racedet: bad contents state");
        goto done;
    }
    /* e = ts.epoch; mine = cs[how]; ent = mine.get(ts.tid)
     * if ent is not None and ent[0] == e: return */
    PyObject *mine = PyTuple_GET_ITEM(cs, how);
    if (!PyDict_Check(mine)) {
        PyErr_SetString(PyExc_TypeError, "racedet: bad contents state");
        goto done;
    }
    if (ts_info(ts, &ti) < 0)
        goto done;
    PyObject *ent = dict_get(mine, ti.tid);
    if (ent != NULL) {
        PyObject *e0 = first(ent);
        int d = e0 ? ne(e0, ti.e) : -1;
        Py_XDECREF(e0);
        Py_DECREF(ent);
        if (d <= 0) {
            rc = d;
            goto done;
        }
    }
    else if (PyErr_Occurred())
        goto done;
    PyObject *kind = IS_WRITE[how] ? s_write : s_read;
    for (int j = 0; j < MAX_CONFLICTS; j++) {
        int other = CONFLICTS[how][j];
        if (other < 0)
            break;
        /* d = cs[other]; if d: for t, (oe, oh) in tuple(d.items()): ... */
        PyObject *d = PyTuple_GET_ITEM(cs, other);
        if (PyDict_Check(d) && PyDict_GET_SIZE(d) == 0)
            continue;
        if (report_unordered(d, &ti, ts, kind, site, IS_WRITE[other] ? s_write : s_read,
                             LOC_CONTENTS, obj, Py_None) < 0)
            goto done;
    }
    /* mine[tid] = (e, _hist(site, ts)) */
    h = hist(site, ts);
    PyObject *p = h ? record_tuple(2, ti.e, h, NULL) : NULL;
    int x = p ? dict_set(mine, ti.tid, p) : -1;
    Py_XDECREF(p);
    if (x < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(h);
    Py_DECREF(cs);
    ts_info_clear(&ti);
    return rc;
}

/* access_py._key(obj, key): a new reference, or CONTENTS (new reference too) */
static PyObject *
item_key(PyObject *obj, PyObject *key)
{
    PyTypeObject *t = Py_TYPE(key);
    if (t == &PyLong_Type) {
        /* if key < 0 and obj is a sequence: key += its builtin length (a
         * dict's -1 is a key; a subclass's __len__ is never called) */
        int neg = PyObject_RichCompareBool(key, ZERO, Py_LT);
        if (neg < 0)
            return NULL;
        Py_ssize_t n = -1;
        if (neg) {
            if (PyList_Check(obj))
                n = PyList_GET_SIZE(obj);
            else if (PyByteArray_Check(obj))
                n = PyByteArray_GET_SIZE(obj);
            else if (PyObject_TypeCheck(obj, deque_type))
                n = deque_type->tp_as_sequence->sq_length(obj);
            else
                neg = 0;
        }
        if (neg) {
            if (n < 0)
                return NULL;
            PyObject *len = PyLong_FromSsize_t(n);
            PyObject *k = len ? PyNumber_Add(key, len) : NULL;
            Py_XDECREF(len);
            return k;
        }
        return Py_NewRef(key);
    }
    if (t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyFloat_Type || t == &PyBool_Type
            || key == Py_None)
        return Py_NewRef(key);
    if (t == &PyTuple_Type) {
        Py_ssize_t n = PyTuple_GET_SIZE(key);
        for (Py_ssize_t i = 0; i < n; i++) {
            PyTypeObject *kt = Py_TYPE(PyTuple_GET_ITEM(key, i));
            if (kt != &PyLong_Type && kt != &PyUnicode_Type && kt != &PyBytes_Type
                    && kt != &PyFloat_Type && kt != &PyBool_Type)
                return Py_NewRef(CONTENTS);
        }
        return Py_NewRef(key);
    }
    return Py_NewRef(CONTENTS);
}

/* access_py._item(obj, key, site, read, write, delete); M_DEL in ``mode`` for delete */
static int
item_access(PyObject *obj, PyObject *key, PyObject *site, int mode)
{
    int rc = -1;
    PyObject *k = NULL, *vs = NULL, *sv = NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    PyObject *sh = get_shadow(obj);
    if (sh == NULL)
        goto done;
    if ((k = item_key(obj, key)) == NULL)
        goto done;
    int write = mode & M_WRITE, read = mode & M_READ, del = mode & M_DEL;
    if (handoff(ts, sh, write && !del ? H_RELEASE : 0, &sv) < 0)
        goto done;
    if (k == CONTENTS) {
        if (contents(ts, obj, sh, site, write ? ATOMIC_MUT : WHOLE_READ) < 0)
            goto done;
        rc = read ? acquired(ts, sv) : 0;
        goto done;
    }
    int how = INDEX_READ;
    if (del)
        how = ITEM_MUT;
    else if (write) {
        /* _store_kind(obj, k): ITEM_SET for a dict's existing key or any sequence index
         * (a defaultdict's d[k] += 1 adds k) */
        int there = PyDict_Check(obj) ? PyDict_Contains(obj, k) : 1;
        if (there < 0)
            goto done;
        how = there ? ITEM_SET : ITEM_MUT;
    }
    if (contents(ts, obj, sh, site, how) < 0)
        goto done;
    /* vs = sh.get(k); if vs is None: vs = sh[k] = [0, None, 0, None] */
    if ((vs = get_state(sh, k)) == NULL)
        goto done;
    if (rw_state(ts, vs, site, LOC_ITEM, obj, k, mode & M_RMW) < 0)
        goto done;
    rc = read ? acquired(ts, sv) : 0;
done:
    Py_XDECREF(sv);
    Py_XDECREF(vs);
    Py_XDECREF(k);
    Py_XDECREF(sh);
    Py_DECREF(ts);
    return rc;
}

/* The end of access_py._whole, on ``obj``'s shadow ``sh`` */
static int
whole_sh(PyObject *ts, PyObject *obj, PyObject *sh, PyObject *site, int how, int hand)
{
    PyObject *sv = NULL;
    int rc = -1;
    if (handoff(ts, sh, hand, &sv) == 0 && contents(ts, obj, sh, site, how) == 0)
        rc = (hand & H_ACQUIRE) ? acquired(ts, sv) : 0;
    Py_XDECREF(sv);
    return rc;
}

/* access_py._whole(obj, site, how, hand) */
static int
whole_access(PyObject *obj, PyObject *site, int how, int hand)
{
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    PyObject *sh = get_shadow(obj);
    int rc = -1;
    if (sh != NULL) {
        rc = whole_sh(ts, obj, sh, site, how, hand);
        Py_DECREF(sh);
    }
    Py_DECREF(ts);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Locks: racedet.models.locks._took_py and _leaving_py in C.
 *
 * Every first acquisition and final release of a modelled Lock or RLock
 * comes here, so they are on the path of every locked update.  What is
 * faster than the Python functions:
 *
 *   - the slots of ThreadState and SyncVar read and written through the
 *     member descriptors' offsets (found at import), when the objects are
 *     of exactly those types (others go through getattr/setattr);
 *   - the join of a clock published by a plain release (clock.join_into) in C;
 *   - for a lock taken while others are held, the common case where every
 *     (held, taken) pair is already an edge of the lock-order graph: nothing
 *     is added to the graph, so the held entry is appended here, with the
 *     frame lockorder._where(2) would find.
 *
 * The rest calls the Python code it stands for: engine.acquire for a merged
 * clock (it takes the engine's lock), engine.published for a clock to rebase,
 * lockorder.acquired for a new edge (it checks for cycles) and
 * lockorder.released for a release out of LIFO order.
 *
 * The frames: took() and leaving() are called by the model's acquire and
 * release and, being C functions, have no frame of their own: the frame
 * that called took() (PyEval_GetFrame) is _took_py's ``_getframe(1)``, and
 * _took_py's ``_getframe(2)`` is that frame's caller.
 *
 * Errors propagate, as they would from the Python functions. */

/* ``a <op> b`` as Python evaluates it (no identity shortcut): exact ints in C.  1, 0 or -1. */
static int
py_cmp(PyObject *a, PyObject *b, int op)
{
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b)) {
        int oa, ob;   /* no error is possible for exact ints */
        long long x = PyLong_AsLongLongAndOverflow(a, &oa);
        long long y = PyLong_AsLongLongAndOverflow(b, &ob);
        if (!oa && !ob) {
            switch (op) {
            case Py_EQ: return x == y;
            case Py_NE: return x != y;
            case Py_GT: return x > y;
            default: break;
            }
        }
    }
    PyObject *r = PyObject_RichCompare(a, b, op);
    if (r == NULL)
        return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* The slots of a lock model: _sv, _uid and _desc, by type.
 *
 * ModelLock and ModelRLock are not known when this module is imported (their
 * module imports it), so a type's offsets are found on first sight, from its
 * member descriptors, and kept for as long as its version tag (reset by any
 * change to the type or its bases) stays the same.  Other objects, and types
 * with their own attribute lookup, are read with getattr. */
enum { LS_SV, LS_UID, LS_DESC, N_LS };
#define LT_SIZE 4
static struct { PyTypeObject *tp; unsigned int tag; Py_ssize_t off[N_LS]; } lt[LT_SIZE];
static int lt_next;
static PyObject *ls_names[N_LS];

static inline int
tag_valid(PyTypeObject *tp, unsigned int tag)
{
#if PY_VERSION_HEX < 0x030C0000
    if (!PyType_HasFeature(tp, Py_TPFLAGS_VALID_VERSION_TAG))
        return 0;
#endif
    return tag != 0 && tp->tp_version_tag == tag;
}

/* Copy the slot offsets of ``obj``'s type into ``off``: 1, or 0 (use getattr). */
static int
lock_offsets(PyObject *obj, Py_ssize_t off[N_LS])
{
    PyTypeObject *tp = Py_TYPE(obj);
    for (int k = 0; k < LT_SIZE; k++) {
        if (lt[k].tp == tp && tag_valid(tp, lt[k].tag)) {
            memcpy(off, lt[k].off, sizeof(lt[k].off));
            return 1;
        }
    }
    if (tp->tp_getattro != PyObject_GenericGetAttr)
        return 0;
    for (int n = 0; n < N_LS; n++) {
        /* A member descriptor is a data descriptor: it wins over an instance __dict__. */
        PyObject *d = _PyType_Lookup(tp, ls_names[n]);   /* borrowed; sets no error */
        if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type
                || ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX
                || !PyType_IsSubtype(tp, PyDescr_TYPE(d)))
            return 0;
        off[n] = ((PyMemberDescrObject *)d)->d_member->offset;
    }
    unsigned int tag = tp->tp_version_tag;   /* given by the lookups above */
    if (!tag_valid(tp, tag))
        return 0;
    int k = lt_next;
    lt_next = (lt_next + 1) % LT_SIZE;
    PyTypeObject *old = lt[k].tp;
    Py_INCREF(tp);
    lt[k].tp = tp;
    lt[k].tag = tag;
    memcpy(lt[k].off, off, sizeof(lt[k].off));
    Py_XDECREF(old);
    return 1;
}

/* Slot ``n`` of lock ``obj`` (offsets from lock_offsets, or NULL): a new reference. */
static inline PyObject *
lock_get(PyObject *obj, const Py_ssize_t *off, int n)
{
    if (off != NULL) {
        PyObject *v = *(PyObject **)((char *)obj + off[n]);
        if (v != NULL)
            return Py_NewRef(v);
    }
    return PyObject_GetAttr(obj, ls_names[n]);   /* raises the AttributeError */
}

/* Slot ``off`` (named ``name``) of ``obj`` when it is exactly a ``tp``, else
 * getattr: a new reference. */
static inline PyObject *
slot_get(PyObject *obj, PyTypeObject *tp, Py_ssize_t off, PyObject *name)
{
    if (Py_TYPE(obj) == tp) {
        PyObject *v = *(PyObject **)((char *)obj + off);
        if (v != NULL)
            return Py_NewRef(v);
    }
    return PyObject_GetAttr(obj, name);
}

/* obj.name = v (v borrowed), through the slot when ``obj`` is exactly a ``tp``.  0 or -1. */
static inline int
slot_set(PyObject *obj, PyTypeObject *tp, Py_ssize_t off, PyObject *name, PyObject *v)
{
    if (Py_TYPE(obj) == tp) {
        PyObject **p = (PyObject **)((char *)obj + off);
        PyObject *old = *p;
        *p = Py_NewRef(v);
        Py_XDECREF(old);    /* last: freeing the old value may run code */
        return 0;
    }
    return PyObject_SetAttr(obj, name, v);
}

/* ``for t, c in src.items(): if (not skip_base or t) and c > dst.get(t, 0): dst[t] = c``
 * for two exact dicts.  Comparing exact ints runs no Python code; anything
 * else may, so the entry is held meanwhile and a change of size is caught
 * as Python's loop catches it. */
static int
join_entries(PyObject *dst, PyObject *src, int skip_base)
{
    Py_ssize_t pos = 0, n = PyDict_GET_SIZE(src);
    PyObject *t, *c;
    while (PyDict_Next(src, &pos, &t, &c)) {
        int r = 1;
        Py_INCREF(t);
        Py_INCREF(c);
        if (skip_base)
            r = PyObject_IsTrue(t);
        if (r > 0) {
            PyObject *cur = PyDict_GetItemWithError(dst, t);
            if (cur == NULL)
                cur = PyErr_Occurred() ? NULL : ZERO;
            if (cur == NULL)
                r = -1;
            else {
                Py_INCREF(cur);
                r = py_cmp(c, cur, Py_GT);
                Py_DECREF(cur);
                if (r > 0 && PyDict_SetItem(dst, t, c) < 0)
                    r = -1;
            }
        }
        Py_DECREF(t);
        Py_DECREF(c);
        if (r < 0)
            return -1;
        if (PyDict_GET_SIZE(src) != n) {
            PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during iteration");
            return -1;
        }
    }
    return 0;
}

/* clock._take_base(dst, base) for exact dicts: share ``base``, or fold the
 * smaller of two bases in. */
static int
take_base(PyObject *dst, PyObject *base)
{
    /* mine = dst.get(BASE); if mine is base: return; if mine is None: dst[BASE] = base; return */
    PyObject *mine = PyDict_GetItemWithError(dst, ZERO);
    if (mine == NULL && PyErr_Occurred())
        return -1;
    if (mine == base)
        return 0;
    if (mine == NULL || mine == Py_None)
        return PyDict_SetItem(dst, ZERO, base);
    /* if len(base) >= len(mine): dst[BASE] = base; base = mine
     * for t, c in base.items(): if c > get(t, 0): dst[t] = c
     * ``mine`` is held: replacing it in dst may drop its last other reference. */
    Py_INCREF(mine);
    PyObject *fold = base;
    int rc = 0;
    if (PyDict_GET_SIZE(base) >= PyDict_GET_SIZE(mine)) {
        rc = PyDict_SetItem(dst, ZERO, base);
        fold = mine;
    }
    if (rc == 0)
        rc = join_entries(dst, fold, 0);
    Py_DECREF(mine);
    return rc;
}

/* clock.join_into(dst, src): dst := dst ⊔ src.  In C for exact dicts with
 * no base or a dict base on either side; the Python function otherwise
 * (called before anything is changed, so it does all of the work). */
static int
join_into(PyObject *dst, PyObject *src)
{
    if (PyDict_CheckExact(dst) && PyDict_CheckExact(src)) {
        /* base = src.get(BASE); if base is None: plain loop */
        PyObject *base = PyDict_GetItemWithError(src, ZERO);
        if (base == NULL && PyErr_Occurred())
            return -1;
        if (base == NULL || base == Py_None)
            return join_entries(dst, src, 0);
        PyObject *mine = PyDict_GetItemWithError(dst, ZERO);
        if (mine == NULL && PyErr_Occurred())
            return -1;
        if (PyDict_CheckExact(base)
                && (mine == NULL || mine == Py_None || mine == base || PyDict_CheckExact(mine))) {
            /* _take_base(dst, base); then the loop without key BASE (``if t``) */
            Py_INCREF(base);
            int rc = take_base(dst, base);
            if (rc == 0)
                rc = join_entries(dst, src, 1);
            Py_DECREF(base);
            return rc;
        }
    }
    PyObject *r = PyObject_CallFunctionObjArgs(join_into_fn, dst, src, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* ``module.name(a)`` or ``module.name(a, b)`` (b NULL: one argument), ``d`` being the
 * module's dict: the function is looked up at each call, as Python code does. */
static int
call_in(PyObject *d, const char *modname, PyObject *name, PyObject *a, PyObject *b)
{
    PyObject *fn = PyDict_GetItemWithError(d, name);
    if (fn == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_AttributeError, "module '%s' has no attribute %R", modname, name);
        return -1;
    }
    Py_INCREF(fn);
    PyObject *r = PyObject_CallFunctionObjArgs(fn, a, b, NULL);
    Py_DECREF(fn);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* ``sys._getframe(depth)`` in the function that called this C function: a new reference. */
static PyFrameObject *
caller_frame(int depth)
{
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != NULL && depth-- > 0) {
        PyFrameObject *b = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = b;
    }
    if (f == NULL)
        PyErr_SetString(PyExc_ValueError, "call stack is not deep enough");
    return f;
}

/* ``((f.f_code, f.f_lineno),)``: the one-frame stack of a held lock.  Steals ``f``.
 * The tuple is kept with the frame's line in the line cache: a lock is
 * taken again and again from the same line, and the stack is never changed. */
static PyObject *
one_frame(PyFrameObject *f)
{
    if (f == NULL)
        return NULL;
    PyCodeObject *co = PyFrame_GetCode(f);
    int line;
    Py_ssize_t i = lc_entry(f, co, &line);
    PyObject *stack = NULL;
    if (i >= 0 && lc[i].code == (PyObject *)co && lc[i].line == line && lc[i].stack != NULL)
        stack = Py_NewRef(lc[i].stack);
    else {
        PyObject *lo = line_obj(line);
        PyObject *pair = lo ? record_tuple(2, (PyObject *)co, lo, NULL) : NULL;
        stack = pair ? PyTuple_Pack(1, pair) : NULL;
        Py_XDECREF(pair);
        Py_XDECREF(lo);
        if (stack != NULL) {
            PyObject_GC_UnTrack(stack);      /* as record tuples: it holds no container */
            if (i >= 0 && lc[i].code == (PyObject *)co && lc[i].line == line && lc[i].stack == NULL)
                lc[i].stack = Py_NewRef(stack);
        }
    }
    Py_DECREF(co);
    Py_DECREF(f);
    return stack;
}

/* lockorder._where(2) as called in lockorder.acquired under _took_py: the
 * innermost frame, from took()'s caller outward, whose code is not hidden
 * (_took_py's own frame, which it starts from, is racedet's and hidden),
 * as ((code, line),), or () when there is none. */
static PyObject *
where_shown(void)
{
    PyFrameObject *f = PyEval_GetFrame();
    Py_XINCREF(f);
    while (f != NULL) {
        PyCodeObject *co = PyFrame_GetCode(f);
        int h = code_hidden(co);
        Py_DECREF(co);
        if (h < 0) {
            Py_DECREF(f);
            return NULL;
        }
        if (!h)
            return one_frame(f);
        PyFrameObject *b = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = b;
    }
    return PyTuple_New(0);
}

/* In lockorder.acquired's loop ``for h, hdesc, hstack in held: if h == uid or
 * (h, uid) in edges: continue``, would every entry continue (no new edge)?
 * 1 yes; 0 no, or odd values that lockorder.acquired must see; -1 error.
 * Only exact ints and tuples are compared, so no Python code runs. */
static int
edges_known(PyObject *held, PyObject *uid, PyObject *edges)
{
    if (!PyList_CheckExact(held) || !PyDict_CheckExact(edges) || !PyLong_CheckExact(uid))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(held); i++) {
        PyObject *e = PyList_GET_ITEM(held, i);
        if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 3)
            return 0;
        PyObject *h = PyTuple_GET_ITEM(e, 0);
        if (!PyLong_CheckExact(h))
            return 0;
        int same = py_cmp(h, uid, Py_EQ);
        if (same < 0)
            return -1;
        if (same)
            continue;
        PyObject *key = PyTuple_Pack(2, h, uid);
        if (key == NULL)
            return -1;
        int known = PyDict_Contains(edges, key);
        Py_DECREF(key);
        if (known <= 0)
            return known;
    }
    return 1;
}

/* held.append((uid, desc, stack)) */
static int
held_append(PyObject *held, PyObject *uid, PyObject *desc, PyObject *stack)
{
    PyObject *e = PyTuple_Pack(3, uid, desc, stack);
    if (e == NULL)
        return -1;
    int rc;
    if (PyList_CheckExact(held))
        rc = PyList_Append(held, e);
    else {
        PyObject *r = PyObject_CallMethodOneArg(held, s_append, e);
        rc = r ? 0 : -1;
        Py_XDECREF(r);
    }
    Py_DECREF(e);
    return rc;
}

/* The held entry's stack when ``held`` is not empty, or NULL with ``*call``
 * set when lockorder.acquired must run (a new edge, odd values).  A new reference. */
static PyObject *
nested_stack(PyObject *held, PyObject *uid, int *call)
{
    /* lockorder.acquired: if held and enabled: (the loop over held) ... else: (appends) */
    PyObject *enabled = PyDict_GetItemWithError(lockorder_dict, s_enabled);
    PyObject *edges = enabled ? PyDict_GetItemWithError(lockorder_dict, s_edges) : NULL;
    if (edges == NULL) {
        if (PyErr_Occurred())
            return NULL;
        *call = 1;          /* lockorder.acquired raises what Python raises */
        return NULL;
    }
    Py_INCREF(edges);
    Py_INCREF(enabled);     /* its __bool__ may run code */
    int on = PyObject_IsTrue(enabled);
    Py_DECREF(enabled);
    PyObject *stack = NULL;
    if (on == 0) {
        /* its ``sys._getframe(2)`` is the frame that called took() */
        stack = one_frame(caller_frame(0));
    }
    else if (on > 0) {
        int known = edges_known(held, uid, edges);
        if (known > 0)
            stack = where_shown();   /* held.append((uid, desc, _where(2))) */
        else if (known == 0)
            *call = 1;
    }
    Py_DECREF(edges);
    return stack;
}

/* locks._took_py(lock): ``lock`` was just acquired (not re-entered).
 * ``depth``: how far the user's frame is from the innermost Python frame
 * (1 under a Python model's acquire, 0 under the C models below). */
static PyObject *
took_at(PyObject *lock, int depth)
{
    PyObject *res = NULL, *sv = NULL, *vc = NULL, *owner = NULL, *tid = NULL, *tsvc = NULL,
             *held = NULL, *uid = NULL, *desc = NULL, *stack = NULL;
    Py_ssize_t offs[N_LS];
    const Py_ssize_t *off = lock_offsets(lock, offs) ? offs : NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return NULL;
    /* sv = lock._sv; vc = sv.vc
     * if vc: owner = sv.tid
     *        if owner != ts.tid: _join_into(ts.vc, vc) if owner else engine.acquire(sv) */
    if ((sv = lock_get(lock, off, LS_SV)) == NULL
            || (vc = slot_get(sv, SyncVar_type, off_sv_vc, s_vc)) == NULL)
        goto done;
    int truth = PyObject_IsTrue(vc);
    if (truth < 0)
        goto done;
    if (truth) {
        if ((owner = slot_get(sv, SyncVar_type, off_sv_tid, s_tid)) == NULL
                || (tid = ts_get(ts, off_tid, s_tid)) == NULL)
            goto done;
        int other = py_cmp(owner, tid, Py_NE);
        if (other < 0)
            goto done;
        if (other) {
            int o = PyObject_IsTrue(owner);
            if (o < 0)
                goto done;
            if (o) {
                if ((tsvc = ts_get(ts, off_vc, s_vc)) == NULL || join_into(tsvc, vc) < 0)
                    goto done;
            }
            else if (call_in(engine_dict, "racedet.engine", s_acquire, sv, NULL) < 0)
                goto done;
        }
    }
    /* if ts.held: lockorder.acquired(lock._uid, lock._desc)
     * else: f = _getframe(2); ts.held.append((lock._uid, lock._desc, ((f.f_code, f.f_lineno),))) */
    if ((held = ts_get(ts, off_held, s_held)) == NULL)
        goto done;
    int nested = PyObject_IsTrue(held);
    if (nested < 0)
        goto done;
    if ((uid = lock_get(lock, off, LS_UID)) == NULL || (desc = lock_get(lock, off, LS_DESC)) == NULL)
        goto done;
    if (nested) {
        int call = 0;
        stack = nested_stack(held, uid, &call);
        if (call) {
            if (call_in(lockorder_dict, "racedet.lockorder", s_acquired, uid, desc) < 0)
                goto done;
            res = Py_NewRef(Py_None);
            goto done;
        }
    }
    else
        stack = one_frame(caller_frame(depth));
    if (stack == NULL || held_append(held, uid, desc, stack) < 0)
        goto done;
    res = Py_NewRef(Py_None);
done:
    Py_XDECREF(stack);
    Py_XDECREF(desc);
    Py_XDECREF(uid);
    Py_XDECREF(held);
    Py_XDECREF(tsvc);
    Py_XDECREF(tid);
    Py_XDECREF(owner);
    Py_XDECREF(vc);
    Py_XDECREF(sv);
    Py_DECREF(ts);
    return res;
}

static PyObject *
c_took(PyObject *m, PyObject *lock)
{
    return took_at(lock, 1);
}

/* ``held[-1][0] == uid`` for a non-empty ``held``: 1, 0 or -1. */
static int
held_on_top(PyObject *held, PyObject *uid)
{
    PyObject *last, *first;
    if (PyList_CheckExact(held) && PyList_GET_SIZE(held) > 0)
        last = Py_NewRef(PyList_GET_ITEM(held, PyList_GET_SIZE(held) - 1));
    else if ((last = PyObject_GetItem(held, MINUS_ONE)) == NULL)
        return -1;
    if (PyTuple_CheckExact(last) && PyTuple_GET_SIZE(last) > 0)
        first = Py_NewRef(PyTuple_GET_ITEM(last, 0));
    else
        first = PyObject_GetItem(last, ZERO);
    Py_DECREF(last);
    if (first == NULL)
        return -1;
    int r = py_cmp(first, uid, Py_EQ);
    Py_DECREF(first);
    return r;
}

/* ``c + 1`` for a clock value: a new reference. */
static PyObject *
plus_one(PyObject *c)
{
    if (PyLong_CheckExact(c)) {
        int o;
        long long v = PyLong_AsLongLongAndOverflow(c, &o);
        if (!o && v < LLONG_MAX)
            return PyLong_FromLongLong(v + 1);
    }
    return PyNumber_Add(c, ONE);
}

/* ``(c << TID_BITS) | tid``: a new reference. */
static PyObject *
make_epoch(PyObject *c, PyObject *tid)
{
    if (PyLong_CheckExact(c) && PyLong_CheckExact(tid)) {
        int oc, ot;
        long long cv = PyLong_AsLongLongAndOverflow(c, &oc);
        long long tv = PyLong_AsLongLongAndOverflow(tid, &ot);
        if (!oc && !ot && cv >= 0 && cv < (1LL << (62 - TID_BITS)) && tv >= 0 && tv <= TID_MASK)
            return PyLong_FromLongLong((cv << TID_BITS) | tv);
    }
    PyObject *bits = PyLong_FromLong(TID_BITS);
    PyObject *hi = bits ? PyNumber_Lshift(c, bits) : NULL;
    PyObject *e = hi ? PyNumber_Or(hi, tid) : NULL;
    Py_XDECREF(bits);
    Py_XDECREF(hi);
    return e;
}

/* locks._leaving_py(lock): ``lock`` is about to be released for good. */
static PyObject *
c_leaving(PyObject *m, PyObject *lock)
{
    PyObject *res = NULL, *held = NULL, *uid = NULL, *sv = NULL, *vc = NULL, *pub = NULL,
             *tid = NULL, *clk = NULL, *c = NULL, *epoch = NULL;
    Py_ssize_t offs[N_LS];
    const Py_ssize_t *off = lock_offsets(lock, offs) ? offs : NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return NULL;
    /* held = ts.held
     * if held and held[-1][0] == lock._uid: held.pop() else: lockorder.released(lock._uid) */
    if ((held = ts_get(ts, off_held, s_held)) == NULL)
        goto done;
    int top = PyObject_IsTrue(held);
    if (top < 0 || (uid = lock_get(lock, off, LS_UID)) == NULL)
        goto done;
    if (top > 0 && (top = held_on_top(held, uid)) < 0)
        goto done;
    if (top) {
        if (PyList_CheckExact(held)) {
            /* held.pop(): the list keeps its allocation, as list.pop does
             * while it is more than half full (no Python code runs before
             * the entry is dropped, last) */
            Py_ssize_t n = PyList_GET_SIZE(held);
            PyObject *last = PyList_GET_ITEM(held, n - 1);
            Py_SET_SIZE(held, n - 1);
            Py_DECREF(last);
        }
        else {
            PyObject *r = PyObject_CallMethodNoArgs(held, s_pop);
            if (r == NULL)
                goto done;
            Py_DECREF(r);
        }
    }
    else if (call_in(lockorder_dict, "racedet.lockorder", s_released, uid, NULL) < 0)
        goto done;
    /* sv = lock._sv; sv.tid = 0
     * vc = ts.vc; sv.vc = dict(vc) if len(vc) <= _REBASE_AT else engine.published(ts)
     * tid = ts.tid; sv.tid = tid */
    if ((sv = lock_get(lock, off, LS_SV)) == NULL
            || slot_set(sv, SyncVar_type, off_sv_tid, s_tid, ZERO) < 0
            || (vc = ts_get(ts, off_vc, s_vc)) == NULL)
        goto done;
    Py_ssize_t n = PyObject_Size(vc);
    if (n < 0)
        goto done;
    if (n <= rebase_at)
        pub = PyDict_CheckExact(vc) ? PyDict_Copy(vc) : PyObject_CallOneArg((PyObject *)&PyDict_Type, vc);
    else {
        PyObject *fn = PyDict_GetItemWithError(engine_dict, s_published);
        if (fn == NULL && !PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "module 'racedet.engine' has no attribute 'published'");
        pub = fn ? PyObject_CallOneArg(fn, ts) : NULL;
    }
    if (pub == NULL || slot_set(sv, SyncVar_type, off_sv_vc, s_vc, pub) < 0
            || (tid = ts_get(ts, off_tid, s_tid)) == NULL
            || slot_set(sv, SyncVar_type, off_sv_tid, s_tid, tid) < 0)
        goto done;
    /* c = ts.clk + 1; ts.clk = c; ts.vc[tid] = c; ts.epoch = (c << TID_BITS) | tid */
    if ((clk = ts_get(ts, off_clk, s_clk)) == NULL || (c = plus_one(clk)) == NULL
            || slot_set(ts, ThreadState_type, off_clk, s_clk, c) < 0)
        goto done;
    Py_SETREF(vc, ts_get(ts, off_vc, s_vc));
    if (vc == NULL || dict_set(vc, tid, c) < 0 || (epoch = make_epoch(c, tid)) == NULL
            || slot_set(ts, ThreadState_type, off_epoch, s_epoch, epoch) < 0)
        goto done;
    res = Py_NewRef(Py_None);
done:
    Py_XDECREF(epoch);
    Py_XDECREF(c);
    Py_XDECREF(clk);
    Py_XDECREF(tid);
    Py_XDECREF(pub);
    Py_XDECREF(vc);
    Py_XDECREF(sv);
    Py_XDECREF(uid);
    Py_XDECREF(held);
    Py_DECREF(ts);
    return res;
}

/* ------------------------------------------------------------------------ */
/* The module's functions */

static int
nargs_ok(const char *name, Py_ssize_t nargs, Py_ssize_t want)
{
    if (nargs == want)
        return 1;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", name, want, nargs);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The Lock and RLock models as C types (racedet.models.locks builds the
 * public classes on them: LockCore under ``_thread.lock``, RLockCore under
 * ``_thread.RLock``).
 *
 * acquire, release, __enter__, __exit__ and locked are one C call each: the
 * raw lock's own method (called through its method descriptor, so its
 * arguments, errors and blocking are exactly the raw lock's) and the clock
 * work of took_at/c_leaving above, with no Python frame in between.  What
 * is rare stays in Python, called from here with the model: an argument
 * check for anything but a plain call (on a fresh raw lock, as
 * locks._acquire_args), a try-lock's or timed acquire's bookkeeping
 * (locks._took_bounded), a wait for a lock that is held (locks._wait_hidden,
 * visible to the watchdog and interruptible) and the wake-up of a
 * condition's waiters (blocking.wake).  locks.py gives those to
 * _lock_setup() when it is imported.
 *
 * The user's frame is the innermost Python frame here (depth 0 for took_at).
 * The fields are the Python models' slots (_lock, _sv, _uid, _desc, _cond;
 * an RLock's _owner and _count), so took_at and c_leaving find them through
 * their member descriptors as they find a Python model's. */

typedef struct {
    PyObject_HEAD
    PyObject *lock;          /* _lock: the raw _thread.lock or _thread.RLock */
    PyObject *sv, *uid, *desc;
    PyObject *weakreflist;
    char cond;               /* _cond: under a Condition, releases wake its waiters */
    unsigned long owner;     /* RLock: the owner's thread ident, 0 for none */
    Py_ssize_t count;        /* RLock: the recursion level */
} LockObject;

static PyObject *raw_lock_acquire, *raw_lock_release, *raw_lock_locked;    /* _thread.lock's */
static PyObject *raw_rlock_acquire, *raw_rlock_release;                     /* _thread.RLock's */
static PyObject *allocate_lock_fn, *rawrlock_type;
static PyObject *took_bounded_fn, *wait_fn, *wake_fn;    /* set by _lock_setup */
static PyObject *s_TRACKING, *s_blocking, *s_timeout, *s_Lock_acquire;

/* engine.TRACKING: 1, 0 or -1. */
static inline int
tracking(void)
{
    PyObject *t = PyDict_GetItemWithError(engine_dict, s_TRACKING);
    if (t == Py_True)
        return 1;
    if (t == Py_False)
        return 0;
    if (t == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_AttributeError, "module 'racedet.engine' has no attribute 'TRACKING'");
        return -1;
    }
    Py_INCREF(t);
    int r = PyObject_IsTrue(t);
    Py_DECREF(t);
    return r;
}

/* ``descr(raw, *args)``: a new reference. */
static inline PyObject *
raw_call(PyObject *descr, PyObject *raw, PyObject *a, PyObject *b)
{
    PyObject *args[3] = {raw, a, b};
    return PyObject_Vectorcall(descr, args, a == NULL ? 1 : (b == NULL ? 2 : 3), NULL);
}

/* ``raw.acquire(False)`` through ``descr``, the raw type's acquire: the C
 * function itself with a constant ``(False,)`` when it takes a tuple (3.10-3.12),
 * as the method descriptor would call it less the tuple it builds.  A new reference. */
static PyObject *false_tuple;

static inline PyObject *
raw_try(PyObject *descr, PyObject *raw)
{
    if (Py_IS_TYPE(descr, &PyMethodDescr_Type)) {
        PyMethodDef *ml = ((PyMethodDescrObject *)descr)->d_method;
        if ((ml->ml_flags & (METH_VARARGS | METH_FASTCALL | METH_NOARGS | METH_O | METH_KEYWORDS | METH_METHOD))
                == (METH_VARARGS | METH_KEYWORDS)
                && PyObject_TypeCheck(raw, PyDescr_TYPE(descr)))
            return ((PyCFunctionWithKeywords)(void (*)(void))ml->ml_meth)(raw, false_tuple, NULL);
    }
    PyObject *args[2] = {raw, Py_False};
    return PyObject_Vectorcall(descr, args, 2, NULL);
}

/* ``descr(raw, *args)`` whose result is a truth value: 1, 0 or -1. */
static inline int
raw_truth(PyObject *descr, PyObject *raw, PyObject *a)
{
    PyObject *r = a == Py_False ? raw_try(descr, raw) : raw_call(descr, raw, a, NULL);
    if (r == NULL)
        return -1;
    int t = r == Py_True ? 1 : r == Py_False ? 0 : PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

static int
setup_done(void)
{
    if (took_bounded_fn != NULL)
        return 1;
    PyErr_SetString(PyExc_RuntimeError, "racedet._access: _lock_setup() was not called");
    return 0;
}

/* The arguments of acquire(blocking=True, timeout=-1), checked as the raw
 * lock checks them: ``*blocking`` (0 or 1) and ``*bounded`` (the acquire
 * cannot wait forever), ``*timeout`` borrowed (NULL: -1).  0 or -1. */
static int
acquire_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
             int *blocking, int *bounded, PyObject **timeout)
{
    *blocking = 1;
    *bounded = 0;
    *timeout = NULL;
    if (nargs == 0 && kwnames == NULL)
        return 0;
    PyObject *b = NULL, *t = NULL;
    if (nargs == 1 && kwnames == NULL && (args[0] == Py_True || args[0] == Py_False))
        b = args[0];      /* a bool alone: every version's raw lock takes it */
    else {
        /* locks._acquire_args: a new, unlocked raw lock raises what the raw lock raises */
        PyObject *fresh = PyObject_CallNoArgs(allocate_lock_fn);
        if (fresh == NULL)
            return -1;
        Py_ssize_t n = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0);
        PyObject **stack = PyMem_Malloc((n + 1) * sizeof(PyObject *));
        if (stack == NULL) {
            Py_DECREF(fresh);
            PyErr_NoMemory();
            return -1;
        }
        stack[0] = fresh;
        for (Py_ssize_t i = 0; i < n; i++)
            stack[i + 1] = args[i];
        PyObject *r = PyObject_Vectorcall(raw_lock_acquire, stack, nargs + 1, kwnames);
        PyMem_Free(stack);
        Py_DECREF(fresh);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        /* accepted: at most two, by position or by name */
        if (nargs >= 1)
            b = args[0];
        if (nargs >= 2)
            t = args[1];
        for (Py_ssize_t i = 0; kwnames && i < PyTuple_GET_SIZE(kwnames); i++) {
            PyObject *k = PyTuple_GET_ITEM(kwnames, i);
            if (PyUnicode_Compare(k, s_blocking) == 0)
                b = args[nargs + i];
            else if (PyUnicode_Compare(k, s_timeout) == 0)
                t = args[nargs + i];
        }
    }
    if (b != NULL) {
        int v = PyObject_IsTrue(b);
        if (v < 0)
            return -1;
        *blocking = v;
    }
    if (t != NULL) {
        double d = PyFloat_AsDouble(t);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        *timeout = t;
        if (d >= 0)
            *bounded = 1;
    }
    if (!*blocking)
        *bounded = 1;
    return 0;
}

/* The bookkeeping of a first acquisition: took_at, or locks._took_bounded.  0 or -1. */
static int
acquired_now(PyObject *self, int bounded)
{
    int on = tracking();
    if (on <= 0)
        return on;
    PyObject *r = bounded ? PyObject_CallOneArg(took_bounded_fn, self) : took_at(self, 0);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

/* Wait for ``raw`` (held by another thread): locks._wait_hidden.  1, 0 or -1. */
static int
wait_raw(PyObject *self, PyObject *raw, PyObject *timeout)
{
    PyObject *args[4] = {s_Lock_acquire, raw, timeout ? timeout : MINUS_ONE, self};
    PyObject *r = PyObject_Vectorcall(wait_fn, args, 4, NULL);
    if (r == NULL)
        return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t;
}

/* The release of a lock for good, when tracking: c_leaving, the raw release, the wake-up. */
static PyObject *
release_for_good(LockObject *self, PyObject *descr)
{
    int on = tracking();
    if (on < 0)
        return NULL;
    if (on) {
        PyObject *r = c_leaving(NULL, (PyObject *)self);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    PyObject *r = raw_call(descr, self->lock, NULL, NULL);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);
    if (on && self->cond) {
        if ((r = PyObject_CallOneArg(wake_fn, (PyObject *)self)) == NULL)
            return NULL;
        Py_DECREF(r);
    }
    Py_RETURN_NONE;
}

/* A new user lock of type ``tp`` around a raw lock made by ``make``; the
   Python side (locks._init_model) gives it its clock, uid and description. */
static PyObject *
core_new(PyTypeObject *tp, PyObject *make)
{
    PyObject *raw = PyObject_CallNoArgs(make);
    if (raw == NULL)
        return NULL;
    LockObject *self = (LockObject *)tp->tp_alloc(tp, 0);
    if (self == NULL) {
        Py_DECREF(raw);
        return NULL;
    }
    self->lock = raw;
    self->sv = Py_NewRef(Py_None);
    self->uid = Py_NewRef(Py_None);
    self->desc = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static PyObject *
lock_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    return core_new(tp, allocate_lock_fn);
}

static PyObject *
rlock_new(PyTypeObject *tp, PyObject *args, PyObject *kw)
{
    return core_new(tp, rawrlock_type);
}

static void
lock_dealloc(LockObject *self)
{
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Py_CLEAR(self->lock);
    Py_CLEAR(self->sv);
    Py_CLEAR(self->uid);
    Py_CLEAR(self->desc);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* ModelLock.acquire */
static PyObject *
lock_acquire(LockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int blocking, bounded;
    PyObject *timeout;
    if (!setup_done() || acquire_args(args, nargs, kwnames, &blocking, &bounded, &timeout) < 0)
        return NULL;
    int ok = raw_truth(raw_lock_acquire, self->lock, Py_False);
    if (ok < 0)
        return NULL;
    if (!ok) {
        if (!blocking)
            Py_RETURN_FALSE;
        if ((ok = wait_raw((PyObject *)self, self->lock, timeout)) < 0)
            return NULL;
    }
    if (ok && acquired_now((PyObject *)self, bounded) < 0)
        return NULL;
    return PyBool_FromLong(ok);
}

/* ModelLock.release */
static PyObject *
lock_release(LockObject *self, PyObject *unused)
{
    if (!setup_done())
        return NULL;
    int locked = raw_truth(raw_lock_locked, self->lock, NULL);
    if (locked < 0)
        return NULL;
    if (!locked)
        return raw_call(raw_lock_release, self->lock, NULL, NULL);   /* the real RuntimeError */
    return release_for_good(self, raw_lock_release);
}

static PyObject *
lock_exit(LockObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return lock_release(self, NULL);
}

static PyObject *
lock_locked(LockObject *self, PyObject *unused)
{
    return raw_call(raw_lock_locked, self->lock, NULL, NULL);
}

/* ModelRLock.acquire */
static PyObject *
rlock_acquire(LockObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int blocking, bounded;
    PyObject *timeout;
    if (!setup_done() || acquire_args(args, nargs, kwnames, &blocking, &bounded, &timeout) < 0)
        return NULL;
    unsigned long me = PyThread_get_thread_ident();
    if (self->owner == me) {
        PyObject *r = raw_call(raw_rlock_acquire, self->lock, NULL, NULL);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
        self->count++;
        Py_RETURN_TRUE;
    }
    int ok = raw_truth(raw_rlock_acquire, self->lock, Py_False);
    if (ok < 0)
        return NULL;
    if (!ok) {
        if (!blocking)
            Py_RETURN_FALSE;
        if ((ok = wait_raw((PyObject *)self, self->lock, timeout)) < 0)
            return NULL;
    }
    if (ok) {
        self->owner = me;
        self->count = 1;
        if (acquired_now((PyObject *)self, bounded) < 0)
            return NULL;
    }
    return PyBool_FromLong(ok);
}

/* ModelRLock.release */
static PyObject *
rlock_release(LockObject *self, PyObject *unused)
{
    if (!setup_done())
        return NULL;
    if (self->owner != PyThread_get_thread_ident()) {
        PyObject *r = raw_call(raw_rlock_release, self->lock, NULL, NULL);   /* the real RuntimeError */
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    self->count--;
    if (self->count == 0) {
        self->owner = 0;
        return release_for_good(self, raw_rlock_release);
    }
    return raw_call(raw_rlock_release, self->lock, NULL, NULL);
}

static PyObject *
rlock_exit(LockObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return rlock_release(self, NULL);
}

static PyObject *
rlock_get_owner(LockObject *self, void *closure)
{
    if (self->owner == 0)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(self->owner);
}

static int
rlock_set_owner(LockObject *self, PyObject *v, void *closure)
{
    if (v == NULL || v == Py_None) {
        self->owner = 0;
        return 0;
    }
    unsigned long o = PyLong_AsUnsignedLong(v);
    if (o == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    self->owner = o;
    return 0;
}

static PyMemberDef lock_members[] = {
    {"_lock", T_OBJECT_EX, offsetof(LockObject, lock), READONLY, "the raw lock"},
    {"_sv", T_OBJECT_EX, offsetof(LockObject, sv), 0, "the lock's clock (engine.SyncVar)"},
    {"_uid", T_OBJECT_EX, offsetof(LockObject, uid), 0, "lockorder's id"},
    {"_desc", T_OBJECT_EX, offsetof(LockObject, desc), 0, "lockorder's description"},
    {"_cond", T_BOOL, offsetof(LockObject, cond), 0, "under a Condition: releases wake its waiters"},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LockObject, weakreflist), READONLY, NULL},
    {NULL},
};

static PyMemberDef rlock_members[] = {
    {"_lock", T_OBJECT_EX, offsetof(LockObject, lock), READONLY, "the raw RLock"},
    {"_sv", T_OBJECT_EX, offsetof(LockObject, sv), 0, "the lock's clock (engine.SyncVar)"},
    {"_uid", T_OBJECT_EX, offsetof(LockObject, uid), 0, "lockorder's id"},
    {"_desc", T_OBJECT_EX, offsetof(LockObject, desc), 0, "lockorder's description"},
    {"_cond", T_BOOL, offsetof(LockObject, cond), 0, "under a Condition: releases wake its waiters"},
    {"_count", T_PYSSIZET, offsetof(LockObject, count), 0, "the recursion level"},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(LockObject, weakreflist), READONLY, NULL},
    {NULL},
};

static PyGetSetDef rlock_getset[] = {
    {"_owner", (getter)rlock_get_owner, (setter)rlock_set_owner, "the owner's thread ident, or None", NULL},
    {NULL},
};

#define LOCK_FAST(NAME, FN) {NAME, (PyCFunction)(void (*)(void))FN, METH_FASTCALL | METH_KEYWORDS, NULL}

static PyMethodDef lock_methods[] = {
    LOCK_FAST("acquire", lock_acquire),
    LOCK_FAST("__enter__", lock_acquire),
    {"release", (PyCFunction)lock_release, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))lock_exit, METH_FASTCALL, NULL},
    {"locked", (PyCFunction)lock_locked, METH_NOARGS, NULL},
    {NULL},
};

static PyMethodDef rlock_methods[] = {
    LOCK_FAST("acquire", rlock_acquire),
    LOCK_FAST("__enter__", rlock_acquire),
    {"release", (PyCFunction)rlock_release, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))rlock_exit, METH_FASTCALL, NULL},
    {NULL},
};

static PyTypeObject LockCore_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "racedet._access.LockCore",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The hot path of racedet's Lock model (racedet.models.locks builds threading.Lock's on it).",
    .tp_weaklistoffset = offsetof(LockObject, weakreflist),
    .tp_methods = lock_methods,
    .tp_members = lock_members,
    .tp_new = lock_new,
};

static PyTypeObject RLockCore_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "racedet._access.RLockCore",
    .tp_basicsize = sizeof(LockObject),
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The hot path of racedet's RLock model (racedet.models.locks builds threading.RLock's on it).",
    .tp_weaklistoffset = offsetof(LockObject, weakreflist),
    .tp_methods = rlock_methods,
    .tp_members = rlock_members,
    .tp_getset = rlock_getset,
    .tp_new = rlock_new,
};

/* _lock_setup(took_bounded, wait, wake): the Python functions of the rare paths. */
static PyObject *
c_lock_setup(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (!nargs_ok("_lock_setup", n, 3))
        return NULL;
    Py_XSETREF(took_bounded_fn, Py_NewRef(a[0]));
    Py_XSETREF(wait_fn, Py_NewRef(a[1]));
    Py_XSETREF(wake_fn, Py_NewRef(a[2]));
    Py_RETURN_NONE;
}

/* Module init's part: the raw locks' methods, the types.  0 or -1. */
static int
init_lock_types(PyObject *m)
{
    PyObject *thread = PyImport_ImportModule("_thread");
    if (thread == NULL)
        return -1;
    int rc = -1;
    PyObject *raw = NULL;
    if ((s_TRACKING = PyUnicode_InternFromString("TRACKING")) == NULL)
        goto error;
    if ((s_blocking = PyUnicode_InternFromString("blocking")) == NULL)
        goto error;
    if ((s_timeout = PyUnicode_InternFromString("timeout")) == NULL)
        goto error;
    if ((s_Lock_acquire = PyUnicode_InternFromString("Lock.acquire")) == NULL)
        goto error;
    if ((false_tuple = PyTuple_Pack(1, Py_False)) == NULL)
        goto error;
    if ((allocate_lock_fn = PyObject_GetAttrString(thread, "allocate_lock")) == NULL
            || (rawrlock_type = PyObject_GetAttrString(thread, "RLock")) == NULL
            || (raw = PyObject_CallNoArgs(allocate_lock_fn)) == NULL)
        goto error;
    PyObject *lt = (PyObject *)Py_TYPE(raw), *rt = rawrlock_type;
    if ((raw_lock_acquire = PyObject_GetAttrString(lt, "acquire")) == NULL
            || (raw_lock_release = PyObject_GetAttrString(lt, "release")) == NULL
            || (raw_lock_locked = PyObject_GetAttrString(lt, "locked")) == NULL
            || (raw_rlock_acquire = PyObject_GetAttrString(rt, "acquire")) == NULL
            || (raw_rlock_release = PyObject_GetAttrString(rt, "release")) == NULL)
        goto error;
    if (PyType_Ready(&LockCore_Type) < 0 || PyType_Ready(&RLockCore_Type) < 0)
        goto error;
    if (PyModule_AddObjectRef(m, "LockCore", (PyObject *)&LockCore_Type) < 0
            || PyModule_AddObjectRef(m, "RLockCore", (PyObject *)&RLockCore_Type) < 0)
        goto error;
    rc = 0;
error:
    Py_XDECREF(raw);
    Py_DECREF(thread);
    return rc;
}

/* The end of a hook that returns ``obj``. */
static inline PyObject *
ret_obj(int rc, PyObject *obj)
{
    if (rc < 0 && !swallow())
        return NULL;
    return Py_NewRef(obj);
}

static inline PyObject *
ret_none(int rc)
{
    if (rc < 0 && !swallow())
        return NULL;
    Py_RETURN_NONE;
}

#define ATTR_HOOK(NAME, MODE)                                                  \
    static PyObject *c_##NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)    \
    {                                                                          \
        if (n != 3 && !nargs_ok(#NAME, n, 3))                                  \
            return NULL;                                                       \
        if (!active)                                                           \
            return Py_NewRef(a[0]);                                            \
        return ret_obj(attr_access(a[0], a[1], a[2], MODE), a[0]);             \
    }

ATTR_HOOK(rd_attr, M_READ)
ATTR_HOOK(wr_attr, M_WRITE)
ATTR_HOOK(rmw_attr, M_RMW)

/* The module a global belongs to, as the hooks key it: the ``__name__`` in the
   calling frame's globals (the linked code passes None, see link.GLOBALS, so
   that no name of racedet's shows in co_names).  Borrowed; the globals keep it. */
static inline PyObject *
module_key(PyObject *ref)
{
    if (ref != Py_None)
        return ref;
    PyObject *g = PyEval_GetGlobals();
    if (g == NULL)
        return Py_None;
    PyObject *name = PyDict_GetItemWithError(g, s___name__);
    if (name == NULL) {
        PyErr_Clear();
        return Py_None;
    }
    return name;
}

#define GLOBAL_HOOK(NAME, MODE)                                                \
    static PyObject *c_##NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)    \
    {                                                                          \
        if (n != 3 && !nargs_ok(#NAME, n, 3))                                  \
            return NULL;                                                       \
        if (!active)                                                           \
            Py_RETURN_NONE;                                                    \
        return ret_none(named_access(module_key(a[0]), a[1], a[1], a[2], LOC_GLOBAL, MODE)); \
    }

GLOBAL_HOOK(rd_global, M_READ)
GLOBAL_HOOK(wr_global, M_WRITE)
GLOBAL_HOOK(rmw_global, M_RMW)

/* Closure cells.  access_py's cell hooks take either the cell itself (with
 * ``cellof(lambda: name)`` made once per frame), or ``lambda: name`` and take
 * its one closure cell; this core follows the access_py it was imported with
 * (cells_by_fn: access_py has no cellof). */
static int cells_by_fn;

static int
cell_access(PyObject *arg, PyObject *desc, PyObject *site, int mode)
{
    if (!cells_by_fn) {
        /* if cell is None: return */
        if (arg == Py_None)
            return 0;
        return named_access(arg, CELL, desc, site, LOC_CELL, mode);
    }
    /* c = fn.__closure__; if not c: return; cell = c[0] */
    PyObject *c;
    if (PyFunction_Check(arg)) {
        c = PyFunction_GET_CLOSURE(arg);
        if (c == NULL)
            return 0;
        Py_INCREF(c);
    }
    else if ((c = PyObject_GetAttr(arg, s_closure)) == NULL)
        return -1;
    int rc = PyObject_IsTrue(c);
    if (rc > 0) {
        PyObject *cell = PySequence_GetItem(c, 0);
        rc = cell ? named_access(cell, CELL, desc, site, LOC_CELL, mode) : -1;
        Py_XDECREF(cell);
    }
    Py_DECREF(c);
    return rc;
}

#define CELL_HOOK(NAME, MODE)                                                  \
    static PyObject *c_##NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)    \
    {                                                                          \
        if (n != 3 && !nargs_ok(#NAME, n, 3))                                  \
            return NULL;                                                       \
        if (!active)                                                           \
            Py_RETURN_NONE;                                                    \
        return ret_none(cell_access(a[0], a[1], a[2], MODE));                  \
    }

CELL_HOOK(rd_cell, M_READ)
CELL_HOOK(wr_cell, M_WRITE)
CELL_HOOK(rmw_cell, M_RMW)

/* The item hooks return the container (``rd_item(obj, key, site)[key]``); the key hooks
 * return the key: the rewriter writes obj[key] as obj[rd_key(<obj again>, key, site)], so
 * each is evaluated once (access_py._item_hook and _key_hook). */
#define ITEM_HOOK(NAME, MODE, RET)                                             \
    static PyObject *c_##NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)    \
    {                                                                          \
        if (n != 3 && !nargs_ok(#NAME, n, 3))                                  \
            return NULL;                                                       \
        if (!active)                                                           \
            return Py_NewRef(a[RET]);                                          \
        int c = is_container(a[0]);                                            \
        if (c == 0)                                                            \
            return Py_NewRef(a[RET]);                                          \
        return ret_obj(c < 0 ? -1 : item_access(a[0], a[1], a[2], MODE), a[RET]); \
    }

ITEM_HOOK(rd_item, M_READ, 0)
ITEM_HOOK(wr_item, M_WRITE, 0)
ITEM_HOOK(del_item, M_WRITE | M_DEL, 0)
ITEM_HOOK(rmw_item, M_RMW, 0)
ITEM_HOOK(rd_key, M_READ, 1)
ITEM_HOOK(wr_key, M_WRITE, 1)
ITEM_HOOK(del_key, M_WRITE | M_DEL, 1)
ITEM_HOOK(rmw_key, M_RMW, 1)

#define WHOLE_HOOK(NAME, HOW, HAND)                                            \
    static PyObject *c_##NAME(PyObject *m, PyObject *const *a, Py_ssize_t n)    \
    {                                                                          \
        if (n != 2 && !nargs_ok(#NAME, n, 2))                                  \
            return NULL;                                                       \
        if (!active)                                                           \
            return Py_NewRef(a[0]);                                            \
        int c = is_container(a[0]);                                            \
        if (c == 0)                                                            \
            return Py_NewRef(a[0]);                                            \
        return ret_obj(c < 0 ? -1 : whole_access(a[0], a[1], HOW, HAND), a[0]); \
    }

WHOLE_HOOK(rd_index, INDEX_READ, H_ACQUIRE)
WHOLE_HOOK(wr_index, ITEM_MUT, H_RELEASE)
WHOLE_HOOK(rd_whole, WHOLE_READ, H_ACQUIRE)
WHOLE_HOOK(rd_len, LEN_READ, 0)
WHOLE_HOOK(mut_whole, ATOMIC_MUT, H_RELEASE)

/* access_py.rd_iter: iteration reads a dict's or set's keys, a sequence's values */
static PyObject *
c_rd_iter(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2 && !nargs_ok("rd_iter", n, 2))
        return NULL;
    if (!active)
        return Py_NewRef(a[0]);
    int c = is_container(a[0]);
    if (c == 0)
        return Py_NewRef(a[0]);
    int how = PyDict_Check(a[0]) || PySet_Check(a[0]) ? KEYS_READ : WHOLE_READ;
    return ret_obj(c < 0 ? -1 : whole_access(a[0], a[1], how, H_ACQUIRE), a[0]);
}

/* table[meth] as a small int in [0, limit): 0 done, -1 error */
static int
method_int(PyObject *table, PyObject *meth, long limit, int *out)
{
    PyObject *v = PyObject_GetItem(table, meth);
    if (v == NULL)
        return -1;
    long h = PyLong_AsLong(v);
    Py_DECREF(v);
    if (h == -1 && PyErr_Occurred())
        return -1;
    if (h < 0 || h >= limit) {
        PyErr_SetString(PyExc_ValueError, "racedet: bad method kind");
        return -1;
    }
    *out = (int)h;
    return 0;
}

static int
method_access(PyObject *obj, PyObject *meth, PyObject *site)
{
    /* _whole(obj, site, METHOD_KINDS[meth], METHOD_HANDOFF[meth]) */
    int how, hand;
    if (method_int(method_kinds, meth, N_KINDS, &how) < 0 || method_int(method_handoff, meth, 4, &hand) < 0)
        return -1;
    return whole_access(obj, site, how, hand);
}

/* access_py.store_method: note (site, obj, meth) for stored() */
static int
store_note(PyObject *obj, PyObject *meth, PyObject *site)
{
    int rc = -1;
    PyObject *stores = NULL, *oid = NULL, *ent = NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    PyObject *sh = get_shadow(obj);
    if (sh == NULL || (stores = ts_get(ts, off_stores, s_stores)) == NULL)
        goto done;
    if (!PyList_CheckExact(stores)) {
        PyErr_SetString(PyExc_TypeError, "racedet: ThreadState.stores is not a list");
        goto done;
    }
    /* if len(stores) >= 16: del stores[:8] */
    if (PyList_GET_SIZE(stores) >= 16 && PyList_SetSlice(stores, 0, 8, NULL) < 0)
        goto done;
    /* The object itself, not its id: a watched object's shadow holds no reference to it. */
    if ((ent = PyTuple_Pack(3, site, obj, meth)) == NULL || PyList_Append(stores, ent) < 0)
        goto done;
    rc = 0;
done:
    Py_XDECREF(ent);
    Py_XDECREF(oid);
    Py_XDECREF(stores);
    Py_XDECREF(sh);
    Py_DECREF(ts);
    return rc;
}

static inline int
is_atom(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    return t == &PyLong_Type || t == &PyUnicode_Type || t == &PyBytes_Type || t == &PyFloat_Type
        || t == &PyBool_Type || v == Py_None;
}

/* access_py._take_note: the last note made at ``site`` (the same constant, or after
 * marshalling an equal one), removed from ``stores``: a new reference in *entp, NULL if none */
static int
take_note(PyObject *stores, PyObject *site, PyObject **entp)
{
    *entp = NULL;
    Py_ssize_t i = -1;
    for (int pass = 0; pass < 2 && i < 0; pass++) {
        for (i = PyList_GET_SIZE(stores) - 1; i >= 0; i--) {
            PyObject *e = PyList_GET_ITEM(stores, i);
            if (!PyTuple_CheckExact(e) || PyTuple_GET_SIZE(e) != 3)
                continue;
            PyObject *es = PyTuple_GET_ITEM(e, 0);
            int same = es == site;
            if (!same && pass == 1 && (same = PyObject_RichCompareBool(es, site, Py_EQ)) < 0)
                return -1;
            if (same)
                break;
        }
    }
    if (i < 0)
        return 0;
    PyObject *ent = Py_NewRef(PyList_GET_ITEM(stores, i));
    if (PyList_SetSlice(stores, i, i + 1, NULL) < 0) {
        Py_DECREF(ent);
        return -1;
    }
    *entp = ent;
    return 0;
}

/* access_py.stored: the store noted at ``site`` happens now (its last argument is ``value``) */
static int
stored_access(PyObject *value, PyObject *site)
{
    int rc = -1;
    PyObject *stores = NULL, *ent = NULL, *obj = NULL;
    PyObject *ts = get_ts();
    if (ts == NULL)
        return -1;
    if ((stores = ts_get(ts, off_stores, s_stores)) == NULL)
        goto done;
    if (!PyList_CheckExact(stores)) {
        PyErr_SetString(PyExc_TypeError, "racedet: ThreadState.stores is not a list");
        goto done;
    }
    if (take_note(stores, site, &ent) < 0)
        goto done;
    if (ent == NULL) {
        rc = 0;
        goto done;
    }
    /* the noted object; its shadow as it is now (it was made by store_note) */
    obj = Py_NewRef(PyTuple_GET_ITEM(ent, 1));
    PyObject *oid = id_key(obj);
    if (oid == NULL)
        goto done;
    PyObject *sh = PyDict_GetItemWithError(shadow, oid);
    Py_DECREF(oid);
    if (sh == NULL) {
        rc = PyErr_Occurred() ? -1 : 0;
        goto done;
    }
    if (!PyDict_Check(sh)) {
        rc = 0;
        goto done;
    }
    PyObject *meth = PyTuple_GET_ITEM(ent, 2);
    int hand;
    if (method_int(method_handoff, meth, 4, &hand) < 0)
        goto done;
    if (is_atom(value)) {
        int one = PySet_Contains(store_one_element, meth);
        if (one < 0)
            goto done;
        if (one) {
            /* s.add(x) of a scalar already in the set changes nothing: no access */
            if (PySet_Check(obj) && PyUnicode_Check(meth) && PyUnicode_CompareWithASCIIString(meth, "add") == 0) {
                int there = PySet_Contains(obj, value);
                if (there != 0) {
                    rc = there < 0 ? -1 : 0;
                    goto done;
                }
            }
            hand &= ~H_RELEASE;
        }
    }
    Py_INCREF(sh);
    rc = whole_sh(ts, obj, sh, site, ATOMIC_MUT, hand);
    Py_DECREF(sh);
done:
    Py_XDECREF(obj);
    Py_XDECREF(ent);
    Py_XDECREF(stores);
    Py_DECREF(ts);
    return rc;
}

static PyObject *
c_store_method(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (n != 3 && !nargs_ok("store_method", n, 3))
        return NULL;
    if (!active)
        return Py_NewRef(a[0]);
    int c = is_container(a[0]);
    if (c == 0)
        return Py_NewRef(a[0]);
    return ret_obj(c < 0 ? -1 : store_note(a[0], a[1], a[2]), a[0]);
}

static PyObject *
c_stored(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (n != 2 && !nargs_ok("stored", n, 2))
        return NULL;
    if (!active)
        return Py_NewRef(a[0]);
    return ret_obj(stored_access(a[0], a[1]), a[0]);
}

static PyObject *
c_call_method(PyObject *m, PyObject *const *a, Py_ssize_t n)
{
    if (n != 3 && !nargs_ok("call_method", n, 3))
        return NULL;
    if (!active)
        return Py_NewRef(a[0]);
    int c = is_container(a[0]);
    if (c == 0)
        return Py_NewRef(a[0]);
    return ret_obj(c < 0 ? -1 : method_access(a[0], a[1], a[2]), a[0]);
}

static PyObject *
c_cellof(PyObject *m, PyObject *fn)
{
    /* c = fn.__closure__; return c[0] if c else None */
    PyObject *c;
    if (PyFunction_Check(fn)) {
        c = PyFunction_GET_CLOSURE(fn);
        if (c == NULL)
            Py_RETURN_NONE;
        Py_INCREF(c);
    }
    else if ((c = PyObject_GetAttr(fn, s_closure)) == NULL)
        return NULL;
    int truth = PyObject_IsTrue(c);
    PyObject *res = NULL;
    if (truth > 0)
        res = PySequence_GetItem(c, 0);
    else if (truth == 0)
        res = Py_NewRef(Py_None);
    Py_DECREF(c);
    return res;
}

static PyObject *
c_set_active(PyObject *m, PyObject *on)
{
    int v = PyObject_IsTrue(on);
    if (v < 0)
        return NULL;
    active = v;
    Py_RETURN_NONE;
}

static PyObject *
c_getattr(PyObject *m, PyObject *name)
{
    /* module __getattr__: ACTIVE and _errors, as access_py's globals */
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "ACTIVE") == 0)
        return PyBool_FromLong(active);
    if (PyUnicode_Check(name) && PyUnicode_CompareWithASCIIString(name, "_errors") == 0)
        return PyLong_FromLong(n_errors);
    PyErr_Format(PyExc_AttributeError, "module 'racedet._access' has no attribute %R", name);
    return NULL;
}

#define FAST(NAME) {#NAME, (PyCFunction)(void (*)(void))c_##NAME, METH_FASTCALL, NULL}

static PyMethodDef cellof_def = {
    "cellof", c_cellof, METH_O, "The cell a one-name closure ``lambda: name`` closes over (None if it is not a cell).",
};

static PyMethodDef methods[] = {
    FAST(rd_attr), FAST(wr_attr), FAST(rmw_attr),
    FAST(rd_global), FAST(wr_global), FAST(rmw_global),
    FAST(rd_cell), FAST(wr_cell), FAST(rmw_cell),
    FAST(rd_item), FAST(wr_item), FAST(del_item), FAST(rmw_item),
    FAST(rd_key), FAST(wr_key), FAST(del_key), FAST(rmw_key),
    FAST(rd_index), FAST(wr_index), FAST(rd_whole), FAST(rd_len), FAST(mut_whole),
    FAST(call_method), FAST(store_method), FAST(stored), FAST(rd_iter),
    {"took", c_took, METH_O, "racedet.models.locks._took_py: a modelled lock was just acquired (not re-entered)."},
    {"leaving", c_leaving, METH_O, "racedet.models.locks._leaving_py: a modelled lock is about to be released for good."},
    {"_lock_setup", (PyCFunction)(void (*)(void))c_lock_setup, METH_FASTCALL,
     "racedet.models.locks gives the lock types the Python functions of their rare paths."},
    {"set_active", c_set_active, METH_O, "Switch the hooks on or off (engine.set_active_hook)."},
    {"_bound", c_bound, METH_O, "engine._on_bind entry: forget the cached thread state."},
    {"__getattr__", c_getattr, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "racedet._access",
    "The compiled access core: racedet.access_py in C (same functions, same semantics).",
    -1, methods,
};

/* ------------------------------------------------------------------------ */
/* Initialisation */

static PyObject *
get(PyObject *mod, const char *name)
{
    return PyObject_GetAttrString(mod, name);
}

static int
slot_offset(PyTypeObject *tp, const char *name, Py_ssize_t *off)
{
    PyObject *d = PyObject_GetAttrString((PyObject *)tp, name);
    if (d == NULL)
        return -1;
    int ok = Py_TYPE(d) == &PyMemberDescr_Type
        && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
    if (ok)
        *off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    if (!ok) {
        PyErr_Format(PyExc_ImportError, "racedet._access: %s.%s is not a slot", tp->tp_name, name);
        return -1;
    }
    return 0;
}

#define INTERN(var, text) if ((var = PyUnicode_InternFromString(text)) == NULL) goto error

PyMODINIT_FUNC
PyInit__access(void)
{
#ifdef Py_GIL_DISABLED
    PyErr_SetString(PyExc_ImportError,
                    "racedet._access: free-threaded builds are not supported (use RACEDET_CORE=py)");
    return NULL;
#endif
    PyObject *m = NULL, *engine = NULL, *collections = NULL, *deque = NULL, *bind = NULL,
             *hook = NULL, *r = NULL, *tmp = NULL;

    INTERN(s___name__, "__name__");
    INTERN(s_ts, "ts");
    INTERN(s_epoch, "epoch");
    INTERN(s_tid, "tid");
    INTERN(s_vc, "vc");
    INTERN(s_hval, "hval");
    INTERN(s_read, "read");
    INTERN(s_write, "write");
    INTERN(s_oid, "oid");
    INTERN(s_history_size, "history_size");
    INTERN(s_current_test, "current_test");
    INTERN(s_closure, "__closure__");
    INTERN(s_sweep_every, "_SWEEP_EVERY");
    INTERN(s_sweep, "sweep");
    INTERN(s_clk, "clk");
    INTERN(s_held, "held");
    INTERN(s__sv, "_sv");
    INTERN(s__uid, "_uid");
    INTERN(s__desc, "_desc");
    ls_names[LS_SV] = Py_NewRef(s__sv);
    ls_names[LS_UID] = Py_NewRef(s__uid);
    ls_names[LS_DESC] = Py_NewRef(s__desc);
    INTERN(s_edges, "edges");
    INTERN(s_enabled, "enabled");
    INTERN(s_acquired, "acquired");
    INTERN(s_released, "released");
    INTERN(s_acquire, "acquire");
    INTERN(s_published, "published");
    INTERN(s_pop, "pop");
    INTERN(s_append, "append");
    INTERN(s_loads, "loads");
    INTERN(s_stores, "stores");
    if ((HV_KEY = PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type)) == NULL)
        goto error;
    ZERO = PyLong_FromLong(0);
    ONE = PyLong_FromLong(1);
    MINUS_ONE = PyLong_FromLong(-1);
    if (ZERO == NULL || ONE == NULL || MINUS_ONE == NULL)
        goto error;

    engine = PyImport_ImportModule("racedet.engine");
    if (engine == NULL)
        goto error;
    /* access_py first: importing it registers its set_active with the engine,
     * and ours is registered last, below, so it is the one in use. */
    access_py = PyImport_ImportModule("racedet.access_py");
    frames_mod = PyImport_ImportModule("racedet.frames");
    if (access_py == NULL || frames_mod == NULL)
        goto error;
    engine_dict = PyModule_GetDict(engine);
    Py_INCREF(engine_dict);
#if PY_VERSION_HEX >= 0x030C0000
    {
        int wid = PyDict_AddWatcher(engine_dict_changed);
        if (wid < 0 || PyDict_Watch(wid, engine_dict) < 0)
            goto error;
    }
#endif

    if ((shadow = get(engine, "shadow")) == NULL || (new_shadow_fn = get(engine, "new_shadow")) == NULL
            || (report_fn = get(engine, "report")) == NULL
            || (adopt_fn = get(engine, "adopt_current_thread")) == NULL
            || (tls = get(engine, "_tls")) == NULL || (IGNORED = get(engine, "IGNORED")) == NULL
            || (CONTENTS = get(engine, "CONTENTS")) == NULL || (CELL = get(engine, "CELL")) == NULL
            || (REF = get(engine, "REF")) == NULL || (on_death = get(engine, "_on_death")) == NULL
            || (HANDOFF = get(engine, "HANDOFF")) == NULL
            || (Ref_type = get(engine, "_Ref")) == NULL
            || (classify_fn = get(engine, "_classify")) == NULL || (type_kind = get(engine, "_type_kind")) == NULL
            || (tmp = get(engine, "ThreadState")) == NULL)
        goto error;
    if (!PyDict_CheckExact(shadow) || !PyDict_Check(IGNORED) || !PyDict_CheckExact(type_kind)
            || !PyType_Check(tmp)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: unexpected racedet.engine layout");
        goto error;
    }
    ThreadState_type = (PyTypeObject *)tmp;
    tmp = NULL;
    if (slot_offset(ThreadState_type, "epoch", &off_epoch) < 0
            || slot_offset(ThreadState_type, "tid", &off_tid) < 0
            || slot_offset(ThreadState_type, "vc", &off_vc) < 0
            || slot_offset(ThreadState_type, "hval", &off_hval) < 0
            || slot_offset(ThreadState_type, "clk", &off_clk) < 0
            || slot_offset(ThreadState_type, "held", &off_held) < 0
            || slot_offset(ThreadState_type, "loads", &off_loads) < 0
            || slot_offset(ThreadState_type, "stores", &off_stores) < 0)
        goto error;
    /* The lock models' bookkeeping (took, leaving): SyncVar's slots, the
     * Python functions of the rare paths, and lockorder's globals. */
    if ((tmp = get(engine, "SyncVar")) == NULL)
        goto error;
    if (!PyType_Check(tmp)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: engine.SyncVar is not a class");
        goto error;
    }
    SyncVar_type = (PyTypeObject *)tmp;
    tmp = NULL;
    if (slot_offset(SyncVar_type, "vc", &off_sv_vc) < 0 || slot_offset(SyncVar_type, "tid", &off_sv_tid) < 0)
        goto error;
    if ((join_into_fn = get(engine, "join_into")) == NULL || (tmp = get(engine, "REBASE_AT")) == NULL)
        goto error;
    rebase_at = PyLong_AsLongLong(tmp);
    Py_CLEAR(tmp);
    if (rebase_at == -1 && PyErr_Occurred())
        goto error;
    if ((tmp = PyImport_ImportModule("racedet.lockorder")) == NULL)
        goto error;
    lockorder_dict = PyModule_GetDict(tmp);
    Py_INCREF(lockorder_dict);
    Py_CLEAR(tmp);
    {
        static const char *names[4] = {"_KIND_WEAK", "_KIND_STRONG", "_KIND_IGNORE", "_KIND_WATCH"};
        long *vals[4] = {&kind_weak, &kind_strong, &kind_ignore, &kind_watch};
        for (int i = 0; i < 4; i++) {
            if ((tmp = get(engine, names[i])) == NULL)
                goto error;
            *vals[i] = PyLong_AsLong(tmp);
            Py_CLEAR(tmp);
            if (*vals[i] == -1 && PyErr_Occurred())
                goto error;
        }
    }
    if ((tmp = get(engine, "_lifetime")) == NULL)
        goto error;
    if (tmp != Py_None
            && (lifetime_watch = (int (*)(PyObject *, PyObject *))PyCapsule_Import(
                    "racedet._lifetime._watch_capsule", 0)) == NULL)
        goto error;
    Py_CLEAR(tmp);
    if ((strong_list = get(engine, "_strong")) == NULL)
        goto error;
    if (!PyList_CheckExact(strong_list)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: engine._strong is not a list");
        goto error;
    }
    for (int i = 0; i < N_LOC; i++) {
        static const char *names[N_LOC] = {"LOC_ATTR", "LOC_GLOBAL", "LOC_CELL", "LOC_ITEM", "LOC_CONTENTS"};
        if ((LOC[i] = get(engine, names[i])) == NULL)
            goto error;
        if (PyLong_AsLong(LOC[i]) != i) {
            PyErr_SetString(PyExc_ImportError, "racedet._access: engine.LOC_* changed");
            goto error;
        }
    }
    if ((hidden_codes = get(frames_mod, "_hidden_codes")) == NULL
            || (code_hidden_fn = get(frames_mod, "code_hidden")) == NULL)
        goto error;
    if (!PyDict_CheckExact(hidden_codes)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: frames._hidden_codes is not a dict");
        goto error;
    }
    if ((method_kinds = get(access_py, "METHOD_KINDS")) == NULL
            || (method_handoff = get(access_py, "METHOD_HANDOFF")) == NULL
            || (store_one_element = get(access_py, "_STORE_ONE_ELEMENT")) == NULL)
        goto error;
    if (!PyAnySet_Check(store_one_element)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: access_py._STORE_ONE_ELEMENT is not a set");
        goto error;
    }
    if ((ctypes_cache = PyDict_New()) == NULL)
        goto error;
    if ((collections = PyImport_ImportModule("collections")) == NULL
            || (deque = get(collections, "deque")) == NULL)
        goto error;
    container_types = PyTuple_Pack(5, (PyObject *)&PyList_Type, (PyObject *)&PyDict_Type,
                                   (PyObject *)&PySet_Type, (PyObject *)&PyByteArray_Type, deque);
    if (container_types == NULL)
        goto error;
    if (!PyType_Check(deque) || ((PyTypeObject *)deque)->tp_as_sequence == NULL
            || ((PyTypeObject *)deque)->tp_as_sequence->sq_length == NULL) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: collections.deque has no length");
        goto error;
    }
    deque_type = (PyTypeObject *)deque;

    m = PyModule_Create(&moduledef);
    if (m == NULL)
        goto error;
    /* cellof, and cell hooks that take cells, as long as access_py has them */
    int has_cellof = PyObject_HasAttrString(access_py, "cellof");
    cells_by_fn = !has_cellof;
    if (has_cellof) {
        PyObject *modname = PyModule_GetNameObject(m);
        PyObject *fn = modname ? PyCFunction_NewEx(&cellof_def, NULL, modname) : NULL;
        Py_XDECREF(modname);
        if (fn == NULL || PyModule_AddObject(m, "cellof", fn) < 0) {
            Py_XDECREF(fn);
            goto error;
        }
    }
    if (PyModule_AddObjectRef(m, "METHOD_KINDS", method_kinds) < 0
            || PyModule_AddIntConstant(m, "ATOMIC_MUT", ATOMIC_MUT) < 0
            || PyModule_AddIntConstant(m, "ITEM_MUT", ITEM_MUT) < 0
            || PyModule_AddIntConstant(m, "WHOLE_READ", WHOLE_READ) < 0
            || PyModule_AddIntConstant(m, "INDEX_READ", INDEX_READ) < 0
            || PyModule_AddIntConstant(m, "ITEM_SET", ITEM_SET) < 0
            || PyModule_AddIntConstant(m, "LEN_READ", LEN_READ) < 0
            || PyModule_AddIntConstant(m, "KEYS_READ", KEYS_READ) < 0
            || PyModule_AddObjectRef(m, "METHOD_HANDOFF", method_handoff) < 0)
        goto error;
    if ((tmp = get(access_py, "STORE_ONE")) == NULL || PyModule_AddObjectRef(m, "STORE_ONE", tmp) < 0)
        goto error;
    if (init_lock_types(m) < 0)
        goto error;
    Py_CLEAR(tmp);

    /* Hooks into the engine, last: nothing is registered if anything above failed. */
    if ((bind = get(engine, "_on_bind")) == NULL)
        goto error;
    if (!PyList_Check(bind)) {
        PyErr_SetString(PyExc_ImportError, "racedet._access: engine._on_bind is not a list");
        goto error;
    }
    if ((hook = PyObject_GetAttrString(m, "_bound")) == NULL || PyList_Append(bind, hook) < 0)
        goto error;
    Py_CLEAR(hook);
    if ((hook = PyObject_GetAttrString(m, "set_active")) == NULL
            || (r = PyObject_CallMethod(engine, "set_active_hook", "O", hook)) == NULL)
        goto error;
    Py_DECREF(r);
    Py_DECREF(hook);
    Py_DECREF(bind);
    Py_DECREF(deque);
    Py_DECREF(collections);
    Py_DECREF(engine);
    return m;

error:
    Py_XDECREF(m);
    Py_XDECREF(engine);
    Py_XDECREF(collections);
    Py_XDECREF(deque);
    Py_XDECREF(bind);
    Py_XDECREF(hook);
    Py_XDECREF(tmp);
    return NULL;
}
