/*
 * cmd_diff.c - `shadowdiff diff A B`: compare two saved responses (or bare bodies) the way
 * replay compares the primary's and the candidate's, and explain the verdict.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "shadowdiff/diff.h"
#include "shadowdiff/redact.h"
#include "shadowdiff/rules.h"

static const char USAGE[] =
    "usage: shadowdiff diff A B [--config FILE] [--route 'METHOD /path'] [--format text|json]\n"
    "                           [--preset python-go] [--keep-secrets | --redact-key FILE]\n"
    "                           [--color auto|always|never]\n"
    "\n"
    "  shadowdiff diff old.http new.http\n"
    "  shadowdiff diff old.json new.json --route 'GET /api/users/{id}' --format json\n"
    "\n"
    "Compares two files, each a full HTTP response (status line, headers, body) or a bare\n"
    "body: A is the primary's (old service), B the candidate's (new service). Prints the\n"
    "class (identical, equivalent, different, error) and every difference with its path.\n"
    "\n"
    "  -c, --config FILE   comparison rules (see README: ignored headers and paths, ...)\n"
    "      --route R       route whose rules apply, e.g. 'GET /api/users/{id}' (-r still\n"
    "                      works for this release and says it is deprecated)\n"
    "  -f, --format F      text (default) or json\n"
    "      --preset P      python-go: equal instants in RFC 3339 spellings, porting hints\n"
    "      --color WHEN    colour the differences: auto (default: on a terminal, unless\n"
    "                      TERM=dumb or NO_COLOR is set), always or never\n"
    "      --keep-secrets  show credentials as they are (default: both files are redacted\n"
    "                      with one random key, so equal secrets show equal hashes)\n"
    "      --redact-key F  redact with the key in file F (hashes then match a database's)\n"
    "  -h, --help          this text\n"
    "  -V, --version       the version\n"
    "\n";

static int read_all(const char *path, struct sdiff_buf *b, struct sdiff_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return sdiff_err_set(err, SDIFF_EIO, "diff", "cannot open %s", path);
    char chunk[65536];
    size_t n;
    int rc = SDIFF_OK;
    while (rc >= 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = sdiff_buf_append(b, chunk, n);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (rc < 0)
        return sdiff_err_set(err, rc, "diff", "%s is larger than %zu bytes", path, b->max);
    if (bad)
        return sdiff_err_set(err, SDIFF_EIO, "diff", "cannot read %s", path);
    return SDIFF_OK;
}

static void print_text(const struct sdiff_diff_result *r, int color)
{
    /* as diff -u colours it: the primary's side red, the candidate's green */
    const char *bold = color ? "\033[1m" : "", *red = color ? "\033[31m" : "",
               *green = color ? "\033[32m" : "", *reset = color ? "\033[0m" : "";
    struct sdiff_text_ring T;
    sdiff_text_ring_init(&T);
    printf("%s", sdiff_class_str(r->cls));
    if (r->nitems + r->nomitted)
        printf(": %zu difference%s", r->nitems + r->nomitted,
               r->nitems + r->nomitted == 1 ? "" : "s");
    printf("\n");
    size_t w = 4;
    for (size_t i = 0; i < r->nitems; i++)
        if (strlen(r->items[i].path) > w)
            w = strlen(r->items[i].path);
    if (w > 48)
        w = 48;
    for (size_t i = 0; i < r->nitems; i++) {
        const struct sdiff_diff_item *it = &r->items[i];
        printf("  %s%-*s%s  %-12s  %s%s%s -> %s%s%s\n", bold, (int)w, sdiff_text(&T, it->path),
               reset, sdiff_text(&T, it->kind), red,
               it->primary ? sdiff_text(&T, it->primary) : "(absent)", reset, green,
               it->candidate ? sdiff_text(&T, it->candidate) : "(absent)", reset);
        if (it->hint)
            printf("  %-*s  hint: %s\n", (int)w, "", it->hint);
    }
    if (r->nomitted)
        printf("  ... and %zu more\n", r->nomitted);
    if (r->reasons) {
        printf("reasons:");
        int first = 1;
        for (unsigned bit = 1; bit <= SDIFF_REASON__LAST; bit <<= 1)
            if (r->reasons & bit) {
                printf("%s %s", first ? "" : ",", sdiff_reason_str(bit));
                first = 0;
            }
        printf("\n");
    }
    if (r->note[0])
        printf("note: %s\n", sdiff_text(&T, r->note));
    sdiff_text_ring_dispose(&T);
}

/*
 * A JSON string. json_string refuses text that is not UTF-8 and the value would be lost;
 * here each byte that is not part of a UTF-8 sequence is shown as \xHH instead.
 */
static json_t *json_text(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL || s == NULL)
        return v;
    struct sdiff_buf b;
    sdiff_buf_init(&b, SIZE_MAX);
    if (sdiff_buf_text(&b, s, strlen(s), SDIFF_TEXT_UTF8_ONLY) >= 0)
        v = json_string(b.data ? (const char *)b.data : "");
    sdiff_buf_dispose(&b);
    return v;
}

static int print_json(const struct sdiff_diff_result *r)
{
    json_t *o = json_object(), *reasons = json_array(), *diffs = json_array();
    json_object_set_new(o, "class", json_string(sdiff_class_str(r->cls)));
    for (unsigned bit = 1; bit <= SDIFF_REASON__LAST; bit <<= 1)
        if (r->reasons & bit)
            json_array_append_new(reasons, json_string(sdiff_reason_str(bit)));
    json_object_set_new(o, "reasons", reasons);
    for (size_t i = 0; i < r->nitems; i++) {
        const struct sdiff_diff_item *it = &r->items[i];
        json_t *d = json_object();
        json_object_set_new(d, "path", json_text(it->path));
        json_object_set_new(d, "kind", json_string(it->kind));
        json_object_set_new(d, "primary", it->primary ? json_text(it->primary) : json_null());
        json_object_set_new(d, "candidate",
                            it->candidate ? json_text(it->candidate) : json_null());
        if (it->hint)
            json_object_set_new(d, "hint", json_string(it->hint));
        json_array_append_new(diffs, d);
    }
    json_object_set_new(o, "differences", diffs);
    json_object_set_new(o, "omitted", json_integer((json_int_t)r->nomitted));
    json_object_set_new(o, "status_equal", json_boolean(r->status_equal));
    json_object_set_new(o, "bytes_equal", json_boolean(r->bytes_equal));
    json_object_set_new(o, "body_kind", r->body_kind ? json_string(r->body_kind) : json_null());
    json_object_set_new(o, "note", r->note[0] ? json_text(r->note) : json_null());
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    int rc = sdiff_write_json_text(stdout, text);
    free(text);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"route", required_argument, NULL, 'r'},
        {"format", required_argument, NULL, 'f'},
        {"keep-secrets", no_argument, NULL, 'k'},
        {"redact-key", required_argument, NULL, 'K'},
        {"preset", required_argument, NULL, 'P'},
        {"color", required_argument, NULL, 300},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *route = NULL, *format = "text", *key_file = NULL;
    const char *preset_name = NULL;
    enum sdiff_preset preset = SDIFF_PRESET_NONE;
    struct sdiff_rules *rules = NULL;
    struct sdiff_redact *redact = NULL;
    struct sdiff_redact_key key;
    int keep_secrets = 0;
    struct sdiff_buf a, b;
    struct sdiff_msg ma, mb;
    struct sdiff_err err = {0};
    struct sdiff_diff_result res;
    int c, ret = SDIFF_EXIT_ERROR, color = CLI_COLOR_AUTO;

    memset(&key, 0, sizeof key);
    memset(&ma, 0, sizeof ma);
    memset(&mb, 0, sizeof mb);
    memset(&res, 0, sizeof res);
    sdiff_buf_init(&a, 256u << 20);
    sdiff_buf_init(&b, 256u << 20);
    optind = 1;
    while ((c = cli_getopt("diff", argc, argv, "c:r:f:h", longopts, "r=--route")) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'r': route = optarg; break;
        case 'f': format = optarg; break;
        case 'k': keep_secrets = 1; break;
        case 'K': key_file = optarg; break;
        case 'P': preset_name = optarg; break;
        case 300:
            if (cli_parse_color("diff", optarg, &color) < 0)
                return SDIFF_EXIT_ERROR;
            break;
        case 'h':
            fputs(USAGE, stdout);
            fputs(cli_exit_help("diff"), stdout);
            return SDIFF_EXIT_OK;
        case 'V': return cli_version();
        default: return SDIFF_EXIT_ERROR;
        }
    }
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
        cli_error("diff", "--format: '%s' is not text or json", format);
        return SDIFF_EXIT_ERROR;
    }
    if (preset_name && sdiff_preset_parse(preset_name, &preset) < 0) {
        cli_error("diff", "--preset %s: unknown preset (there is python-go)", preset_name);
        return SDIFF_EXIT_ERROR;
    }
    if (keep_secrets && key_file) {
        cli_error("diff", "--keep-secrets and --redact-key: choose one");
        return SDIFF_EXIT_ERROR;
    }
    if (argc - optind != 2) {
        cli_error("diff", "give two files: the primary's response and the candidate's");
        return SDIFF_EXIT_ERROR;
    }
    const char *pa = argv[optind], *pb = argv[optind + 1];
    struct sdiff_differ *d = NULL;
    if (read_all(pa, &a, &err) < 0 || read_all(pb, &b, &err) < 0 ||
        sdiff_rules_load(&rules, config, &err) < 0 ||
        (preset_name && sdiff_rules_set_preset(rules, preset, &err) < 0) ||
        sdiff_rules_differ(rules, route, &d, &err) < 0) {
        ret = cli_fail("diff", &err);
        goto out;
    }
    if (sdiff_msg_read_response(a.data ? a.data : (const uint8_t *)"", a.len, a.max, &ma, &err) < 0) {
        cli_error("diff", "%s: not a valid HTTP response: %s", pa, err.msg);
        goto out;
    }
    if (sdiff_msg_read_response(b.data ? b.data : (const uint8_t *)"", b.len, b.max, &mb, &err) < 0) {
        cli_error("diff", "%s: not a valid HTTP response: %s", pb, err.msg);
        goto out;
    }
    if (ma.present != mb.present) {
        cli_error("diff", "%s is %s but %s is %s: give two responses or two bodies", pa,
                  ma.present ? "a response" : "a bare body", pb,
                  mb.present ? "a response" : "a bare body");
        goto out;
    }
    if (!keep_secrets) {
        int rc = key_file ? sdiff_redact_key_load(&key, key_file, &err)
                          : sdiff_redact_key_random(&key, &err);
        if (rc < 0) {
            ret = cli_fail("diff", &err);
            goto out;
        }
        rc = cli_redact_new("diff", rules, &key, NULL, 0, NULL, 0, NULL, 0, &redact);
        memset(&key, 0, sizeof key);
        if (rc < 0)
            goto out;
        sdiff_redact_reset(redact);
        if (sdiff_redact_collect(redact, &ma) < 0 || sdiff_redact_collect(redact, &mb) < 0)
            sdiff_err_set(&err, SDIFF_ENOMEM, "diff", "out of memory");
        if (err.code != 0 || sdiff_redact_msg(redact, &ma, &err) < 0 ||
            sdiff_redact_msg(redact, &mb, &err) < 0) {
            ret = cli_fail("diff", &err);
            goto out;
        }
    }
    if (sdiff_differ_compare(d, &ma, &mb, route, NULL, &res, &err) < 0) {
        ret = cli_fail("diff", &err);
        goto out;
    }
    if (strcmp(format, "json") == 0)
        print_json(&res);
    else
        print_text(&res, cli_use_color(color, 1));
    switch (res.cls) {
    case SDIFF_CLASS_IDENTICAL:
    case SDIFF_CLASS_EQUIVALENT: ret = SDIFF_EXIT_OK; break;
    case SDIFF_CLASS_DIFFERENT: ret = SDIFF_EXIT_DIFF; break;
    default: ret = SDIFF_EXIT_ERROR; break;
    }
out:
    sdiff_redact_free(redact);
    sdiff_diff_result_dispose(&res);
    sdiff_msg_dispose(&ma);
    sdiff_msg_dispose(&mb);
    sdiff_rules_free(rules);
    sdiff_buf_dispose(&a);
    sdiff_buf_dispose(&b);
    return ret;
}
