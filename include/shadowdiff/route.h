#ifndef SDIFF_ROUTE_H
#define SDIFF_ROUTE_H

#include "shadowdiff/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/route.h - route templates: "GET /api/users/{id}" from "GET /api/users/42?x=1".
 *
 * A path segment becomes {id} when it is an identifier (sdiff_route_segment_is_id): all
 * digits; a UUID; 8+ hex digits with a digit; 16+ base64url characters with a digit and a
 * letter; an ISO date; a slug [a-z0-9-] of 6+ characters with a digit and a hyphen. Every
 * other segment stays literal (v2, oauth2, s3, report-final). The query string is not part
 * of the route. Pure functions, thread-safe.
 */

/**
 * Append "METHOD /template" for a request to out.
 * @return SDIFF_OK, SDIFF_ELIMIT (out full), SDIFF_ENOMEM
 */
SDIFF_API int sdiff_route_template(const char *method, const char *target, struct sdiff_buf *out);

/*
 * Explicit templates ("GET /api/users/{id}", or every path and method of an OpenAPI 3
 * document) take precedence over inference: a request matches a template when the method is
 * the same and every segment is equal, or is a {parameter} in the template (any non-empty
 * segment). When several match, the one with the most literal segments wins, so
 * /api/users/me beats /api/users/{id}.
 */
struct sdiff_routes;

SDIFF_API int sdiff_routes_new(struct sdiff_routes **out);
SDIFF_API void sdiff_routes_free(struct sdiff_routes *r);
/** Add "METHOD /path/{param}" (method "*" matches any). */
SDIFF_API int sdiff_routes_add(struct sdiff_routes *r, const char *route, struct sdiff_err *err);
/** Add every path x method of an OpenAPI 3 document in JSON (servers' path prefixes too). */
SDIFF_API int sdiff_routes_load_openapi(struct sdiff_routes *r, const char *path,
                                        struct sdiff_err *err);
/** The same from a document in memory (len bytes of JSON); name is for messages. */
SDIFF_API int sdiff_routes_load_openapi_text(struct sdiff_routes *r, const char *text,
                                             size_t len, const char *name,
                                             struct sdiff_err *err);
SDIFF_API size_t sdiff_routes_count(const struct sdiff_routes *r);
/** Append the route of a request: a matching template, else sdiff_route_template's. */
SDIFF_API int sdiff_routes_route(const struct sdiff_routes *r, const char *method,
                                 const char *target, struct sdiff_buf *out);

/** Whether a path segment (len bytes, no slash) looks like an identifier. */
SDIFF_API int sdiff_route_segment_is_id(const char *seg, size_t len);

#ifdef __cplusplus
}
#endif
#endif
