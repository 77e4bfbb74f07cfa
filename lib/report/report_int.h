#ifndef SDIFF_REPORT_INT_H
#define SDIFF_REPORT_INT_H
/*
 * report_int.h - internal to report/ (and its tests): where a report's rows come from.
 *
 * A report is built from rows, never from SQL: the store's readers (shadowdiff/store.h)
 * are one source; a test may hand rows of its own through the same table of functions. Each
 * function has the contract of the store reader of the same name, with src in place of the
 * store.
 */
#include "shadowdiff/diff.h"
#include "shadowdiff/report.h"
#include "shadowdiff/store.h"

struct sdiff__report_source {
    void *src;
    int (*get_run)(void *src, int64_t run_id, struct sdiff_store_run *out,
                   struct sdiff_err *err);
    int (*each_route_stats)(void *src, int64_t run_id, uint64_t since_us,
                            int (*fn)(const struct sdiff_store_route_stats *s, void *ud,
                                      struct sdiff_err *err),
                            void *ud, struct sdiff_err *err);
    int (*each_latency)(void *src, int64_t run_id, uint64_t since_us,
                        int (*fn)(const struct sdiff_store_latency *l, void *ud,
                                  struct sdiff_err *err),
                        void *ud, struct sdiff_err *err);
    int (*each_different)(void *src, int64_t run_id, uint64_t since_us,
                          int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                    struct sdiff_err *err),
                          void *ud, struct sdiff_err *err);
    int (*each_difference)(void *src, int64_t result_id,
                           int (*fn)(const struct sdiff_store_difference *d, void *ud,
                                     struct sdiff_err *err),
                           void *ud, struct sdiff_err *err);
    /* the preset the run was judged with (SDIFF_PRESET_NONE without one); may be NULL */
    int (*get_preset)(void *src, int64_t run_id, enum sdiff_preset *out, struct sdiff_err *err);
    int (*each_waiver)(void *src,
                       int (*fn)(const struct sdiff_store_waiver *w, void *ud,
                                 struct sdiff_err *err),
                       void *ud, struct sdiff_err *err);
    /* may be NULL: no learned noise */
    int (*each_noise)(void *src,
                      int (*fn)(const struct sdiff_store_noise *n, void *ud,
                                struct sdiff_err *err),
                      void *ud, struct sdiff_err *err);
    /* may be NULL: no cost samples */
    int (*each_cost_sample)(void *src, int64_t run_id, uint64_t since_us,
                            int (*fn)(const struct sdiff_store_cost_sample *s, void *ud,
                                      struct sdiff_err *err),
                            void *ud, struct sdiff_err *err);
};

/* A JSON string of s: s itself when it is UTF-8, else its escaped text (never NULL for a
 * non-NULL s unless out of memory). For text that comes from traffic. */
#include <jansson.h>
json_t *sdiff__report_json_text(const char *s);

/* A source reading an open store (borrowed for the life of src). */
void sdiff__report_store_source(struct sdiff__report_source *src, struct sdiff_store *st);

/*
 * Build the report of run_id (0: the latest) from src's rows, applying the waivers of src
 * and of config (may be NULL). As sdiff_report_build_config otherwise.
 */
int sdiff__report_build_from(struct sdiff_report **out, const struct sdiff__report_source *src,
                             int64_t run_id, const struct sdiff_report_thresholds *th,
                             const struct sdiff_rules *config, struct sdiff_err *err);

/* The preset run_id was judged with, from the store's meta (SDIFF_PRESET_META_FMT). */
int sdiff__report_run_preset(struct sdiff_store *st, int64_t run_id, enum sdiff_preset *out,
                             struct sdiff_err *err);

/* Open a results database read-only for report, inspect and accept's lookup. */
int sdiff__report_open_store(const char *path, struct sdiff_store **st, struct sdiff_err *err);

/* The cost section (cost.c): the price model the run recorded in its summary (cloud-run
 * unless "price_model" is "none"); the samples, once the endpoints are counted; and its
 * part of each format (nothing when no side was sampled; HTML's is in report_html.h). */
void sdiff__report_cost_model(struct sdiff_report *r, const char *summary_json);
int sdiff__report_load_cost(const struct sdiff__report_source *src, struct sdiff_report *r,
                            struct sdiff_err *err);
json_t *sdiff__report_cost_json(const struct sdiff_report *r);
void sdiff__report_cost_text(const struct sdiff_report *r, const char *bold, const char *reset,
                             FILE *f);
void sdiff__report_cost_markdown(const struct sdiff_report *r, FILE *f);

/* Free r's instances (instances.c). */
void sdiff__report_instances_free(struct sdiff_report *r);

#endif
