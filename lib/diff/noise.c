/*
 * noise.c - the set of learned noise keys per route: an open-addressing hash set of
 * "route \x1f key" strings. It only grows (a run learns, the store persists it).
 */
#include "shadowdiff/diff.h"

#include <string.h>

struct sdiff_noise {
    char **slots;
    size_t cap;   /* power of two */
    size_t count;
    int (*on_add)(const char *route, const char *key, void *ud);
    void *on_add_ud;
};

void sdiff_noise_on_add(struct sdiff_noise *n,
                        int (*fn)(const char *route, const char *key, void *ud), void *ud)
{
    n->on_add = fn;
    n->on_add_ud = ud;
}

static uint64_t hash2(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = a; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    h = (h ^ 0x1f) * 1099511628211ull;
    for (const char *p = b; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static int slot_is(const char *slot, const char *route, const char *key)
{
    size_t rl = strlen(route);
    return strncmp(slot, route, rl) == 0 && slot[rl] == '\x1f' && strcmp(slot + rl + 1, key) == 0;
}

int sdiff_noise_new(struct sdiff_noise **out)
{
    struct sdiff_noise *n = sdiff_calloc(1, sizeof *n);
    *out = NULL;
    if (n == NULL)
        return SDIFF_ENOMEM;
    n->cap = 64;
    n->slots = sdiff_calloc(n->cap, sizeof *n->slots);
    if (n->slots == NULL) {
        sdiff_free(n);
        return SDIFF_ENOMEM;
    }
    *out = n;
    return SDIFF_OK;
}

void sdiff_noise_free(struct sdiff_noise *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->cap; i++)
        sdiff_free(n->slots[i]);
    sdiff_free(n->slots);
    sdiff_free(n);
}

int sdiff_noise_has(const struct sdiff_noise *n, const char *route, const char *key)
{
    if (n == NULL || n->count == 0)
        return 0;
    route = route ? route : "";
    for (size_t i = hash2(route, key) & (n->cap - 1);; i = (i + 1) & (n->cap - 1)) {
        if (n->slots[i] == NULL)
            return 0;
        if (slot_is(n->slots[i], route, key))
            return 1;
    }
}

static int grow(struct sdiff_noise *n)
{
    size_t cap = n->cap * 2;
    char **slots = sdiff_calloc(cap, sizeof *slots);
    if (slots == NULL)
        return SDIFF_ENOMEM;
    for (size_t i = 0; i < n->cap; i++) {
        char *s = n->slots[i];
        if (s == NULL)
            continue;
        char *sep = strchr(s, '\x1f');
        *sep = '\0';
        size_t j = hash2(s, sep + 1) & (cap - 1);
        *sep = '\x1f';
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = s;
    }
    sdiff_free(n->slots);
    n->slots = slots;
    n->cap = cap;
    return SDIFF_OK;
}

int sdiff_noise_add(struct sdiff_noise *n, const char *route, const char *key)
{
    route = route ? route : "";
    if (sdiff_noise_has(n, route, key))
        return 0;
    if ((n->count + 1) * 2 > n->cap && grow(n) < 0)
        return SDIFF_ENOMEM;
    size_t rl = strlen(route), kl = strlen(key);
    char *s = sdiff_malloc(rl + kl + 2);
    if (s == NULL)
        return SDIFF_ENOMEM;
    memcpy(s, route, rl);
    s[rl] = '\x1f';
    memcpy(s + rl + 1, key, kl + 1);
    size_t i = hash2(route, key) & (n->cap - 1);
    while (n->slots[i])
        i = (i + 1) & (n->cap - 1);
    n->slots[i] = s;
    n->count++;
    if (n->on_add) {
        int rc = n->on_add(route, key, n->on_add_ud);
        if (rc < 0)
            return rc;
    }
    return 1;
}

