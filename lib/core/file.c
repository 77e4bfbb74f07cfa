/*
 * file.c - the files shadowdiff writes and the databases it opens, made so that a path
 * someone else prepared (a symlink, a file of theirs, a mode they chose) is never followed,
 * truncated, chmod'ed or trusted.
 *
 * Reports are for sharing: a temporary file beside the target, created 0666 & ~umask,
 * renamed over it. Databases hold traffic and their redaction key: created 0600 with
 * O_EXCL | O_NOFOLLOW, and checked before SQLite opens them.
 */
#include "shadowdiff/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- reports ------------------------------------------------------------------------------ */

int sdiff_outfile_open(struct sdiff_outfile *o, const char *path, struct sdiff_err *err)
{
    memset(o, 0, sizeof *o);
    if (strcmp(path, "-") == 0) {
        o->f = stdout;
        o->is_stdout = 1;
        return SDIFF_OK;
    }
    size_t n = strlen(path);
    if (n == 0 || path[n - 1] == '/')
        return sdiff_err_set(err, SDIFF_EINVAL, "output", "%.150s: not a file name", path);
    o->path = sdiff_strdup(path);
    o->tmp = sdiff_malloc(n + 40);
    if (o->path == NULL || o->tmp == NULL) {
        sdiff_outfile_abort(o);
        return sdiff_err_set(err, SDIFF_ENOMEM, "output", "out of memory");
    }
    /* Beside the target, so the rename stays in one file system; a name nobody can have
     * prepared: O_EXCL fails on anything already there, a symlink included. */
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long r = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16);
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        r = r * 6364136223846793005ul + 1442695040888963407ul;
        snprintf(o->tmp, n + 40, "%.*s.%s.%08lx.tmp", (int)dirlen, path, path + dirlen,
                 (r >> 20) & 0xfffffffful);
        fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        sdiff_free(o->tmp);
        o->tmp = NULL;
        sdiff_outfile_abort(o);
        return sdiff_err_set(err, SDIFF_EIO, "output", "cannot write beside %.150s: %s", path,
                             strerror(e));
    }
    o->f = fdopen(fd, "w");
    if (o->f == NULL) {
        close(fd);
        sdiff_outfile_abort(o);
        return sdiff_err_set(err, SDIFF_ENOMEM, "output", "out of memory");
    }
    return SDIFF_OK;
}

int sdiff_outfile_commit(struct sdiff_outfile *o, struct sdiff_err *err)
{
    if (o->f == NULL)
        return sdiff_err_set(err, SDIFF_EINVAL, "output", "no output open");
    if (o->is_stdout) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        o->f = NULL;
        return bad ? sdiff_err_set(err, SDIFF_EIO, "output", "cannot write to stdout") : SDIFF_OK;
    }
    int bad = fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0;
    int e = errno;
    bad |= fclose(o->f) != 0;
    o->f = NULL;
    if (bad) {
        sdiff_err_set(err, SDIFF_EIO, "output", "cannot write %.150s: %s", o->path, strerror(e));
        sdiff_outfile_abort(o);
        return SDIFF_EIO;
    }
    /* rename replaces whatever the name was (a symlink stays where it pointed, untouched) */
    if (rename(o->tmp, o->path) != 0) {
        e = errno;
        sdiff_err_set(err, SDIFF_EIO, "output", "cannot write %.150s: %s", o->path, strerror(e));
        sdiff_outfile_abort(o);
        return SDIFF_EIO;
    }
    sdiff_free(o->tmp);
    o->tmp = NULL;
    sdiff_free(o->path);
    o->path = NULL;
    return SDIFF_OK;
}

void sdiff_outfile_abort(struct sdiff_outfile *o)
{
    if (o == NULL)
        return;
    if (o->f && !o->is_stdout)
        fclose(o->f);
    o->f = NULL;
    if (o->tmp)
        unlink(o->tmp);
    sdiff_free(o->tmp);
    sdiff_free(o->path);
    o->tmp = o->path = NULL;
}

/* ---- databases ---------------------------------------------------------------------------- */

int sdiff_file_db_check(const char *path, unsigned how, char *warn, size_t warncap,
                        struct sdiff_err *err)
{
    if (warn && warncap)
        warn[0] = '\0';
    if (how & SDIFF_DB_CREATE) {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return SDIFF_OK; /* new, ours, 0600 from its first byte */
        }
        if (errno != EEXIST)
            return sdiff_err_set(err, SDIFF_EIO, "store", "cannot create %.150s: %s", path,
                                 strerror(errno));
    }
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP)
        return sdiff_err_set(err, SDIFF_EPERM, "store",
                             "%.150s is a symbolic link: name the database file itself", path);
    if (fd < 0)
        return sdiff_err_set(err, SDIFF_EIO, "store", "cannot open %.150s: %s", path,
                             strerror(errno));
    struct stat sb;
    int rc = fstat(fd, &sb);
    close(fd);
    if (rc != 0 || !S_ISREG(sb.st_mode))
        return sdiff_err_set(err, SDIFF_EIO, "store", "%.150s: not a regular file", path);
    unsigned mode = (unsigned)sb.st_mode & 07777;
    if (how & SDIFF_DB_WRITE) {
        if (sb.st_uid != geteuid())
            return sdiff_err_set(err, SDIFF_EPERM, "store",
                                 "%.150s belongs to another user (uid %lu): write to a copy of"
                                 " your own (cp it, then chmod 600 the copy)",
                                 path, (unsigned long)sb.st_uid);
        if (mode & 022)
            return sdiff_err_set(err, SDIFF_EPERM, "store",
                                 "%.150s is writable by other users (mode %04o): they could"
                                 " change its results and read its key; chmod 600 it first",
                                 path, mode);
    } else if ((mode & 044) && warn && warncap) {
        snprintf(warn, warncap,
                 "%.150s is readable by other users (mode %04o): its hashes of secrets can be"
                 " tested against guesses by anyone who reads it; chmod 600 it",
                 path, mode);
    }
    return SDIFF_OK;
}
