#ifndef SDIFF_CORE_H
#define SDIFF_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * shadowdiff/core.h - status codes, error object, allocator hooks, bounded buffers,
 * byte slices, a bounds-checked big-endian reader, limits and counters.
 *
 * Everything here is plain data; nothing is global except the allocator hooks, which a
 * program sets once before using the library (tests use them to fail the Nth allocation).
 */

#if defined(_WIN32)
#define SDIFF_API
#else
#define SDIFF_API __attribute__((visibility("default")))
#endif

#ifdef NDEBUG
#define SDIFF_NEVER(x) (x)
#else
#include <assert.h>
#define SDIFF_NEVER(x) ((x) ? (assert(!(#x)), 1) : 0)
#endif

/* >= 0: not a failure. */
enum sdiff_status {
    SDIFF_OK = 0,
    SDIFF_MORE = 1,
    SDIFF_END = 2,
    SDIFF_ERR = -1,
    SDIFF_ENOMEM = -2,
    SDIFF_EINVAL = -3,
    SDIFF_EPARSE = -4,
    SDIFF_ELIMIT = -5,
    SDIFF_ETRUNC = -6,
    SDIFF_EIO = -7,
    SDIFF_ENET = -8,
    SDIFF_EDB = -9,
    SDIFF_ETIMEOUT = -10,
    SDIFF_EPERM = -11,
};

/* Filled only on failure; the first error wins (sdiff_err_set does nothing if code != 0). */
struct sdiff_err {
    int code;
    uint64_t offset;
    char where[32];
    char msg[200];
};

/** Record an error unless one is already recorded; returns code. err may be NULL. */
SDIFF_API int sdiff_err_set(struct sdiff_err *err, int code, const char *where, const char *fmt,
                            ...) __attribute__((format(printf, 4, 5)));
/** Clear an error object so it can record the next error. */
SDIFF_API void sdiff_err_clear(struct sdiff_err *err);
/** Short lowercase name of a status code ("parse error"). */
SDIFF_API const char *sdiff_status_str(int code);

/* ---- allocator ------------------------------------------------------------------------ */

SDIFF_API void *sdiff_malloc(size_t n);
SDIFF_API void *sdiff_calloc(size_t n, size_t size);
SDIFF_API void *sdiff_realloc(void *p, size_t n);
SDIFF_API void sdiff_free(void *p);
/** Copy of s (NUL-terminated), or NULL on allocation failure. */
SDIFF_API char *sdiff_strdup(const char *s);
/** NUL-terminated copy of n bytes, or NULL on allocation failure. */
SDIFF_API char *sdiff_strndup(const char *s, size_t n);

/**
 * Make allocation number `n` (0-based, counted from this call) and every later one fail,
 * or pass -1 to stop failing. Returns the number of allocations made since the last call.
 * For tests only (an out-of-memory sweep); not thread-safe.
 */
SDIFF_API long sdiff_alloc_fail_after(long n);

/* ---- slices and bounded buffers -------------------------------------------------------- */

/* Unterminated borrowed bytes: never hand p to str* functions. */
struct sdiff_slice {
    const uint8_t *p;
    size_t len;
};

#define SDIFF_SLICE_LIT(s) ((struct sdiff_slice){(const uint8_t *)(s), sizeof(s) - 1})

/** Case-insensitive ASCII comparison of a slice with a C string. */
SDIFF_API int sdiff_slice_ieq(struct sdiff_slice s, const char *lit);

/*
 * An RFC 3339 date-time ("2026-12-07T10:00:00.5+02:00"; 't' or ' ' for 'T', 'z' for 'Z'),
 * or the same without an offset (a naive local time, as Python's isoformat() writes one).
 * The instant is secs (UTC when has_offset, else as written) plus frac: the fractional
 * digits without trailing zeros, so equal instants have equal fields however many digits
 * were written.
 */
struct sdiff_time {
    int64_t secs;
    char frac[19];     /* NUL-terminated, at most 18 digits */
    int has_offset;
    int offset_min;    /* minutes east of UTC, when has_offset */
};

/** Parse s (n bytes) as a whole; 1 when it is such a date-time, else 0 (out undefined). */
SDIFF_API int sdiff_time_parse(const char *s, size_t n, struct sdiff_time *out);

/*
 * Growable byte buffer with a hard maximum. data is always NUL-terminated past len when
 * non-NULL, so text may be read as a C string (binary data may contain NULs).
 */
struct sdiff_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max;
};

/** Start empty with a maximum size of max bytes (no allocation yet). */
SDIFF_API void sdiff_buf_init(struct sdiff_buf *b, size_t max);
/** Release memory; the buffer can be reused after sdiff_buf_init. NULL-safe. */
SDIFF_API void sdiff_buf_dispose(struct sdiff_buf *b);
/** Make room for n more bytes. SDIFF_ELIMIT when len + n > max, SDIFF_ENOMEM. */
SDIFF_API int sdiff_buf_reserve(struct sdiff_buf *b, size_t n);
/** Append n bytes. SDIFF_ELIMIT (nothing appended) when len + n > max, SDIFF_ENOMEM. */
SDIFF_API int sdiff_buf_append(struct sdiff_buf *b, const void *p, size_t n);
/** Append a NUL-terminated string. */
SDIFF_API int sdiff_buf_puts(struct sdiff_buf *b, const char *s);
/** Append printf-formatted text. */
SDIFF_API int sdiff_buf_printf(struct sdiff_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Append an unsigned integer in decimal (faster than printf on hot paths). */
SDIFF_API int sdiff_buf_put_u64(struct sdiff_buf *b, uint64_t v);
/** Drop the first n bytes (n <= len), moving the rest to the front. */
SDIFF_API void sdiff_buf_consume(struct sdiff_buf *b, size_t n);
/** Set len to 0, keeping the allocation. */
SDIFF_API void sdiff_buf_reset(struct sdiff_buf *b);
/**
 * Append n bytes as a JSON string literal (with quotes). Bytes that are not valid UTF-8
 * are written as \u00XX (their Latin-1 reading), so the output is always valid JSON.
 */
SDIFF_API int sdiff_buf_json_str(struct sdiff_buf *b, const void *p, size_t n);
/** Hand the bytes to the caller (free with sdiff_free); the buffer becomes empty. */
SDIFF_API uint8_t *sdiff_buf_steal(struct sdiff_buf *b, size_t *len_out);

/* ---- text from the wire, for terminals and text formats ------------------------------- */

/*
 * Every string that came from traffic (or from a database that may have) is written through
 * sdiff_buf_text before it reaches a terminal, a text report, a log line or an error message.
 * Shown as they are: printable ASCII and valid UTF-8. Escaped: C0 controls and DEL as \xHH
 * (\n, \r, \t for those three), C1 controls U+0080..U+009F, bidirectional overrides and
 * isolates and U+FFFE/U+FFFF as \uXXXX, and each byte that is not part of valid UTF-8 as
 * \xHH. The output is valid UTF-8 within XML 1.0's character set.
 */
enum {
    SDIFF_TEXT_NL = 1,        /* keep line feeds (multi-line text such as a body) */
    SDIFF_TEXT_TAB = 2,       /* keep tabs */
    SDIFF_TEXT_UTF8_ONLY = 4, /* only make it valid UTF-8 (for a JSON or XML writer that
                                 escapes controls itself): invalid bytes become \xHH */
    SDIFF_TEXT_BACKSLASH = 8, /* write \ as \\ too, so no two inputs give the same text */
};

/** Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not one (or n is 0). */
SDIFF_API size_t sdiff_utf8_len(const void *p, size_t n);
/** Bytes at the start of p[0..n) that sdiff_buf_text would copy unchanged. */
SDIFF_API size_t sdiff_text_span(const void *p, size_t n, unsigned flags);
/** Append n bytes escaped as described above. SDIFF_ELIMIT, SDIFF_ENOMEM. */
SDIFF_API int sdiff_buf_text(struct sdiff_buf *b, const void *p, size_t n, unsigned flags);
/** Write the NUL-terminated s to f through sdiff_buf_text. SDIFF_EIO when f fails. */
SDIFF_API int sdiff_fputs_text(FILE *f, const char *s, unsigned flags);
/**
 * In the serialized JSON text b->data[from..len) (valid UTF-8, as a JSON writer leaves it),
 * write DEL and U+0080..U+009F as \u00XX escapes: the same characters to a JSON reader,
 * nothing a terminal acts on. Used on every JSON document that may reach a terminal.
 */
SDIFF_API int sdiff_buf_json_c1(struct sdiff_buf *b, size_t from);
/**
 * Write a serialized JSON document (text, as a JSON writer made it; NULL means the writer ran
 * out of memory) to out with its C1 controls escaped (sdiff_buf_json_c1) and a newline.
 * The caller keeps text. SDIFF_OK, SDIFF_ENOMEM, SDIFF_EIO (the write failed).
 */
SDIFF_API int sdiff_write_json_text(FILE *out, const char *text);

/* Several escaped strings alive at once, for one printf call with several of them. */
#define SDIFF_TEXT_RING 8
struct sdiff_text_ring {
    struct sdiff_buf b[SDIFF_TEXT_RING];
    unsigned next;
};
SDIFF_API void sdiff_text_ring_init(struct sdiff_text_ring *r);
SDIFF_API void sdiff_text_ring_dispose(struct sdiff_text_ring *r);
/** s through sdiff_buf_text (no flags); valid until SDIFF_TEXT_RING more calls. NULL for
 * NULL, "?" when out of memory. Borrowed from the ring. */
SDIFF_API const char *sdiff_text(struct sdiff_text_ring *r, const char *s);

/* ---- files shadowdiff writes ------------------------------------------------------------ */

/*
 * A report output (report --out, gate --junit): written to a temporary file beside the target
 * (created 0666 & ~umask with O_EXCL | O_NOFOLLOW: reports are made to be shared) and renamed
 * over it on commit, so an existing path (a symlink, someone else's file) is replaced, never
 * followed, truncated or chmod'ed. "-" is stdout.
 */
struct sdiff_outfile {
    FILE *f;        /* write the report here */
    char *path, *tmp;
    int is_stdout;
};
/** SDIFF_OK, SDIFF_EIO (the directory is not writable), SDIFF_EINVAL, SDIFF_ENOMEM. */
SDIFF_API int sdiff_outfile_open(struct sdiff_outfile *o, const char *path,
                                 struct sdiff_err *err);
/** Flush, sync and rename into place; on failure the temporary file is removed. */
SDIFF_API int sdiff_outfile_commit(struct sdiff_outfile *o, struct sdiff_err *err);
/** Close and remove the temporary file (after a failure). NULL-safe, idempotent. */
SDIFF_API void sdiff_outfile_abort(struct sdiff_outfile *o);

enum {
    SDIFF_DB_WRITE = 1,  /* shadowdiff will write it: must be the user's, not writable by others */
    SDIFF_DB_CREATE = 2, /* create it when missing: 0600, O_EXCL | O_NOFOLLOW */
};
/**
 * Check a database file before SQLite opens it (creating it with SDIFF_DB_CREATE). Always
 * refused: a symbolic link, anything but a regular file. With SDIFF_DB_WRITE also: a file of
 * another user, or one that group or others may write (SDIFF_EPERM, with what to do). A file
 * only read that others can read is allowed, with a warning in warn (may be NULL), else warn
 * is "". SDIFF_OK, SDIFF_EPERM, SDIFF_EIO.
 */
SDIFF_API int sdiff_file_db_check(const char *path, unsigned how, char *warn, size_t warncap,
                                  struct sdiff_err *err);

/* ---- bounds-checked reader ------------------------------------------------------------- */

/*
 * Cursor over wire bytes. Getters past the end return 0 and set `bad`; check bad once after
 * a group of reads. Never cast packet bytes to a struct.
 */
struct sdiff_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    int bad;
};

static inline void sdiff_rd_init(struct sdiff_rd *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
    r->bad = 0;
}
static inline size_t sdiff_rd_left(const struct sdiff_rd *r)
{
    return r->bad ? 0 : r->len - r->off;
}
static inline int sdiff_rd_has(struct sdiff_rd *r, size_t n)
{
    if (r->bad || r->len - r->off < n) {
        r->bad = 1;
        return 0;
    }
    return 1;
}
static inline uint8_t sdiff_rd_u8(struct sdiff_rd *r)
{
    return sdiff_rd_has(r, 1) ? r->p[r->off++] : 0;
}
static inline uint16_t sdiff_rd_u16be(struct sdiff_rd *r)
{
    if (!sdiff_rd_has(r, 2))
        return 0;
    uint16_t v = (uint16_t)((r->p[r->off] << 8) | r->p[r->off + 1]);
    r->off += 2;
    return v;
}
static inline uint16_t sdiff_rd_u16le(struct sdiff_rd *r)
{
    if (!sdiff_rd_has(r, 2))
        return 0;
    uint16_t v = (uint16_t)((r->p[r->off + 1] << 8) | r->p[r->off]);
    r->off += 2;
    return v;
}
static inline uint32_t sdiff_rd_u32be(struct sdiff_rd *r)
{
    if (!sdiff_rd_has(r, 4))
        return 0;
    const uint8_t *q = r->p + r->off;
    r->off += 4;
    return ((uint32_t)q[0] << 24) | ((uint32_t)q[1] << 16) | ((uint32_t)q[2] << 8) | q[3];
}
static inline uint32_t sdiff_rd_u32le(struct sdiff_rd *r)
{
    if (!sdiff_rd_has(r, 4))
        return 0;
    const uint8_t *q = r->p + r->off;
    r->off += 4;
    return ((uint32_t)q[3] << 24) | ((uint32_t)q[2] << 16) | ((uint32_t)q[1] << 8) | q[0];
}
static inline const uint8_t *sdiff_rd_bytes(struct sdiff_rd *r, size_t n)
{
    if (!sdiff_rd_has(r, n))
        return NULL;
    const uint8_t *q = r->p + r->off;
    r->off += n;
    return q;
}
static inline void sdiff_rd_skip(struct sdiff_rd *r, size_t n)
{
    (void)sdiff_rd_bytes(r, n);
}

/* ---- hashing ------------------------------------------------------------------------------ */

/*
 * FNV-1a, 64 bits, of n bytes, continuing from h (SDIFF_FNV_INIT to start). Unkeyed: for
 * tables and ids where a chosen collision only costs the one who chose it (a slot shared,
 * a route's cap); anything an attacker could steer to their profit (sampling) uses the
 * keyed sdiff_siphash below.
 */
#define SDIFF_FNV_INIT 0xcbf29ce484222325ull
SDIFF_API uint64_t sdiff_fnv1a(uint64_t h, const void *p, size_t n);

/* ---- keyed hash and randomness -------------------------------------------------------- */

/**
 * SipHash-2-4 (Aumasson and Bernstein) of the parts under a 128-bit key, each part preceded
 * by its length, so ("ab", "c") and ("a", "bc") differ. Without the key, nobody can choose
 * inputs that hash to a chosen range (hash flooding, a crafted request forcing itself into
 * or out of a sample). Cannot fail.
 */
SDIFF_API uint64_t sdiff_siphash(const uint8_t key[16], const struct sdiff_slice *parts,
                                 size_t nparts);
/** n bytes from the kernel's random generator. SDIFF_OK or SDIFF_ERR (none available). */
SDIFF_API int sdiff_random_bytes(void *out, size_t n, struct sdiff_err *err);

/* ---- memory budget --------------------------------------------------------------------- */

/*
 * Bytes held by the objects that share one budget (capture: the reassembler and the pairer
 * of one run, see lib/reasm/README.md). Each object charges what it allocates, as
 * sdiff_mem_cost rounds it, and releases it when it frees; the budget's owner decides what to
 * shed when it fills. A charge that can be refused (sdiff_mem_try) fits under the refusal
 * line, limit - limit/16; the last sixteenth is for the small charges that cannot be refused
 * (a connection's parser state), made while one packet is processed. Not thread-safe: one
 * budget per capture thread. Every function takes NULL for "no budget".
 */
struct sdiff_mem_budget {
    size_t limit;     /* bytes; 0: unlimited */
    size_t used;      /* bytes charged now */
    size_t peak;      /* most bytes ever charged at once */
    uint64_t refused; /* sdiff_mem_try calls that did not fit */
};

/** What an allocation of n bytes costs: n plus malloc's chunk header, rounded to 16. */
SDIFF_API size_t sdiff_mem_cost(size_t n);
/** Charge n bytes whatever the limit (small state that must exist). */
SDIFF_API void sdiff_mem_charge(struct sdiff_mem_budget *b, size_t n);
/** Whether n more bytes fit under the refusal line (nothing is charged). */
SDIFF_API int sdiff_mem_fits(const struct sdiff_mem_budget *b, size_t n);
/** Charge n bytes if they fit under the refusal line: 1 (charged) or 0 (refused, counted). */
SDIFF_API int sdiff_mem_try(struct sdiff_mem_budget *b, size_t n);
/** Give back n bytes charged before. */
SDIFF_API void sdiff_mem_release(struct sdiff_mem_budget *b, size_t n);

/* ---- limits ---------------------------------------------------------------------------- */

/* Every table and buffer has a cap; exceeding one is counted, never a crash. */
struct sdiff_limits {
    size_t max_flows;          /* concurrent TCP connections tracked */
    size_t max_ooo_bytes;      /* out-of-order bytes buffered per direction */
    size_t max_ooo_segments;   /* out-of-order segments buffered per direction */
    size_t max_total_ooo;      /* out-of-order bytes buffered over all flows */
    size_t max_header_bytes;   /* one HTTP header block (start line + fields) */
    size_t max_header_count;   /* fields in one header block */
    size_t max_body;           /* body bytes kept per message; the rest is counted */
    size_t max_pipeline;       /* requests waiting for a response on one connection */
    uint64_t idle_timeout_us;  /* a flow with no packet for this long is expired */
    int discard_bodies;        /* count body bytes but keep none (lengths only output) */
    int deliver_unacked;       /* reasm: hand bytes out on arrival, not once acknowledged */
    size_t max_memory;         /* capture's budget for everything it holds per connection
                                  (reassembly, unacknowledged bytes, pending requests and
                                  their bodies, parser state); 0: unlimited. See
                                  lib/reasm/README.md, "Memory budget" */
};

#define SDIFF_LIMITS_INIT                                                                       \
    {                                                                                          \
        .max_flows = 65536, .max_ooo_bytes = 4u << 20, .max_ooo_segments = 1024,               \
        .max_total_ooo = 256u << 20, .max_header_bytes = 64u << 10, .max_header_count = 256,   \
        .max_body = 1u << 20, .max_pipeline = 64, .idle_timeout_us = 120ull * 1000000,         \
        .max_memory = (size_t)256 << 20,                                                       \
    }

#ifdef __cplusplus
}
#endif
#endif
