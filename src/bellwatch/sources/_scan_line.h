/* One line of a log, parsed for the C scanner (_scan.c): strict RFC 8259, the values of the
 * keys the fold reads, and numbers as the Python fold reads them. Included by _scan.c only. */
#ifndef BELLWATCH_SCAN_LINE_H
#define BELLWATCH_SCAN_LINE_H


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


#endif /* BELLWATCH_SCAN_LINE_H */
