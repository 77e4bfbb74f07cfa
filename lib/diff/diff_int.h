#ifndef SDIFF_DIFF_INT_H
#define SDIFF_DIFF_INT_H

#include <stddef.h>

/* "$.items[3].a[10]" -> "$.items[*].a[*]"; returns the length written. */
int sdiff__path_pattern(const char *path, char *out, size_t cap);

#endif
