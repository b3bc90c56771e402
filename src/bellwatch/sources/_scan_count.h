/* Duration histograms for the C scanner's module (_scan.c): count() and add(). Included by
 * _scan.c only. */
#ifndef BELLWATCH_SCAN_COUNT_H
#define BELLWATCH_SCAN_COUNT_H

/* ----------------------------------------------------------------- counting */

/* count(durations) -> {duration: occurrences} (None if one is NaN): the histogram of
 * packed doubles, as
 * dict(collections.Counter(memoryview(durations).cast("d"))) gives it (each value keyed
 * as first met; 0.0 and -0.0 are one key, as for a dict), at a fraction of its CPU: an
 * open-addressing table over the values' bits, then one dict insert per distinct value. */
typedef struct {
    uint64_t bits; /* 0 marks an empty slot: +0.0 is stored as the bits of -0.0 */
    double first;
    Py_ssize_t n;
} Slot;

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t values = buf.len / (Py_ssize_t)sizeof(double), cap = 16, used = 0;
    while (cap < values * 2 + 16) cap <<= 1;
    Slot *slots = PyMem_RawCalloc(cap, sizeof(Slot));
    Py_ssize_t *order = PyMem_RawMalloc((values ? values : 1) * sizeof(Py_ssize_t));
    if (slots == NULL || order == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *data = buf.buf;
    const uint64_t zero = 0, negative_zero = 0x8000000000000000ULL;
    for (Py_ssize_t i = 0; i < values; i++) {
        double d;
        uint64_t bits;
        memcpy(&d, data + i * sizeof d, sizeof d);
        memcpy(&bits, &d, sizeof bits);
        if (d != d) { /* NaN: each one its own key, as in a dict: Python counts */
            out = Py_NewRef(Py_None);
            goto done;
        }
        if (bits == zero) bits = negative_zero; /* one key for both zeros, never 0 */
        uint64_t h = bits * 0x9E3779B97F4A7C15ULL;
        for (Py_ssize_t at = (Py_ssize_t)(h >> 17) & (cap - 1);; at = (at + 1) & (cap - 1)) {
            Slot *slot = &slots[at];
            if (slot->bits == bits) {
                slot->n++;
                break;
            }
            if (slot->bits == 0) {
                slot->bits = bits;
                slot->first = d;
                slot->n = 1;
                order[used++] = at;
                break;
            }
        }
    }
    if ((out = PyDict_New()) == NULL) goto done;
    for (Py_ssize_t i = 0; i < used; i++) {
        Slot *slot = &slots[order[i]];
        PyObject *key = PyFloat_FromDouble(slot->first), *n = PyLong_FromSsize_t(slot->n);
        int failed = key == NULL || n == NULL || PyDict_SetItem(out, key, n) < 0;
        Py_XDECREF(key);
        Py_XDECREF(n);
        if (failed) {
            Py_CLEAR(out);
            goto done;
        }
    }
done:
    PyMem_RawFree(slots);
    PyMem_RawFree(order);
    PyBuffer_Release(&buf);
    return out;
}

/* add(into, other): into[k] = into.get(k, 0) + n for each k, n of other: two duration
 * histograms merged (a file's runs, when a report reads them), in C. */
static PyObject *add(PyObject *self, PyObject *args) {
    PyObject *into, *other, *key, *n;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &into, &PyDict_Type, &other)) return NULL;
    if (into == other) {
        PyErr_SetString(PyExc_ValueError, "add: two different dicts");
        return NULL;
    }
    Py_ssize_t pos = 0;
    while (PyDict_Next(other, &pos, &key, &n)) {
        PyObject *mine = PyDict_GetItemWithError(into, key);
        if (mine == NULL) {
            if (PyErr_Occurred() || PyDict_SetItem(into, key, n) < 0) return NULL;
            continue;
        }
        PyObject *sum = PyNumber_Add(mine, n);
        if (sum == NULL) return NULL;
        int failed = PyDict_SetItem(into, key, sum);
        Py_DECREF(sum);
        if (failed < 0) return NULL;
    }
    Py_RETURN_NONE;
}


#endif /* BELLWATCH_SCAN_COUNT_H */
