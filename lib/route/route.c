/*
 * route.c - route templates inferred from request paths.
 */
#include "shadowdiff/route.h"

#include <string.h>

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
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

int sdiff_route_segment_is_id(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    size_t digits = 0, hex = 0, alpha = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (is_hex(c))
            hex++;
        else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            alpha++;
        else if (c != '-' && c != '_')
            other++;
    }
    if (digits == n)
        return 1;
    if (looks_uuid(s, n))
        return 1;
    if (n >= 16 && digits + hex == n && digits > 0)
        return 1;
    /* long opaque tokens (base64url ids, hashes): letters and digits mixed */
    return n >= 24 && other == 0 && digits > 0 && (alpha + hex) > 0;
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
