/* The reports' cold fold in C: the lines of a buffer that are plain bellwatch events,
 * folded as bellwatch/sources/_decoded.py folds them, the rest handed back to it.
 *
 * Why C: a cold `errors`/`slow`/`endpoints` spent about 1000 ns of Python per line
 * (msgspec decoding 481, the fold 542: bench/results/query.md), twice what DuckDB's
 * whole C++ scan costs. Here a line costs a single pass over its bytes.
 *
 * What it folds, and how it stays exact: a line is folded here only when this code can
 * be sure of the answer the Python fold gives; anything else stops the scan at that
 * line and Python reads it (the reader's rules, unchanged). Folded here:
 *   - a blank line (no event) and a text line: one that does not start with `{`, after
 *     white space (a text event);
 *   - a line that is one strict RFC 8259 object whose `ts` is a plain integer, with no
 *     `hash` or `n` key, that is not a signature or health-check failure, and, for a
 *     request, with text `method` and `path`, integer `status`, numeric `duration`, text
 *     or absent `cid` (a failed Twilio webhook, text or absent `sid`, goes to a Python
 *     callable with its fields).
 * Strictness errs towards handing back: a string escape in a key or in a value we read, a
 * surrogate escape anywhere, a number of more than 40 characters or with a 3-digit
 * exponent, nesting past 64 levels, a repeated key we read, or any syntax this parser
 * refuses all go to Python, which decides whether the line is an object at all. So a
 * line folded here is one orjson and msgspec read the same way (tests/test_sources_native.py
 * compares both folds line by line, hostile corpus and hypothesis included).
 *
 * The key and event names come from bellwatch.schema through configure(): this file
 * holds no name of its own. No Python object is touched for a text line or a
 * non-request event; a request's method and path come from a small cache of strings.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "_scan_line.h"
#include "_scan_text.h"
#include "_scan_count.h"

/* ------------------------------------------------------------------ folding */

/* The fold's counters, read from and written back to the Python list `state`. The
 * times there may be any integer (a line Python read may hold one past 64 bits): this
 * call keeps its own lowest, highest and last, merged in when it returns. */
typedef struct {
    long long records, text, head, untimed, error_lines;
    long long lo, hi, last; /* of the lines folded by this call */
    int timed;              /* this call folded a line with a time */
    int had_last;           /* a line with a time came before this call, in this buffer */
    int timed_before;       /* or before this buffer */
} Counts;

enum { S_RECORDS, S_TEXT, S_HEAD, S_UNTIMED, S_ERROR_LINES, S_LO, S_HI, S_LAST, S_TIMED_BEFORE,
       NSTATE };
#define NINTS 5

static int read_counts(PyObject *state, Counts *k) {
    long long *ints[NINTS] = {&k->records, &k->text, &k->head, &k->untimed, &k->error_lines};
    if (!PyList_Check(state) || PyList_GET_SIZE(state) != NSTATE) {
        PyErr_SetString(PyExc_TypeError, "state: a list of the fold's counters");
        return -1;
    }
    for (int i = 0; i < NINTS; i++) {
        *ints[i] = PyLong_AsLongLong(PyList_GET_ITEM(state, i));
        if (*ints[i] == -1 && PyErr_Occurred()) return -1;
    }
    k->timed = 0;
    k->had_last = PyList_GET_ITEM(state, S_LAST) != Py_None;
    k->timed_before = PyObject_IsTrue(PyList_GET_ITEM(state, S_TIMED_BEFORE));
    return k->timed_before < 0 ? -1 : 0;
}

static int put(PyObject *state, int i, PyObject *value) {
    if (value == NULL) return -1;
    return PyList_SetItem(state, i, value); /* steals the reference */
}

/* state[i] = ours if state[i] is None or ours beats it (op: Py_LT or Py_GT) */
static int extreme(PyObject *state, int i, long long ours, int op) {
    PyObject *mine = PyLong_FromLongLong(ours), *theirs = PyList_GET_ITEM(state, i);
    if (mine == NULL) return -1;
    int better = theirs == Py_None ? 1 : PyObject_RichCompareBool(mine, theirs, op);
    if (better <= 0) {
        Py_DECREF(mine);
        return better;
    }
    return put(state, i, mine);
}

static int write_counts(PyObject *state, const Counts *k) {
    const long long ints[NINTS] = {k->records, k->text, k->head, k->untimed, k->error_lines};
    for (int i = 0; i < NINTS; i++)
        if (put(state, i, PyLong_FromLongLong(ints[i])) < 0) return -1;
    if (!k->timed) return 0;
    if (extreme(state, S_LO, k->lo, Py_LT) < 0 || extreme(state, S_HI, k->hi, Py_GT) < 0)
        return -1;
    return put(state, S_LAST, PyLong_FromLongLong(k->last));
}

/* counts[(method, path)][i] += 1, as _decoded._tally */
static int tally(PyObject *counts, PyObject *method, PyObject *path, int i) {
    PyObject *key = PyTuple_Pack(2, method, path);
    if (key == NULL) return -1;
    PyObject *row = PyDict_GetItemWithError(counts, key);
    if (row == NULL) {
        if (PyErr_Occurred() || (row = Py_BuildValue("[iii]", 0, 0, 0)) == NULL) {
            Py_DECREF(key);
            return -1;
        }
        int failed = PyDict_SetItem(counts, key, row);
        Py_DECREF(row); /* the dict holds it */
        if (failed < 0) {
            Py_DECREF(key);
            return -1;
        }
    }
    Py_DECREF(key);
    PyObject *n = PyList_GetItem(row, i);
    if (n == NULL) return -1;
    long long was = PyLong_AsLongLong(n);
    if (was == -1 && PyErr_Occurred()) return -1;
    return PyList_SetItem(row, i, PyLong_FromLongLong(was + 1));
}

/* durations[path][method]: a bytearray of doubles in native byte order (as
 * array('d').tobytes() packs them), created (and the endpoint's row in `ep`, first met)
 * if new */
static PyObject *durations_of(PyObject *durations, PyObject *ep, PyObject *method,
                              PyObject *path) {
    PyObject *by_method = PyDict_GetItemWithError(durations, path);
    if (by_method == NULL) {
        if (PyErr_Occurred() || (by_method = PyDict_New()) == NULL) return NULL;
        int failed = PyDict_SetItem(durations, path, by_method);
        Py_DECREF(by_method);
        if (failed < 0) return NULL;
    }
    PyObject *found = PyDict_GetItemWithError(by_method, method);
    if (found != NULL) {
        if (PyByteArray_Check(found)) return found;
        PyErr_SetString(PyExc_TypeError, "durations: packed in bytearrays");
        return NULL;
    }
    if (PyErr_Occurred() || (found = PyByteArray_FromStringAndSize(NULL, 0)) == NULL)
        return NULL;
    int failed = PyDict_SetItem(by_method, method, found);
    Py_DECREF(found);
    if (failed < 0) return NULL;
    PyObject *key = PyTuple_Pack(2, method, path);
    if (key == NULL) return NULL;
    int has = PyDict_Contains(ep, key);
    if (has == 0) {
        PyObject *row = Py_BuildValue("[iiOii{}]", 0, 0, Py_None, 0, 0);
        has = row == NULL ? -1 : PyDict_SetItem(ep, key, row);
        Py_XDECREF(row);
    }
    Py_DECREF(key);
    return has < 0 ? NULL : found;
}

/* Fold one request line; 1 when done, 0 to hand it back, -1 on a Python error. */
/* A failed Twilio webhook is folded by this Python callable, (ts, status, sid, cid, path),
 * set by fold() for the time of its call. */
static PyObject *on_webhook = NULL;

static PyObject *text_or_none(const Value *v) {
    return v->kind == V_STRING ? PyUnicode_DecodeUTF8(v->p, v->n, "strict") : Py_NewRef(Py_None);
}

static int request(const Value *got, long long ts, PyObject *durations, PyObject *counts,
                   PyObject *ep, PyObject *slow, double floor) {
    const Value *m = &got[K_METHOD], *pa = &got[K_PATH], *st = &got[K_STATUS],
                *du = &got[K_DURATION], *ci = &got[K_CID];
    if (m->kind != V_STRING || m->escaped || pa->kind != V_STRING || pa->escaped) return 0;
    if (st->kind != V_INT || (du->kind != V_INT && du->kind != V_FLOAT)) return 0;
    if (ci->kind != V_ABSENT && (ci->kind != V_STRING || ci->escaped)) return 0;
    long long status = integer(st);
    int failed = status < 200 || status >= 300;
    int webhook = failed && pa->n >= twilio.n && memcmp(pa->p, twilio.s, twilio.n) == 0;
    const Value *si = &got[K_SID];
    if (webhook && si->kind != V_ABSENT && (si->kind != V_STRING || si->escaped)) return 0;
    double seconds;
    if (!exact(du, &seconds)) {
        char digits[MAX_NUMBER + 1];
        memcpy(digits, du->p, du->n);
        digits[du->n] = '\0';
        seconds = PyOS_string_to_double(digits, NULL, NULL); /* correctly rounded */
        if (seconds == -1.0 && PyErr_Occurred()) return -1;
    }

    int result = -1;
    PyObject *method = text(m->p, m->n), *path = NULL, *dur = NULL;
    if (method == NULL || (path = text(pa->p, pa->n)) == NULL) goto done;
    PyObject *found = durations_of(durations, ep, method, path);
    if (found == NULL) goto done;
    Py_ssize_t size = PyByteArray_GET_SIZE(found);
    if (PyByteArray_Resize(found, size + (Py_ssize_t)sizeof seconds) < 0) goto done;
    memcpy(PyByteArray_AS_STRING(found) + size, &seconds, sizeof seconds);
    if (seconds > floor) {
        if ((dur = PyFloat_FromDouble(seconds)) == NULL) goto done;
        PyObject *cid = text_or_none(ci);
        if (cid == NULL) goto done;
        PyObject *row = Py_BuildValue("(LOOOLN)", ts, method, path, dur, status, cid);
        if (row == NULL) goto done;
        int appended = PyList_Append(slow, row);
        Py_DECREF(row);
        if (appended < 0) goto done;
    }
    if (failed && status >= 400 && tally(counts, method, path, status >= 500 ? 1 : 2) < 0)
        goto done;
    if (webhook) {
        PyObject *sid = text_or_none(si), *cid = sid == NULL ? NULL : text_or_none(ci);
        PyObject *done_ = cid == NULL ? NULL
                                      : PyObject_CallFunction(on_webhook, "LLOOO", ts, status,
                                                              sid, cid, path);
        Py_XDECREF(sid);
        Py_XDECREF(cid);
        if (done_ == NULL) goto done;
        Py_DECREF(done_);
    }
    result = 1;
done:
    Py_XDECREF(method);
    Py_XDECREF(path);
    Py_XDECREF(dur);
    return result;
}

/* Fold the line [p, end); 1 when folded, 0 to hand it back, -1 on a Python error. */
static int line(const unsigned char *p, const unsigned char *end, Counts *k,
                PyObject *durations, PyObject *counts, PyObject *ep, PyObject *slow,
                double floor) {
    if (*p != '{' || p == end) {
        /* Python's rules: after white space (bytes.lstrip's), `{` may start an object
         * (handed back); else only spaces, tabs and CRs is a blank line, no event; else
         * a text event (a traceback's indented lines among them) */
        const unsigned char *q = p;
        int blank = 1;
        for (; q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\x0b' || *q == '\x0c');
             q++)
            blank &= *q != '\x0b' && *q != '\x0c';
        if (q < end && *q == '{') return 0;
        if (q == end && blank) return 1;
        k->text++;
        if (!k->timed && !k->had_last && !k->timed_before) k->head++;
        return 1;
    }
    Value got[NKEYS];
    if (object(p, end, got) < 0) return 0;
    if (got[K_TS].kind != V_INT || got[K_HASH].kind != V_ABSENT || got[K_N].kind != V_ABSENT)
        return 0;
    const Value *lv = &got[K_LEVEL], *ev = &got[K_EVENT];
    if (lv->kind != V_ABSENT && (lv->kind != V_STRING || lv->escaped)) return 0;
    if (ev->kind != V_ABSENT && (ev->kind != V_STRING || ev->escaped)) return 0;
    int is_request = 0;
    if (ev->kind == V_STRING) {
        if (same(ev->p, ev->n, &events[E_SIGNATURE]) || same(ev->p, ev->n, &events[E_HEALTH]))
            return 0;
        is_request = same(ev->p, ev->n, &events[E_REQUEST]);
    }
    long long ts = integer(&got[K_TS]);
    if (is_request) {
        int done = request(got, ts, durations, counts, ep, slow, floor);
        if (done <= 0) return done;
    }
    k->records++;
    if (!k->timed) {
        k->lo = k->hi = ts;
        k->timed = 1;
    } else {
        if (ts < k->lo) k->lo = ts;
        if (ts > k->hi) k->hi = ts;
    }
    k->last = ts;
    if (lv->kind == V_STRING &&
        (same(lv->p, lv->n, &levels[L_ERROR]) || same(lv->p, lv->n, &levels[L_CRITICAL])))
        k->error_lines++;
    return 1;
}

/* ------------------------------------------------------------------ module */

static int copy_names(PyObject *tuple, Name *out, Py_ssize_t n, const char *what) {
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != n) {
        PyErr_Format(PyExc_TypeError, "%s: a tuple of %zd names", what, n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t size;
        const char *s = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(tuple, i), &size);
        if (s == NULL) return -1;
        char *copy = PyMem_RawMalloc(size ? size : 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(copy, s, size);
        PyMem_RawFree(out[i].s);
        out[i].s = copy;
        out[i].n = size;
    }
    return 0;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *k, *e, *l, *t;
    if (!PyArg_ParseTuple(args, "O!O!O!U", &PyTuple_Type, &k, &PyTuple_Type, &e,
                          &PyTuple_Type, &l, &t))
        return NULL;
    PyObject *one = PyTuple_Pack(1, t);
    if (one == NULL) return NULL;
    int failed = copy_names(k, keys, NKEYS, "keys") < 0 ||
                 copy_names(e, events, NEVENTS, "events") < 0 ||
                 copy_names(l, levels, NLEVELS, "levels") < 0 ||
                 copy_names(one, &twilio, 1, "prefix") < 0;
    Py_DECREF(one);
    if (failed) return NULL;
    for (int i = 0; i < NKEYS; i++)
        if (keys[i].n > MAX_KEY) {
            PyErr_SetString(PyExc_ValueError, "keys: 32 bytes at most");
            return NULL;
        }
    index_keys();
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *fold(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos;
    PyObject *state, *durations, *counts, *ep, *slow, *webhook;
    double floor;
    if (!PyArg_ParseTuple(args, "y*nO!O!O!O!O!dO", &buf, &pos, &PyList_Type, &state,
                          &PyDict_Type, &durations, &PyDict_Type, &counts, &PyDict_Type, &ep,
                          &PyList_Type, &slow, &floor, &webhook))
        return NULL;
    Counts k;
    PyObject *result = NULL;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "bellwatch.sources._scan: configure() first");
        goto out;
    }
    if (pos < 0 || pos > buf.len) {
        PyErr_SetString(PyExc_ValueError, "pos: outside the buffer");
        goto out;
    }
    if (!PyCallable_Check(webhook)) {
        PyErr_SetString(PyExc_TypeError, "webhook: a callable");
        goto out;
    }
    if (read_counts(state, &k) < 0) goto out;
    on_webhook = webhook;
    const unsigned char *data = buf.buf, *end = data + buf.len, *p = data + pos;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', end - p);
        const unsigned char *stop = nl ? nl : end;
        int done = line(p, stop, &k, durations, counts, ep, slow, floor);
        if (done < 0) goto out;
        if (done == 0) break;
        p = nl ? nl + 1 : end;
    }
    if (write_counts(state, &k) < 0) goto out;
    result = PyLong_FromSsize_t(p - data);
out:
    on_webhook = NULL;
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(keys, events, levels, twilio_prefix): the names the fold reads."},
    {"count", count, METH_VARARGS,
     "count(durations) -> (values, counts): the histogram of packed doubles."},
    {"fold", fold, METH_VARARGS,
     "fold(data, pos, state, durations, counts, ep, slow, floor, webhook) -> int: fold "
     "the lines of data from pos; returns where a line to hand back starts, or len(data)."},
    {"total", total, METH_VARARGS,
     "total(values, counts) -> float | None: the sum of value * count, exactly rounded."},
    {"merge", merge, METH_VARARGS,
     "merge(values, counts, other_values, other_counts) -> (values, counts): two "
     "histograms added."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The reports' cold fold in C (see _scan.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__scan(void) {
    init_plain();
    return PyModule_Create(&module);
}
