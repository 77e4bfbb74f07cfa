/*
 * jdiff.c - structural comparison of two JSON tapes (see jdiff_int.h and README.md).
 *
 * One recursive walk, cmp(), both decides equality and records differences. In probe mode
 * (used to match array elements) it stops at the first difference and records nothing.
 * Differences are counted in ndiff; when a tentative comparison must be undone (elements that
 * turn out to be a reordering, a member shadowed by a duplicate key) the counters and buffers
 * are rolled back to a snapshot. Paths are rendered only when a delta is recorded, from a
 * stack of frames (key node or index per level). Recursion depth is bounded by max_depth.
 */
#include "shadowdiff/jdiff.h"

#include <math.h>
#include <string.h>

#include "jdiff_int.h"

#define NONE UINT32_MAX
#define SHADOWED (UINT32_MAX - 1)
#define NOVAL SIZE_MAX
#define MAX_PATTERNS 64
#define SCRATCH_UNITS 8192 /* 64 KiB blocks */

/* ---- types ---------------------------------------------------------------------------- */

/* One step of a pattern: a member name (raw JSON string content in names) or a wildcard. */
struct seg {
    uint32_t off, len;
    uint8_t any, esc;
};

struct pat {
    uint32_t first, nseg; /* segs[first .. first + nseg) */
};

/* Patterns (bit i of ign: ignore pattern i) whose leading segments match the path so far. */
struct pst {
    uint64_t ign, uno;
};

/* How the path steps from a parent to the node at this depth. */
struct frame {
    uint32_t v;    /* key node, or array index */
    uint8_t side;  /* tape of the key node: 0 primary, 1 candidate */
    uint8_t index; /* v is an array index */
};

/* A recorded delta while running: offsets into text (NOVAL for none). */
struct rec {
    enum sdiff_delta_kind kind;
    size_t path, left, right;
};

struct snap {
    size_t ndiff, nrec, text_len;
};

/* Scratch: a stack of blocks that never move, so pointers stay valid until released. */
struct blk {
    struct blk *next;
    size_t cap, used; /* in 8-byte units */
    uint64_t data[];
};

struct mark {
    struct blk *b;
    size_t used;
};

/* Object member key sorted for matching. */
struct kent {
    uint64_t pre; /* first 8 bytes of the decoded key, big-endian */
    uint32_t node;
    uint32_t pos;
};

/* Array element by hash. */
struct hent {
    uint64_t h;
    uint32_t i;
    uint32_t pad;
};

/* Objects up to this many members match keys through a signature table instead of sorting. */
#define SMALL_OBJECT 32

/* A key's raw spelling: length and first 16 bytes, zero-padded (in memory order). */
struct spell {
    uint64_t w0, w1;
    uint32_t len;
    uint32_t zero; /* no padding: spellings compare with memcmp */
};

/*
 * A small pair of objects matched by key. Objects in a list repeat their layout (Flask sorts
 * keys, Go keeps struct order), so the next pair usually has the same keys at the same
 * positions and can reuse the outcome.
 */
struct layout {
    int valid;
    uint32_t na, nb;
    struct spell sa[SMALL_OBJECT], sb[SMALL_OBJECT]; /* the keys it was made from ... */
    uint32_t ka[SMALL_OBJECT], kb[SMALL_OBJECT];     /* ... and their nodes (longer keys) */
    uint32_t apos[SMALL_OBJECT], bpos[SMALL_OBJECT]; /* matched position, NONE, SHADOWED */
    int long_keys;                                   /* some key is over 16 bytes */
    unsigned reasons;                                /* seen while matching that pair */
};

#define LAYOUT_DEPTHS 8 /* layouts are remembered per nesting depth (mod this) ... */
#define LAYOUT_WAYS 2   /* ... the most recent ones */

struct sdiff_jdiff {
    struct sdiff_jdiff_opts o;
    struct layout layouts[LAYOUT_DEPTHS][LAYOUT_WAYS];
    uint8_t layout_victim[LAYOUT_DEPTHS]; /* way to replace next */
    int tol;
    struct sdiff__jtape t[2];
    struct pat pats[2 * MAX_PATTERNS]; /* nign ignore patterns, then nuno unordered ones */
    size_t nign, nuno;
    struct sdiff_buf segs;  /* struct seg[] */
    struct sdiff_buf names; /* raw names of the segments */
    struct frame *frames;   /* max_depth + 2 */
    struct blk *blocks, *cur;
    struct sdiff_buf recs; /* struct rec[] */
    struct sdiff_buf text; /* NUL-separated paths and values */
    /* state of one run */
    size_t ndiff, nrec;
    unsigned reasons;
    int probe;
    int rc;
};

static void cmp(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st, int uno,
                unsigned depth);

/* ---- scratch -------------------------------------------------------------------------- */

static struct mark scr_mark(const struct sdiff_jdiff *jd)
{
    struct mark m = {jd->cur, jd->cur ? jd->cur->used : 0};
    return m;
}

static void scr_release(struct sdiff_jdiff *jd, struct mark m)
{
    jd->cur = m.b;
    if (m.b != NULL)
        m.b->used = m.used;
}

/* Room for n elements of size sz, 8-byte aligned; NULL (and jd->rc set) when out of memory. */
static void *scr_alloc(struct sdiff_jdiff *jd, size_t n, size_t sz)
{
    if (n == 0)
        n = 1;
    if (n > (SIZE_MAX / 2) / sz) {
        jd->rc = SDIFF_ENOMEM;
        return NULL;
    }
    size_t units = (n * sz + 7) / 8;
    struct blk *b = jd->cur;
    if (b != NULL && b->cap - b->used >= units) {
        void *p = b->data + b->used;
        b->used += units;
        return p;
    }
    struct blk *nx = b ? b->next : jd->blocks;
    if (nx == NULL || nx->cap < units) {
        size_t cap = units > SCRATCH_UNITS ? units : SCRATCH_UNITS;
        struct blk *nb = sdiff_malloc(sizeof *nb + cap * 8);
        if (nb == NULL) {
            jd->rc = SDIFF_ENOMEM;
            return NULL;
        }
        nb->cap = cap;
        nb->next = nx; /* a block too small stays in the chain for later */
        if (b != NULL)
            b->next = nb;
        else
            jd->blocks = nb;
        nx = nb;
    }
    nx->used = units;
    jd->cur = nx;
    return nx->data;
}

/* ---- small helpers -------------------------------------------------------------------- */

static inline uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline int is_digit(uint8_t c)
{
    return (unsigned)(c - '0') < 10;
}

static inline const uint8_t *src(const struct sdiff_jdiff *jd, int side,
                                 const struct sdiff__jnode *n)
{
    return jd->t[side].src + n->off;
}

static inline int has_esc(const struct sdiff__jnode *n)
{
    return (n->info & SDIFF__JF_ESC) != 0;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/*
 * memcmp(p, q, n) == 0 without a call for the short values that dominate JSON: two
 * overlapping loads cover 4..16 bytes, all within [p, p + n).
 */
static inline int bytes_eq(const uint8_t *p, const uint8_t *q, size_t n)
{
    if (n >= 8) {
        if (n > 16)
            return memcmp(p, q, n) == 0;
        return load64(p) == load64(q) && load64(p + n - 8) == load64(q + n - 8);
    }
    if (n >= 4)
        return load32(p) == load32(q) && load32(p + n - 4) == load32(q + n - 4);
    return n == 0 || (p[0] == q[0] && p[n / 2] == q[n / 2] && p[n - 1] == q[n - 1]);
}

/* Same bytes, same kind: equal without looking further. */
static inline int raw_same(const struct sdiff_jdiff *jd, uint32_t a, uint32_t b)
{
    const struct sdiff__jnode *x = &jd->t[0].n[a], *y = &jd->t[1].n[b];
    return x->info == y->info && x->len == y->len && bytes_eq(src(jd, 0, x), src(jd, 1, y), x->len);
}

static inline uint32_t nchildren(const struct sdiff__jtape *t, uint32_t i)
{
    return sdiff__jcount(t->n, i);
}

static void snapshot(const struct sdiff_jdiff *jd, struct snap *s)
{
    s->ndiff = jd->ndiff;
    s->nrec = jd->nrec;
    s->text_len = jd->text.len;
}

static void rollback(struct sdiff_jdiff *jd, const struct snap *s)
{
    jd->ndiff = s->ndiff;
    jd->nrec = s->nrec;
    jd->recs.len = s->nrec * sizeof(struct rec);
    jd->text.len = s->text_len;
}

/* ---- strings -------------------------------------------------------------------------- */

/* Compare raw string contents by code point: <0, 0, >0. */
static int raw_cmp(const uint8_t *p, uint32_t n, int pesc, const uint8_t *q, uint32_t m, int qesc)
{
    if (!pesc && !qesc) {
        /* UTF-8 byte order is code point order */
        int r = n && m ? memcmp(p, q, n < m ? n : m) : 0;
        if (r != 0)
            return r;
        return n < m ? -1 : n > m;
    }
    struct sdiff__jdec x = {p, p + n}, y = {q, q + m};
    while (x.p < x.end && y.p < y.end) {
        uint32_t a = sdiff__jdec_next(&x), b = sdiff__jdec_next(&y);
        if (a != b)
            return a < b ? -1 : 1;
    }
    return x.p < x.end ? 1 : y.p < y.end ? -1 : 0;
}

static int raw_eq(const uint8_t *p, uint32_t n, int pesc, const uint8_t *q, uint32_t m, int qesc)
{
    if (n == m && (n == 0 || memcmp(p, q, n) == 0))
        return 1;
    if (!pesc && !qesc)
        return 0;
    return raw_cmp(p, n, pesc, q, m, qesc) == 0;
}

/*
 * Equality of raw contents where at least one holds escapes. Identical bytes other than '\'
 * are skipped in step: both sides have the same history, so they stay at the same place in a
 * UTF-8 sequence; only where a side starts an escape are code points decoded.
 */
static int esc_eq(const uint8_t *p, uint32_t n, const uint8_t *q, uint32_t m)
{
    const uint8_t *pe = p + n, *qe = q + m;
    const uint64_t ones = 0x0101010101010101ull;
    while (p < pe && q < qe) {
        if (pe - p >= 8 && qe - q >= 8) {
            uint64_t x = load64(p), z = x ^ (ones * '\\');
            /* bits in the bytes that differ, and the top bit of the first backslash */
            uint64_t stop = (x ^ load64(q)) | ((z - ones) & ~z & (ones << 7));
            if (stop == 0) {
                p += 8; /* eight equal bytes, none a backslash */
                q += 8;
                continue;
            }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            size_t k = (size_t)__builtin_ctzll(stop) / 8; /* equal bytes before the event */
            p += k;
            q += k;
#endif
        }
        if (*p == *q && *p != '\\') {
            p++;
            q++;
            continue;
        }
        if (*p != '\\' && *q != '\\')
            return 0; /* different characters (or bytes within one) */
        struct sdiff__jdec x = {p, pe}, y = {q, qe};
        if (sdiff__jdec_next(&x) != sdiff__jdec_next(&y))
            return 0;
        p = x.p;
        q = y.p;
    }
    return p == pe && q == qe;
}

/* Strings or keys of the two documents, by meaning. */
static int str_eq(struct sdiff_jdiff *jd, const struct sdiff__jnode *x,
                  const struct sdiff__jnode *y)
{
    const uint8_t *p = src(jd, 0, x), *q = src(jd, 1, y);
    if (x->len == y->len && memcmp(p, q, x->len) == 0)
        return 1;
    if (!has_esc(x) && !has_esc(y))
        return 0;
    if (!esc_eq(p, x->len, q, y->len))
        return 0;
    jd->reasons |= SDIFF_JDIFF_STRING_ESCAPES;
    return 1;
}

/*
 * Two strings spelling one instant (the python-go preset): RFC 3339 date-times, both with an
 * offset, the same second and the same fractional digits once trailing zeros are dropped.
 * Escaped strings are left alone: no serialiser escapes a timestamp.
 */
static int time_eq(struct sdiff_jdiff *jd, const struct sdiff__jnode *x,
                   const struct sdiff__jnode *y)
{
    struct sdiff_time a, b;
    if (has_esc(x) || has_esc(y) ||
        !sdiff_time_parse((const char *)src(jd, 0, x), x->len, &a) ||
        !sdiff_time_parse((const char *)src(jd, 1, y), y->len, &b))
        return 0;
    if (!a.has_offset || !b.has_offset || a.secs != b.secs || strcmp(a.frac, b.frac) != 0)
        return 0;
    jd->reasons |= SDIFF_JDIFF_TIME_SPELLING;
    return 1;
}

/* Keys of any two tapes, by meaning. */
static int key_eq(const struct sdiff_jdiff *jd, int sx, uint32_t kx, int sy, uint32_t ky)
{
    const struct sdiff__jnode *x = &jd->t[sx].n[kx], *y = &jd->t[sy].n[ky];
    const uint8_t *p = src(jd, sx, x), *q = src(jd, sy, y);
    if (x->len == y->len && memcmp(p, q, x->len) == 0)
        return 1;
    return (has_esc(x) || has_esc(y)) && esc_eq(p, x->len, q, y->len);
}

/* key_eq for keys whose signatures (first 8 decoded bytes) are known to be equal. */
static inline int key_eq_sig(const struct sdiff_jdiff *jd, int sx, uint32_t kx, int sy, uint32_t ky)
{
    const struct sdiff__jnode *x = &jd->t[sx].n[kx], *y = &jd->t[sy].n[ky];
    if (!has_esc(x) && !has_esc(y))
        return x->len == y->len &&
               (x->len <= 8 || memcmp(src(jd, sx, x) + 8, src(jd, sy, y) + 8, x->len - 8) == 0);
    return key_eq(jd, sx, kx, sy, ky);
}

static uint64_t str_hash(const uint8_t *p, uint32_t n, int esc)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (!esc) {
        for (uint32_t i = 0; i < n; i++)
            h = (h ^ p[i]) * 0x100000001b3ull;
        return h;
    }
    struct sdiff__jdec d = {p, p + n};
    while (d.p < d.end) {
        uint8_t u[4];
        size_t k = sdiff__utf8_put(u, sdiff__jdec_next(&d));
        for (size_t i = 0; i < k; i++)
            h = (h ^ u[i]) * 0x100000001b3ull;
    }
    return h;
}

/* First 8 bytes of the decoded key, big-endian, zero-padded: orders like the key. */
static uint64_t key_prefix(const uint8_t *p, uint32_t n, int esc)
{
    uint8_t b[8] = {0};
    size_t k = 0;
    if (!esc) {
        k = n < 8 ? n : 8;
        memcpy(b, p, k);
    } else {
        struct sdiff__jdec d = {p, p + n};
        while (d.p < d.end && k < 8) {
            uint8_t u[4];
            size_t m = sdiff__utf8_put(u, sdiff__jdec_next(&d));
            for (size_t i = 0; i < m && k < 8; i++)
                b[k++] = u[i];
        }
    }
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/*
 * First 8 bytes of the decoded key, zero-padded, in memory order: equal keys have equal
 * signatures. Unescaped keys load them straight from the input when it has 8 bytes there.
 */
static inline uint64_t key_sig(const struct sdiff__jtape *t, const struct sdiff__jnode *k)
{
    uint64_t v = 0;
    if (!has_esc(k) && k->off + (uint64_t)8 <= t->src_len) {
        memcpy(&v, t->src + k->off, 8);
        if (k->len < 8) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            v &= k->len ? ~0ull << (8 * (8 - k->len)) : 0;
#else
            v &= (1ull << (8 * k->len)) - 1;
#endif
        }
        return v;
    }
    uint8_t b[8] = {0};
    size_t n = 0;
    struct sdiff__jdec d = {t->src + k->off, t->src + k->off + k->len};
    while (d.p < d.end && n < 8) {
        uint8_t u[4];
        size_t m = has_esc(k) ? sdiff__utf8_put(u, sdiff__jdec_next(&d)) : 1;
        if (!has_esc(k))
            u[0] = *d.p++;
        for (size_t i = 0; i < m && n < 8; i++)
            b[n++] = u[i];
    }
    memcpy(&v, b, 8);
    return v;
}

/* ---- numbers -------------------------------------------------------------------------- */

/*
 * A number lexeme split into digits and exponent. Its value is the significant digits
 * (virtual digit string int+frac from lead to trail) times 10^(exp + adj).
 */
struct num {
    const uint8_t *ip, *fp, *ep;
    uint32_t ni, nf, ne; /* integer, fraction, exponent digits (exponent without leading 0s) */
    int neg, eneg, zero;
    int64_t exp; /* valid when ne <= 18 */
    int64_t adj;
    uint32_t lead, trail;
};

static inline uint8_t ndig(const struct num *x, uint32_t i)
{
    return i < x->ni ? x->ip[i] : x->fp[i - x->ni];
}

static void num_parse(const uint8_t *p, uint32_t len, struct num *x)
{
    const uint8_t *end = p + len;
    memset(x, 0, sizeof *x);
    x->neg = *p == '-';
    p += x->neg;
    x->ip = p;
    while (p < end && is_digit(*p))
        p++;
    x->ni = (uint32_t)(p - x->ip);
    x->fp = p;
    if (p < end && *p == '.') {
        x->fp = ++p;
        while (p < end && is_digit(*p))
            p++;
        x->nf = (uint32_t)(p - x->fp);
    }
    if (p < end) {
        p++; /* e or E */
        if (*p == '+' || *p == '-')
            x->eneg = *p++ == '-';
        while (p < end && *p == '0')
            p++;
        x->ep = p;
        x->ne = (uint32_t)(end - p);
        for (uint32_t i = 0; i < x->ne && i < 18; i++)
            x->exp = x->exp * 10 + (p[i] - '0');
        if (x->eneg)
            x->exp = -x->exp;
    }
    uint32_t n = x->ni + x->nf;
    while (x->lead < n && ndig(x, x->lead) == '0')
        x->lead++;
    if (x->lead == n) {
        x->zero = 1;
        return;
    }
    x->trail = n - 1;
    while (ndig(x, x->trail) == '0')
        x->trail--;
    x->adj = (int64_t)(n - 1 - x->trail) - (int64_t)x->nf;
}

static int num_exact_eq(const struct num *x, const struct num *y)
{
    if (x->zero || y->zero)
        return x->zero && y->zero;
    uint32_t cx = x->trail - x->lead, cy = y->trail - y->lead;
    if (x->neg != y->neg || cx != cy)
        return 0;
    if (x->ne > 18 || y->ne > 18) {
        /* beyond int64: equal exponents spelled alike only */
        if (x->ne != y->ne || x->eneg != y->eneg || x->adj != y->adj ||
            memcmp(x->ep, y->ep, x->ne) != 0)
            return 0;
    } else if (x->exp + x->adj != y->exp + y->adj) {
        return 0;
    }
    for (uint32_t i = 0; i <= cx; i++)
        if (ndig(x, x->lead + i) != ndig(y, y->lead + i))
            return 0;
    return 1;
}

static uint64_t num_hash(const struct num *x)
{
    if (x->zero)
        return mix(0x7a65726f);
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = x->lead; i <= x->trail; i++)
        h = (h ^ ndig(x, i)) * 0x100000001b3ull;
    if (x->ne > 18) {
        for (uint32_t i = 0; i < x->ne; i++)
            h = (h ^ x->ep[i]) * 0x100000001b3ull;
        h ^= mix((uint64_t)x->adj + (uint64_t)x->eneg);
    } else {
        h ^= mix((uint64_t)(x->exp + x->adj));
    }
    return mix(h + (uint64_t)x->neg);
}

static double pow10i(int64_t e)
{
    double r = 1.0, b = 10.0;
    int neg = e < 0;
    uint64_t u = neg ? (uint64_t)(-(e + 1)) + 1 : (uint64_t)e;
    if (u > 700)
        return neg ? 0.0 : HUGE_VAL;
    while (u) {
        if (u & 1)
            r *= b;
        b *= b;
        u >>= 1;
    }
    return neg ? 1.0 / r : r;
}

/* Approximate value (19 significant digits are plenty for a tolerance check). */
static double num_double(const struct num *x)
{
    if (x->zero)
        return 0.0;
    uint32_t cnt = x->trail - x->lead + 1, k = cnt < 19 ? cnt : 19;
    uint64_t m = 0;
    for (uint32_t i = 0; i < k; i++)
        m = m * 10 + (uint64_t)(ndig(x, x->lead + i) - '0');
    int64_t e;
    if (x->ne > 18)
        e = x->eneg ? -100000 : 100000;
    else
        e = x->exp + x->adj + (int64_t)(cnt - k);
    double v;
    if (e >= 0)
        v = (double)m * pow10i(e);
    else /* split so that tiny values do not underflow early */
        v = (double)m * pow10i(e / 2) * pow10i(e - e / 2);
    return x->neg ? -v : v;
}

static int within_tol(const struct sdiff_jdiff *jd, double x, double y)
{
    double d = x > y ? x - y : y - x;
    if (d != d) /* inf - inf */
        return 0;
    double ax = x < 0 ? -x : x, ay = y < 0 ? -y : y;
    return d <= jd->o.abs_tol || d <= jd->o.rel_tol * (ax > ay ? ax : ay);
}

static int num_eq(struct sdiff_jdiff *jd, const struct sdiff__jnode *a,
                  const struct sdiff__jnode *b)
{
    struct num x, y;
    num_parse(src(jd, 0, a), a->len, &x);
    num_parse(src(jd, 1, b), b->len, &y);
    if (num_exact_eq(&x, &y)) {
        jd->reasons |= SDIFF_JDIFF_NUMBER_SPELLING;
        return 1;
    }
    if (jd->tol && within_tol(jd, num_double(&x), num_double(&y))) {
        jd->reasons |= SDIFF_JDIFF_TOLERANCE;
        return 1;
    }
    return 0;
}

/* ---- patterns ------------------------------------------------------------------------- */

static inline const struct seg *seg_at(const struct sdiff_jdiff *jd, uint32_t i)
{
    return (const struct seg *)(const void *)jd->segs.data + i;
}

/*
 * The state of a child (member with key node `key` of tape `side`, or an element when key is
 * NONE) of a node in state st at depth `depth`. Returns 1 when the child is ignored.
 */
static int child_enter_slow(const struct sdiff_jdiff *jd, const struct pst *st, unsigned depth,
                            int side, uint32_t key, struct pst *out, int *uno)
{
    for (int list = 0; list < 2; list++) {
        uint64_t m = list ? st->uno : st->ign;
        while (m) {
            unsigned i = (unsigned)__builtin_ctzll(m);
            m &= m - 1;
            const struct pat *p = &jd->pats[list ? jd->nign + i : i];
            const struct seg *s = seg_at(jd, p->first + depth);
            if (!s->any) {
                if (key == NONE)
                    continue;
                const struct sdiff__jnode *k = &jd->t[side].n[key];
                if (!raw_eq(jd->names.data + s->off, s->len, s->esc, src(jd, side, k), k->len,
                            has_esc(k)))
                    continue;
            }
            if (p->nseg > depth + 1) {
                if (list)
                    out->uno |= 1ull << i;
                else
                    out->ign |= 1ull << i;
            } else if (list) {
                *uno = 1;
            } else {
                return 1;
            }
        }
    }
    return 0;
}

static inline int child_enter(const struct sdiff_jdiff *jd, const struct pst *st, unsigned depth,
                              int side, uint32_t key, struct pst *out, int *uno)
{
    out->ign = 0;
    out->uno = 0;
    *uno = 0;
    if ((st->ign | st->uno) == 0)
        return 0;
    return child_enter_slow(jd, st, depth, side, key, out, uno);
}

/* ---- sorting -------------------------------------------------------------------------- */

static int kent_cmp(const struct sdiff_jdiff *jd, int sx, const struct kent *x, int sy,
                    const struct kent *y)
{
    if (x->pre != y->pre)
        return x->pre < y->pre ? -1 : 1;
    const struct sdiff__jnode *a = &jd->t[sx].n[x->node], *b = &jd->t[sy].n[y->node];
    return raw_cmp(src(jd, sx, a), a->len, has_esc(a), src(jd, sy, b), b->len, has_esc(b));
}

static inline int kent_less(const struct sdiff_jdiff *jd, int side, const struct kent *x,
                            const struct kent *y)
{
    int c = kent_cmp(jd, side, x, side, y);
    return c < 0 || (c == 0 && x->pos < y->pos);
}

static inline int hent_less(const struct sdiff_jdiff *jd, int side, const struct hent *x,
                            const struct hent *y)
{
    (void)jd;
    (void)side;
    return x->h < y->h || (x->h == y->h && x->i < y->i);
}

/* Insertion sort of runs of 16, then bottom-up merging through tmp (n elements). */
#define DEFINE_SORT(name, T, LESS)                                                                 \
    static void name(const struct sdiff_jdiff *jd, int side, T *v, size_t n, T *tmp)               \
    {                                                                                              \
        for (size_t lo = 0; lo < n; lo += 16) {                                                    \
            size_t hi = lo + 16 < n ? lo + 16 : n;                                                 \
            for (size_t i = lo + 1; i < hi; i++) {                                                 \
                T x = v[i];                                                                        \
                size_t j = i;                                                                      \
                while (j > lo && LESS(jd, side, &x, &v[j - 1])) {                                  \
                    v[j] = v[j - 1];                                                               \
                    j--;                                                                           \
                }                                                                                  \
                v[j] = x;                                                                          \
            }                                                                                      \
        }                                                                                          \
        T *from = v, *to = tmp;                                                                    \
        for (size_t w = 16; w < n; w *= 2) {                                                       \
            for (size_t lo = 0; lo < n; lo += 2 * w) {                                             \
                size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;        \
                size_t i = lo, j = mid, k = lo;                                                    \
                while (i < mid && j < hi)                                                          \
                    to[k++] = LESS(jd, side, &from[j], &from[i]) ? from[j++] : from[i++];          \
                while (i < mid)                                                                    \
                    to[k++] = from[i++];                                                           \
                while (j < hi)                                                                     \
                    to[k++] = from[j++];                                                           \
            }                                                                                      \
            T *swap = from;                                                                        \
            from = to;                                                                             \
            to = swap;                                                                             \
        }                                                                                          \
        if (from != v)                                                                             \
            memcpy(v, from, n * sizeof *v);                                                        \
    }

DEFINE_SORT(sort_kents, struct kent, kent_less)
DEFINE_SORT(sort_hents, struct hent, hent_less)

/* Member keys of object obj sorted by key, then position; NULL when out of memory. */
static struct kent *sorted_keys(struct sdiff_jdiff *jd, int side, uint32_t obj, size_t *count)
{
    const struct sdiff__jtape *t = &jd->t[side];
    size_t n = nchildren(t, obj);
    struct kent *e = scr_alloc(jd, n, sizeof *e);
    if (e == NULL)
        return NULL;
    uint32_t end = obj + t->n[obj].size, pos = 0;
    for (uint32_t k = obj + 1; k < end; k += 1 + t->n[k + 1].size, pos++) {
        const struct sdiff__jnode *kn = &t->n[k];
        e[pos].pre = key_prefix(src(jd, side, kn), kn->len, has_esc(kn));
        e[pos].node = k;
        e[pos].pos = pos;
    }
    if (n > 16) {
        struct mark m = scr_mark(jd);
        struct kent *tmp = scr_alloc(jd, n, sizeof *tmp);
        if (tmp == NULL)
            return NULL;
        sort_kents(jd, side, e, n, tmp);
        scr_release(jd, m);
    } else {
        sort_kents(jd, side, e, n, NULL);
    }
    *count = n;
    return e;
}

static int has_dup_keys(struct sdiff_jdiff *jd, int side, uint32_t obj)
{
    struct mark m = scr_mark(jd);
    size_t n = 0;
    int dup = 0;
    struct kent *e = sorted_keys(jd, side, obj, &n);
    for (size_t i = 1; e != NULL && i < n && !dup; i++)
        dup = kent_cmp(jd, side, &e[i - 1], side, &e[i]) == 0;
    scr_release(jd, m);
    return dup;
}

/* ---- hashing (consistent with cmp's equality) ----------------------------------------- */

enum { H_NULL = 1, H_FALSE, H_TRUE, H_NUMBER, H_STRING, H_ARRAY, H_OBJECT };

static uint64_t hash_node(struct sdiff_jdiff *jd, int side, uint32_t i, const struct pst *st,
                          int uno, unsigned depth)
{
    const struct sdiff__jtape *t = &jd->t[side];
    const struct sdiff__jnode *n = &t->n[i];
    struct pst cst;
    int cuno;
    switch (sdiff__jkind(n)) {
    case SDIFF__J_NULL: return mix(H_NULL);
    case SDIFF__J_FALSE: return mix(H_FALSE);
    case SDIFF__J_TRUE: return mix(H_TRUE);
    case SDIFF__J_NUMBER: {
        if (jd->tol) /* equal within a tolerance is not transitive: one bucket for all */
            return mix(H_NUMBER);
        struct num x;
        num_parse(src(jd, side, n), n->len, &x);
        return mix(num_hash(&x) ^ H_NUMBER);
    }
    case SDIFF__J_STRING: return mix(str_hash(src(jd, side, n), n->len, has_esc(n)) ^ H_STRING);
    case SDIFF__J_ARRAY: {
        uint64_t h = mix(H_ARRAY);
        if (child_enter(jd, st, depth, side, NONE, &cst, &cuno))
            return h;
        uint32_t end = i + n->size;
        for (uint32_t c = i + 1; c < end && jd->rc >= 0; c += t->n[c].size) {
            uint64_t x = hash_node(jd, side, c, &cst, cuno, depth + 1);
            h = uno ? h + mix(x) : mix(h ^ x) + 0x9e3779b97f4a7c15ull;
        }
        return h;
    }
    case SDIFF__J_OBJECT: {
        uint64_t h = mix(H_OBJECT);
        struct mark m = scr_mark(jd);
        size_t cnt = 0;
        struct kent *e = sorted_keys(jd, side, i, &cnt);
        for (size_t k = 0; e != NULL && k < cnt && jd->rc >= 0; k++) {
            if (k + 1 < cnt && kent_cmp(jd, side, &e[k], side, &e[k + 1]) == 0)
                continue; /* a later duplicate wins */
            const struct sdiff__jnode *kn = &t->n[e[k].node];
            if (child_enter(jd, st, depth, side, e[k].node, &cst, &cuno))
                continue;
            uint64_t kh = str_hash(src(jd, side, kn), kn->len, has_esc(kn));
            uint64_t vh = hash_node(jd, side, e[k].node + 1, &cst, cuno, depth + 1);
            h = mix(h ^ kh) + vh;
        }
        scr_release(jd, m);
        return h;
    }
    default: return 0;
    }
}

/* ---- rendering ------------------------------------------------------------------------ */

/* Compact JSON of node i, stopping soon after buf passes `stop` bytes. */
static int compact(struct sdiff_buf *b, const struct sdiff__jtape *t, uint32_t i, size_t stop)
{
    const struct sdiff__jnode *n = &t->n[i];
    unsigned kind = sdiff__jkind(n);
    if (b->len > stop)
        return SDIFF_OK;
    size_t room = stop + 1 - b->len;
    int rc;
    if (kind == SDIFF__J_STRING || kind == SDIFF__J_KEY) {
        rc = sdiff_buf_append(b, "\"", 1);
        if (rc >= 0)
            rc = sdiff_buf_append(b, t->src + n->off, n->len < room ? n->len : room);
        if (rc >= 0 && n->len < room)
            rc = sdiff_buf_append(b, "\"", 1);
        return rc;
    }
    if (kind != SDIFF__J_ARRAY && kind != SDIFF__J_OBJECT)
        return sdiff_buf_append(b, t->src + n->off, n->len < room ? n->len : room);
    int obj = kind == SDIFF__J_OBJECT;
    rc = sdiff_buf_append(b, obj ? "{" : "[", 1);
    uint32_t end = i + n->size;
    for (uint32_t c = i + 1; rc >= 0 && c < end && b->len <= stop; c += t->n[c].size) {
        if (c != i + 1)
            rc = sdiff_buf_append(b, ",", 1);
        if (rc >= 0 && obj) {
            rc = compact(b, t, c, stop);
            if (rc >= 0)
                rc = sdiff_buf_append(b, ":", 1);
            c++;
        }
        if (rc >= 0)
            rc = compact(b, t, c, stop);
    }
    if (rc >= 0 && b->len <= stop)
        rc = sdiff_buf_append(b, obj ? "}" : "]", 1);
    return rc;
}

static int render_value(struct sdiff_jdiff *jd, int side, uint32_t i, enum sdiff_delta_kind kind,
                        size_t *off)
{
    struct sdiff_buf *b = &jd->text;
    size_t start = b->len, limit = jd->o.max_value_len;
    int rc;
    *off = start;
    if (kind == SDIFF_DELTA_LENGTH) {
        rc = sdiff_buf_printf(b, "%lu", (unsigned long)nchildren(&jd->t[side], i));
    } else {
        rc = compact(b, &jd->t[side], i, start + limit);
        if (rc >= 0 && b->len - start > limit) {
            size_t cut = start + limit;
            while (cut > start && (b->data[cut] & 0xc0) == 0x80)
                cut--; /* keep UTF-8 whole */
            b->len = cut;
            rc = sdiff_buf_append(b, "...", 3);
        }
    }
    return rc < 0 ? rc : sdiff_buf_append(b, "", 1);
}

static int name_char(uint32_t cp, int first)
{
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_')
        return 1;
    if (cp >= 0x80)
        return cp < 0xd800 || cp > 0xdfff;
    return !first && cp >= '0' && cp <= '9';
}

/* .name when RFC 9535 shorthand allows it, else ["name"] with JSON escapes. */
static int path_key(struct sdiff_buf *b, const uint8_t *p, uint32_t n, int esc)
{
    struct sdiff__jdec d = {p, p + n};
    int ok = n > 0, first = 1, rc;
    while (ok && d.p < d.end) {
        ok = name_char(sdiff__jdec_next(&d), first);
        first = 0;
    }
    if (ok && !esc) {
        rc = sdiff_buf_append(b, ".", 1);
        return rc < 0 ? rc : sdiff_buf_append(b, p, n);
    }
    rc = sdiff_buf_append(b, ok ? "." : "[\"", ok ? 1 : 2);
    d.p = p;
    while (rc >= 0 && d.p < d.end) {
        uint32_t cp = sdiff__jdec_next(&d);
        uint8_t u[4];
        static const char short_esc[] = "btn\0fr";
        if (cp == '"' || cp == '\\') {
            u[0] = '\\';
            u[1] = (uint8_t)cp;
            rc = sdiff_buf_append(b, u, 2);
        } else if (cp >= 8 && cp <= 13 && cp != 11) {
            u[0] = '\\';
            u[1] = (uint8_t)short_esc[cp - 8];
            rc = sdiff_buf_append(b, u, 2);
        } else if (cp < 0x20 || (cp >= 0xd800 && cp <= 0xdfff)) {
            rc = sdiff_buf_printf(b, "\\u%04x", (unsigned)cp);
        } else {
            rc = sdiff_buf_append(b, u, sdiff__utf8_put(u, cp));
        }
    }
    if (rc >= 0 && !ok)
        rc = sdiff_buf_append(b, "\"]", 2);
    return rc;
}

static int render_path(struct sdiff_jdiff *jd, unsigned depth, size_t *off)
{
    struct sdiff_buf *b = &jd->text;
    *off = b->len;
    int rc = sdiff_buf_append(b, "$", 1);
    for (unsigned d = 1; rc >= 0 && d <= depth; d++) {
        const struct frame *f = &jd->frames[d];
        if (f->index) {
            rc = sdiff_buf_printf(b, "[%lu]", (unsigned long)f->v);
        } else {
            const struct sdiff__jnode *k = &jd->t[f->side].n[f->v];
            rc = path_key(b, src(jd, f->side, k), k->len, has_esc(k));
        }
    }
    return rc < 0 ? rc : sdiff_buf_append(b, "", 1);
}

/* Count a difference between a and b (NONE: absent); record it unless probing or full. */
static void note(struct sdiff_jdiff *jd, enum sdiff_delta_kind kind, unsigned depth, uint32_t a,
                 uint32_t b)
{
    jd->ndiff++;
    if (jd->probe || jd->rc < 0 || jd->nrec >= jd->o.max_deltas)
        return;
    struct rec r = {kind, 0, NOVAL, NOVAL};
    size_t mark = jd->text.len;
    int rc = render_path(jd, depth, &r.path);
    if (rc >= 0 && a != NONE)
        rc = render_value(jd, 0, a, kind, &r.left);
    if (rc >= 0 && b != NONE)
        rc = render_value(jd, 1, b, kind, &r.right);
    if (rc >= 0)
        rc = sdiff_buf_append(&jd->recs, &r, sizeof r);
    if (rc < 0) {
        jd->text.len = mark;
        jd->rc = SDIFF_ENOMEM; /* the buffers have no practical cap: ELIMIT means memory */
        return;
    }
    jd->nrec++;
}

static inline void set_frame(struct sdiff_jdiff *jd, unsigned depth, uint32_t v, int side,
                             int index)
{
    struct frame *f = &jd->frames[depth];
    f->v = v;
    f->side = (uint8_t)side;
    f->index = (uint8_t)index;
}

/* ---- comparison ----------------------------------------------------------------------- */

/* Whether a and b are equal, recording nothing. */
static int eq(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st, int uno,
              unsigned depth)
{
    int probe = jd->probe;
    size_t ndiff = jd->ndiff;
    jd->probe = 1;
    jd->ndiff = 0;
    cmp(jd, a, b, st, uno, depth);
    int same = jd->ndiff == 0 && jd->rc >= 0;
    jd->probe = probe;
    jd->ndiff = ndiff;
    return same;
}

static inline uint64_t double_key(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | (1ull << 63);
}

/*
 * Tolerance makes every number hash alike; match such a bucket by sorting both sides by value
 * and sweeping, instead of trying all pairs.
 */
static size_t match_numbers(struct sdiff_jdiff *jd, const uint32_t *A, uint32_t *ma,
                            const uint32_t *B, uint32_t *mb, const struct hent *ga, size_t na,
                            const struct hent *gb, size_t nb, const struct pst *est, int euno,
                            unsigned depth)
{
    struct mark m = scr_mark(jd);
    size_t made = 0;
    struct hent *xa = scr_alloc(jd, na, sizeof *xa), *xb = scr_alloc(jd, nb, sizeof *xb);
    struct hent *tmp = scr_alloc(jd, na > nb ? na : nb, sizeof *tmp);
    if (tmp == NULL || xa == NULL || xb == NULL)
        goto out;
    for (size_t k = 0; k < na; k++) {
        const struct sdiff__jnode *n = &jd->t[0].n[A[ga[k].i]];
        struct num x;
        num_parse(src(jd, 0, n), n->len, &x);
        xa[k].h = double_key(num_double(&x));
        xa[k].i = ga[k].i;
    }
    for (size_t k = 0; k < nb; k++) {
        const struct sdiff__jnode *n = &jd->t[1].n[B[gb[k].i]];
        struct num x;
        num_parse(src(jd, 1, n), n->len, &x);
        xb[k].h = double_key(num_double(&x));
        xb[k].i = gb[k].i;
    }
    sort_hents(jd, 0, xa, na, tmp);
    sort_hents(jd, 1, xb, nb, tmp);
    for (size_t i = 0, j = 0; i < na && j < nb;) {
        if (eq(jd, A[xa[i].i], B[xb[j].i], est, euno, depth)) {
            ma[xa[i].i] = xb[j].i;
            mb[xb[j].i] = xa[i].i;
            made++;
            i++;
            j++;
        } else if (xa[i].h < xb[j].h) {
            i++;
        } else {
            j++;
        }
    }
out:
    scr_release(jd, m);
    return made;
}

/*
 * Match the unmatched elements A[i] (ma[i] == NONE) with unmatched B[j] by equality: bucket
 * by hash, then pair within a bucket. Returns the number of pairs made.
 */
static size_t match_sets(struct sdiff_jdiff *jd, const uint32_t *A, uint32_t *ma, size_t na,
                         const uint32_t *B, uint32_t *mb, size_t nb, const struct pst *est,
                         int euno, unsigned depth)
{
    struct mark m = scr_mark(jd);
    size_t made = 0, ka = 0, kb = 0;
    struct hent *ha = scr_alloc(jd, na, sizeof *ha), *hb = scr_alloc(jd, nb, sizeof *hb);
    struct hent *tmp = scr_alloc(jd, na > nb ? na : nb, sizeof *tmp);
    if (ha == NULL || hb == NULL || tmp == NULL)
        goto out;
    for (size_t i = 0; i < na && jd->rc >= 0; i++)
        if (ma[i] == NONE) {
            ha[ka].h = hash_node(jd, 0, A[i], est, euno, depth);
            ha[ka++].i = (uint32_t)i;
        }
    for (size_t j = 0; j < nb && jd->rc >= 0; j++)
        if (mb[j] == NONE) {
            hb[kb].h = hash_node(jd, 1, B[j], est, euno, depth);
            hb[kb++].i = (uint32_t)j;
        }
    sort_hents(jd, 0, ha, ka, tmp);
    sort_hents(jd, 1, hb, kb, tmp);
    for (size_t i = 0, j = 0; i < ka && j < kb && jd->rc >= 0;) {
        if (ha[i].h != hb[j].h) {
            if (ha[i].h < hb[j].h)
                i++;
            else
                j++;
            continue;
        }
        size_t i1 = i, j1 = j;
        while (i1 < ka && ha[i1].h == ha[i].h)
            i1++;
        while (j1 < kb && hb[j1].h == hb[j].h)
            j1++;
        const struct sdiff__jnode *first = &jd->t[0].n[A[ha[i].i]];
        if (jd->tol && sdiff__jkind(first) == SDIFF__J_NUMBER && i1 - i + j1 - j > 16) {
            made +=
                match_numbers(jd, A, ma, B, mb, ha + i, i1 - i, hb + j, j1 - j, est, euno, depth);
        } else {
            size_t lo = j; /* first unmatched candidate of the bucket */
            for (size_t x = i; x < i1; x++) {
                while (lo < j1 && mb[hb[lo].i] != NONE)
                    lo++;
                for (size_t y = lo; y < j1; y++) {
                    if (mb[hb[y].i] != NONE || !eq(jd, A[ha[x].i], B[hb[y].i], est, euno, depth))
                        continue;
                    ma[ha[x].i] = hb[y].i;
                    mb[hb[y].i] = ha[x].i;
                    made++;
                    break;
                }
            }
        }
        i = i1;
        j = j1;
    }
out:
    scr_release(jd, m);
    return made;
}

/* Element node indexes of array i into a new scratch array. */
static uint32_t *elements(struct sdiff_jdiff *jd, int side, uint32_t i, size_t n)
{
    const struct sdiff__jtape *t = &jd->t[side];
    uint32_t *v = scr_alloc(jd, n, sizeof *v);
    if (v == NULL)
        return NULL;
    size_t k = 0;
    for (uint32_t c = i + 1; k < n; c += t->n[c].size)
        v[k++] = c;
    return v;
}

/* An order-insensitive array: a multiset; leftovers are paired in order and compared. */
static void cmp_unordered(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, size_t na, size_t nb,
                          const struct pst *est, int euno, unsigned depth)
{
    struct mark m = scr_mark(jd);
    uint32_t *A = elements(jd, 0, a, na), *B = elements(jd, 1, b, nb);
    uint32_t *ma = scr_alloc(jd, na, sizeof *ma), *mb = scr_alloc(jd, nb, sizeof *mb);
    if (A == NULL || B == NULL || ma == NULL || mb == NULL)
        goto out;
    memset(ma, 0xff, na * sizeof *ma);
    memset(mb, 0xff, nb * sizeof *mb);
    size_t k = na < nb ? na : nb, made = 0;
    for (size_t i = 0; i < k; i++)
        if (eq(jd, A[i], B[i], est, euno, depth + 1)) {
            ma[i] = (uint32_t)i;
            mb[i] = (uint32_t)i;
            made++;
        }
    if (made < na || made < nb)
        made += match_sets(jd, A, ma, na, B, mb, nb, est, euno, depth + 1);
    if (jd->rc < 0)
        goto out;
    if (made == na && made == nb) {
        for (size_t i = 0; i < na; i++)
            if (ma[i] != i)
                jd->reasons |= SDIFF_JDIFF_ARRAY_ORDER;
        goto out;
    }
    if (na != nb)
        note(jd, SDIFF_DELTA_LENGTH, depth, a, b);
    if (jd->probe) {
        if (na == nb)
            note(jd, SDIFF_DELTA_CHANGED, depth, a, b);
        goto out;
    }
    size_t i = 0, j = 0;
    for (;;) {
        while (i < na && ma[i] != NONE)
            i++;
        while (j < nb && mb[j] != NONE)
            j++;
        if (i == na || j == nb)
            break;
        set_frame(jd, depth + 1, (uint32_t)i, 0, 1);
        cmp(jd, A[i], B[j], est, euno, depth + 1);
        i++;
        j++;
    }
    for (; i < na; i++)
        if (ma[i] == NONE) {
            set_frame(jd, depth + 1, (uint32_t)i, 0, 1);
            note(jd, SDIFF_DELTA_MISSING, depth + 1, A[i], NONE);
        }
    for (; j < nb; j++)
        if (mb[j] == NONE) {
            set_frame(jd, depth + 1, (uint32_t)j, 1, 1);
            note(jd, SDIFF_DELTA_EXTRA, depth + 1, NONE, B[j]);
        }
out:
    scr_release(jd, m);
}

static void cmp_array(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st, int uno,
                      unsigned depth)
{
    const struct sdiff__jnode *TA = jd->t[0].n, *TB = jd->t[1].n;
    struct pst est;
    int euno;
    if (child_enter(jd, st, depth, 0, NONE, &est, &euno)) {
        jd->reasons |= SDIFF_JDIFF_IGNORED; /* every element ignored; the bytes differ */
        return;
    }
    size_t na = nchildren(&jd->t[0], a), nb = nchildren(&jd->t[1], b);
    if (uno) {
        cmp_unordered(jd, a, b, na, nb, &est, euno, depth);
        return;
    }
    uint32_t ca = a + 1, cb = b + 1, i = 0;
    if (na != nb) {
        note(jd, SDIFF_DELTA_LENGTH, depth, a, b);
        if (jd->probe)
            return;
        for (; i < na && i < nb; i++, ca += TA[ca].size, cb += TB[cb].size) {
            set_frame(jd, depth + 1, i, 0, 1);
            cmp(jd, ca, cb, &est, euno, depth + 1);
        }
        for (; i < na; i++, ca += TA[ca].size) {
            set_frame(jd, depth + 1, i, 0, 1);
            note(jd, SDIFF_DELTA_MISSING, depth + 1, ca, NONE);
        }
        for (; i < nb; i++, cb += TB[cb].size) {
            set_frame(jd, depth + 1, i, 1, 1);
            note(jd, SDIFF_DELTA_EXTRA, depth + 1, NONE, cb);
        }
        return;
    }
    /* Same length: compare by position, remembering the mismatched pairs; if they are a
       permutation of each other the whole array is one ORDER delta instead. */
    struct snap s0;
    struct mark m = scr_mark(jd);
    uint32_t *mis = NULL;
    size_t nmis = 0;
    snapshot(jd, &s0);
    for (; i < na; i++, ca += TA[ca].size, cb += TB[cb].size) {
        size_t before = jd->ndiff;
        set_frame(jd, depth + 1, i, 0, 1);
        cmp(jd, ca, cb, &est, euno, depth + 1);
        if (jd->ndiff == before)
            continue;
        if (jd->probe || jd->rc < 0)
            goto out;
        if (mis == NULL && (mis = scr_alloc(jd, 2 * (na - i), sizeof *mis)) == NULL)
            goto out;
        mis[2 * nmis] = ca;
        mis[2 * nmis + 1] = cb;
        nmis++;
    }
    if (nmis >= 2) {
        /* Cheap rejection first: the first mismatched primary element must equal one of the
           other mismatched candidate elements, or this cannot be a reordering. */
        size_t k = 1;
        while (k < nmis && !eq(jd, mis[0], mis[2 * k + 1], &est, euno, depth + 1))
            k++;
        if (k == nmis || jd->rc < 0)
            goto out;
        uint32_t *A = scr_alloc(jd, nmis, sizeof *A), *B = scr_alloc(jd, nmis, sizeof *B);
        uint32_t *ma = scr_alloc(jd, nmis, sizeof *ma), *mb = scr_alloc(jd, nmis, sizeof *mb);
        if (A == NULL || B == NULL || ma == NULL || mb == NULL)
            goto out;
        for (k = 0; k < nmis; k++) {
            A[k] = mis[2 * k];
            B[k] = mis[2 * k + 1];
            ma[k] = mb[k] = NONE;
        }
        if (match_sets(jd, A, ma, nmis, B, mb, nmis, &est, euno, depth + 1) == nmis &&
            jd->rc >= 0) {
            rollback(jd, &s0);
            note(jd, SDIFF_DELTA_ORDER, depth, a, b);
        }
    }
out:
    scr_release(jd, m);
}

static inline unsigned sig_slot(uint64_t sig)
{
    return (unsigned)((sig * 0x9e3779b97f4a7c15ull) >> 58); /* 0 .. 2 * SMALL_OBJECT - 1 */
}

/*
 * Open-addressed table (slot = member index + 1) of the signatures of n <= SMALL_OBJECT keys.
 * A key seen again replaces the earlier member in its slot, which is marked SHADOWED.
 * (Arrays are not const: GCC 12 warns about const pointers to arrays it cannot see filled.)
 */
static void sig_table(const struct sdiff_jdiff *jd, int side, uint64_t *sig, uint32_t *keys,
                      size_t n, uint32_t *pos, uint8_t *slots, unsigned *reasons)
{
    memset(slots, 0, 2 * SMALL_OBJECT);
    for (size_t i = 0; i < n; i++) {
        unsigned h = sig_slot(sig[i]);
        for (;; h = (h + 1) % (2 * SMALL_OBJECT)) {
            if (slots[h] == 0) {
                slots[h] = (uint8_t)(i + 1);
                break;
            }
            size_t o = slots[h] - 1u;
            if (sig[o] == sig[i] && key_eq_sig(jd, side, keys[o], side, keys[i])) {
                pos[o] = SHADOWED;
                *reasons |= SDIFF_JDIFF_DUPLICATE_KEY;
                slots[h] = (uint8_t)(i + 1);
                break;
            }
        }
    }
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const uint64_t low_bytes[9] = {
    0,
    0xff,
    0xffff,
    0xffffff,
    0xffffffffull,
    0xffffffffffull,
    0xffffffffffffull,
    0xffffffffffffffull,
    ~0ull,
};
#endif

/* The spelling of key node k: length and first 16 raw bytes (zero-padded). */
static inline void spell_of(const struct sdiff__jtape *t, uint32_t k, struct spell *s)
{
    const struct sdiff__jnode *n = &t->n[k];
    const uint8_t *p = t->src + n->off;
    uint32_t len = n->len;
    s->len = len;
    s->zero = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n->off + (uint64_t)16 <= t->src_len) {
        uint32_t c = len < 16 ? len : 16, c0 = c < 8 ? c : 8; /* cmov, not branches */
        s->w0 = load64(p) & low_bytes[c0];
        s->w1 = load64(p + 8) & low_bytes[c - c0];
        return;
    }
#endif
    uint8_t b[16] = {0};
    memcpy(b, p, len < 16 ? len : 16);
    s->w0 = load64(b);
    s->w1 = load64(b + 8);
}

/* Whether the keys in cur and prev (same spellings so far) agree beyond 16 bytes as well. */
static int long_keys_same(const struct sdiff__jtape *t, const uint32_t *cur, const uint32_t *prev,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sdiff__jnode *x = &t->n[cur[i]], *y = &t->n[prev[i]];
        if (x->len > 16 && memcmp(t->src + x->off + 16, t->src + y->off + 16, x->len - 16) != 0)
            return 0;
    }
    return 1;
}

/*
 * Small objects a and b (na, nb <= SMALL_OBJECT members): fill their key nodes ka, kb and the
 * matching ap[i] = position in b of a's member i, or NONE, or SHADOWED (a later member has the
 * same key; the last one wins), bp likewise. The layout of recent pairs at this depth is
 * reused when the keys are spelled the same at every position. Never inlined: its 2 KiB of
 * arrays must not join the frame of the recursive cmp_object_sorted.
 */
static __attribute__((noinline)) void match_small(struct sdiff_jdiff *jd, uint32_t a, uint32_t b,
                                                  unsigned depth, uint32_t *ka, uint32_t *ap,
                                                  size_t na, uint32_t *kb, uint32_t *bp, size_t nb)
{
    const struct sdiff__jtape *ta = &jd->t[0], *tb = &jd->t[1];
    unsigned slot = depth % LAYOUT_DEPTHS;
    struct layout *ways = jd->layouts[slot], *L = NULL;
    struct spell sa[SMALL_OBJECT], sb[SMALL_OBJECT];
    size_t i, j;
    uint32_t k, longest = 0;
    for (i = 0, k = a + 1; i < na; i++, k += 1 + ta->n[k + 1].size) {
        ka[i] = k;
        spell_of(ta, k, &sa[i]);
        longest |= sa[i].len;
    }
    for (j = 0, k = b + 1; j < nb; j++, k += 1 + tb->n[k + 1].size) {
        kb[j] = k;
        spell_of(tb, k, &sb[j]);
        longest |= sb[j].len;
    }
    for (unsigned w = 0; w < LAYOUT_WAYS && L == NULL; w++) {
        struct layout *c = &ways[w];
        if (c->valid && c->na == na && c->nb == nb && memcmp(c->sa, sa, na * sizeof *sa) == 0 &&
            memcmp(c->sb, sb, nb * sizeof *sb) == 0 &&
            (!c->long_keys ||
             (long_keys_same(ta, ka, c->ka, na) && long_keys_same(tb, kb, c->kb, nb))))
            L = c;
    }
    if (L == NULL) {
        /* a new layout: match by signatures, remember it in place of the older way */
        uint64_t siga[SMALL_OBJECT], sigb[SMALL_OBJECT];
        uint8_t slots_a[2 * SMALL_OBJECT], slots_b[2 * SMALL_OBJECT];
        L = &ways[jd->layout_victim[slot]];
        jd->layout_victim[slot] = (uint8_t)((jd->layout_victim[slot] + 1) % LAYOUT_WAYS);
        L->valid = 1;
        L->na = (uint32_t)na;
        L->nb = (uint32_t)nb;
        L->long_keys = longest > 16;
        L->reasons = 0;
        memset(L->apos, 0xff, sizeof L->apos);
        memset(L->bpos, 0xff, sizeof L->bpos);
        memcpy(L->ka, ka, na * sizeof *ka);
        memcpy(L->kb, kb, nb * sizeof *kb);
        memcpy(L->sa, sa, na * sizeof *sa);
        memcpy(L->sb, sb, nb * sizeof *sb);
        for (i = 0; i < na; i++)
            siga[i] = has_esc(&ta->n[ka[i]]) ? key_sig(ta, &ta->n[ka[i]]) : sa[i].w0;
        for (j = 0; j < nb; j++)
            sigb[j] = has_esc(&tb->n[kb[j]]) ? key_sig(tb, &tb->n[kb[j]]) : sb[j].w0;
        sig_table(jd, 0, siga, ka, na, L->apos, slots_a, &L->reasons);
        sig_table(jd, 1, sigb, kb, nb, L->bpos, slots_b, &L->reasons);
        for (i = 0; i < na; i++) {
            if (L->apos[i] == SHADOWED)
                continue;
            for (unsigned h = sig_slot(siga[i]); slots_b[h] != 0;
                 h = (h + 1) % (2 * SMALL_OBJECT)) {
                j = slots_b[h] - 1u;
                if (sigb[j] != siga[i] || !key_eq_sig(jd, 0, ka[i], 1, kb[j]))
                    continue;
                const struct sdiff__jnode *x = &ta->n[ka[i]], *y = &tb->n[kb[j]];
                if (x->len != y->len || !bytes_eq(src(jd, 0, x), src(jd, 1, y), x->len))
                    L->reasons |= SDIFF_JDIFF_STRING_ESCAPES;
                L->apos[i] = (uint32_t)j;
                L->bpos[j] = (uint32_t)i;
                break;
            }
        }
    }
    memcpy(ap, L->apos, na * sizeof *ap);
    memcpy(bp, L->bpos, nb * sizeof *bp);
    jd->reasons |= L->reasons;
}

/* Larger objects: the same outcome as match_small by sorting both key lists. 0, or -1. */
static int match_sorted(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, uint32_t *ka, uint32_t *ap,
                        size_t na, uint32_t *kb, uint32_t *bp, size_t nb)
{
    const struct sdiff__jtape *ta = &jd->t[0], *tb = &jd->t[1];
    struct mark m = scr_mark(jd);
    size_t ca = 0, cb = 0;
    uint32_t k, pos;
    for (pos = 0, k = a + 1; pos < na; pos++, k += 1 + ta->n[k + 1].size)
        ka[pos] = k;
    for (pos = 0, k = b + 1; pos < nb; pos++, k += 1 + tb->n[k + 1].size)
        kb[pos] = k;
    memset(ap, 0xff, na * sizeof *ap);
    memset(bp, 0xff, nb * sizeof *bp);
    struct kent *ea = sorted_keys(jd, 0, a, &ca);
    struct kent *eb = ea ? sorted_keys(jd, 1, b, &cb) : NULL;
    if (eb == NULL) {
        scr_release(jd, m);
        return -1;
    }
    for (size_t i = 0; i + 1 < na; i++)
        if (kent_cmp(jd, 0, &ea[i], 0, &ea[i + 1]) == 0) {
            ap[ea[i].pos] = SHADOWED;
            jd->reasons |= SDIFF_JDIFF_DUPLICATE_KEY;
        }
    for (size_t j = 0; j + 1 < nb; j++)
        if (kent_cmp(jd, 1, &eb[j], 1, &eb[j + 1]) == 0) {
            bp[eb[j].pos] = SHADOWED;
            jd->reasons |= SDIFF_JDIFF_DUPLICATE_KEY;
        }
    for (size_t i = 0, j = 0; i < na && j < nb;) {
        if (ap[ea[i].pos] == SHADOWED) {
            i++;
            continue;
        }
        if (bp[eb[j].pos] == SHADOWED) {
            j++;
            continue;
        }
        int c = kent_cmp(jd, 0, &ea[i], 1, &eb[j]);
        if (c < 0) {
            i++;
        } else if (c > 0) {
            j++;
        } else {
            const struct sdiff__jnode *x = &ta->n[ea[i].node], *y = &tb->n[eb[j].node];
            if (x->len != y->len || !bytes_eq(src(jd, 0, x), src(jd, 1, y), x->len))
                jd->reasons |= SDIFF_JDIFF_STRING_ESCAPES;
            ap[ea[i].pos] = eb[j].pos;
            bp[eb[j].pos] = ea[i].pos;
            i++;
            j++;
        }
    }
    scr_release(jd, m);
    return 0;
}

/*
 * Objects whose keys differ in order or set: match members by key (a duplicate key keeps its
 * last member), then report in the primary's order, then the candidate's extras.
 */
static void cmp_object_sorted(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st,
                              unsigned depth)
{
    struct mark m = scr_mark(jd);
    size_t na = nchildren(&jd->t[0], a), nb = nchildren(&jd->t[1], b);
    uint32_t *ka = scr_alloc(jd, 2 * (na + nb), sizeof *ka);
    if (ka == NULL)
        goto out;
    uint32_t *ap = ka + na, *kb = ap + na, *bp = kb + nb, last = 0, pos, k;
    if (na <= SMALL_OBJECT && nb <= SMALL_OBJECT)
        match_small(jd, a, b, depth, ka, ap, na, kb, bp, nb);
    else if (match_sorted(jd, a, b, ka, ap, na, kb, bp, nb) < 0)
        goto out;
    int ordered = 1;
    struct pst cst;
    int cuno;
    for (pos = 0; pos < na; pos++) {
        uint32_t s = ap[pos];
        k = ka[pos];
        if (s == SHADOWED)
            continue;
        if (child_enter(jd, st, depth, 0, k, &cst, &cuno)) {
            if (s == NONE || !raw_same(jd, k + 1, kb[s] + 1))
                jd->reasons |= SDIFF_JDIFF_IGNORED;
            continue;
        }
        if (s == NONE) {
            set_frame(jd, depth + 1, k, 0, 0);
            note(jd, SDIFF_DELTA_MISSING, depth + 1, k + 1, NONE);
        } else {
            ordered &= s >= last;
            last = s;
            if (!raw_same(jd, k + 1, kb[s] + 1)) { /* most members are spelled alike */
                set_frame(jd, depth + 1, k, 0, 0);
                cmp(jd, k + 1, kb[s] + 1, &cst, cuno, depth + 1);
            }
        }
        if ((jd->probe && jd->ndiff) || jd->rc < 0)
            goto out;
    }
    for (pos = 0; pos < nb; pos++) {
        k = kb[pos];
        if (bp[pos] != NONE)
            continue;
        if (child_enter(jd, st, depth, 1, k, &cst, &cuno)) {
            jd->reasons |= SDIFF_JDIFF_IGNORED;
            continue;
        }
        set_frame(jd, depth + 1, k, 1, 0);
        note(jd, SDIFF_DELTA_EXTRA, depth + 1, NONE, k + 1);
        if (jd->probe)
            goto out;
    }
    if (!ordered)
        jd->reasons |= SDIFF_JDIFF_KEY_ORDER;
out:
    scr_release(jd, m);
}

static void cmp_object(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st,
                       unsigned depth)
{
    const struct sdiff__jnode *TA = jd->t[0].n, *TB = jd->t[1].n;
    uint32_t ea = a + TA[a].size, eb = b + TB[b].size, ka = a + 1, kb = b + 1;
    /* Fast path: the same keys in the same order, compared by position. */
    while (ka < ea && kb < eb && str_eq(jd, &TA[ka], &TB[kb])) {
        ka += 1 + TA[ka + 1].size;
        kb += 1 + TB[kb + 1].size;
    }
    if (ka < ea || kb < eb) {
        cmp_object_sorted(jd, a, b, st, depth);
        return;
    }
    struct snap s0;
    struct pst cst;
    int cuno, dup_checked = 0;
    snapshot(jd, &s0);
    for (ka = a + 1, kb = b + 1; ka < ea; ka += 1 + TA[ka + 1].size, kb += 1 + TB[kb + 1].size) {
        if (child_enter(jd, st, depth, 0, ka, &cst, &cuno)) {
            if (!raw_same(jd, ka + 1, kb + 1))
                jd->reasons |= SDIFF_JDIFF_IGNORED;
            continue;
        }
        if (raw_same(jd, ka + 1, kb + 1))
            continue; /* most members are spelled alike */
        size_t before = jd->ndiff;
        set_frame(jd, depth + 1, ka, 0, 0);
        cmp(jd, ka + 1, kb + 1, &cst, cuno, depth + 1);
        if (jd->ndiff == before)
            continue;
        if (!dup_checked) {
            /* A duplicate key would make an earlier member irrelevant: sort it out. */
            dup_checked = 1;
            if (has_dup_keys(jd, 0, a)) {
                rollback(jd, &s0);
                cmp_object_sorted(jd, a, b, st, depth);
                return;
            }
        }
        if (jd->probe || jd->rc < 0)
            return;
    }
}

static const unsigned char klass[] = {
    [SDIFF__J_NULL] = 0,   [SDIFF__J_FALSE] = 1, [SDIFF__J_TRUE] = 1,   [SDIFF__J_NUMBER] = 2,
    [SDIFF__J_STRING] = 3, [SDIFF__J_ARRAY] = 4, [SDIFF__J_OBJECT] = 5, [SDIFF__J_KEY] = 6,
};

static void cmp(struct sdiff_jdiff *jd, uint32_t a, uint32_t b, const struct pst *st, int uno,
                unsigned depth)
{
    const struct sdiff__jnode *x = &jd->t[0].n[a], *y = &jd->t[1].n[b];
    if (x->info == y->info && x->len == y->len && bytes_eq(src(jd, 0, x), src(jd, 1, y), x->len))
        return;
    unsigned kx = sdiff__jkind(x), ky = sdiff__jkind(y);
    if (klass[kx] != klass[ky]) {
        note(jd, SDIFF_DELTA_TYPE_CHANGED, depth, a, b);
        return;
    }
    switch (kx) {
    case SDIFF__J_NUMBER:
        if (!num_eq(jd, x, y))
            note(jd, SDIFF_DELTA_CHANGED, depth, a, b);
        return;
    case SDIFF__J_STRING:
        if (!str_eq(jd, x, y) && !(jd->o.time_instants && time_eq(jd, x, y)))
            note(jd, SDIFF_DELTA_CHANGED, depth, a, b);
        return;
    case SDIFF__J_ARRAY: cmp_array(jd, a, b, st, uno, depth); return;
    case SDIFF__J_OBJECT: cmp_object(jd, a, b, st, depth); return;
    default: /* true vs false (null vs null is byte-identical) */
        if (kx != ky)
            note(jd, SDIFF_DELTA_CHANGED, depth, a, b);
        return;
    }
}

/* ---- patterns: compiling -------------------------------------------------------------- */

static int pat_fail(struct sdiff_err *err, const char *list, size_t idx, const char *pattern,
                    size_t off, const char *why)
{
    if (err != NULL && err->code == 0)
        err->offset = off;
    return sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "%s pattern %zu (\"%.60s\"): %s", list, idx,
                         pattern, why);
}

/* Append a segment whose name is `raw` (JSON string content) of n bytes. */
static int add_seg(struct sdiff_jdiff *jd, const uint8_t *raw, size_t n, int any)
{
    struct seg s = {(uint32_t)jd->names.len, (uint32_t)n, (uint8_t)any, 0};
    if (!any) {
        int esc = 0;
        if (sdiff__jstr_check(raw, n, &esc) != (size_t)-1)
            return SDIFF_EPARSE;
        s.esc = (uint8_t)esc;
        if (sdiff_buf_append(&jd->names, raw, n) < 0)
            return SDIFF_ENOMEM;
    }
    return sdiff_buf_append(&jd->segs, &s, sizeof s) < 0 ? SDIFF_ENOMEM : SDIFF_OK;
}

static int compile_pattern(struct sdiff_jdiff *jd, struct pat *p, const char *list, size_t idx,
                           const char *s, struct sdiff_err *err)
{
    struct sdiff_buf name;
    size_t i = 1;
    int rc = SDIFF_OK;
    sdiff_buf_init(&name, SIZE_MAX / 4);
    p->first = (uint32_t)(jd->segs.len / sizeof(struct seg));
    p->nseg = 0;
    if (s[0] != '$') {
        rc = pat_fail(err, list, idx, s, 0, "a path starts with '$'");
        goto out;
    }
    while (s[i] != '\0') {
        const char *why = NULL;
        sdiff_buf_reset(&name);
        if (s[i] == '.' && s[i + 1] == '.') {
            why = "recursive descent '..' is not supported";
        } else if (s[i] == '.' && s[i + 1] == '*') {
            rc = add_seg(jd, NULL, 0, 1);
            i += 2;
        } else if (s[i] == '.') {
            size_t j = i + 1;
            /* shorthand name: raw bytes up to the next step; quote what JSON would escape */
            for (; rc >= 0 && s[j] != '\0' && s[j] != '.' && s[j] != '['; j++) {
                uint8_t c = (uint8_t)s[j];
                if (c == '"' || c == '\\')
                    rc = sdiff_buf_append(&name, "\\", 1);
                if (rc >= 0 && c < 0x20)
                    rc = sdiff_buf_printf(&name, "\\u%04x", c);
                else if (rc >= 0)
                    rc = sdiff_buf_append(&name, &c, 1);
            }
            if (j == i + 1)
                why = "empty name";
            else if (rc >= 0)
                rc = add_seg(jd, name.data, name.len, 0);
            i = j;
        } else if (s[i] == '[' && s[i + 1] == '*' && s[i + 2] == ']') {
            rc = add_seg(jd, NULL, 0, 1);
            i += 3;
        } else if (s[i] == '[' && (s[i + 1] == '"' || s[i + 1] == '\'')) {
            char q = s[i + 1];
            size_t j = i + 2;
            for (; rc >= 0 && s[j] != '\0' && s[j] != q; j++) {
                /* single quotes: \' is a quote and '"' needs escaping; the rest is JSON */
                if (s[j] == '\\' && s[j + 1] == '\'' && q == '\'') {
                    rc = sdiff_buf_append(&name, "'", 1);
                    j++;
                } else if (s[j] == '\\' && s[j + 1] != '\0') {
                    rc = sdiff_buf_append(&name, s + j, 2);
                    j++;
                } else if (s[j] == '"') {
                    rc = sdiff_buf_append(&name, "\\\"", 2);
                } else {
                    rc = sdiff_buf_append(&name, s + j, 1);
                }
            }
            if (s[j] != q || s[j + 1] != ']')
                why = "unterminated quoted name";
            else if (rc >= 0)
                rc = add_seg(jd, name.data, name.len, 0);
            i = j + 2;
        } else if (s[i] == '[' && s[i + 1] >= '0' && s[i + 1] <= '9') {
            why = "array indexes are not supported in patterns; use [*]";
        } else {
            why = "expected '.name', '.*', '[*]' or '[\"name\"]'";
        }
        if (rc == SDIFF_EPARSE)
            why = "name is not valid JSON string content";
        if (why != NULL) {
            rc = pat_fail(err, list, idx, s, i, why);
            goto out;
        }
        if (rc < 0) {
            rc = sdiff_err_set(err, SDIFF_ENOMEM, "jdiff", "out of memory compiling patterns");
            goto out;
        }
        p->nseg++;
    }
out:
    sdiff_buf_dispose(&name);
    return rc;
}

/* ---- API ------------------------------------------------------------------------------ */

int sdiff_jdiff_new(struct sdiff_jdiff **out, const struct sdiff_jdiff_opts *opts,
                    struct sdiff_err *err)
{
    static const struct sdiff_jdiff_opts defaults = SDIFF_JDIFF_OPTS_INIT;
    struct sdiff_jdiff *jd = NULL;
    int rc = SDIFF_OK;
    if (SDIFF_NEVER(out == NULL))
        return SDIFF_EINVAL;
    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->max_depth > SDIFF_JDIFF_DEPTH_MAX)
        return sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "max_depth %u over the ceiling of %u",
                             opts->max_depth, SDIFF_JDIFF_DEPTH_MAX);
    if (opts->nignore > MAX_PATTERNS || opts->nunordered > MAX_PATTERNS)
        return sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "more than %d patterns in a list",
                             MAX_PATTERNS);
    if (!(opts->abs_tol >= 0) || !(opts->rel_tol >= 0))
        return sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "tolerance negative or not a number");
    if ((opts->nignore > 0 && opts->ignore == NULL) ||
        (opts->nunordered > 0 && opts->unordered == NULL))
        return sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "pattern count without a pattern list");
    jd = sdiff_calloc(1, sizeof *jd);
    if (jd == NULL)
        goto nomem;
    jd->o = *opts;
    jd->o.ignore = NULL;
    jd->o.unordered = NULL;
    if (jd->o.max_bytes > UINT32_MAX - 2)
        jd->o.max_bytes = UINT32_MAX - 2;
    jd->tol = opts->abs_tol > 0 || opts->rel_tol > 0;
    sdiff__jtape_init(&jd->t[0]);
    sdiff__jtape_init(&jd->t[1]);
    sdiff_buf_init(&jd->segs, SIZE_MAX / 4);
    sdiff_buf_init(&jd->names, SIZE_MAX / 4);
    sdiff_buf_init(&jd->recs, SIZE_MAX / 4);
    sdiff_buf_init(&jd->text, SIZE_MAX / 4);
    jd->frames = sdiff_calloc((size_t)jd->o.max_depth + 2, sizeof *jd->frames);
    if (jd->frames == NULL)
        goto nomem;
    for (size_t i = 0; i < opts->nignore + opts->nunordered; i++) {
        int ign = i < opts->nignore;
        const char *s = ign ? opts->ignore[i] : opts->unordered[i - opts->nignore];
        const char *list = ign ? "ignore" : "unordered";
        size_t idx = ign ? i : i - opts->nignore;
        if (s == NULL) {
            rc = sdiff_err_set(err, SDIFF_EINVAL, "jdiff", "%s pattern %zu is NULL", list, idx);
            goto out;
        }
        rc = compile_pattern(jd, &jd->pats[i], list, idx, s, err);
        if (rc < 0)
            goto out;
    }
    jd->nign = opts->nignore;
    jd->nuno = opts->nunordered;
    *out = jd;
    return SDIFF_OK;
nomem:
    rc = sdiff_err_set(err, SDIFF_ENOMEM, "jdiff", "out of memory");
out:
    sdiff_jdiff_free(jd);
    return rc;
}

void sdiff_jdiff_free(struct sdiff_jdiff *jd)
{
    if (jd == NULL)
        return;
    sdiff__jtape_dispose(&jd->t[0]);
    sdiff__jtape_dispose(&jd->t[1]);
    sdiff_buf_dispose(&jd->segs);
    sdiff_buf_dispose(&jd->names);
    sdiff_buf_dispose(&jd->recs);
    sdiff_buf_dispose(&jd->text);
    sdiff_free(jd->frames);
    for (struct blk *b = jd->blocks, *next; b != NULL; b = next) {
        next = b->next;
        sdiff_free(b);
    }
    sdiff_free(jd);
}

/* Copy the recorded deltas and their strings into one block owned by res. */
static int finish(struct sdiff_jdiff *jd, struct sdiff_jdiff_result *res)
{
    res->nomitted = jd->ndiff - jd->nrec;
    if (jd->nrec == 0)
        return SDIFF_OK;
    size_t head = jd->nrec * sizeof(struct sdiff_delta);
    uint8_t *blob = sdiff_malloc(head + jd->text.len);
    if (blob == NULL)
        return SDIFF_ENOMEM;
    memcpy(blob + head, jd->text.data, jd->text.len);
    const char *base = (const char *)blob + head;
    struct sdiff_delta *d = (struct sdiff_delta *)(void *)blob;
    const struct rec *r = (const struct rec *)(const void *)jd->recs.data;
    for (size_t i = 0; i < jd->nrec; i++) {
        d[i].kind = r[i].kind;
        d[i].path = base + r[i].path;
        d[i].left = r[i].left == NOVAL ? NULL : base + r[i].left;
        d[i].right = r[i].right == NOVAL ? NULL : base + r[i].right;
    }
    res->deltas = d;
    res->ndeltas = jd->nrec;
    return SDIFF_OK;
}

int sdiff_jdiff_run(struct sdiff_jdiff *jd, struct sdiff_slice primary,
                    struct sdiff_slice candidate, struct sdiff_jdiff_result *res,
                    struct sdiff_err *err)
{
    int rc, rb;
    if (SDIFF_NEVER(res == NULL))
        return SDIFF_EINVAL;
    memset(res, 0, sizeof *res);
    if (SDIFF_NEVER(jd == NULL) || SDIFF_NEVER(primary.p == NULL && primary.len > 0) ||
        SDIFF_NEVER(candidate.p == NULL && candidate.len > 0))
        return SDIFF_EINVAL;
    if (primary.len == candidate.len &&
        (primary.len == 0 || memcmp(primary.p, candidate.p, primary.len) == 0)) {
        res->equal = 1;
        res->bytes_equal = 1;
        return SDIFF_OK;
    }
    rc = sdiff__jtape_parse(&jd->t[0], primary, jd->o.max_bytes, jd->o.max_depth, "primary", err);
    if (rc == SDIFF_ENOMEM)
        return rc;
    rb = sdiff__jtape_parse(&jd->t[1], candidate, jd->o.max_bytes, jd->o.max_depth, "candidate",
                            err);
    if (rb == SDIFF_ENOMEM)
        return rb;
    if (rc < 0 || rb < 0) {
        res->unread = (rc < 0 ? SDIFF_JDIFF_PRIMARY : 0) | (rb < 0 ? SDIFF_JDIFF_CANDIDATE : 0);
        return rc < 0 ? rc : rb;
    }

    jd->ndiff = 0;
    jd->nrec = 0;
    jd->reasons = 0;
    jd->probe = 0;
    jd->rc = SDIFF_OK;
    jd->cur = NULL;
    for (size_t i = 0; i < LAYOUT_DEPTHS; i++)
        for (size_t w = 0; w < LAYOUT_WAYS; w++)
            jd->layouts[i][w].valid = 0;
    sdiff_buf_reset(&jd->recs);
    sdiff_buf_reset(&jd->text);
    struct pst st = {0, 0};
    int root_ign = 0, root_uno = 0;
    for (size_t i = 0; i < jd->nign + jd->nuno; i++) {
        int ign = i < jd->nign;
        if (jd->pats[i].nseg == 0)
            *(ign ? &root_ign : &root_uno) = 1;
        else if (ign)
            st.ign |= 1ull << i;
        else
            st.uno |= 1ull << (i - jd->nign);
    }
    if (root_ign)
        jd->reasons |= SDIFF_JDIFF_IGNORED;
    else
        cmp(jd, 0, 0, &st, root_uno, 0);
    if (jd->rc < 0)
        return sdiff_err_set(err, jd->rc, "jdiff", "out of memory comparing json");
    if (jd->t[0].ws != jd->t[1].ws)
        jd->reasons |= SDIFF_JDIFF_WHITESPACE;
    res->equal = jd->ndiff == 0;
    if (res->equal && jd->reasons == 0) /* nothing else explains the bytes */
        jd->reasons |= SDIFF_JDIFF_WHITESPACE;
    res->reasons = jd->reasons;
    rc = finish(jd, res);
    if (rc < 0) {
        sdiff_jdiff_result_dispose(res);
        return sdiff_err_set(err, rc, "jdiff", "out of memory comparing json");
    }
    return SDIFF_OK;
}

int sdiff_jdiff_compare(const struct sdiff_jdiff_opts *opts, struct sdiff_slice primary,
                        struct sdiff_slice candidate, struct sdiff_jdiff_result *res,
                        struct sdiff_err *err)
{
    struct sdiff_jdiff *jd = NULL;
    if (SDIFF_NEVER(res == NULL))
        return SDIFF_EINVAL;
    memset(res, 0, sizeof *res);
    int rc = sdiff_jdiff_new(&jd, opts, err);
    if (rc >= 0)
        rc = sdiff_jdiff_run(jd, primary, candidate, res, err);
    sdiff_jdiff_free(jd);
    return rc;
}

void sdiff_jdiff_result_dispose(struct sdiff_jdiff_result *res)
{
    if (res == NULL)
        return;
    sdiff_free(res->deltas);
    memset(res, 0, sizeof *res);
}

const char *sdiff_delta_kind_str(enum sdiff_delta_kind kind)
{
    switch (kind) {
    case SDIFF_DELTA_CHANGED: return "CHANGED";
    case SDIFF_DELTA_TYPE_CHANGED: return "TYPE_CHANGED";
    case SDIFF_DELTA_MISSING: return "MISSING";
    case SDIFF_DELTA_EXTRA: return "EXTRA";
    case SDIFF_DELTA_ORDER: return "ORDER";
    case SDIFF_DELTA_LENGTH: return "LENGTH";
    default: return "?";
    }
}

const char *sdiff_jdiff_reason_str(unsigned reason)
{
    switch (reason) {
    case SDIFF_JDIFF_KEY_ORDER: return "key_order";
    case SDIFF_JDIFF_NUMBER_SPELLING: return "number_spelling";
    case SDIFF_JDIFF_STRING_ESCAPES: return "string_escapes";
    case SDIFF_JDIFF_WHITESPACE: return "whitespace";
    case SDIFF_JDIFF_ARRAY_ORDER: return "array_order";
    case SDIFF_JDIFF_TOLERANCE: return "tolerance";
    case SDIFF_JDIFF_IGNORED: return "ignored";
    case SDIFF_JDIFF_DUPLICATE_KEY: return "duplicate_key";
    case SDIFF_JDIFF_TIME_SPELLING: return "time_spelling";
    default: return "?";
    }
}
