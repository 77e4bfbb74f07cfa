/*
 * core.c - error object, allocator hooks with failure injection, bounded buffers.
 *
 * sdiff_buf keeps data NUL-terminated past len so that text can be read as a C string;
 * growth never exceeds max, so every buffer in the library has a hard cap.
 */
#include "shadowdiff/core.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

int sdiff_err_set(struct sdiff_err *err, int code, const char *where, const char *fmt, ...)
{
    if (err == NULL || err->code != 0)
        return code;
    err->code = code;
    snprintf(err->where, sizeof err->where, "%s", where ? where : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void sdiff_err_clear(struct sdiff_err *err)
{
    if (err != NULL)
        memset(err, 0, sizeof *err);
}

const char *sdiff_status_str(int code)
{
    switch (code) {
    case SDIFF_OK: return "ok";
    case SDIFF_MORE: return "more";
    case SDIFF_END: return "end";
    case SDIFF_ERR: return "error";
    case SDIFF_ENOMEM: return "out of memory";
    case SDIFF_EINVAL: return "invalid argument";
    case SDIFF_EPARSE: return "parse error";
    case SDIFF_ELIMIT: return "limit reached";
    case SDIFF_ETRUNC: return "truncated";
    case SDIFF_EIO: return "i/o error";
    case SDIFF_ENET: return "network error";
    case SDIFF_EDB: return "database error";
    case SDIFF_ETIMEOUT: return "timeout";
    case SDIFF_EPERM: return "permission denied";
    default: return "unknown status";
    }
}

/* ---- allocator ------------------------------------------------------------------------ */

/* Failure injection for tests: -1 means never fail. Not thread-safe by design. */
static long alloc_fail_at = -1;
static long alloc_count;

long sdiff_alloc_fail_after(long n)
{
    long made = alloc_count;
    alloc_count = 0;
    alloc_fail_at = n;
    return made;
}

static int alloc_should_fail(void)
{
    if (alloc_fail_at < 0)
        return 0;
    return alloc_count++ >= alloc_fail_at;
}

void *sdiff_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *sdiff_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *sdiff_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void sdiff_free(void *p)
{
    free(p);
}

char *sdiff_strndup(const char *s, size_t n)
{
    char *d = sdiff_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *sdiff_strdup(const char *s)
{
    return sdiff_strndup(s, strlen(s));
}

/* n decimal digits at s, or -1. */
static int digits_value(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int sdiff_time_parse(const char *s, size_t n, struct sdiff_time *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return 0;
    int y = digits_value(s, 4), mo = digits_value(s + 5, 2), d = digits_value(s + 8, 2);
    int h = digits_value(s + 11, 2), mi = digits_value(s + 14, 2), se = digits_value(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 60)
        return 0;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 0;
    size_t i = 19, nf = 0;
    out->frac[0] = '\0';
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start || i - start > sizeof out->frac - 1)
            return 0;
        memcpy(out->frac, s + start, i - start);
        nf = i - start;
        while (nf > 0 && out->frac[nf - 1] == '0')
            nf--;
        out->frac[nf] = '\0';
    }
    out->has_offset = 0;
    out->offset_min = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        out->has_offset = 1;
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        if (n - i != 6 || s[i + 3] != ':')
            return 0;
        int oh = digits_value(s + i + 1, 2), om = digits_value(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return 0;
        out->has_offset = 1;
        out->offset_min = (s[i] == '-' ? -1 : 1) * (oh * 60 + om);
        i += 6;
    }
    if (i != n)
        return 0;
    out->secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
                (int64_t)out->offset_min * 60;
    return 1;
}

int sdiff_slice_ieq(struct sdiff_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = s.p[i], b = (uint8_t)lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t)(a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (uint8_t)(b + 32);
        if (a != b)
            return 0;
    }
    return 1;
}

/* ---- bounded buffers ------------------------------------------------------------------- */

void sdiff_buf_init(struct sdiff_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sdiff_buf_dispose(struct sdiff_buf *b)
{
    if (b == NULL)
        return;
    sdiff_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int sdiff_buf_reserve(struct sdiff_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return SDIFF_ELIMIT;
    size_t need = b->len + n + 1; /* + NUL */
    if (need <= b->cap)
        return SDIFF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->max < SIZE_MAX && cap > b->max + 1) /* max + 1 would wrap to 0 */
        cap = b->max + 1;
    uint8_t *d = sdiff_realloc(b->data, cap);
    if (d == NULL)
        return SDIFF_ENOMEM;
    b->data = d;
    b->cap = cap;
    return SDIFF_OK;
}

int sdiff_buf_append(struct sdiff_buf *b, const void *p, size_t n)
{
    int rc = sdiff_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SDIFF_OK;
}

int sdiff_buf_puts(struct sdiff_buf *b, const char *s)
{
    return sdiff_buf_append(b, s, strlen(s));
}

int sdiff_buf_printf(struct sdiff_buf *b, const char *fmt, ...)
{
    /* Format straight into the spare room; only a longer result costs a second pass. */
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SDIFF_ERR;
    if ((size_t)n < room) {
        if ((size_t)n > b->max - b->len) {
            b->data[b->len] = '\0';
            return SDIFF_ELIMIT;
        }
        b->len += (size_t)n;
        return SDIFF_OK;
    }
    int rc = sdiff_buf_reserve(b, (size_t)n);
    if (rc < 0) {
        if (b->data)
            b->data[b->len] = '\0';
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SDIFF_OK;
}

int sdiff_buf_put_u64(struct sdiff_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sdiff_buf_append(b, tmp + i, sizeof tmp - i);
}

void sdiff_buf_consume(struct sdiff_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void sdiff_buf_reset(struct sdiff_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* ---- memory budget --------------------------------------------------------------------- */

size_t sdiff_mem_cost(size_t n)
{
    /* glibc's chunk: the size word, rounded up to 16, never under 32 bytes */
    if (n > SIZE_MAX - 32)
        return SIZE_MAX;
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

static void mem_add(struct sdiff_mem_budget *b, size_t n)
{
    b->used = n > SIZE_MAX - b->used ? SIZE_MAX : b->used + n;
    if (b->used > b->peak)
        b->peak = b->used;
}

void sdiff_mem_charge(struct sdiff_mem_budget *b, size_t n)
{
    if (b != NULL)
        mem_add(b, n);
}

int sdiff_mem_fits(const struct sdiff_mem_budget *b, size_t n)
{
    if (b == NULL || b->limit == 0)
        return 1;
    size_t line = b->limit - b->limit / 16;
    return b->used <= line && n <= line - b->used;
}

int sdiff_mem_try(struct sdiff_mem_budget *b, size_t n)
{
    if (b == NULL)
        return 1;
    if (!sdiff_mem_fits(b, n)) {
        b->refused++;
        return 0;
    }
    mem_add(b, n);
    return 1;
}

void sdiff_mem_release(struct sdiff_mem_budget *b, size_t n)
{
    if (b == NULL)
        return;
    assert(n <= b->used);
    b->used = n > b->used ? 0 : b->used - n;
}

uint8_t *sdiff_buf_steal(struct sdiff_buf *b, size_t *len_out)
{
    uint8_t *d = b->data;
    if (len_out)
        *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

int sdiff_buf_json_str(struct sdiff_buf *b, const void *src, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = src;
    /* Reserve the worst case (every byte as \u00XX) once, then write without checks; fall
     * back to exact appends only when that worst case is over the buffer's cap. */
    if (n <= (SIZE_MAX - 2) / 6 && sdiff_buf_reserve(b, n * 6 + 2) == SDIFF_OK) {
        uint8_t *o = b->data + b->len;
        *o++ = '"';
        size_t i = 0;
        while (i < n) {
            uint8_t c = p[i];
            if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
                *o++ = c;
                i++;
                continue;
            }
            size_t ulen = c >= 0x80 ? sdiff_utf8_len(p + i, n - i) : 0;
            if (ulen > 0) {
                memcpy(o, p + i, ulen);
                o += ulen;
                i += ulen;
                continue;
            }
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            default:
                memcpy(o, "u00", 3);
                o[3] = (uint8_t)hex[c >> 4];
                o[4] = (uint8_t)hex[c & 15];
                o += 5;
            }
            i++;
        }
        *o++ = '"';
        b->len = (size_t)(o - b->data);
        b->data[b->len] = '\0';
        return SDIFF_OK;
    }
    int rc = sdiff_buf_append(b, "\"", 1);
    if (rc < 0)
        return rc;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && p[j] >= 0x20 && p[j] < 0x80 && p[j] != '"' && p[j] != '\\')
            j++;
        if (j > i) {
            if ((rc = sdiff_buf_append(b, p + i, j - i)) < 0)
                return rc;
            i = j;
            continue;
        }
        char esc[8];
        size_t elen = 2;
        uint8_t c = p[i];
        size_t ulen = c >= 0x80 ? sdiff_utf8_len(p + i, n - i) : 0;
        if (ulen > 0) {
            if ((rc = sdiff_buf_append(b, p + i, ulen)) < 0)
                return rc;
            i += ulen;
            continue;
        }
        esc[0] = '\\';
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        if ((rc = sdiff_buf_append(b, esc, elen)) < 0)
            return rc;
        i++;
    }
    return sdiff_buf_append(b, "\"", 1);
}

/* ---- keyed hash and randomness -------------------------------------------------------- */

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
    uint64_t v0, v1, v2, v3;
    uint8_t tail[8];
    size_t ntail;
    uint64_t total;
};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void sip_round(struct sip *s)
{
    s->v0 += s->v1;
    s->v1 = SIP_ROTL(s->v1, 13);
    s->v1 ^= s->v0;
    s->v0 = SIP_ROTL(s->v0, 32);
    s->v2 += s->v3;
    s->v3 = SIP_ROTL(s->v3, 16);
    s->v3 ^= s->v2;
    s->v0 += s->v3;
    s->v3 = SIP_ROTL(s->v3, 21);
    s->v3 ^= s->v0;
    s->v2 += s->v1;
    s->v1 = SIP_ROTL(s->v1, 17);
    s->v1 ^= s->v2;
    s->v2 = SIP_ROTL(s->v2, 32);
}

static void sip_block(struct sip *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s);
    sip_round(s);
    s->v0 ^= m;
}

static void sip_update(struct sip *s, const uint8_t *p, size_t n)
{
    s->total += n;
    while (n > 0) {
        size_t take = 8 - s->ntail < n ? 8 - s->ntail : n;
        memcpy(s->tail + s->ntail, p, take);
        s->ntail += take;
        p += take;
        n -= take;
        if (s->ntail == 8) {
            sip_block(s, le64(s->tail));
            s->ntail = 0;
        }
    }
}

uint64_t sdiff_fnv1a(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

uint64_t sdiff_siphash(const uint8_t key[16], const struct sdiff_slice *parts, size_t nparts)
{
    uint64_t k0 = le64(key), k1 = le64(key + 8);
    struct sip s = {.v0 = k0 ^ 0x736f6d6570736575ull, .v1 = k1 ^ 0x646f72616e646f6dull,
                    .v2 = k0 ^ 0x6c7967656e657261ull, .v3 = k1 ^ 0x7465646279746573ull};
    for (size_t i = 0; i < nparts; i++) {
        uint8_t len[8];
        uint64_t n = parts[i].len;
        for (int b = 0; b < 8; b++)
            len[b] = (uint8_t)(n >> (8 * b));
        sip_update(&s, len, sizeof len);
        if (parts[i].len > 0)
            sip_update(&s, parts[i].p, parts[i].len);
    }
    uint64_t last = (s.total & 0xff) << 56;
    for (size_t i = 0; i < s.ntail; i++)
        last |= (uint64_t)s.tail[i] << (8 * i);
    sip_block(&s, last);
    s.v2 ^= 0xff;
    for (int i = 0; i < 4; i++)
        sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

int sdiff_random_bytes(void *out, size_t n, struct sdiff_err *err)
{
    uint8_t *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return sdiff_err_set(err, SDIFF_ERR, "random", "no random bytes from the kernel: %s",
                                 got < 0 ? strerror(errno) : "none");
        p += got;
        n -= (size_t)got;
    }
    return SDIFF_OK;
}
