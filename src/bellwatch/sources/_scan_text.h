/* Interned method and route strings for the C scanner (_scan.c). Included by _scan.c only. */
#ifndef BELLWATCH_SCAN_TEXT_H
#define BELLWATCH_SCAN_TEXT_H

/* --------------------------------------------------------- interned strings */

/* Method and route strings met before, by their bytes: a dict lookup with a string
 * whose hash is already known, and no new object per line. Bounded; past it, a new
 * string each time. */
#define SLOTS 4096
#define MAX_HELD 2048

typedef struct {
    char *s;
    Py_ssize_t n;
    PyObject *str;
} Held;

static Held held[SLOTS];
static int n_held = 0;

static PyObject *text(const char *s, Py_ssize_t n) {
    /* the hash of the length and the first and last 8 bytes: routes differ there */
    uint64_t head = 0, tail = 0;
    memcpy(&head, s, n < 8 ? n : 8);
    if (n > 8) memcpy(&tail, s + n - 8, 8);
    uint64_t h = ((head * 0x9E3779B97F4A7C15ULL) ^ tail ^ (uint64_t)n) * 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 29;
    for (size_t i = h % SLOTS;; i = (i + 1) % SLOTS) {
        Held *slot = &held[i];
        if (slot->str == NULL) {
            PyObject *str = PyUnicode_DecodeUTF8(s, n, "strict");
            if (str == NULL || n_held >= MAX_HELD) return str;
            slot->s = PyMem_RawMalloc(n ? n : 1);
            if (slot->s == NULL) return str;
            memcpy(slot->s, s, n);
            slot->n = n;
            Py_INCREF(str);
            slot->str = str;
            n_held++;
            return str;
        }
        if (slot->n == n && memcmp(slot->s, s, n) == 0) {
            Py_INCREF(slot->str);
            return slot->str;
        }
    }
}


#endif /* BELLWATCH_SCAN_TEXT_H */
