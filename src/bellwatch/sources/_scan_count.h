/* Duration histograms for the C scanner's module (_scan.c): count(), merge() and total(). Included
 * by _scan.c only.
 *
 * A histogram is two byte strings (see bellwatch/sources/histogram.py): the distinct
 * durations as native doubles, ascending, and how often each occurred as native int64.
 * One zero (+0.0, for both signs, as a dict keys them) and one NaN, after every number
 * (a duration read from JSON is never NaN; the order only has to be total). Kept so, a
 * cache file loads them as two strings, and a merge or a percentile never makes a
 * Python object per value. */
#ifndef BELLWATCH_SCAN_COUNT_H
#define BELLWATCH_SCAN_COUNT_H

typedef struct {
    double value;
    int64_t n;
} Bin;

static const uint64_t QUIET_NAN = 0x7FF8000000000000ULL;

/* The value as kept: +0.0 for either zero, one NaN for every NaN. */
static double canonical(double d) {
    if (d != d) {
        memcpy(&d, &QUIET_NAN, sizeof d);
        return d;
    }
    return d == 0.0 ? 0.0 : d;
}

/* Ascending, NaN last: -1, 0 or 1. */
static int order_of(double a, double b) {
    if (a != a) return b != b ? 0 : 1;
    if (b != b) return -1;
    return (a > b) - (a < b);
}

static int compare_bins(const void *a, const void *b) {
    return order_of(((const Bin *)a)->value, ((const Bin *)b)->value);
}

/* (values, counts) as two new byte strings, from n bins in order. */
static PyObject *as_pair(const Bin *bins, Py_ssize_t n) {
    PyObject *values = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    PyObject *counts = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int64_t));
    if (values == NULL || counts == NULL) {
        Py_XDECREF(values);
        Py_XDECREF(counts);
        return NULL;
    }
    char *v = PyBytes_AS_STRING(values), *c = PyBytes_AS_STRING(counts);
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(v + i * sizeof(double), &bins[i].value, sizeof(double));
        memcpy(c + i * sizeof(int64_t), &bins[i].n, sizeof(int64_t));
    }
    PyObject *pair = PyTuple_Pack(2, values, counts);
    Py_DECREF(values);
    Py_DECREF(counts);
    return pair;
}

/* ----------------------------------------------------------------- counting */

/* count(durations) -> (values, counts): the histogram of packed doubles. Counted in an
 * open-addressing table over the values' bits (one pass), then only the distinct values
 * are sorted: a file's million durations hold a few tens of thousands. */
typedef struct {
    uint64_t bits; /* 0 marks an empty slot: +0.0 is stored as the bits of -0.0 */
    Py_ssize_t bin;
} Slot;

static PyObject *count(PyObject *self, PyObject *args) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t values = buf.len / (Py_ssize_t)sizeof(double), cap = 16, used = 0;
    while (cap < values * 2 + 16) cap <<= 1;
    Slot *slots = PyMem_RawCalloc(cap, sizeof(Slot));
    Bin *bins = PyMem_RawMalloc((values ? values : 1) * sizeof(Bin));
    if (slots == NULL || bins == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *data = buf.buf;
    const uint64_t negative_zero = 0x8000000000000000ULL;
    for (Py_ssize_t i = 0; i < values; i++) {
        double d;
        uint64_t bits;
        memcpy(&d, data + i * sizeof d, sizeof d);
        d = canonical(d);
        memcpy(&bits, &d, sizeof bits);
        if (bits == 0) bits = negative_zero; /* +0.0 keyed apart from an empty slot */
        uint64_t h = bits * 0x9E3779B97F4A7C15ULL;
        for (Py_ssize_t at = (Py_ssize_t)(h >> 17) & (cap - 1);; at = (at + 1) & (cap - 1)) {
            Slot *slot = &slots[at];
            if (slot->bits == bits) {
                bins[slot->bin].n++;
                break;
            }
            if (slot->bits == 0) {
                slot->bits = bits;
                slot->bin = used;
                bins[used].value = d;
                bins[used].n = 1;
                used++;
                break;
            }
        }
    }
    qsort(bins, (size_t)used, sizeof(Bin), compare_bins);
    out = as_pair(bins, used);
done:
    PyMem_RawFree(slots);
    PyMem_RawFree(bins);
    PyBuffer_Release(&buf);
    return out;
}

/* ------------------------------------------------------------------ merging */

/* merge(values, counts, other_values, other_counts) -> (values, counts): two histograms
 * added together, in one walk over both. */
static PyObject *merge(PyObject *self, PyObject *args) {
    Py_buffer av, ac, bv, bc;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &av, &ac, &bv, &bc)) return NULL;
    PyObject *out = NULL;
    Bin *bins = NULL;
    Py_ssize_t na = av.len / 8, nb = bv.len / 8, i = 0, j = 0, n = 0;
    if (av.len % 8 || bv.len % 8 || ac.len != av.len || bc.len != bv.len) {
        PyErr_SetString(PyExc_ValueError, "merge: not two histograms");
        goto done;
    }
    bins = PyMem_RawMalloc((na + nb ? na + nb : 1) * sizeof(Bin));
    if (bins == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *a = av.buf, *an = ac.buf, *b = bv.buf, *bn = bc.buf;
    while (i < na || j < nb) {
        Bin x, y;
        int which;
        if (i < na) {
            memcpy(&x.value, a + i * 8, 8);
            memcpy(&x.n, an + i * 8, 8);
        }
        if (j < nb) {
            memcpy(&y.value, b + j * 8, 8);
            memcpy(&y.n, bn + j * 8, 8);
        }
        which = i == na ? 1 : j == nb ? -1 : order_of(x.value, y.value);
        if (which < 0) {
            bins[n++] = x;
            i++;
        } else if (which > 0) {
            bins[n++] = y;
            j++;
        } else {
            x.n += y.n;
            bins[n++] = x;
            i++;
            j++;
        }
    }
    out = as_pair(bins, n);
done:
    PyMem_RawFree(bins);
    PyBuffer_Release(&av);
    PyBuffer_Release(&ac);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&bc);
    return out;
}

/* ------------------------------------------------------------------- summing */

/* total(values, counts) -> float | None: the sum of value * count over a histogram,
 * exactly rounded (the answer math.fsum gives for the same products, in any order), or
 * None when a product or a partial sum is not finite: math.fsum then decides (inf, nan,
 * OverflowError). Shewchuk's method: the running sum is kept exactly as a few
 * non-overlapping partials, rounded once at the end, ties to even. */
#define MAX_PARTIALS 128 /* non-overlapping doubles: about 40 at most */

static PyObject *total(PyObject *self, PyObject *args) {
    Py_buffer vb, cb;
    if (!PyArg_ParseTuple(args, "y*y*", &vb, &cb)) return NULL;
    PyObject *out = NULL;
    double partials[MAX_PARTIALS];
    Py_ssize_t used = 0, n = vb.len / 8;
    if (vb.len % 8 || cb.len != vb.len) {
        PyErr_SetString(PyExc_ValueError, "total: not a histogram");
        goto done;
    }
    for (Py_ssize_t k = 0; k < n; k++) {
        double v, x;
        int64_t c;
        memcpy(&v, (const char *)vb.buf + k * 8, 8);
        memcpy(&c, (const char *)cb.buf + k * 8, 8);
        x = v * (double)c;
        if (!isfinite(x)) goto special;
        Py_ssize_t i = 0;
        for (Py_ssize_t j = 0; j < used; j++) {
            double y = partials[j], hi, lo;
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            hi = x + y;
            lo = y - (hi - x);
            if (lo != 0.0) partials[i++] = lo;
            x = hi;
        }
        if (!isfinite(x)) goto special;
        if (i >= MAX_PARTIALS) goto special;
        partials[i++] = x;
        used = i;
    }
    {
        double hi = 0.0, lo = 0.0;
        Py_ssize_t i = used;
        if (i > 0) {
            hi = partials[--i];
            while (i > 0) { /* add down from the largest until the sum stops being exact */
                double x = hi, y = partials[--i];
                hi = x + y;
                lo = y - (hi - x);
                if (lo != 0.0) break;
            }
            /* round half to even: a tie broken by the sign of what lies below */
            if (i > 0 && ((lo < 0.0 && partials[i - 1] < 0.0) || (lo > 0.0 && partials[i - 1] > 0.0))) {
                double y = lo * 2.0, x = hi + y;
                if (y == x - hi) hi = x;
            }
        }
        out = PyFloat_FromDouble(hi);
    }
    goto done;
special:
    out = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&vb);
    PyBuffer_Release(&cb);
    return out;
}

#endif /* BELLWATCH_SCAN_COUNT_H */
