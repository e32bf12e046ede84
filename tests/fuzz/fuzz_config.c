/* fuzz_config: the configuration parsers. Byte 0 picks one (by value mod 3:
 * 'c' centers, 'p' packages, 'e' environment); the rest is a HC_CENTERS or
 * HC_PACKAGES spec, or "NAME=value" lines that become the environment
 * hc_config_load reads (each variable of its table set or unset per input).
 * Checks that accepted catalogs and centers are within their bounds and
 * survive being written back as a spec and parsed again, that a refused spec
 * leaves none; that a loaded configuration has every value within its range
 * (and loads again the same, byte for byte), and a refused one an error
 * message that names a variable of the table. The gateway's settings hold
 * only what its template may render (numbers, addresses, a header name). */
#include "fuzz.h"

#include "hc_config.h"
#include "hc_err.h"

#define MAX_VARS 96
#define ENV_BUF 4096

static char names[MAX_VARS][72]; /* the table's variable names, from its printout */
static size_t n_names;
/* putenv keeps the string itself, so no input grows setenv's never-freed copies. */
static char env[MAX_VARS][ENV_BUF];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char *table = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&table, &len);
    if (!f)
        abort();
    hc_config_print_table(f, 1);
    fclose(f);
    for (char *line = table, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            next++;
        if (strncmp(line, "| `HC_", 6) != 0)
            continue;
        size_t n = strcspn(line + 3, "`");
        if (n_names >= MAX_VARS || n >= sizeof names[0])
            abort();
        memcpy(names[n_names], line + 3, n);
        names[n_names][n] = '\0';
        unsetenv(names[n_names]);
        n_names++;
    }
    free(table);
    if (n_names < 30)
        abort();
    return 0;
}

static void check_packages(const char *spec)
{
    hc_config_t *cfg = calloc(1, sizeof *cfg), *again = calloc(1, sizeof *again);
    cfg->n_packages = 5;
    int rc = hc_config_parse_packages(cfg, spec);
    if (rc != 0) {
        FUZZ_CHECK(rc == HC_EINVAL && cfg->n_packages == 0);
        goto out;
    }
    FUZZ_CHECK(cfg->n_packages >= 1 && cfg->n_packages <= HC_MAX_PACKAGES);
    char back[2048];
    size_t len = 0;
    for (size_t i = 0; i < cfg->n_packages; i++) {
        const hc_package_t *p = &cfg->packages[i];
        FUZZ_CHECK(p->code[0] && !strpbrk(p->code, ",:") && p->name[0] && !strchr(p->name, ','));
        FUZZ_CHECK(p->price >= 0);
        FUZZ_CHECK(hc_config_package(cfg, p->code) == p); /* codes are unique */
        len += (size_t)snprintf(back + len, sizeof back - len, "%s%s:%s:%lld", i ? "," : "",
                                p->code, p->name, (long long)p->price);
        FUZZ_CHECK(len < sizeof back);
    }
    FUZZ_CHECK(hc_config_parse_packages(again, back) == 0);
    FUZZ_CHECK(again->n_packages == cfg->n_packages);
    for (size_t i = 0; i < cfg->n_packages; i++) {
        FUZZ_CHECK(strcmp(again->packages[i].code, cfg->packages[i].code) == 0);
        FUZZ_CHECK(strcmp(again->packages[i].name, cfg->packages[i].name) == 0);
        FUZZ_CHECK(again->packages[i].price == cfg->packages[i].price);
    }
out:
    free(cfg);
    free(again);
}

static void check_centers(const char *spec)
{
    hc_config_t *cfg = calloc(1, sizeof *cfg), *again = calloc(1, sizeof *again);
    cfg->n_centers = 5;
    int rc = hc_config_parse_centers(cfg, spec);
    if (rc != 0) {
        FUZZ_CHECK(rc == HC_EINVAL && cfg->n_centers == 0);
        goto out;
    }
    FUZZ_CHECK(cfg->n_centers >= 1 && cfg->n_centers <= HC_MAX_CENTERS);
    char back[2048];
    size_t len = 0;
    for (size_t i = 0; i < cfg->n_centers; i++) {
        const hc_center_cfg_t *c = &cfg->centers[i];
        FUZZ_CHECK(c->id > 0 && c->capacity >= 0 && c->capacity <= 1000000);
        FUZZ_CHECK(c->name[0] && !strchr(c->name, ','));
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(cfg->centers[j].id != c->id);
        len += (size_t)snprintf(back + len, sizeof back - len, "%s%lld:%s:%d", i ? "," : "",
                                (long long)c->id, c->name, c->capacity);
        FUZZ_CHECK(len < sizeof back);
    }
    FUZZ_CHECK(hc_config_parse_centers(again, back) == 0);
    FUZZ_CHECK(again->n_centers == cfg->n_centers);
    for (size_t i = 0; i < cfg->n_centers; i++) {
        FUZZ_CHECK(again->centers[i].id == cfg->centers[i].id);
        FUZZ_CHECK(strcmp(again->centers[i].name, cfg->centers[i].name) == 0);
        FUZZ_CHECK(again->centers[i].capacity == cfg->centers[i].capacity);
    }
out:
    free(cfg);
    free(again);
}

/* Sets the environment from "NAME=value" lines (the last line for a name
 * wins; a name of the table not given is unset). */
static void set_env(const char *text)
{
    for (size_t i = 0; i < n_names; i++) {
        const char *value = NULL;
        size_t vlen = 0, nlen = strlen(names[i]);
        for (const char *line = text; *line;) {
            size_t len = strcspn(line, "\n");
            if (len > nlen && strncmp(line, names[i], nlen) == 0 && line[nlen] == '=') {
                value = line + nlen + 1;
                vlen = len - nlen - 1;
            }
            line += len;
            if (*line == '\n')
                line++;
        }
        if (!value) {
            unsetenv(names[i]);
            continue;
        }
        snprintf(env[i], sizeof env[i], "%s=%.*s", names[i], (int)vlen, value);
        putenv(env[i]);
    }
}

static int is_port(int p)
{
    return p >= 1 && p <= 65535;
}

static void check_load(const char *text)
{
    hc_config_t *cfg = malloc(sizeof *cfg);
    char err[512];
    memset(err, 'X', sizeof err);
    set_env(text);
    int rc = hc_config_load(cfg, err, sizeof err);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (rc != 0) {
        /* the message names a variable of the table: "HC_X: ..." */
        FUZZ_CHECK(rc == HC_EINVAL);
        int named = 0;
        for (size_t i = 0; i < n_names; i++) {
            size_t n = strlen(names[i]);
            named |= strncmp(err, names[i], n) == 0 && err[n] == ':';
        }
        FUZZ_CHECK(named);
        free(cfg);
        return;
    }
    FUZZ_CHECK(is_port(cfg->gateway_port) && is_port(cfg->order_port) &&
               is_port(cfg->reservation_port) && is_port(cfg->payment_port) &&
               is_port(cfg->notification_port));
    FUZZ_CHECK(cfg->order_timeout_ms >= 10 && cfg->payment_timeout_ms >= 10 &&
               cfg->sms_timeout_ms >= 10 && cfg->http_max_connections >= 8 &&
               cfg->http_max_connections <= 20000);
    /* the payment breaker and bulkhead: every setting in the range
     * hc_breaker_create takes, and the bulkhead below the connection limit so
     * that a slow payment never takes every connection */
    FUZZ_CHECK(cfg->payment_cb_sliding_window_size >= 1 &&
               cfg->payment_cb_minimum_number_of_calls >= 1 &&
               cfg->payment_cb_failure_rate_threshold >= 1 &&
               cfg->payment_cb_failure_rate_threshold <= 100 &&
               cfg->payment_cb_slow_call_rate_threshold >= 1 &&
               cfg->payment_cb_slow_call_rate_threshold <= 100 &&
               cfg->payment_cb_slow_call_duration_threshold_ms >= 1 &&
               cfg->payment_cb_wait_duration_in_open_state_ms >= 1 &&
               cfg->payment_cb_permitted_calls_in_half_open >= 1);
    FUZZ_CHECK(cfg->payment_bulkhead_max_concurrent_calls >= 1 &&
               cfg->payment_bulkhead_max_concurrent_calls < cfg->http_max_connections);
    FUZZ_CHECK(cfg->max_body_bytes >= 256 && cfg->max_body_bytes <= 64 * 1024 * 1024);
    FUZZ_CHECK(cfg->horizon_days >= 1 && cfg->cancel_cutoff_days >= 0);
    FUZZ_CHECK(cfg->sms_max_attempts >= 1 && cfg->ready_timeout_ms >= 100);
    FUZZ_CHECK(cfg->liveness_period_ms >= 0 && cfg->liveness_timeout_ms >= 10 &&
               cfg->liveness_failures >= 1 && cfg->crash_loop_restarts >= 1 &&
               cfg->crash_loop_restarts <= 100 && cfg->crash_loop_window_ms >= 1000 &&
               cfg->restart_backoff_ms >= 0 &&
               cfg->restart_backoff_max_ms >= cfg->restart_backoff_ms);
    FUZZ_CHECK(cfg->data_dir[0] && cfg->run_dir[0] && cfg->payment_url[0] && cfg->order_url[0]);
    /* links start with the public URL; one derived from HC_BIND_ADDR is only
     * used once hc_http_start has taken that address as IPv4 */
    const char *u = cfg->public_url, *given = getenv("HC_PUBLIC_URL");
    FUZZ_CHECK(strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0);
    if (given && given[0])
        FUZZ_CHECK(strlen(u) >= 8 && u[strlen(u) - 1] != '/' && !strpbrk(u, " \"'<>?#\\"));
    FUZZ_CHECK(!cfg->service_secret[0] || strlen(cfg->service_secret) >= 32);
    FUZZ_CHECK(!strcmp(cfg->db_sync, "FULL") || !strcmp(cfg->db_sync, "NORMAL"));
    FUZZ_CHECK(!strcmp(cfg->bus, "log") || !strcmp(cfg->bus, "kafka"));
    FUZZ_CHECK(cfg->kafka_partitions >= 1 && cfg->kafka_partitions <= 1000 &&
               cfg->kafka_replication_factor >= -1 && cfg->kafka_delivery_timeout_ms >= 100 &&
               cfg->kafka_session_timeout_ms >= 1000 && cfg->kafka_brokers[0]);
    FUZZ_CHECK(!strcmp(cfg->log_level, "debug") || !strcmp(cfg->log_level, "info") ||
               !strcmp(cfg->log_level, "warn") || !strcmp(cfg->log_level, "error"));
    FUZZ_CHECK(!strcmp(cfg->log_format, "json") || !strcmp(cfg->log_format, "text"));
    /* a zone glibc can load, never a path out of the database */
    FUZZ_CHECK(hc_config_tz_valid(cfg->tz) && cfg->tz[0] != '/' && !strstr(cfg->tz, ".."));
    FUZZ_CHECK(!strcmp(cfg->sms_provider, "log") ||
               (!strcmp(cfg->sms_provider, "http") && cfg->sms_url[0]));
    FUZZ_CHECK(cfg->n_packages >= 1 && cfg->n_packages <= HC_MAX_PACKAGES);
    FUZZ_CHECK(cfg->n_centers >= 1 && cfg->n_centers <= HC_MAX_CENTERS);
    /* what the gateway template renders: numbers, addresses and a header name */
    FUZZ_CHECK(cfg->rate_limit_rps >= 0 && cfg->rate_limit_rps <= 100000);
    FUZZ_CHECK(cfg->rate_limit_burst >= 0 && cfg->rate_limit_burst <= 100000);
    FUZZ_CHECK(cfg->rate_limit_connections >= 0 && cfg->rate_limit_connections <= 100000);
    const char *tp = cfg->trusted_proxy;
    FUZZ_CHECK(strspn(tp, "0123456789abcdefABCDEF.:/,") == strlen(tp));
    FUZZ_CHECK(!strstr(tp, ",,") && tp[0] != ',' && (!tp[0] || tp[strlen(tp) - 1] != ','));
    const char *hd = cfg->real_ip_header;
    FUZZ_CHECK(hd[0] &&
               strspn(hd, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") ==
                   strlen(hd));
    /* the same environment loads the same configuration, byte for byte */
    hc_config_t *again = malloc(sizeof *again);
    FUZZ_CHECK(hc_config_load(again, err, sizeof err) == 0);
    FUZZ_CHECK(memcmp(again, cfg, sizeof *cfg) == 0);
    free(again);
    free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = fuzz_cstr(data + 1, size - 1);
    switch (data[0] % 3) {
    case 0: /* 'c' */
        check_centers(text);
        break;
    case 1: /* 'p' */
        check_packages(text);
        break;
    default: /* 'e' */
        check_load(text);
        break;
    }
    free(text);
    return 0;
}
