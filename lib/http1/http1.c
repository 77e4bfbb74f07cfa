/*
 * http1.c - incremental HTTP/1.1 message parser (RFC 9112): start line, field block, framing
 * (section 6), chunked coding (section 7.1), pipelining and resynchronisation.
 *
 * Invariant: the callback sequence depends only on the bytes, never on how they were split.
 * Lines are found with memchr. A header block that arrives whole is parsed where it lies in
 * the caller's input; one that is split is copied once into p->buf. Body bytes are delivered
 * straight from the input. Every decision that depends on a length (limits, hunting) is taken
 * on whole-line counts, so a partial line can only fail early when the whole one would fail.
 */
#include "shadowdiff/http1.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- types ----------------------------------------------------------------------------- */

/* The longest chunk-size line (size and extensions, without CRLF) we accept. */
#define CHUNK_LINE_MAX 4096

/* Bytes of a candidate line looked at before it is buffered while hunting. */
#define HUNT_PREFIX 16

/* Buffers that grew past these sizes are released after the message, so idle flows are small. */
#define KEEP_BUF_BYTES 8192
#define KEEP_FIELDS 64

enum state {
    ST_START,       /* between messages; empty lines are skipped */
    ST_HEAD,        /* start line and field lines, up to the empty line */
    ST_BODY_LENGTH, /* Content-Length body; remaining bytes left */
    ST_BODY_CLOSE,  /* response body delimited by the end of the stream */
    ST_CHUNK_SIZE,  /* chunk-size line */
    ST_CHUNK_DATA,  /* chunk data; remaining bytes left in the chunk */
    ST_CHUNK_END,   /* the CRLF after chunk data */
    ST_TRAILERS,    /* trailer section, up to the empty line */
    ST_HUNT,        /* resynchronising: looking for a start line */
    ST_FAILED,      /* parse error or limit; stays until sdiff_http1_resync */
};

/* A field line as offsets into the block, which may move (realloc, input copied to buf). */
struct field_rec {
    size_t name_off, name_len;
    size_t value_off, value_len;
};

/* Start line as offsets into the block. */
struct start_line {
    size_t method_off, method_len;
    size_t target_off, target_len;
    size_t reason_off, reason_len;
    int status;
    int minor;
};

struct sdiff_http1 {
    enum sdiff_http1_kind kind;
    struct sdiff_http1_cb cb;
    void *ud;
    size_t max_header_bytes;
    size_t max_header_count;

    enum state state;
    int upgraded;   /* 101 seen or set_upgraded: ignore everything */
    unsigned epoch; /* bumped by resync, so code after a callback sees the state was reset */

    /* During feed: stream offset of in[0]; otherwise of the next byte. */
    uint64_t pos;
    const uint8_t *in;
    struct sdiff_err *err;

    /*
     * p->buf holds whatever must survive between feeds: a split header block or trailer
     * section, a split chunk-size line, or a candidate line while hunting.
     */
    struct sdiff_buf buf;
    size_t blk_len;   /* bytes of the current block seen so far */
    size_t line_off;  /* offset in the block of the line being collected */
    size_t nlines;    /* complete lines of the block processed */
    uint64_t blk_pos; /* stream offset of the block's first byte */
    struct start_line sl;
    int sl_ok;        /* the current message's start line was valid */
    struct sdiff_buf fields; /* struct field_rec[] */
    struct sdiff_buf hdrs;   /* struct sdiff_http1_header[], built for the callbacks */

    uint64_t remaining; /* Content-Length body or current chunk */
    uint64_t line_pos;  /* stream offset of the chunk-size line */
    int cr_seen;        /* ST_CHUNK_END: the CR was consumed */

    int bol; /* hunting: the next byte starts a line */
    int anywhere; /* hunting: a start line may begin at any byte (sdiff_http1_hunt_anywhere) */
    uint64_t skipped;
    size_t consumed;  /* bytes of the last feed consumed when it failed */
};

/* ---- helpers --------------------------------------------------------------------------- */

/* tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", digits and letters. */
/* clang-format off */
static const uint8_t tchar_tab[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};
/* clang-format on */

static int is_tchar(uint8_t c)
{
    return tchar_tab[c];
}

static int is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* field-vchar, SP and HTAB, obs-text (RFC 9110 5.5): anything but CTLs other than HTAB. */
static int is_field_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* request-target is checked loosely: visible characters and obs-text, no SP. */
static int is_target_char(uint8_t c)
{
    return c > 0x20 && c != 0x7f;
}

/*
 * Index of the first byte in s[0, n) that may not appear in a field value, or n. Eight bytes
 * at a time: a word without bytes below 0x20 or equal to 0x7f needs no closer look (HTAB,
 * the one allowed control, sends its word to the byte loop).
 */
static size_t find_bad_field_char(const uint8_t *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        uint64_t below_space = (w - ones * 0x20) & ~w & highs;
        uint64_t x = w ^ (ones * 0x7f);
        uint64_t is_del = (x - ones) & ~x & highs;
        if ((below_space | is_del) != 0)
            break;
    }
    for (; i < n; i++) {
        if (!is_field_char(s[i]))
            return i;
    }
    return n;
}

static int hex_val(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int slice_ieq_n(const uint8_t *s, size_t len, const char *lit)
{
    return sdiff_slice_ieq((struct sdiff_slice){s, len}, lit);
}

/* Stream offset of a byte of the input being fed. */
static uint64_t at(const struct sdiff_http1 *p, const uint8_t *q)
{
    return p->pos + (uint64_t)(q - p->in);
}

/* Record an error (unless one is already recorded) at a stream offset; returns code. */
static int fail(struct sdiff_http1 *p, int code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct sdiff_http1 *p, int code, uint64_t off, const char *fmt, ...)
{
    struct sdiff_err *err = p->err;
    if (err == NULL || err->code != 0)
        return code;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sdiff_err_set(err, code, "http1", "%s", msg);
    err->offset = off;
    return code;
}

static int fail_nomem(struct sdiff_http1 *p, uint64_t off)
{
    return fail(p, SDIFF_ENOMEM, off, "out of memory");
}

static int fail_cb(struct sdiff_http1 *p, int rc, uint64_t off)
{
    return fail(p, rc, off, "a callback stopped the parser (status %d)", rc);
}

static int buf_append(struct sdiff_http1 *p, struct sdiff_buf *b, const uint8_t *q, size_t n,
                      uint64_t off)
{
    int rc = sdiff_buf_append(b, q, n);
    if (rc == SDIFF_ENOMEM)
        return fail_nomem(p, off);
    if (rc < 0) /* every caller checks its own limit first */
        return fail(p, rc, off, "internal buffer limit reached");
    return SDIFF_OK;
}

static void release_if_big(struct sdiff_buf *b, size_t keep)
{
    if (b->cap > keep) {
        size_t max = b->max;
        sdiff_buf_dispose(b);
        sdiff_buf_init(b, max);
    }
}

static void begin_block(struct sdiff_http1 *p, enum state st, uint64_t pos)
{
    p->state = st;
    p->blk_len = 0;
    p->line_off = 0;
    p->nlines = 0;
    if (st == ST_HEAD)
        p->sl_ok = 0;
    p->blk_pos = pos;
    sdiff_buf_reset(&p->buf);
    p->fields.len = 0;
}

static void drop_message(struct sdiff_http1 *p)
{
    sdiff_buf_reset(&p->buf);
    p->blk_len = 0;
    p->fields.len = 0;
    p->remaining = 0;
}

/* ---- callbacks ------------------------------------------------------------------------- */

/*
 * The emit_* helpers return < 0 when the callback failed, 1 when it reset the parser (resync
 * or set_upgraded from inside the callback) so the caller must stop using its state, else 0.
 */
static int emit_begin(struct sdiff_http1 *p, uint64_t off)
{
    if (p->cb.on_begin == NULL)
        return 0;
    unsigned ep = p->epoch;
    int rc = p->cb.on_begin(p->ud);
    if (rc < 0)
        return fail_cb(p, rc, off);
    return p->epoch != ep || p->upgraded;
}

static int emit_body(struct sdiff_http1 *p, const uint8_t *q, size_t n)
{
    if (p->cb.on_body == NULL || n == 0)
        return 0;
    unsigned ep = p->epoch;
    int rc = p->cb.on_body(q, n, p->ud);
    if (rc < 0)
        return fail_cb(p, rc, at(p, q));
    return p->epoch != ep || p->upgraded;
}

/* The message ended at stream offset off. Returns < 0 or 1 (the state changed). */
static int complete(struct sdiff_http1 *p, uint64_t off)
{
    p->state = ST_START;
    drop_message(p);
    release_if_big(&p->buf, KEEP_BUF_BYTES);
    release_if_big(&p->fields, KEEP_FIELDS * sizeof(struct field_rec));
    release_if_big(&p->hdrs, KEEP_FIELDS * sizeof(struct sdiff_http1_header));
    if (p->cb.on_complete != NULL) {
        int rc = p->cb.on_complete(p->ud);
        if (rc < 0)
            return fail_cb(p, rc, off);
    }
    return 1;
}

/* Turn the field records of the block at base into views for the callbacks. */
static int build_headers(struct sdiff_http1 *p, const uint8_t *base, size_t *n_out)
{
    size_t n = p->fields.len / sizeof(struct field_rec);
    p->hdrs.len = 0;
    if (n > 0 && sdiff_buf_reserve(&p->hdrs, n * sizeof(struct sdiff_http1_header)) < 0)
        return fail_nomem(p, p->blk_pos);
    const struct field_rec *r = (const struct field_rec *)p->fields.data;
    struct sdiff_http1_header *h = (struct sdiff_http1_header *)p->hdrs.data;
    for (size_t i = 0; i < n; i++) {
        h[i].name = (struct sdiff_slice){base + r[i].name_off, r[i].name_len};
        h[i].value = (struct sdiff_slice){base + r[i].value_off, r[i].value_len};
    }
    if (n > 0) {
        p->hdrs.len = n * sizeof(struct sdiff_http1_header);
        p->hdrs.data[p->hdrs.len] = '\0';
    }
    *n_out = n;
    return SDIFF_OK;
}

/* ---- start line and field lines -------------------------------------------------------- */

/*
 * request-line = method SP request-target SP HTTP-version   (RFC 9112 3)
 * status-line  = HTTP-version SP status-code SP [ reason-phrase ]   (RFC 9112 4)
 * Offsets in *sl are relative to s. Returns 0, or -1 with *why and the offending index.
 */
static int parse_start_line(enum sdiff_http1_kind kind, const uint8_t *s, size_t len,
                            struct start_line *sl, size_t *bad, const char **why)
{
    memset(sl, 0, sizeof *sl);
    if (kind == SDIFF_HTTP1_REQUEST) {
        size_t i = 0;
        while (i < len && is_tchar(s[i]))
            i++;
        if (i == 0 || i == len || s[i] != ' ') {
            *bad = i;
            *why = "invalid method in request line";
            return -1;
        }
        size_t t = i + 1, j = t;
        while (j < len && s[j] != ' ') {
            if (!is_target_char(s[j])) {
                *bad = j;
                *why = "invalid character in request target";
                return -1;
            }
            j++;
        }
        if (j == t || j == len) {
            *bad = j;
            *why = j == t ? "empty request target" : "missing http version in request line";
            return -1;
        }
        size_t v = j + 1;
        if (len - v != 8 || memcmp(s + v, "HTTP/1.", 7) != 0 ||
            (s[v + 7] != '0' && s[v + 7] != '1')) {
            *bad = v;
            *why = "invalid http version in request line";
            return -1;
        }
        sl->method_off = 0;
        sl->method_len = i;
        sl->target_off = t;
        sl->target_len = j - t;
        sl->minor = s[v + 7] - '0';
        return 0;
    }
    if (len < 8 || memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7])) {
        *bad = 0;
        *why = "invalid http version in status line";
        return -1;
    }
    if (len < 9 || s[8] != ' ') {
        *bad = 8;
        *why = "missing space after http version in status line";
        return -1;
    }
    if (len < 12 || !is_digit(s[9]) || !is_digit(s[10]) || !is_digit(s[11]) ||
        (len > 12 && s[12] != ' ')) {
        *bad = 9;
        *why = "invalid status code";
        return -1;
    }
    /* A missing SP before an empty reason is tolerated. */
    size_t r = len > 12 ? 13 : 12;
    for (size_t k = r; k < len; k++) {
        if (!is_field_char(s[k])) {
            *bad = k;
            *why = "invalid character in reason phrase";
            return -1;
        }
    }
    sl->minor = s[7] - '0';
    sl->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    sl->reason_off = r;
    sl->reason_len = len - r;
    return 0;
}

/*
 * A request line the parser refuses but that still reads "METHOD SP target SP HTTP/1.x" in
 * printable ASCII (a space inside the target, a method that is not a token) is HTTP sent
 * wrong, not another protocol: hand it to on_head as seen (method up to the first space,
 * target up to the space before the version), so the exchange keeps it and the server's
 * answer pairs with it. Anything else, control bytes included, stays unseen.
 */
static int deliver_refused_line(struct sdiff_http1 *p, const uint8_t *s, size_t len,
                                const char **why)
{
    if (p->kind != SDIFF_HTTP1_REQUEST || p->cb.on_head == NULL || len < 12)
        return SDIFF_OK;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return SDIFF_OK;
    const uint8_t *v = s + len - 9;
    if (memcmp(v, " HTTP/1.", 8) != 0 || (v[8] != '0' && v[8] != '1'))
        return SDIFF_OK;
    const uint8_t *sp = memchr(s, ' ', len - 9);
    if (sp == NULL || sp == s || sp + 1 >= v)
        return SDIFF_OK;
    struct sdiff_http1_head h;
    memset(&h, 0, sizeof h);
    h.kind = SDIFF_HTTP1_REQUEST;
    h.method = (struct sdiff_slice){s, (size_t)(sp - s)};
    h.target = (struct sdiff_slice){sp + 1, (size_t)(v - sp - 1)};
    h.version_minor = v[8] - '0';
    h.framing = SDIFF_HTTP1_NOBODY;
    if (memchr(h.target.p, ' ', h.target.len) != NULL)
        *why = "space inside the request target";
    h.refused = *why;
    return p->cb.on_head(&h, p->ud);
}

static int start_line(struct sdiff_http1 *p, const uint8_t *b, size_t off, size_t len)
{
    size_t bad = 0;
    const char *why = NULL;
    if (parse_start_line(p->kind, b + off, len, &p->sl, &bad, &why) < 0) {
        int rc = deliver_refused_line(p, b + off, len, &why);
        if (rc < 0)
            return fail_cb(p, rc, p->blk_pos + off);
        return fail(p, SDIFF_EPARSE, p->blk_pos + off + bad, "%s", why);
    }
    p->sl.method_off += off;
    p->sl.target_off += off;
    p->sl.reason_off += off;
    p->sl_ok = 1;
    return SDIFF_OK;
}

/* field-line = field-name ":" OWS field-value OWS   (RFC 9112 5) */
static int field_line(struct sdiff_http1 *p, const uint8_t *b, size_t off, size_t len)
{
    const uint8_t *s = b + off;
    uint64_t pos = p->blk_pos + off;
    int trailer = p->state == ST_TRAILERS;
    if (is_ows(s[0]))
        return fail(p, SDIFF_EPARSE, pos, "obsolete line folding in %s",
                    trailer ? "trailer section" : "header block");
    size_t i = 0;
    while (i < len && is_tchar(s[i]))
        i++;
    if (i == len || s[i] != ':') {
        size_t k = i;
        while (k < len && is_ows(s[k]))
            k++;
        if (i > 0 && k > i && k < len && s[k] == ':')
            return fail(p, SDIFF_EPARSE, pos + i, "whitespace between field name and colon");
        if (i == len)
            return fail(p, SDIFF_EPARSE, pos, "field line without a colon");
        return fail(p, SDIFF_EPARSE, pos + i, "invalid character in field name");
    }
    if (i == 0)
        return fail(p, SDIFF_EPARSE, pos, "empty field name");
    size_t v = i + 1, e = len;
    while (v < e && is_ows(s[v]))
        v++;
    while (e > v && is_ows(s[e - 1]))
        e--;
    size_t bad = v + find_bad_field_char(s + v, e - v);
    if (bad < e)
        return fail(p, SDIFF_EPARSE, pos + bad, "invalid character in field value");
    if (p->fields.len / sizeof(struct field_rec) >= p->max_header_count)
        return fail(p, SDIFF_ELIMIT, pos, "more than %zu %s fields", p->max_header_count,
                    trailer ? "trailer" : "header");
    struct field_rec r = {off, i, off + v, e - v};
    /* sdiff_buf_append without the call: this runs once per field line */
    if (p->fields.cap - p->fields.len <= sizeof r) {
        int rc = sdiff_buf_reserve(&p->fields, sizeof r);
        if (rc < 0)
            return rc == SDIFF_ENOMEM ? fail_nomem(p, pos)
                                      : fail(p, rc, pos, "internal buffer limit reached");
    }
    memcpy(p->fields.data + p->fields.len, &r, sizeof r);
    p->fields.len += sizeof r;
    p->fields.data[p->fields.len] = '\0';
    return SDIFF_OK;
}

/* ---- framing (RFC 9112 6) -------------------------------------------------------------- */

static uint64_t field_pos(const struct sdiff_http1 *p, size_t i)
{
    const struct field_rec *r = (const struct field_rec *)p->fields.data;
    return p->blk_pos + r[i].name_off;
}

/*
 * Content-Length = 1*DIGIT, possibly a list or repeated; all values must agree (6.3).
 * Returns 0, or -1 with *why (the first value seen stays in *cl).
 */
static int parse_content_length(struct sdiff_slice v, int *have, uint64_t *cl, const char **why)
{
    size_t i = 0;
    for (;;) {
        while (i < v.len && is_ows(v.p[i]))
            i++;
        size_t start = i;
        uint64_t n = 0;
        while (i < v.len && is_digit(v.p[i])) {
            unsigned d = (unsigned)(v.p[i] - '0');
            if (n > (UINT64_MAX - d) / 10) {
                *why = "content-length value too large";
                return -1;
            }
            n = n * 10 + d;
            i++;
        }
        while (i < v.len && is_ows(v.p[i]))
            i++;
        if (i == start || (i < v.len && v.p[i] != ',')) {
            *why = "invalid content-length value";
            return -1;
        }
        if (*have && n != *cl) {
            *why = "conflicting content-length values";
            return -1;
        }
        *have = 1;
        *cl = n;
        if (i == v.len)
            return 0;
        i++; /* ',' */
    }
}

/*
 * Walk a comma-separated list (RFC 9110 5.6.1), calling fn on each non-empty element with
 * its OWS trimmed. Transfer-coding parameters (";q=...") are cut off.
 */
static void list_each(struct sdiff_slice v, void (*fn)(const uint8_t *s, size_t n, void *ctx),
                      void *ctx)
{
    size_t i = 0;
    while (i < v.len) {
        size_t s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        size_t e = i;
        const uint8_t *semi = memchr(v.p + s, ';', e - s);
        if (semi != NULL)
            e = (size_t)(semi - v.p);
        while (s < e && is_ows(v.p[s]))
            s++;
        while (e > s && is_ows(v.p[e - 1]))
            e--;
        if (e > s)
            fn(v.p + s, e - s, ctx);
        i++;
    }
}

struct te_state {
    int last_chunked; /* the final coding so far is chunked */
};

static void te_element(const uint8_t *s, size_t n, void *ctx)
{
    struct te_state *te = ctx;
    te->last_chunked = slice_ieq_n(s, n, "chunked");
}

struct conn_state {
    int close;
    int keep_alive;
};

static void conn_element(const uint8_t *s, size_t n, void *ctx)
{
    struct conn_state *c = ctx;
    if (slice_ieq_n(s, n, "close"))
        c->close = 1;
    else if (slice_ieq_n(s, n, "keep-alive"))
        c->keep_alive = 1;
}

/* Decide the framing; for a refused request, *refused_at is the offending field's offset. */
static int decide_framing(struct sdiff_http1 *p, struct sdiff_http1_head *h,
                          uint64_t *refused_at)
{
    int have_cl = 0, have_te = 0;
    size_t cl_idx = 0, te_idx = 0, bad_cl_idx = 0;
    const char *bad_cl = NULL;
    uint64_t cl = 0;
    struct te_state te = {0};
    struct conn_state conn = {0};
    for (size_t i = 0; i < h->nheaders; i++) {
        struct sdiff_slice name = h->headers[i].name, value = h->headers[i].value;
        switch (name.len) {
        case 14:
            if (sdiff_slice_ieq(name, "content-length")) {
                const char *why = NULL;
                if (parse_content_length(value, &have_cl, &cl, &why) < 0) {
                    if (h->kind == SDIFF_HTTP1_RESPONSE)
                        return fail(p, SDIFF_EPARSE, field_pos(p, i), "%s", why);
                    if (bad_cl == NULL) {
                        bad_cl = why;
                        bad_cl_idx = i;
                    }
                }
                cl_idx = i;
            }
            break;
        case 17:
            if (sdiff_slice_ieq(name, "transfer-encoding")) {
                have_te = 1;
                te_idx = i;
                list_each(value, te_element, &te);
            }
            break;
        case 10:
            if (sdiff_slice_ieq(name, "connection"))
                list_each(value, conn_element, &conn);
            break;
        case 6:
            if (h->kind == SDIFF_HTTP1_REQUEST && sdiff_slice_ieq(name, "expect") &&
                sdiff_slice_ieq(value, "100-continue"))
                h->expect_continue = 1;
            break;
        default:
            break;
        }
    }
    if (have_te && (have_cl || bad_cl) && h->kind == SDIFF_HTTP1_RESPONSE)
        return fail(p, SDIFF_EPARSE, field_pos(p, cl_idx > te_idx ? cl_idx : te_idx),
                    "content-length and transfer-encoding both present");
    /*
     * Requests whose framing a front end and the service could read differently (request
     * smuggling): keep what was seen. Where RFC 9112 6.3 says Transfer-Encoding overrides
     * Content-Length, frame it so, so that later requests on the connection still parse;
     * where the length cannot be determined (6.3 items 4 and 5), deliver the head and fail.
     */
    if (h->kind == SDIFF_HTTP1_REQUEST) {
        size_t both_idx = cl_idx > te_idx ? cl_idx : te_idx;
        if (have_te && (have_cl || bad_cl) && te.last_chunked) {
            h->framing_problem = "content-length and transfer-encoding both present (a "
                                 "smuggling risk): framed by transfer-encoding";
        } else if (have_te && (have_cl || bad_cl)) {
            h->refused = "content-length and transfer-encoding both present, and "
                         "transfer-encoding does not end in chunked";
            *refused_at = field_pos(p, both_idx);
        } else if (have_te && !te.last_chunked) {
            h->refused = "request transfer-encoding does not end in chunked";
            *refused_at = field_pos(p, te_idx);
        } else if (bad_cl) {
            h->refused = bad_cl;
            *refused_at = field_pos(p, bad_cl_idx);
        }
        if (h->refused) {
            h->framing = SDIFF_HTTP1_NOBODY;
            h->keep_alive = 0;
            return SDIFF_OK;
        }
    }

    if (have_te)
        h->framing = te.last_chunked ? SDIFF_HTTP1_CHUNKED : SDIFF_HTTP1_CLOSE;
    else if (have_cl)
        h->framing = SDIFF_HTTP1_LENGTH;
    else
        h->framing = h->kind == SDIFF_HTTP1_REQUEST ? SDIFF_HTTP1_NOBODY : SDIFF_HTTP1_CLOSE;
    if (h->kind == SDIFF_HTTP1_RESPONSE &&
        ((h->status >= 100 && h->status < 200) || h->status == 204 || h->status == 304))
        h->framing = SDIFF_HTTP1_NOBODY;
    h->content_length = h->framing == SDIFF_HTTP1_LENGTH ? cl : 0;
    h->upgrade = h->kind == SDIFF_HTTP1_RESPONSE && h->status == 101;

    if (h->version_minor >= 1)
        h->keep_alive = !conn.close;
    else
        h->keep_alive = conn.keep_alive && !conn.close;
    /* An HTTP/1.0 message with Transfer-Encoding has faulty framing: close after it (6.1). */
    if (h->version_minor == 0 && have_te)
        h->keep_alive = 0;
    if (h->framing == SDIFF_HTTP1_CLOSE)
        h->keep_alive = 0;
    return SDIFF_OK;
}

/* ---- end of a block -------------------------------------------------------------------- */

/* The empty line after the header block; base is the block's first byte. */
static int head_done(struct sdiff_http1 *p, const uint8_t *base)
{
    struct sdiff_http1_head h;
    memset(&h, 0, sizeof h);
    size_t n = 0;
    int rc = build_headers(p, base, &n);
    if (rc < 0)
        return rc;
    const struct start_line *sl = &p->sl;
    h.kind = p->kind;
    h.method = (struct sdiff_slice){base + sl->method_off, sl->method_len};
    h.target = (struct sdiff_slice){base + sl->target_off, sl->target_len};
    h.reason = (struct sdiff_slice){base + sl->reason_off, sl->reason_len};
    h.status = sl->status;
    h.version_minor = sl->minor;
    h.headers = (const struct sdiff_http1_header *)p->hdrs.data;
    h.nheaders = n;
    uint64_t refused_at = p->blk_pos;
    rc = decide_framing(p, &h, &refused_at);
    if (rc < 0)
        return rc;

    uint64_t end = p->blk_pos + p->blk_len;
    if (p->cb.on_head != NULL) {
        unsigned ep = p->epoch;
        rc = p->cb.on_head(&h, p->ud);
        if (rc < 0)
            return fail_cb(p, rc, end);
        if (p->epoch != ep)
            return 1;
    }
    if (h.refused) /* delivered only so the caller keeps what was seen */
        return fail(p, SDIFF_EPARSE, refused_at, "%s", h.refused);
    if (rc == SDIFF_HTTP1_SKIP_BODY && p->kind == SDIFF_HTTP1_RESPONSE)
        h.framing = SDIFF_HTTP1_NOBODY;
    /* set_upgraded from on_head (e.g. a 2xx to CONNECT): the message ends with its head. */
    if (h.upgrade || p->upgraded) {
        h.framing = SDIFF_HTTP1_NOBODY;
        p->upgraded = 1;
    }
    drop_message(p);
    switch (h.framing) {
    case SDIFF_HTTP1_LENGTH:
        if (h.content_length == 0)
            return complete(p, end);
        p->state = ST_BODY_LENGTH;
        p->remaining = h.content_length;
        return 1;
    case SDIFF_HTTP1_CHUNKED:
        p->state = ST_CHUNK_SIZE;
        p->line_pos = end;
        return 1;
    case SDIFF_HTTP1_CLOSE:
        p->state = ST_BODY_CLOSE;
        return 1;
    case SDIFF_HTTP1_NOBODY:
    default:
        return complete(p, end);
    }
}

/* The empty line after the trailer section (RFC 9112 7.1.2). */
static int trailers_done(struct sdiff_http1 *p, const uint8_t *base)
{
    size_t n = 0;
    uint64_t end = p->blk_pos + p->blk_len;
    int rc = build_headers(p, base, &n);
    if (rc < 0)
        return rc;
    if (n > 0 && p->cb.on_trailers != NULL) {
        unsigned ep = p->epoch;
        rc = p->cb.on_trailers((const struct sdiff_http1_header *)p->hdrs.data, n, p->ud);
        if (rc < 0)
            return fail_cb(p, rc, end);
        if (p->epoch != ep || p->upgraded)
            return 1;
    }
    return complete(p, end);
}

/* One complete line of a block, CR/LF stripped. Returns < 0, 0 (more lines) or 1 (done). */
static int block_line(struct sdiff_http1 *p, const uint8_t *b, size_t off, size_t len)
{
    size_t idx = p->nlines++;
    if (p->state == ST_HEAD && idx == 0)
        return start_line(p, b, off, len);
    if (len == 0)
        return p->state == ST_HEAD ? head_done(p, b) : trailers_done(p, b);
    return field_line(p, b, off, len);
}

/* ---- states ---------------------------------------------------------------------------- */

static int step_start(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *cur = *pcur;
    /* RFC 9112 2.2: empty lines before a start line are ignored. */
    while (cur < end && (*cur == '\r' || *cur == '\n'))
        cur++;
    *pcur = cur;
    if (cur == end)
        return SDIFF_OK;
    begin_block(p, ST_HEAD, at(p, cur));
    return emit_begin(p, at(p, cur));
}

/* ST_HEAD and ST_TRAILERS: collect lines until the empty one. */
static int step_block(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *cur = *pcur;
    const uint8_t *base = cur; /* the block's first byte, when it starts in this input */
    int buffered = p->blk_len > 0;
    int rc;
    while (cur < end) {
        const uint8_t *lf = memchr(cur, '\n', (size_t)(end - cur));
        size_t n = lf != NULL ? (size_t)(lf - cur) + 1 : (size_t)(end - cur);
        if (n > p->max_header_bytes - p->blk_len)
            return fail(
                p, SDIFF_ELIMIT, p->blk_pos + p->max_header_bytes, "%s larger than %zu bytes",
                p->state == ST_HEAD ? "header block" : "trailer section", p->max_header_bytes);
        if (buffered) {
            rc = buf_append(p, &p->buf, cur, n, at(p, cur));
            if (rc < 0)
                return rc;
        }
        p->blk_len += n;
        cur += n;
        *pcur = cur;
        if (lf == NULL)
            break;
        const uint8_t *b = buffered ? p->buf.data : base;
        size_t ls = p->line_off, le = p->blk_len - 1;
        p->line_off = p->blk_len;
        if (le > ls && b[le - 1] == '\r')
            le--;
        rc = block_line(p, b, ls, le - ls);
        if (rc != 0)
            return rc < 0 ? rc : SDIFF_OK;
    }
    /* The block goes on in the next input: keep what this one held (the only copy). */
    if (!buffered)
        return buf_append(p, &p->buf, base, p->blk_len, at(p, base));
    return SDIFF_OK;
}

static int step_body_length(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *q = *pcur;
    size_t avail = (size_t)(end - q);
    size_t n = p->remaining < avail ? (size_t)p->remaining : avail;
    *pcur = q + n;
    p->remaining -= n;
    int rc = emit_body(p, q, n);
    if (rc != 0)
        return rc < 0 ? rc : SDIFF_OK;
    if (p->remaining == 0) {
        rc = complete(p, at(p, q + n));
        return rc < 0 ? rc : SDIFF_OK;
    }
    return SDIFF_OK;
}

static int step_body_close(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *q = *pcur;
    *pcur = end;
    int rc = emit_body(p, q, (size_t)(end - q));
    return rc < 0 ? rc : SDIFF_OK;
}

/*
 * chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF      (RFC 9112 7.1)
 * chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * chunk-ext-val = token / quoted-string
 * Extensions are checked and ignored. Whitespace after the size without an extension is
 * tolerated, as most servers do.
 */
static int parse_chunk_size(struct sdiff_http1 *p, const uint8_t *s, size_t len, uint64_t *out)
{
    uint64_t pos = p->line_pos;
    size_t i = 0;
    uint64_t v = 0;
    int h;
    while (i < len && (h = hex_val(s[i])) >= 0) {
        if (i == 16)
            return fail(p, SDIFF_EPARSE, pos + i, "chunk size has more than 16 hex digits");
        v = (v << 4) | (uint64_t)h;
        i++;
    }
    if (i == 0)
        return fail(p, SDIFF_EPARSE, pos, "invalid chunk size");
    for (;;) {
        while (i < len && is_ows(s[i]))
            i++;
        if (i == len)
            break;
        if (s[i] != ';')
            return fail(p, SDIFF_EPARSE, pos + i, "invalid character after chunk size");
        i++;
        while (i < len && is_ows(s[i]))
            i++;
        size_t name = i;
        while (i < len && is_tchar(s[i]))
            i++;
        if (i == name)
            return fail(p, SDIFF_EPARSE, pos + i, "invalid chunk extension");
        while (i < len && is_ows(s[i]))
            i++;
        if (i == len || s[i] != '=')
            continue;
        i++;
        while (i < len && is_ows(s[i]))
            i++;
        if (i < len && s[i] == '"') {
            i++;
            while (i < len && s[i] != '"') {
                if (s[i] == '\\')
                    i++;
                if (i == len || !is_field_char(s[i]))
                    return fail(p, SDIFF_EPARSE, pos + i, "invalid chunk extension");
                i++;
            }
            if (i == len)
                return fail(p, SDIFF_EPARSE, pos + i,
                            "unterminated quoted string in chunk extension");
            i++;
        } else {
            size_t val = i;
            while (i < len && is_tchar(s[i]))
                i++;
            if (i == val)
                return fail(p, SDIFF_EPARSE, pos + i, "invalid chunk extension");
        }
    }
    *out = v;
    return SDIFF_OK;
}

static int step_chunk_size(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *cur = *pcur;
    const uint8_t *lf = memchr(cur, '\n', (size_t)(end - cur));
    size_t n = lf != NULL ? (size_t)(lf - cur) + 1 : (size_t)(end - cur);
    size_t have = p->buf.len;
    /*
     * The bound is on the line without its CRLF. A partial line ending in CR may be one byte
     * short of its terminator, so it is only judged on what surely belongs to the line.
     */
    size_t content = lf != NULL ? n - 1 : n;
    if (content > 0 && cur[content - 1] == '\r')
        content--;
    else if (content == 0 && have > 0 && p->buf.data[have - 1] == '\r')
        have--;
    if (content > CHUNK_LINE_MAX || have > CHUNK_LINE_MAX - content)
        return fail(p, SDIFF_EPARSE, p->line_pos + CHUNK_LINE_MAX,
                    "chunk size line longer than %d bytes", CHUNK_LINE_MAX);
    const uint8_t *line = cur;
    size_t len = n;
    if (p->buf.len > 0 || lf == NULL) {
        int rc = buf_append(p, &p->buf, cur, n, at(p, cur));
        if (rc < 0)
            return rc;
        line = p->buf.data;
        len = p->buf.len;
    }
    *pcur = cur + n;
    if (lf == NULL)
        return SDIFF_OK;
    len--; /* LF */
    if (len > 0 && line[len - 1] == '\r')
        len--;
    uint64_t size = 0;
    int rc = parse_chunk_size(p, line, len, &size);
    sdiff_buf_reset(&p->buf);
    if (rc < 0)
        return rc;
    if (size > 0) {
        p->state = ST_CHUNK_DATA;
        p->remaining = size;
    } else {
        begin_block(p, ST_TRAILERS, at(p, *pcur));
    }
    return SDIFF_OK;
}

static int step_chunk_data(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *q = *pcur;
    size_t avail = (size_t)(end - q);
    size_t n = p->remaining < avail ? (size_t)p->remaining : avail;
    *pcur = q + n;
    p->remaining -= n;
    if (p->remaining == 0) {
        p->state = ST_CHUNK_END;
        p->cr_seen = 0;
    }
    int rc = emit_body(p, q, n);
    return rc < 0 ? rc : SDIFF_OK;
}

static int step_chunk_end(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *cur = *pcur;
    while (cur < end) {
        if (*cur == '\n') {
            cur++;
            p->state = ST_CHUNK_SIZE;
            p->line_pos = at(p, cur);
            sdiff_buf_reset(&p->buf);
            break;
        }
        if (*cur != '\r' || p->cr_seen) {
            *pcur = cur;
            return fail(p, SDIFF_EPARSE, at(p, cur), "missing line break after chunk data");
        }
        p->cr_seen = 1;
        cur++;
    }
    *pcur = cur;
    return SDIFF_OK;
}

/*
 * A necessary condition for a start line, checked on the first bytes of a candidate (the
 * buffered part a, then b) before it is buffered; see parse_start_line for the full check.
 */
static int hunt_prefix_ok(enum sdiff_http1_kind kind, const uint8_t *a, size_t na, const uint8_t *b,
                          size_t nb)
{
    uint8_t s[HUNT_PREFIX];
    size_t k = 0;
    for (size_t i = 0; i < na && k < HUNT_PREFIX; i++)
        s[k++] = a[i];
    for (size_t i = 0; i < nb && k < HUNT_PREFIX; i++)
        s[k++] = b[i];
    if (kind == SDIFF_HTTP1_RESPONSE) {
        static const char pat[] = "HTTP/1.d ddd";
        for (size_t i = 0; i < k && i < sizeof pat - 1; i++) {
            if (pat[i] == 'd' ? !is_digit(s[i]) : s[i] != (uint8_t)pat[i])
                return 0;
        }
        return 1;
    }
    size_t i = 0;
    while (i < k && is_tchar(s[i]))
        i++;
    if (i == k)
        return 1;
    if (i == 0 || s[i] != ' ')
        return 0;
    return i + 1 == k || is_target_char(s[i + 1]);
}

/*
 * Hunting anywhere: whether a start line may begin at q, by a pattern stricter than at a line
 * start, since a byte inside a body may look like anything. A request line starts with a
 * standard method, a space and the first byte of a target ('/', "http", '*'); a status line
 * with "HTTP/1.x ddd". 1 yes, 0 no; -1 the input ends first with what could still be one.
 */
static int anywhere_at(enum sdiff_http1_kind kind, const uint8_t *q, const uint8_t *end)
{
    static const char *const methods[] = {"GET ",    "HEAD ",  "POST ",    "PUT ",  "DELETE ",
                                          "PATCH ",  "TRACE ", "OPTIONS ", "CONNECT "};
    size_t avail = (size_t)(end - q);
    if (kind == SDIFF_HTTP1_RESPONSE) {
        static const char pat[] = "HTTP/1.d ddd";
        for (size_t i = 0; i < sizeof pat - 1; i++) {
            if (i == avail)
                return -1;
            if (pat[i] == 'd' ? !is_digit(q[i]) : q[i] != (uint8_t)pat[i])
                return 0;
        }
        return 1;
    }
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        size_t ml = strlen(methods[m]), i = 0;
        while (i < ml && i < avail && q[i] == (uint8_t)methods[m][i])
            i++;
        if (i == avail)
            return -1;
        if (i < ml)
            continue;
        return q[ml] == '/' || q[ml] == 'h' || q[ml] == '*';
    }
    return 0;
}

/* anywhere_at for a candidate whose first bytes are a[0..na) (buffered), then b[0..nb). */
static int anywhere_at2(enum sdiff_http1_kind kind, const uint8_t *a, size_t na, const uint8_t *b,
                        size_t nb)
{
    uint8_t s[HUNT_PREFIX];
    size_t k = 0;
    for (size_t i = 0; i < na && k < HUNT_PREFIX; i++)
        s[k++] = a[i];
    for (size_t i = 0; i < nb && k < HUNT_PREFIX; i++)
        s[k++] = b[i];
    int r = anywhere_at(kind, s, s + k);
    /* every pattern is shorter than HUNT_PREFIX: -1 there means the input ran out */
    return r;
}

/* The first byte in [cur, stop) where a start line may begin (anywhere_at), or NULL. */
static const uint8_t *anywhere_find(enum sdiff_http1_kind kind, const uint8_t *cur,
                                    const uint8_t *stop, const uint8_t *end)
{
    uint8_t first = kind == SDIFF_HTTP1_RESPONSE ? 'H' : 0;
    for (const uint8_t *q = cur; q < stop; q++) {
        if (first ? *q != first : (*q < 'C' || *q > 'T'))
            continue;
        if (anywhere_at(kind, q, end) != 0)
            return q;
    }
    return NULL;
}

/*
 * ST_HUNT: only a line start can begin a message. A candidate line is buffered (up to
 * max_header_bytes) until its LF; if it parses as a start line it becomes the first line of
 * the next message, else it is skipped whole. Hunting anywhere, the candidates are the bytes
 * where anywhere_at says a start line may begin instead, wherever they are in a line.
 */
static int step_hunt(struct sdiff_http1 *p, const uint8_t **pcur, const uint8_t *end)
{
    const uint8_t *cur = *pcur;
    int rc;
    while (cur < end) {
        const uint8_t *lf = memchr(cur, '\n', (size_t)(end - cur));
        if (p->anywhere && p->bol && p->buf.len == 0 && anywhere_at(p->kind, cur, end) == 0)
            p->bol = 0; /* a line start is no better than any byte: "bbbPOST /" is body + POST */
        if (!p->bol) {
            const uint8_t *stop = lf != NULL ? lf + 1 : end;
            const uint8_t *q = p->anywhere ? anywhere_find(p->kind, cur, stop, end) : NULL;
            if (q != NULL) {
                p->skipped += (uint64_t)(q - cur);
                cur = q;
                p->bol = 1;
                continue;
            }
            p->skipped += (uint64_t)(stop - cur);
            cur = stop;
            p->bol = lf != NULL;
            continue;
        }
        size_t n = lf != NULL ? (size_t)(lf - cur) + 1 : (size_t)(end - cur);
        size_t have = p->buf.len;
        if (n > p->max_header_bytes - have || !hunt_prefix_ok(p->kind, p->buf.data, have, cur, n) ||
            (p->anywhere && have > 0 && anywhere_at2(p->kind, p->buf.data, have, cur, n) == 0)) {
            if (p->anywhere) {
                /* Looked at again from its next byte, the buffered ones too, so a split
                 * input finds what the whole one does ("CO" + "PTIONS /": OPTIONS). */
                size_t i = 1;
                while (i < have && anywhere_at2(p->kind, p->buf.data + i, have - i, cur, n) == 0)
                    i++;
                if (i < have) {
                    p->skipped += i;
                    sdiff_buf_consume(&p->buf, i);
                    continue;
                }
                p->skipped += have;
                sdiff_buf_reset(&p->buf);
                p->bol = 0;
                if (have == 0) {
                    p->skipped++;
                    cur++;
                }
                continue;
            }
            /* not a start line: the rest of it is skipped by the !bol branch */
            p->skipped += have;
            sdiff_buf_reset(&p->buf);
            p->bol = 0;
            continue;
        }
        if (lf == NULL || have > 0) {
            rc = buf_append(p, &p->buf, cur, n, at(p, cur));
            if (rc < 0)
                return rc;
        }
        if (lf == NULL) {
            cur = end;
            break;
        }
        const uint8_t *line = have > 0 ? p->buf.data : cur;
        size_t ll = have + n, len = ll - 1;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        struct start_line sl;
        size_t bad;
        const char *why;
        if (parse_start_line(p->kind, line, len, &sl, &bad, &why) < 0) {
            p->skipped += ll;
            sdiff_buf_reset(&p->buf);
            cur += n;
            continue;
        }
        if (have == 0) {
            /* Whole line in this input: leave it unconsumed for the ST_HEAD fast path. */
            *pcur = cur;
            begin_block(p, ST_HEAD, at(p, cur));
            return emit_begin(p, at(p, cur));
        }
        /* The line is in p->buf: it is the start of a split header block. */
        cur += n;
        *pcur = cur;
        p->state = ST_HEAD;
        p->blk_pos = at(p, cur) - ll;
        p->blk_len = ll;
        p->line_off = ll;
        p->nlines = 0;
        p->sl_ok = 0;
        p->fields.len = 0;
        rc = emit_begin(p, p->blk_pos);
        if (rc != 0)
            return rc < 0 ? rc : SDIFF_OK;
        rc = block_line(p, p->buf.data, 0, len);
        return rc < 0 ? rc : SDIFF_OK;
    }
    *pcur = cur;
    return SDIFF_OK;
}

/* ---- API ------------------------------------------------------------------------------- */

int sdiff_http1_new(struct sdiff_http1 **out, enum sdiff_http1_kind kind,
                    const struct sdiff_limits *limits, const struct sdiff_http1_cb *cb, void *ud,
                    struct sdiff_err *err)
{
    if (SDIFF_NEVER(out == NULL) || SDIFF_NEVER(limits == NULL) ||
        SDIFF_NEVER(kind != SDIFF_HTTP1_REQUEST && kind != SDIFF_HTTP1_RESPONSE))
        return SDIFF_EINVAL;
    *out = NULL;
    struct sdiff_http1 *p = sdiff_calloc(1, sizeof *p);
    if (p == NULL)
        return sdiff_err_set(err, SDIFF_ENOMEM, "http1", "out of memory");
    p->kind = kind;
    if (cb != NULL)
        p->cb = *cb;
    p->ud = ud;
    p->max_header_bytes = limits->max_header_bytes;
    p->max_header_count = limits->max_header_count;
    size_t bufmax =
        p->max_header_bytes > CHUNK_LINE_MAX + 2 ? p->max_header_bytes : CHUNK_LINE_MAX + 2;
    sdiff_buf_init(&p->buf, bufmax);
    size_t nmax = p->max_header_count;
    size_t rec = sizeof(struct field_rec) > sizeof(struct sdiff_http1_header)
                     ? sizeof(struct field_rec)
                     : sizeof(struct sdiff_http1_header);
    sdiff_buf_init(&p->fields, nmax > SIZE_MAX / rec ? SIZE_MAX : nmax * rec);
    sdiff_buf_init(&p->hdrs, nmax > SIZE_MAX / rec ? SIZE_MAX : nmax * rec);
    p->state = ST_START;
    *out = p;
    return SDIFF_OK;
}

void sdiff_http1_free(struct sdiff_http1 *p)
{
    if (p == NULL)
        return;
    sdiff_buf_dispose(&p->buf);
    sdiff_buf_dispose(&p->fields);
    sdiff_buf_dispose(&p->hdrs);
    sdiff_free(p);
}

int sdiff_http1_feed(struct sdiff_http1 *p, const uint8_t *data, size_t len, struct sdiff_err *err)
{
    if (SDIFF_NEVER(p == NULL) || SDIFF_NEVER(data == NULL && len > 0))
        return SDIFF_EINVAL;
    int rc = SDIFF_OK;
    p->err = err;
    p->in = data;
    p->consumed = 0;
    if (p->state == ST_FAILED && !p->upgraded) {
        rc = fail(p, SDIFF_EPARSE, p->pos,
                  "parser stopped by an earlier error until sdiff_http1_resync");
        goto out;
    }
    if (len == 0)
        goto out;
    const uint8_t *cur = data, *end = data + len;
    while (cur < end && !p->upgraded) {
        switch (p->state) {
        case ST_START:
            rc = step_start(p, &cur, end);
            break;
        case ST_HEAD:
        case ST_TRAILERS:
            rc = step_block(p, &cur, end);
            break;
        case ST_BODY_LENGTH:
            rc = step_body_length(p, &cur, end);
            break;
        case ST_BODY_CLOSE:
            rc = step_body_close(p, &cur, end);
            break;
        case ST_CHUNK_SIZE:
            rc = step_chunk_size(p, &cur, end);
            break;
        case ST_CHUNK_DATA:
            rc = step_chunk_data(p, &cur, end);
            break;
        case ST_CHUNK_END:
            rc = step_chunk_end(p, &cur, end);
            break;
        case ST_HUNT:
            rc = step_hunt(p, &cur, end);
            break;
        case ST_FAILED:
        default:
            /* a callback failed the parser: the rest is dropped */
            cur = end;
            break;
        }
        if (rc < 0)
            break;
        rc = SDIFF_OK; /* 1 from a step only means "dispatch again" */
    }
    if (rc < 0) {
        drop_message(p);
        p->state = ST_FAILED;
        p->consumed = (size_t)(cur - data);
    }
out:
    p->pos += len;
    p->in = NULL;
    p->err = NULL;
    return rc;
}

int sdiff_http1_eof(struct sdiff_http1 *p, struct sdiff_err *err)
{
    if (SDIFF_NEVER(p == NULL))
        return SDIFF_EINVAL;
    if (p->upgraded)
        return SDIFF_OK;
    int rc = SDIFF_OK;
    p->err = err;
    switch (p->state) {
    case ST_START:
        break;
    case ST_HUNT:
        p->skipped += p->buf.len;
        sdiff_buf_reset(&p->buf);
        break;
    case ST_BODY_CLOSE:
        rc = complete(p, p->pos);
        if (rc < 0)
            p->state = ST_FAILED;
        else
            rc = SDIFF_OK;
        break;
    case ST_FAILED:
        rc = fail(p, SDIFF_EPARSE, p->pos,
                  "parser stopped by an earlier error until sdiff_http1_resync");
        break;
    case ST_HEAD:
        rc = fail(p, SDIFF_ETRUNC, p->pos, "stream ended inside a header block");
        break;
    case ST_BODY_LENGTH:
        rc = fail(p, SDIFF_ETRUNC, p->pos, "stream ended with %" PRIu64 " body bytes missing",
                  p->remaining);
        break;
    case ST_CHUNK_SIZE:
    case ST_CHUNK_DATA:
    case ST_CHUNK_END:
        rc = fail(p, SDIFF_ETRUNC, p->pos, "stream ended inside a chunked body");
        break;
    case ST_TRAILERS:
        rc = fail(p, SDIFF_ETRUNC, p->pos, "stream ended inside a trailer section");
        break;
    }
    if (rc == SDIFF_ETRUNC) {
        drop_message(p);
        p->state = ST_START;
    }
    p->err = NULL;
    return rc;
}

int sdiff_http1_gap(struct sdiff_http1 *p, uint64_t len)
{
    if (SDIFF_NEVER(p == NULL))
        return SDIFF_EINVAL;
    p->pos += len;
    if (len == 0 || p->upgraded)
        return SDIFF_OK;
    switch (p->state) {
    case ST_BODY_LENGTH:
        if (len < p->remaining) {
            p->remaining -= len;
            return SDIFF_OK;
        }
        if (len == p->remaining) {
            int rc = complete(p, p->pos);
            if (rc < 0) {
                p->state = ST_FAILED;
                return rc;
            }
            return SDIFF_OK;
        }
        break;
    case ST_CHUNK_DATA:
        if (len <= p->remaining) {
            p->remaining -= len;
            if (p->remaining == 0) {
                p->state = ST_CHUNK_END;
                p->cr_seen = 0;
            }
            return SDIFF_OK;
        }
        break;
    case ST_BODY_CLOSE:
        return SDIFF_OK;
    default:
        break;
    }
    sdiff_http1_resync(p);
    return SDIFF_EPARSE;
}

void sdiff_http1_hunt_anywhere(struct sdiff_http1 *p, int on)
{
    if (SDIFF_NEVER(p == NULL))
        return;
    p->anywhere = on != 0;
}

void sdiff_http1_resync(struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return;
    if (p->state == ST_HUNT)
        p->skipped += p->buf.len;
    drop_message(p);
    p->state = ST_HUNT;
    p->bol = 1;
    p->upgraded = 0;
    p->epoch++;
}

int sdiff_http1_in_message(const struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL) || p->upgraded)
        return 0;
    switch (p->state) {
    case ST_HEAD:
    case ST_BODY_LENGTH:
    case ST_BODY_CLOSE:
    case ST_CHUNK_SIZE:
    case ST_CHUNK_DATA:
    case ST_CHUNK_END:
    case ST_TRAILERS:
        return 1;
    default:
        return 0;
    }
}

size_t sdiff_http1_consumed(const struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return 0;
    return p->consumed;
}

int sdiff_http1_start_line_ok(const struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return 0;
    return p->sl_ok;
}

int sdiff_http1_upgraded(const struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return 0;
    return p->upgraded;
}

void sdiff_http1_set_upgraded(struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return;
    p->upgraded = 1;
}

uint64_t sdiff_http1_skipped_bytes(const struct sdiff_http1 *p)
{
    if (SDIFF_NEVER(p == NULL))
        return 0;
    return p->skipped;
}

size_t sdiff_http1_mem(const struct sdiff_http1 *p)
{
    size_t n = sdiff_mem_cost(sizeof *p);
    if (p->buf.cap)
        n += sdiff_mem_cost(p->buf.cap);
    if (p->fields.cap)
        n += sdiff_mem_cost(p->fields.cap);
    if (p->hdrs.cap)
        n += sdiff_mem_cost(p->hdrs.cap);
    return n;
}
