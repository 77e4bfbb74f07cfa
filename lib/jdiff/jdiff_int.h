#ifndef SDIFF_JDIFF_INT_H
#define SDIFF_JDIFF_INT_H

#include "shadowdiff/jdiff.h"

/*
 * jdiff_int.h - the JSON tape shared by the reader (jread.c) and the differ (jdiff.c).
 *
 * A tape is one flat array of nodes in document order. A container node is followed by its
 * subtree; objects alternate a KEY node and the member's value. node.size is the number of
 * nodes in the subtree including the node itself, so the next sibling of node i is
 * i + size. Strings and keys are views of their raw bytes between the quotes (escapes
 * unresolved); numbers are views of their lexeme; containers span from bracket to bracket.
 */

enum sdiff__jkind {
    SDIFF__J_NULL = 0,
    SDIFF__J_FALSE,
    SDIFF__J_TRUE,
    SDIFF__J_NUMBER,
    SDIFF__J_STRING,
    SDIFF__J_ARRAY,
    SDIFF__J_OBJECT,
    SDIFF__J_KEY,
};

/* node.info bits above the kind byte */
#define SDIFF__JF_ESC 0x100u         /* string or key holds a backslash escape */
#define SDIFF__J_COUNT_SHIFT 9       /* containers: members or elements, saturated at ... */
#define SDIFF__J_COUNT_MAX 0x7fffffu /* ... this value (then count by walking) */

struct sdiff__jnode {
    uint32_t off;  /* first byte: after the opening quote for strings and keys */
    uint32_t len;  /* bytes: raw string content, number lexeme, container span */
    uint32_t size; /* nodes in the subtree, this one included (1 for scalars) */
    uint32_t info; /* enum sdiff__jkind | SDIFF__JF_* | count << SDIFF__J_COUNT_SHIFT */
};

struct sdiff__jtape {
    struct sdiff__jnode *n; /* owned; grown as needed, kept between parses */
    size_t len;             /* nodes in use; the root is n[0] */
    size_t cap;
    const uint8_t *src; /* borrowed input the views point into */
    size_t src_len;
    size_t ws; /* insignificant whitespace bytes */
};

static inline unsigned sdiff__jkind(const struct sdiff__jnode *n)
{
    return n->info & 0xffu;
}

/** Members of an object or elements of an array at node i. */
static inline uint32_t sdiff__jcount(const struct sdiff__jnode *n, uint32_t i)
{
    uint32_t count = n[i].info >> SDIFF__J_COUNT_SHIFT;
    if (count < SDIFF__J_COUNT_MAX)
        return count;
    int obj = sdiff__jkind(&n[i]) == SDIFF__J_OBJECT;
    uint32_t end = i + n[i].size;
    count = 0;
    for (uint32_t c = i + 1; c < end; count++) {
        c += (uint32_t)obj;
        c += n[c].size;
    }
    return count;
}

void sdiff__jtape_init(struct sdiff__jtape *t);
void sdiff__jtape_dispose(struct sdiff__jtape *t);

/**
 * Parse s into t (replacing what t held). label ("primary", ...) prefixes error messages and
 * may be NULL. SDIFF_OK, SDIFF_EPARSE, SDIFF_ELIMIT, SDIFF_ENOMEM; err->offset is the byte.
 */
int sdiff__jtape_parse(struct sdiff__jtape *t, struct sdiff_slice s, size_t max_bytes,
                       unsigned max_depth, const char *label, struct sdiff_err *err);

/**
 * Check raw string content (what lies between the quotes): escapes, UTF-8, no control
 * characters. Returns the offset of the first bad byte or (size_t)-1 when valid; *esc says
 * whether it holds an escape.
 */
size_t sdiff__jstr_check(const uint8_t *p, size_t len, int *esc);

/*
 * Decoder from raw string content to code points. Input must have passed the reader or
 * sdiff__jstr_check. A lone surrogate escape decodes to the surrogate itself.
 */
struct sdiff__jdec {
    const uint8_t *p;
    const uint8_t *end;
};

static inline int sdiff__jhex(uint8_t c)
{
    if ((unsigned)(c - '0') < 10)
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Next code point; d->p < d->end on entry. */
static inline __attribute__((always_inline)) uint32_t sdiff__jdec_next(struct sdiff__jdec *d)
{
    const uint8_t *p = d->p;
    uint8_t c = *p;
    if (c != '\\') {
        if (c < 0x80) {
            d->p = p + 1;
            return c;
        }
        if (c < 0xe0 && d->end - p >= 2) {
            d->p = p + 2;
            return ((uint32_t)(c & 0x1f) << 6) | (p[1] & 0x3fu);
        }
        if (c < 0xf0 && d->end - p >= 3) {
            d->p = p + 3;
            return ((uint32_t)(c & 0x0f) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
        }
        if (d->end - p >= 4) {
            d->p = p + 4;
            return ((uint32_t)(c & 0x07) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) |
                   (p[3] & 0x3fu);
        }
        d->p = d->end; /* unreachable on checked input */
        return 0xfffd;
    }
    if (d->end - p < 2) {
        d->p = d->end;
        return '\\';
    }
    d->p = p + 2;
    switch (p[1]) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'u': break;
    default: return p[1]; /* '"', '\\', '/' */
    }
    if (d->end - p < 6) {
        d->p = d->end;
        return 0xfffd;
    }
    /* hex digits were checked by the reader; unsigned arithmetic keeps anything else defined */
    uint32_t u = ((uint32_t)sdiff__jhex(p[2]) << 12) | ((uint32_t)sdiff__jhex(p[3]) << 8) |
                 ((uint32_t)sdiff__jhex(p[4]) << 4) | (uint32_t)sdiff__jhex(p[5]);
    d->p = p + 6;
    if (u >= 0xd800 && u <= 0xdbff && d->end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
        uint32_t lo = ((uint32_t)sdiff__jhex(p[8]) << 12) | ((uint32_t)sdiff__jhex(p[9]) << 8) |
                      ((uint32_t)sdiff__jhex(p[10]) << 4) | (uint32_t)sdiff__jhex(p[11]);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            d->p = p + 12;
            return 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
    }
    return u;
}

/** UTF-8 bytes of code point cp (surrogates encoded like other 3-byte points); returns n. */
size_t sdiff__utf8_put(uint8_t out[4], uint32_t cp);

#endif
