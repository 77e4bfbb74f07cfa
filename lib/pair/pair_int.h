#ifndef SDIFF_PAIR_INT_H
#define SDIFF_PAIR_INT_H

#include "shadowdiff/exchange.h"

/* Replace m's header block with a copy of the start-line strings and the n fields. */
int sdiff__msg_build(struct sdiff_msg *m, const char *method, size_t method_len,
                     const char *target, size_t target_len, const char *reason,
                     size_t reason_len, const struct sdiff_hfield *h, size_t n);

#endif
