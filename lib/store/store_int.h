#ifndef SDIFF_STORE_INT_H
#define SDIFF_STORE_INT_H

#include "shadowdiff/store.h"

/* Append a message's headers as a JSON array of [name, value], secrets redacted per opts. */
int sdiff__store_headers_json(const struct sdiff_msg *m, const struct sdiff_store_opts *opts,
                              struct sdiff_buf *b);

#endif
