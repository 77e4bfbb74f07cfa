/*
 * fuzz_text.c - libFuzzer target for what stands between traffic and a screen: the text
 * escaper (sdiff_buf_text), the JSON C1 pass (sdiff_buf_json_c1) and the shell quoting of the
 * curl line (sdiff_report_shell_quote).
 *
 * Input: one option byte (bits 0-3: the sdiff_buf_text flags), then the bytes.
 *
 * Checked: the escaped text is valid UTF-8 with no C0 control (but the line feeds and tabs
 * the flags keep), no DEL, no C1 control, bidirectional override or U+FFFE/U+FFFF, unless
 * SDIFF_TEXT_UTF8_ONLY (then only valid UTF-8); it equals the input exactly when
 * sdiff_text_span covers the input; with SDIFF_TEXT_BACKSLASH alone, unescaping it gives the
 * input back (no two inputs print the same). The input as a JSON string after the C1 pass
 * has no DEL or C1 byte pair and reads back as the same string. The shell word shows nothing
 * a terminal acts on either.
 *
 * Built by CMake with -DSDIFF_FUZZ=ON (tests/fuzz/README.md), run as
 *   build-fuzz/tests/fuzz/fuzz_text -max_len=4096 corpus/ seeds/text/
 */
#include "sdiff_fuzz.h"

#include <jansson.h>
#include <string.h>

#include "shadowdiff/core.h"
#include "shadowdiff/report.h"

#define CHECK(x) SDIFF_FUZZ_CHECK(x)

/* Valid UTF-8 holding nothing a terminal acts on (keep_nl, keep_tab: those may stay). */
static void check_safe(const uint8_t *p, size_t n, int keep_nl, int keep_tab)
{
    for (size_t i = 0; i < n;) {
        size_t len = sdiff_utf8_len(p + i, n - i);
        CHECK(len > 0);
        if (len == 1) {
            uint8_t c = p[i];
            CHECK(c != 0x7f);
            CHECK(c >= 0x20 || (c == '\n' && keep_nl) || (c == '\t' && keep_tab));
        }
        if (len == 2)
            CHECK(!(p[i] == 0xc2 && p[i + 1] <= 0x9f));
        if (len == 3) {
            uint32_t cp = (uint32_t)(p[i] & 0x0f) << 12 | (uint32_t)(p[i + 1] & 0x3f) << 6 |
                          (p[i + 2] & 0x3f);
            CHECK(!(cp >= 0x202a && cp <= 0x202e) && !(cp >= 0x2066 && cp <= 0x2069) &&
                  cp != 0xfffe && cp != 0xffff);
        }
        i += len;
    }
}

static int hexval(uint8_t h)
{
    return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* The input back from text escaped with SDIFF_TEXT_BACKSLASH and no other flag. */
static void unescape(const uint8_t *p, size_t n, struct sdiff_buf *out)
{
    for (size_t i = 0; i < n;) {
        if (p[i] != '\\') {
            CHECK(sdiff_buf_append(out, p + i, 1) == SDIFF_OK);
            i++;
            continue;
        }
        CHECK(i + 1 < n);
        uint8_t e = p[i + 1], c;
        if (e == '\\' || e == 'n' || e == 'r' || e == 't') {
            c = e == '\\' ? '\\' : e == 'n' ? '\n' : e == 'r' ? '\r' : '\t';
            CHECK(sdiff_buf_append(out, &c, 1) == SDIFF_OK);
            i += 2;
        } else if (e == 'x') {
            CHECK(i + 3 < n && hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0);
            c = (uint8_t)(hexval(p[i + 2]) << 4 | hexval(p[i + 3]));
            CHECK(sdiff_buf_append(out, &c, 1) == SDIFF_OK);
            i += 4;
        } else {
            CHECK(e == 'u' && i + 5 < n);
            uint32_t cp = 0;
            for (int k = 2; k < 6; k++) {
                CHECK(hexval(p[i + k]) >= 0);
                cp = cp << 4 | (uint32_t)hexval(p[i + k]);
            }
            uint8_t u[3];
            size_t len = cp < 0x800 ? 2 : 3;
            if (len == 2) {
                u[0] = (uint8_t)(0xc0 | cp >> 6);
                u[1] = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                u[0] = (uint8_t)(0xe0 | cp >> 12);
                u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp & 0x3f));
            }
            CHECK(sdiff_buf_append(out, u, len) == SDIFF_OK);
            i += 6;
        }
    }
}

int sdiff_fuzz_text(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 15u;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    struct sdiff_buf b, back, j, q;
    sdiff_buf_init(&b, SIZE_MAX);
    sdiff_buf_init(&back, SIZE_MAX);
    sdiff_buf_init(&j, SIZE_MAX);
    sdiff_buf_init(&q, SIZE_MAX);

    CHECK(sdiff_buf_text(&b, p, n, flags) == SDIFF_OK);
    const uint8_t *t = b.data ? b.data : (const uint8_t *)"";
    if (flags & SDIFF_TEXT_UTF8_ONLY)
        for (size_t i = 0; i < b.len; i += sdiff_utf8_len(t + i, b.len - i))
            CHECK(sdiff_utf8_len(t + i, b.len - i) > 0);
    else
        check_safe(t, b.len, flags & SDIFF_TEXT_NL, flags & SDIFF_TEXT_TAB);
    size_t span = sdiff_text_span(p, n, flags);
    CHECK(span <= n);
    if (span == n)
        CHECK(b.len == n && (n == 0 || memcmp(t, p, n) == 0));
    if (flags == SDIFF_TEXT_BACKSLASH) {
        unescape(t, b.len, &back);
        CHECK(back.len == n && (n == 0 || memcmp(back.data, p, n) == 0));
    }

    /* JSON: the C1 pass changes how the string is written, never what it says */
    CHECK(sdiff_buf_json_str(&j, p, n) == SDIFF_OK);
    json_t *before = json_loadb((const char *)j.data, j.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(before != NULL);
    CHECK(sdiff_buf_json_c1(&j, 0) == SDIFF_OK);
    for (size_t i = 0; i < j.len; i++) {
        CHECK(j.data[i] != 0x7f);
        CHECK(!(j.data[i] == 0xc2 && i + 1 < j.len && j.data[i + 1] <= 0x9f &&
                j.data[i + 1] >= 0x80));
    }
    json_t *after = json_loadb((const char *)j.data, j.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    CHECK(after != NULL && json_equal(before, after));
    json_decref(before);
    json_decref(after);

    /* the shell word of the curl line */
    if (memchr(p, 0, n) == NULL) {
        CHECK(sdiff_report_shell_quote(&q, (const char *)p, n) == SDIFF_OK);
        check_safe(q.data, q.len, 0, 0);
    }

    sdiff_buf_dispose(&b);
    sdiff_buf_dispose(&back);
    sdiff_buf_dispose(&j);
    sdiff_buf_dispose(&q);
    return 0;
}
