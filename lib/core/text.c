/*
 * text.c - bytes from the wire made safe for a terminal, a text format or a JSON document.
 *
 * One classifier (span) decides which characters are shown as they are; everything that can
 * move a cursor, change a terminal's state, end a line, or is not UTF-8 becomes a visible
 * escape. Every sink that prints traffic goes through here, so the rule is stated once.
 */
#include "shadowdiff/core.h"

#include <string.h>

size_t sdiff_utf8_len(const void *src, size_t n)
{
    const uint8_t *p = src;
    if (n == 0)
        return 0;
    uint8_t c = p[0];
    size_t len;
    uint32_t min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    uint32_t cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static uint32_t decode(const uint8_t *p, size_t len)
{
    if (len == 1)
        return p[0];
    uint32_t cp = p[0] & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    return cp;
}

/*
 * Code points a terminal or a reader must not get as they are: C1 controls (CSI, OSC and ST
 * start escape sequences in terminals that honour the 8-bit forms), the bidirectional
 * overrides and isolates (they reorder what is shown, so a line can read differently from
 * what it is), and the two noncharacters XML 1.0 forbids.
 */
static int unsafe_cp(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfffe || cp == 0xffff;
}

size_t sdiff_text_span(const void *src, size_t n, unsigned flags)
{
    const uint8_t *p = src;
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7f && !(c == '\\' && (flags & SDIFF_TEXT_BACKSLASH))) {
            i++;
            continue;
        }
        if (c < 0x80) {
            if ((c == '\n' && (flags & SDIFF_TEXT_NL)) || (c == '\t' && (flags & SDIFF_TEXT_TAB)) ||
                (flags & SDIFF_TEXT_UTF8_ONLY)) {
                i++;
                continue;
            }
            break;
        }
        size_t len = sdiff_utf8_len(p + i, n - i);
        if (len == 0 || (!(flags & SDIFF_TEXT_UTF8_ONLY) && unsafe_cp(decode(p + i, len))))
            break;
        i += len;
    }
    return i;
}

int sdiff_buf_text(struct sdiff_buf *b, const void *src, size_t n, unsigned flags)
{
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = src;
    size_t i = 0;
    int rc = SDIFF_OK;
    while (i < n && rc >= 0) {
        size_t run = sdiff_text_span(p + i, n - i, flags);
        if (run > 0) {
            rc = sdiff_buf_append(b, p + i, run);
            i += run;
            continue;
        }
        size_t len = sdiff_utf8_len(p + i, n - i);
        char esc[12];
        if (len > 1) {
            /* a valid character we will not show: U+XXXX, so it reads as a character */
            uint32_t cp = decode(p + i, len);
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            i += len;
        } else {
            uint8_t c = p[i++];
            if (c == '\n' || c == '\r' || c == '\t' || c == '\\') {
                esc[0] = '\\';
                esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : '\\';
                esc[2] = '\0';
            } else {
                memcpy(esc, "\\x", 2);
                esc[2] = hex[c >> 4];
                esc[3] = hex[c & 15];
                esc[4] = '\0';
            }
        }
        rc = sdiff_buf_puts(b, esc);
    }
    return rc;
}

int sdiff_fputs_text(FILE *f, const char *s, unsigned flags)
{
    struct sdiff_buf b;
    size_t n = strlen(s);
    int rc = SDIFF_OK;
    sdiff_buf_init(&b, SIZE_MAX);
    /* in pieces, so a large body costs a bounded buffer */
    for (size_t i = 0; i < n && rc >= 0;) {
        size_t take = n - i > 65536 ? 65536 : n - i;
        while (i + take < n && take > 0 && (((const uint8_t *)s)[i + take] & 0xc0) == 0x80)
            take--; /* never split a UTF-8 sequence: its halves would show as escapes */
        if (take == 0)
            take = n - i > 65536 ? 65536 : n - i;
        sdiff_buf_reset(&b);
        rc = sdiff_buf_text(&b, s + i, take, flags);
        if (rc >= 0 && b.len && fwrite(b.data, 1, b.len, f) != b.len)
            rc = SDIFF_EIO;
        i += take;
    }
    sdiff_buf_dispose(&b);
    return rc;
}

int sdiff_write_json_text(FILE *out, const char *text)
{
    struct sdiff_buf b;
    sdiff_buf_init(&b, SIZE_MAX);
    /* through a buffer: C1 controls in strings are escaped before anything is written */
    int rc = text ? sdiff_buf_puts(&b, text) : SDIFF_ENOMEM;
    rc = rc < 0 ? rc : sdiff_buf_json_c1(&b, 0);
    rc = rc < 0 ? rc : sdiff_buf_append(&b, "\n", 1);
    if (rc >= 0 && fwrite(b.data, 1, b.len, out) != b.len)
        rc = SDIFF_EIO;
    sdiff_buf_dispose(&b);
    return rc;
}

int sdiff_buf_json_c1(struct sdiff_buf *b, size_t from)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = from, extra = 0;
    /* Serialized JSON has ASCII structure: a DEL or a C2 80..9F pair is inside a string,
     * where \u00XX means the same character. */
    for (; i < b->len; i++) {
        if (b->data[i] == 0x7f)
            extra += 5;
        else if (b->data[i] == 0xc2 && i + 1 < b->len && b->data[i + 1] >= 0x80 &&
                 b->data[i + 1] <= 0x9f)
            extra += 4, i++;
    }
    if (extra == 0)
        return SDIFF_OK;
    size_t old = b->len;
    int rc = sdiff_buf_reserve(b, extra);
    if (rc < 0)
        return rc;
    /* rewrite from the end so nothing is overwritten before it is read */
    size_t r = old, w = old + extra;
    while (r > from) {
        uint8_t c = b->data[--r];
        uint8_t cp = 0;
        if (c == 0x7f)
            cp = 0x7f;
        else if (c >= 0x80 && c <= 0x9f && r > from && b->data[r - 1] == 0xc2)
            cp = c, r--;
        if (cp) {
            w -= 6;
            memcpy(b->data + w, "\\u00", 4);
            b->data[w + 4] = (uint8_t)hex[cp >> 4];
            b->data[w + 5] = (uint8_t)hex[cp & 15];
        } else {
            b->data[--w] = c;
        }
    }
    b->len = old + extra;
    b->data[b->len] = '\0';
    return SDIFF_OK;
}

/* ---- a few escaped strings at once ------------------------------------------------------ */

void sdiff_text_ring_init(struct sdiff_text_ring *r)
{
    for (size_t i = 0; i < SDIFF_TEXT_RING; i++)
        sdiff_buf_init(&r->b[i], 16u << 20);
    r->next = 0;
}

void sdiff_text_ring_dispose(struct sdiff_text_ring *r)
{
    for (size_t i = 0; i < SDIFF_TEXT_RING; i++)
        sdiff_buf_dispose(&r->b[i]);
}

const char *sdiff_text(struct sdiff_text_ring *r, const char *s)
{
    if (s == NULL)
        return NULL;
    struct sdiff_buf *b = &r->b[r->next];
    r->next = (r->next + 1) % SDIFF_TEXT_RING;
    sdiff_buf_reset(b);
    if (sdiff_buf_text(b, s, strlen(s), 0) < 0 || b->data == NULL)
        return "?";
    return (const char *)b->data;
}
