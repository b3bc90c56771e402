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
 * Strictness errs towards handing back: a string escape in a value or key we read, a
 * surrogate escape anywhere, a number of more than 40 characters or with a 3-digit
 * exponent, nesting past 64 levels, a repeated key we read, or any syntax this parser
 * refuses all go to Python, which decides whether the line is an object at all. So a
 * line folded here is one orjson and msgspec read the same way (tests/test_sources_scan.py
 * compares both folds line by line, hostile corpus and hypothesis included).
 *
 * The key and event names come from bellwatch.schema through configure(): this file
 * holds no name of its own. No Python object is touched for a text line or a
 * non-request event; a request's method and path come from a small cache of strings.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { K_TS, K_LEVEL, K_EVENT, K_CID, K_METHOD, K_PATH, K_STATUS, K_DURATION, K_HASH, K_N,
       K_SID, NKEYS };
enum { E_REQUEST, E_SIGNATURE, E_HEALTH, NEVENTS };
enum { L_ERROR, L_CRITICAL, NLEVELS };

/* Kinds of a value we read. */
enum { V_ABSENT, V_STRING, V_INT, V_FLOAT, V_OTHER };

#define MAX_DEPTH 64
#define MAX_NUMBER 40

typedef struct {
    char *s;
    Py_ssize_t n;
} Name;

static Name keys[NKEYS], events[NEVENTS], levels[NLEVELS], twilio;
static int configured = 0;

typedef struct {
    int kind;
    int escaped;           /* a string with a backslash escape */
    const char *p;         /* the value's bytes (a string without its quotes) */
    Py_ssize_t n;
} Value;

/* ------------------------------------------------------------------ parsing */

typedef struct {
    const unsigned char *p, *end;
} Cur;

static inline void ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static inline int hexval(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Bytes a string may hold as they are: printable ASCII but a quote and a backslash. */
static unsigned char plain[256];

static void init_plain(void) {
    for (int ch = 0x20; ch < 0x80; ch++) plain[ch] = ch != '"' && ch != '\\';
}

/* Which of 8 bytes (little-endian order) are a quote, a backslash, a control or a
 * non-ASCII byte: the classic "has zero byte" and "has less than" bit tricks. A borrow
 * may flag a byte after a flagged one, never before: the lowest flag is exact. */
static inline uint64_t special8(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((x - ones * 0x20) & ~x) | x) & high;
}

static inline uint64_t load8(const unsigned char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* A string at c->p (its opening quote): strict UTF-8, no raw control character, valid
 * escapes, no surrogate escape (those go to Python: lone ones are refused there).
 * Returns 0 and sets v, or -1. */
static int string(Cur *c, Value *v) {
    const unsigned char *p = c->p + 1, *end = c->end;
    v->kind = V_STRING;
    v->escaped = 0;
    v->p = (const char *)p;
    for (;;) {
        /* to the next byte that is not plain: 8 at a time, then one by one near the end */
        while (end - p >= 8) {
            uint64_t found = special8(load8(p));
            if (found) {
                p += __builtin_ctzll(found) >> 3;
                break;
            }
            p += 8;
        }
        while (p < end && plain[*p]) p++;
        if (p >= end) return -1;
        unsigned char ch = *p;
        if (ch == '"') break;
        if (ch < 0x20) return -1;
        if (ch == '\\') {
            v->escaped = 1;
            if (p + 1 >= end) return -1;
            unsigned char e = p[1];
            if (e == 'u') {
                if (p + 6 > end) return -1;
                int h0 = hexval(p[2]), h1 = hexval(p[3]), h2 = hexval(p[4]), h3 = hexval(p[5]);
                if ((h0 | h1 | h2 | h3) < 0) return -1;
                int code = (h0 << 12) | (h1 << 8) | (h2 << 4) | h3;
                if (code >= 0xD800 && code <= 0xDFFF) return -1;
                p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                p += 2;
            } else {
                return -1;
            }
            continue;
        }
        /* UTF-8: the shortest form only, no surrogates, nothing past U+10FFFF */
        if (ch >= 0xC2 && ch <= 0xDF) {
            if (p + 2 > end || (p[1] & 0xC0) != 0x80) return -1;
            p += 2;
        } else if (ch >= 0xE0 && ch <= 0xEF) {
            if (p + 3 > end || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return -1;
            if (ch == 0xE0 && p[1] < 0xA0) return -1;
            if (ch == 0xED && p[1] > 0x9F) return -1;
            p += 3;
        } else if (ch >= 0xF0 && ch <= 0xF4) {
            if (p + 4 > end || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
                (p[3] & 0xC0) != 0x80)
                return -1;
            if (ch == 0xF0 && p[1] < 0x90) return -1;
            if (ch == 0xF4 && p[1] > 0x8F) return -1;
            p += 4;
        } else {
            return -1;
        }
    }
    v->n = (const char *)p - v->p;
    c->p = p + 1;
    return 0;
}

/* A number: RFC 8259's grammar, at most MAX_NUMBER characters and a 2-digit exponent,
 * so that every number accepted is finite and not rounded to zero from far away, as
 * orjson requires (longer ones go to Python). */
static int number(Cur *c, Value *v) {
    const unsigned char *p = c->p, *end = c->end, *start = c->p;
    int is_int = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return -1;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return -1;
    }
    if (p < end && *p == '.') {
        is_int = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return -1;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const unsigned char *digits = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == digits || p - digits > 2) return -1;
    }
    if (p - start > MAX_NUMBER) return -1;
    /* an integer must fit 64 bits as msgspec and orjson both read it: 18 digits do */
    if (is_int && p - start - (*start == '-') > 18) return -1;
    v->kind = is_int ? V_INT : V_FLOAT;
    v->escaped = 0;
    v->p = (const char *)start;
    v->n = p - start;
    c->p = p;
    return 0;
}

static int value(Cur *c, Value *v, int depth);

static int literal(Cur *c, const char *word, Py_ssize_t n) {
    if (c->end - c->p < n || memcmp(c->p, word, n) != 0) return -1;
    c->p += n;
    return 0;
}

/* A nested array or object: validated, not kept. */
static int container(Cur *c, int depth) {
    Value v;
    unsigned char close = *c->p == '{' ? '}' : ']';
    int object = close == '}';
    if (depth >= MAX_DEPTH) return -1;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (object) {
            if (c->p >= c->end || *c->p != '"' || string(c, &v) < 0) return -1;
            ws(c);
            if (c->p >= c->end || *c->p != ':') return -1;
            c->p++;
            ws(c);
        }
        if (value(c, &v, depth + 1) < 0) return -1;
        ws(c);
        if (c->p >= c->end) return -1;
        if (*c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (*c->p != close) return -1;
        c->p++;
        return 0;
    }
}

static int value(Cur *c, Value *v, int depth) {
    if (c->p >= c->end) return -1;
    switch (*c->p) {
    case '"':
        return string(c, v);
    case '{':
    case '[':
        v->kind = V_OTHER;
        return container(c, depth);
    case 't':
        v->kind = V_OTHER;
        return literal(c, "true", 4);
    case 'f':
        v->kind = V_OTHER;
        return literal(c, "false", 5);
    case 'n':
        v->kind = V_OTHER; /* null: handed back where we read it (see below) */
        return literal(c, "null", 4);
    default:
        return number(c, v);
    }
}

/* Names are short (keys of 1-8 bytes, event names of ~20): a byte loop the compiler
 * inlines beats a call to memcmp. */
static inline int same(const char *p, Py_ssize_t n, const Name *name) {
    if (n != name->n) return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] != name->s[i]) return 0;
    return 1;
}

/* The keys we read, by length (configure() fills it): a line's key is compared with
 * the one or two of its length only. */
#define MAX_KEY 32
static signed char by_length[MAX_KEY + 1][NKEYS + 1];

static void index_keys(void) {
    memset(by_length, -1, sizeof by_length);
    for (int i = 0; i < NKEYS; i++) {
        if (keys[i].n > MAX_KEY) continue; /* never met: key_index() hands such lines back */
        signed char *row = by_length[keys[i].n];
        while (*row >= 0) row++;
        *row = (signed char)i;
    }
}

static int key_index(const Value *k) {
    if (k->escaped) return -2; /* a key we might read, spelled with escapes */
    if (k->n > MAX_KEY) return -1;
    for (const signed char *row = by_length[k->n]; *row >= 0; row++)
        if (same(k->p, k->n, &keys[*row])) return *row;
    return -1;
}

/* The top-level object of a line [p, end): the values of the keys we read in got[].
 * Returns 0, or -1 to hand the line back. */
static int object(const unsigned char *p, const unsigned char *end, Value *got) {
    Cur c = {p + 1, end};
    Value k, v;
    for (int i = 0; i < NKEYS; i++) got[i].kind = V_ABSENT;
    ws(&c);
    if (c.p < c.end && *c.p == '}') {
        c.p++;
    } else {
        for (;;) {
            if (c.p >= c.end || *c.p != '"' || string(&c, &k) < 0) return -1;
            int at = key_index(&k);
            if (at == -2) return -1;
            ws(&c);
            if (c.p >= c.end || *c.p != ':') return -1;
            c.p++;
            ws(&c);
            if (value(&c, &v, 1) < 0) return -1;
            if (at >= 0) {
                if (got[at].kind != V_ABSENT) return -1; /* a repeated key: the last wins */
                got[at] = v;
            }
            ws(&c);
            if (c.p >= c.end) return -1;
            if (*c.p == ',') {
                c.p++;
                ws(&c);
                continue;
            }
            if (*c.p != '}') return -1;
            c.p++;
            break;
        }
    }
    ws(&c);
    return c.p == c.end ? 0 : -1;
}

static long long integer(const Value *v) {
    const char *p = v->p, *end = v->p + v->n;
    int negative = *p == '-';
    long long n = 0;
    if (negative) p++;
    for (; p < end; p++) n = n * 10 + (*p - '0');
    return negative ? -n : n;
}

/* A number's double, where one IEEE operation gives it exactly rounded (Clinger's fast
 * path: at most 15 significant digits, so the digits are an exact double, and a power of
 * ten up to 1e22, also exact): a duration such as 0.0356 is 356 / 1e4. Else 0, and
 * Python's own correctly rounded strtod reads it. */
static int exact(const Value *v, double *out) {
    static const double tens[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                  1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *p = v->p, *end = v->p + v->n;
    int negative = *p == '-', digits = 0, scale = 0;
    unsigned long long m = 0;
    if (negative) p++;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits += m != 0) m = m * 10 + (*p - '0');
    if (p < end && *p == '.')
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, scale--, digits += m != 0)
            m = m * 10 + (*p - '0');
    if (p < end) return 0; /* an exponent: rare in a duration */
    if (digits > 15 || scale < -22) return 0;
    double d = (double)m;
    d = scale ? d / tens[-scale] : d;
    *out = negative ? -d : d;
    return 1;
}

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
    {"add", add, METH_VARARGS,
     "add(into, other): add the counts of histogram other into histogram into."},
    {"count", count, METH_VARARGS,
     "count(durations) -> dict: the histogram of packed doubles (as collections.Counter)."},
    {"fold", fold, METH_VARARGS,
     "fold(data, pos, state, durations, counts, ep, slow, floor, webhook) -> int: fold "
     "the lines of data from pos; returns where a line to hand back starts, or len(data)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "The reports' cold fold in C (see _scan.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__scan(void) {
    init_plain();
    return PyModule_Create(&module);
}
