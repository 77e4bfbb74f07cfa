#ifndef SDIFF_ROUTE_H
#define SDIFF_ROUTE_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/route.h - route templates: "GET /api/users/{id}" from "GET /api/users/42?x=1".
 *
 * A path segment becomes a parameter when it looks like an identifier: all digits, a UUID,
 * 16 or more hex digits, or a long token mixing letters and digits (24+ characters). The
 * query string is not part of the route. Pure functions, thread-safe.
 */

/**
 * Append "METHOD /template" for a request to out.
 * @return SDIFF_OK, SDIFF_ELIMIT (out full), SDIFF_ENOMEM
 */
SDIFF_API int sdiff_route_template(const char *method, const char *target, struct sdiff_buf *out);

/** Whether a path segment (len bytes, no slash) looks like an identifier. */
SDIFF_API int sdiff_route_segment_is_id(const char *seg, size_t len);

#ifdef __cplusplus
}
#endif
#endif
