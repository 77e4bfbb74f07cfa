/*
 * route.c - route templates inferred from request paths: a segment that is an identifier
 * becomes {id}, every other segment stays as it is.
 */
#include "shadowdiff/route.h"

#include <string.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static int is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int looks_uuid(const char *s, size_t n)
{
    if (n != 36)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return 1;
}

/* n digits at s forming a number in lo..hi. */
static int number_in(const char *s, size_t n, int lo, int hi)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
}

/*
 * An ISO 8601 calendar date, YYYY-MM-DD, alone or followed by a time ("T10:00:00Z",
 * "T10:00:00.5+02:00"): what /reports/2026-12-07 is keyed by.
 */
static int looks_iso_date(const char *s, size_t n)
{
    if (n < 10 || !number_in(s, 4, 0, 9999) || s[4] != '-' || !number_in(s + 5, 2, 1, 12) ||
        s[7] != '-' || !number_in(s + 8, 2, 1, 31))
        return 0;
    if (n == 10)
        return 1;
    if ((s[10] != 'T' && s[10] != 't') || n < 16 || !number_in(s + 11, 2, 0, 23) ||
        s[13] != ':' || !number_in(s + 14, 2, 0, 59))
        return 0;
    for (size_t i = 16; i < n; i++)
        if (!is_digit(s[i]) && strchr(":.+-Zz", s[i]) == NULL)
            return 0;
    return 1;
}

/*
 * The one rule for identifiers (README "Routes"), each clause for a kind of key services
 * put in paths, and each narrow enough that words stay literal:
 *   all digits                                  /users/42
 *   a UUID                                      /orders/123e4567-e89b-12d3-a456-426614174000
 *   8+ hex digits with at least one digit       /commits/3fa4b2c1, but /codes/deadbeef stays
 *   16+ base64url characters, a digit among     /share/Xk3_pQ9vLm2-aB7zQ1 (a word of 16
 *     them and a letter                         letters, "notification-settings", stays)
 *   an ISO date (with a time, optionally)       /reports/2026-12-07
 *   a slug [a-z0-9-] of 6+ with a digit and a   /posts/hello-world-2, but v2, oauth2, s3
 *     hyphen                                    and /files/report-final stay
 * Templates from the config or OpenAPI name the rest (sdiff_routes_route).
 */
int sdiff_route_segment_is_id(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t digits = 0, hex = 0, lower = 0, upper = 0, hyphens = 0, unders = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        digits += is_digit(c);
        hex += is_hex(c);
        lower += is_lower(c);
        upper += is_upper(c);
        hyphens += c == '-';
        unders += c == '_';
    }
    if (digits == n)
        return 1;
    if (looks_uuid(s, n) || looks_iso_date(s, n))
        return 1;
    if (n >= 8 && hex == n && digits > 0)
        return 1;
    int b64url = digits + lower + upper + hyphens + unders == n;
    if (n >= 16 && b64url && digits > 0 && lower + upper > 0)
        return 1;
    return n >= 6 && digits + lower + hyphens == n && digits > 0 && hyphens > 0;
}

int sdiff_route_template(const char *method, const char *target, struct sdiff_buf *out)
{
    int rc = sdiff_buf_puts(out, method && *method ? method : "?");
    rc = rc < 0 ? rc : sdiff_buf_append(out, " ", 1);
    const char *p = target ? target : "";
    /* absolute-form: keep only the path */
    const char *scheme = p[0] != '/' ? strstr(p, "://") : NULL;
    if (scheme) {
        const char *slash = strchr(scheme + 3, '/');
        p = slash ? slash : "/";
    }
    size_t end = strcspn(p, "?#");
    if (end == 0 && rc >= 0)
        return sdiff_buf_append(out, "/", 1);
    size_t i = 0;
    while (i < end && rc >= 0) {
        if (p[i] == '/') {
            rc = sdiff_buf_append(out, "/", 1);
            i++;
            continue;
        }
        size_t j = i;
        while (j < end && p[j] != '/')
            j++;
        if (sdiff_route_segment_is_id(p + i, j - i))
            rc = sdiff_buf_append(out, "{id}", 4);
        else
            rc = sdiff_buf_append(out, p + i, j - i);
        i = j;
    }
    return rc;
}
