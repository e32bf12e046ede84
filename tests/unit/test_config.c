/* Checks hc_config: defaults, env overrides, invalid values, package/center parsing and lookup. */
#include "hc_test.h"

#include <unistd.h>

#include "hc_config.h"
#include "hc_err.h"

/* Removes every HC_* variable so each test starts from the defaults. */
static int clear_env(void **state)
{
    (void)state;
    hc_test_clear_hc_env();
    return 0;
}

static int occurrences_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void load_ok(hc_config_t *cfg)
{
    char err[256] = "";
    int rc = hc_config_load(cfg, err, sizeof err);
    if (rc != 0)
        fail_msg("hc_config_load: %d: %s", rc, err);
}

/* Asserts that loading fails with HC_EINVAL and a message naming var. */
static void load_fails_naming(const char *var)
{
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    char err[256] = "";
    assert_non_null(cfg);
    int rc = hc_config_load(cfg, err, sizeof err);
    free(cfg);
    if (rc != HC_EINVAL)
        fail_msg("%s=\"%s\": expected HC_EINVAL, got %d", var, getenv(var), rc);
    if (strstr(err, var) == NULL)
        fail_msg("error message does not name %s: \"%s\"", var, err);
}

static void test_defaults(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_string_equal(cfg->data_dir, "./data");
    assert_int_equal(cfg->gateway_port, 8080);
    assert_int_equal(cfg->order_port, 8081);
    assert_int_equal(cfg->reservation_port, 8082);
    assert_int_equal(cfg->payment_port, 8083);
    assert_int_equal(cfg->notification_port, 8084);
    assert_string_equal(cfg->bus, "log");
    assert_string_equal(cfg->topic, "healthcenter");
    assert_string_equal(cfg->tz, "Asia/Seoul");
    assert_int_equal(cfg->horizon_days, 90);
    assert_int_equal(cfg->cancel_cutoff_days, 1);
    assert_int_equal(cfg->clock_offset_s, 0);
    assert_true(strcmp(cfg->db_sync, "FULL") == 0 || strcmp(cfg->db_sync, "NORMAL") == 0);
    assert_int_equal(cfg->http_max_connections, 1000);
    assert_true(cfg->max_body_bytes >= 1024);
    assert_true(cfg->payment_timeout_ms > 0);
    assert_true(cfg->run_dir[0] != '\0');
    /* order reaches payment on the payment port by default */
    assert_non_null(strstr(cfg->payment_url, "8083"));
    /* the catalog has at least basic and prime, with prices */
    assert_true(cfg->n_packages >= 2);
    const hc_package_t *basic = hc_config_package(cfg, "basic");
    const hc_package_t *prime = hc_config_package(cfg, "prime");
    assert_non_null(basic);
    assert_non_null(prime);
    assert_true(basic->price > 0);
    assert_true(prime->price > 0);
    assert_true(basic->name[0] != '\0');
    /* center 1 exists with a capacity */
    int have_center_1 = 0;
    assert_true(cfg->n_centers >= 1);
    for (size_t i = 0; i < cfg->n_centers; i++)
        if (cfg->centers[i].id == 1 && cfg->centers[i].capacity > 0)
            have_center_1 = 1;
    assert_true(have_center_1);
    free(cfg);
}

static void test_overrides(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    setenv("HC_ORDER_PORT", "9091", 1);
    setenv("HC_PAYMENT_PORT", "9093", 1);
    setenv("HC_DATA_DIR", "/tmp/hc-data", 1);
    setenv("HC_TOPIC", "other", 1);
    setenv("HC_BOOKING_HORIZON_DAYS", "30", 1);
    setenv("HC_CANCEL_CUTOFF_DAYS", "0", 1);
    setenv("HC_TZ", "UTC", 1);
    setenv("HC_CLOCK_OFFSET_SECONDS", "-86400", 1);
    setenv("HC_PACKAGES", "basic:기본검진:100000,vip:VIP 종합검진:500000", 1);
    setenv("HC_CENTERS", "7:강남센터:3", 1);
    load_ok(cfg);
    assert_int_equal(cfg->order_port, 9091);
    assert_int_equal(cfg->payment_port, 9093);
    assert_int_equal(cfg->gateway_port, 8080);
    assert_string_equal(cfg->data_dir, "/tmp/hc-data");
    assert_string_equal(cfg->topic, "other");
    assert_int_equal(cfg->horizon_days, 30);
    assert_int_equal(cfg->cancel_cutoff_days, 0);
    assert_string_equal(cfg->tz, "UTC");
    assert_true(cfg->clock_offset_s == -86400);
    assert_non_null(strstr(cfg->payment_url, "9093"));
    assert_int_equal(cfg->n_packages, 2);
    const hc_package_t *vip = hc_config_package(cfg, "vip");
    assert_non_null(vip);
    assert_string_equal(vip->name, "VIP 종합검진");
    assert_int_equal(vip->price, 500000);
    assert_int_equal(hc_config_package(cfg, "basic")->price, 100000);
    assert_null(hc_config_package(cfg, "prime"));
    assert_int_equal(cfg->n_centers, 1);
    assert_int_equal(cfg->centers[0].id, 7);
    assert_string_equal(cfg->centers[0].name, "강남센터");
    assert_int_equal(cfg->centers[0].capacity, 3);
    free(cfg);
}

static void test_invalid_port(void **state)
{
    (void)state;
    setenv("HC_ORDER_PORT", "abc", 1);
    load_fails_naming("HC_ORDER_PORT");
    setenv("HC_ORDER_PORT", "80x", 1);
    load_fails_naming("HC_ORDER_PORT");
    setenv("HC_ORDER_PORT", "70000", 1);
    load_fails_naming("HC_ORDER_PORT");
    setenv("HC_ORDER_PORT", "-1", 1);
    load_fails_naming("HC_ORDER_PORT");
    unsetenv("HC_ORDER_PORT");
    setenv("HC_GATEWAY_PORT", "0", 1);
    load_fails_naming("HC_GATEWAY_PORT");
}

static void test_invalid_numbers(void **state)
{
    (void)state;
    setenv("HC_BOOKING_HORIZON_DAYS", "ninety", 1);
    load_fails_naming("HC_BOOKING_HORIZON_DAYS");
    unsetenv("HC_BOOKING_HORIZON_DAYS");
    setenv("HC_PAYMENT_TIMEOUT_MS", "1.5", 1);
    load_fails_naming("HC_PAYMENT_TIMEOUT_MS");
}

static void test_invalid_packages(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "basic:Basic",               /* no price */
        "basic:Basic:abc",           /* price not a number */
        "basic:Basic:-5",            /* negative price */
        ":Basic:100",                /* empty code */
        "basic::100",                /* empty name */
        "basic:Basic:",              /* empty price */
        "basic:Basic:100,basic:B:1", /* duplicate code */
        "",                          /* no package at all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("HC_PACKAGES", bad[i], 1);
        load_fails_naming("HC_PACKAGES");
    }
}

static void test_invalid_centers(void **state)
{
    (void)state;
    setenv("HC_CENTERS", "x:Seoul:10", 1);
    load_fails_naming("HC_CENTERS");
    setenv("HC_CENTERS", "1:Seoul", 1);
    load_fails_naming("HC_CENTERS");
    setenv("HC_CENTERS", "1:Seoul:-3", 1);
    load_fails_naming("HC_CENTERS");
}

/* HC_SCALE: counts per service, one each by default, bad items named. */
static void test_parse_scale(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    char err[256] = "";
    assert_non_null(cfg);
    assert_int_equal(hc_config_parse_scale(cfg, "", err, sizeof err), 0);
    for (int i = 0; i < HC_NSERVICES; i++)
        assert_int_equal(cfg->scale[i], 1);
    assert_int_equal(
        hc_config_parse_scale(cfg, "order=2,reservation=3,notification=8", err, sizeof err), 0);
    assert_int_equal(cfg->scale[0], 2);
    assert_int_equal(cfg->scale[1], 3);
    assert_int_equal(cfg->scale[2], 1);
    assert_int_equal(cfg->scale[3], 8);
    assert_int_equal(hc_config_parse_scale(cfg, "payment=1,", err, sizeof err), 0);
    assert_int_equal(cfg->scale[0], 1); /* parsed afresh */
    const char *bad[] = {"order", "order=",    "order=0", "order=9",  "order=x", "shop=2",
                         ",",     "order=2,,", "=2",      "order=-1", "order=2 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (hc_config_parse_scale(cfg, bad[i], err, sizeof err) != HC_EINVAL)
            fail_msg("HC_SCALE=\"%s\" was accepted", bad[i]);
        if (!strstr(err, "HC_SCALE"))
            fail_msg("HC_SCALE=\"%s\": message does not name it: %s", bad[i], err);
        for (int k = 0; k < HC_NSERVICES; k++)
            assert_int_equal(cfg->scale[k], 1);
    }
    free(cfg);
}

/* HC_SCALE is refused on the embedded log (every service consumes events)
 * and accepted with Kafka; the step moves the extra instances' ports. */
static void test_scale_needs_kafka(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    char err[512] = "";
    assert_non_null(cfg);
    setenv("HC_SCALE", "order=2", 1);
    assert_int_equal(hc_config_load(cfg, err, sizeof err), HC_EINVAL);
    assert_non_null(strstr(err, "HC_SCALE"));
    assert_non_null(strstr(err, "HC_BUS=kafka"));
    setenv("HC_SCALE", "order=1", 1); /* one instance is no scale-out */
    load_ok(cfg);
    setenv("HC_BUS", "kafka", 1);
    setenv("HC_SCALE", "order=2,notification=3", 1);
    load_ok(cfg);
    assert_int_equal(cfg->scale[0], 2);
    assert_int_equal(cfg->scale[3], 3);
    assert_int_equal(cfg->scale_port_step, 100);
    setenv("HC_SCALE_PORT_STEP", "0", 1);
    load_fails_naming("HC_SCALE_PORT_STEP");
    free(cfg);
}

/* Regression (found by fuzz_config): HC_KAFKA_BROKERS set but empty was
 * accepted, leaving librdkafka no broker to bootstrap from. */
static void test_empty_kafka_brokers_refused(void **state)
{
    (void)state;
    setenv("HC_KAFKA_BROKERS", "", 1);
    load_fails_naming("HC_KAFKA_BROKERS");
}

/* HC_SECRETS_DIR: a setting missing from the environment comes from its file
 * (a mounted Kubernetes Secret), one trailing newline dropped; the
 * environment wins; `config` names the source without showing a secret. */
static void test_secrets_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/hc-secrets-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    const char *jwt = "0123456789abcdef0123456789abcdef-from-file";
    snprintf(path, sizeof path, "%s/HC_JWT_SECRET", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", jwt);
    fclose(f);
    snprintf(path, sizeof path, "%s/HC_TOPIC", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("from-file\r\n", f);
    fclose(f);
    setenv("HC_SECRETS_DIR", dir, 1);
    setenv("HC_TOPIC", "from-env", 1);
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_string_equal(cfg->jwt_secret, jwt);
    assert_string_equal(cfg->topic, "from-env");
    unsetenv("HC_TOPIC");
    load_ok(cfg);
    assert_string_equal(cfg->topic, "from-file");
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    hc_config_print_effective(mem, cfg);
    fclose(mem);
    assert_non_null(strstr(out, "HC_JWT_SECRET='********'"));
    assert_non_null(strstr(out, "# file, hidden"));
    assert_null(strstr(out, jwt));
    free(out);
    /* A file that is a directory cannot be read: refused, naming it. */
    snprintf(path, sizeof path, "%s/HC_SMS_API_KEY", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    load_fails_naming("HC_SMS_API_KEY");
    rmdir(path);
    snprintf(path, sizeof path, "%s/HC_JWT_SECRET", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/HC_TOPIC", dir);
    unlink(path);
    rmdir(dir);
    free(cfg);
}

/* HC_<SERVICE>_HOST must be one nginx word: a host name or address. */
static void test_service_host_checked(void **state)
{
    (void)state;
    setenv("HC_PAYMENT_HOST", "pay ment;", 1);
    load_fails_naming("HC_PAYMENT_HOST");
    setenv("HC_PAYMENT_HOST", "payment.hc.svc.cluster.local", 1);
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_string_equal(cfg->service_host[2], "payment.hc.svc.cluster.local");
    free(cfg);
}

static void test_invalid_choices(void **state)
{
    (void)state;
    setenv("HC_DB_SYNC", "SOMETIMES", 1);
    load_fails_naming("HC_DB_SYNC");
    unsetenv("HC_DB_SYNC");
    setenv("HC_BUS", "pigeon", 1);
    load_fails_naming("HC_BUS");
}

/* Loads and returns the error message (static) of a refused configuration. */
static const char *load_error(void)
{
    static char err[512];
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    int rc = hc_config_load(cfg, err, sizeof err);
    free(cfg);
    if (rc != HC_EINVAL)
        fail_msg("expected HC_EINVAL, got %d", rc);
    return err;
}

/* Regression: a bad HC_LOG_LEVEL (or HC_TZ) was taken silently, while other
 * bad variables were refused. Every enumerated variable now names what it
 * takes, like the others. */
static void test_every_choice_is_checked(void **state)
{
    (void)state;
    static const struct {
        const char *var, *bad, *message;
    } cases[] = {
        {"HC_LOG_LEVEL", "verbose",
         "HC_LOG_LEVEL: expected debug, info, warn or error, got \"verbose\""},
        {"HC_LOG_LEVEL", "INFO", "HC_LOG_LEVEL: expected debug, info, warn or error, got \"INFO\""},
        {"HC_LOG_FORMAT", "xml", "HC_LOG_FORMAT: expected json or text, got \"xml\""},
        {"HC_DB_SYNC", "full", "HC_DB_SYNC: expected FULL or NORMAL, got \"full\""},
        {"HC_BUS", "Kafka", "HC_BUS: expected log or kafka, got \"Kafka\""},
        {"HC_SMS_PROVIDER", "twilio", "HC_SMS_PROVIDER: expected log or http, got \"twilio\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv(cases[i].var, cases[i].bad, 1);
        assert_string_equal(load_error(), cases[i].message);
        unsetenv(cases[i].var);
    }
    /* each choice is taken; set but empty means the default */
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < 4; i++) {
        setenv("HC_LOG_LEVEL", levels[i], 1);
        load_ok(cfg);
        assert_string_equal(cfg->log_level, levels[i]);
    }
    setenv("HC_LOG_LEVEL", "", 1);
    setenv("HC_DB_SYNC", "", 1);
    setenv("HC_LOG_FORMAT", "text", 1);
    load_ok(cfg);
    assert_string_equal(cfg->log_level, "info");
    assert_string_equal(cfg->db_sync, "FULL");
    assert_string_equal(cfg->log_format, "text");
    free(cfg);
}

/* HC_LOG_FORMAT unset: text for a person at a terminal, JSON otherwise
 * (the unit tests' stderr is whatever ctest gives them). */
static void test_log_format_follows_stderr(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_string_equal(cfg->log_format, isatty(STDERR_FILENO) ? "text" : "json");
    setenv("HC_LOG_FORMAT", "json", 1);
    load_ok(cfg);
    assert_string_equal(cfg->log_format, "json");
    free(cfg);
}

static void test_tz_database(void **state)
{
    (void)state;
    static const char *const good[] = {"Asia/Seoul", "UTC", "America/Argentina/Buenos_Aires",
                                       "Etc/GMT+9", "Europe/Berlin"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!hc_config_tz_valid(good[i]))
            fail_msg("refused %s (is tzdata installed?)", good[i]);
    static const char *const bad[] = {"",
                                      "Asia/Nowhere",
                                      "Asia",       /* a directory */
                                      "asia/seoul", /* names are case-sensitive */
                                      "/usr/share/zoneinfo/Asia/Seoul", /* a path */
                                      "../zoneinfo/UTC",
                                      "Asia/../UTC",
                                      "./UTC",
                                      "Asia//Seoul",
                                      "UTC/",
                                      "KST-9", /* a POSIX rule, not a zone name */
                                      "Asia/Seoul ",
                                      "zone.tab", /* in the directory, not a zone */
                                      "Asia/Seoul\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (hc_config_tz_valid(bad[i]))
            fail_msg("took \"%s\"", bad[i]);
    assert_false(hc_config_tz_valid(NULL));

    setenv("HC_TZ", "Asia/Nowhere", 1);
    assert_string_equal(load_error(), "HC_TZ: expected a time zone of the tz database (e.g. "
                                      "Asia/Seoul or UTC, a file under /usr/share/zoneinfo), got "
                                      "\"Asia/Nowhere\"");
    setenv("HC_TZ", "", 1);
    load_fails_naming("HC_TZ");
    setenv("HC_TZ", "Europe/Berlin", 1);
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_string_equal(cfg->tz, "Europe/Berlin");
    free(cfg);
}

/* glibc looks zones up in $TZDIR when it is set; so does the check. */
static void test_tz_database_in_tzdir(void **state)
{
    (void)state;
    char dir[256], sub[300], path[320];
    hc_test_mkdtemp(dir, sizeof dir);
    hc_test_path(sub, sizeof sub, dir, "Test");
    assert_int_equal(mkdir(sub, 0700), 0);
    hc_test_path(path, sizeof path, sub, "Zone");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("TZif2 and the rest of a zone file", f);
    fclose(f);
    hc_test_path(path, sizeof path, sub, "NotAZone");
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("# a table, not a zone\n", f);
    fclose(f);
    char *old = getenv("TZDIR") ? strdup(getenv("TZDIR")) : NULL;
    setenv("TZDIR", dir, 1);
    assert_true(hc_config_tz_valid("Test/Zone"));
    assert_false(hc_config_tz_valid("Test/NotAZone"));
    assert_false(hc_config_tz_valid("Asia/Seoul")); /* not in this database */
    if (old)
        setenv("TZDIR", old, 1);
    else
        unsetenv("TZDIR");
    free(old);
    hc_test_rmtree(dir);
}

/* Returns what hc_config_print_effective prints for the current
 * environment (caller frees). */
static char *effective(void)
{
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    hc_config_print_effective(out, cfg);
    fclose(out);
    free(cfg);
    return text;
}

/* Returns the line of variable name in text, up to its newline (static). */
static const char *line_of(const char *text, const char *name)
{
    static char line[512];
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(text, key);
    if (!p)
        fail_msg("no line for %s in:\n%s", name, text);
    p++;
    snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
    return line;
}

static void test_effective_values_and_sources(void **state)
{
    (void)state;
    setenv("HC_GATEWAY_PORT", "9000", 1);
    setenv("HC_TOPIC", "it's here", 1);
    setenv("HC_LOG_LEVEL", "", 1); /* empty: the default */
    setenv("HC_LOG_FORMAT", "text", 1);
    char *text = effective();
    assert_string_equal(line_of(text, "HC_GATEWAY_PORT"),
                        "HC_GATEWAY_PORT=9000                      # env");
    assert_string_equal(line_of(text, "HC_ORDER_PORT"),
                        "HC_ORDER_PORT=8081                        # default");
    assert_string_equal(line_of(text, "HC_LOG_LEVEL"),
                        "HC_LOG_LEVEL=info                         # default");
    assert_string_equal(line_of(text, "HC_LOG_FORMAT"),
                        "HC_LOG_FORMAT=text                        # env");
    /* derived from the gateway port, as the services will use it */
    assert_string_equal(line_of(text, "HC_PUBLIC_URL"),
                        "HC_PUBLIC_URL=http://localhost:9000       # derived");
    assert_string_equal(line_of(text, "HC_RUN_DIR"),
                        "HC_RUN_DIR=./data/run                     # derived");
    /* quoted for a shell when it needs to be */
    assert_string_equal(line_of(text, "HC_TOPIC"),
                        "HC_TOPIC='it'\\''s here'                   # env");
    assert_string_equal(line_of(text, "HC_SERVICE_SECRET"),
                        "HC_SERVICE_SECRET=                        # default");
    /* one line per variable of the table */
    char *table = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&table, &len);
    hc_config_print_table(out, 1);
    fclose(out);
    assert_int_equal(occurrences_of(text, "\nHC_"), occurrences_of(table, "\n| `HC_"));
    free(table);
    free(text);
}

/* Regression guard: `config` must never print a secret, nor a URL's password. */
static void test_effective_hides_secrets(void **state)
{
    (void)state;
    static const char secret[] = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t";
    setenv("HC_SERVICE_SECRET", secret, 1);
    setenv("HC_SMS_PROVIDER", "http", 1);
    setenv("HC_SMS_URL", "https://user:pa55word@sms.example/send?to=1", 1);
    setenv("HC_SMS_API_KEY", "key-123456", 1);
    char *text = effective();
    assert_null(strstr(text, secret));
    assert_null(strstr(text, "s3cr3t"));
    assert_null(strstr(text, "key-123456"));
    assert_null(strstr(text, "pa55word"));
    assert_null(strstr(text, "user:"));
    assert_string_equal(line_of(text, "HC_SERVICE_SECRET"),
                        "HC_SERVICE_SECRET='********'              # env, hidden");
    assert_string_equal(line_of(text, "HC_SMS_API_KEY"),
                        "HC_SMS_API_KEY='********'                 # env, hidden");
    assert_string_equal(line_of(text, "HC_SMS_URL"),
                        "HC_SMS_URL='https://***@sms.example/send?to=1'  # env");
    free(text);
}

static void test_rate_limits(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    load_ok(cfg);
    assert_int_equal(cfg->rate_limit_rps, 20);
    assert_int_equal(cfg->rate_limit_burst, 40);
    assert_int_equal(cfg->rate_limit_connections, 20);
    assert_string_equal(cfg->trusted_proxy, "");
    assert_string_equal(cfg->real_ip_header, "X-Forwarded-For");
    /* 0 turns a limit off (and means no burst) */
    setenv("HC_RATE_LIMIT_RPS", "0", 1);
    setenv("HC_RATE_LIMIT_BURST", "0", 1);
    setenv("HC_RATE_LIMIT_CONNECTIONS", "0", 1);
    load_ok(cfg);
    assert_int_equal(cfg->rate_limit_rps, 0);
    assert_int_equal(cfg->rate_limit_burst, 0);
    assert_int_equal(cfg->rate_limit_connections, 0);
    static const char *const bad[] = {"-1", "100001", "1.5", "ten"};
    static const char *const names[] = {"HC_RATE_LIMIT_RPS", "HC_RATE_LIMIT_BURST",
                                        "HC_RATE_LIMIT_CONNECTIONS"};
    for (size_t n = 0; n < 3; n++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            setenv(names[n], bad[i], 1);
            load_fails_naming(names[n]);
        }
        setenv(names[n], "0", 1);
    }
    free(cfg);
}

static void test_payment_breaker_and_bulkhead(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    /* Resilience4j's defaults, the original's 610 ms timeout; the slow-call
     * threshold follows the timeout, the bulkhead a fifth of the connections */
    load_ok(cfg);
    assert_int_equal(cfg->payment_timeout_ms, 610);
    assert_int_equal(cfg->payment_cb_sliding_window_size, 20);
    assert_int_equal(cfg->payment_cb_minimum_number_of_calls, 10);
    assert_int_equal(cfg->payment_cb_failure_rate_threshold, 50);
    assert_int_equal(cfg->payment_cb_slow_call_duration_threshold_ms, 610);
    assert_int_equal(cfg->payment_cb_slow_call_rate_threshold, 100);
    assert_int_equal(cfg->payment_cb_wait_duration_in_open_state_ms, 5000);
    assert_int_equal(cfg->payment_cb_permitted_calls_in_half_open, 3);
    assert_int_equal(cfg->payment_bulkhead_max_concurrent_calls, cfg->http_max_connections / 5);
    setenv("HC_PAYMENT_TIMEOUT_MS", "900", 1);
    setenv("HC_HTTP_MAX_CONNECTIONS", "8", 1);
    load_ok(cfg);
    assert_int_equal(cfg->payment_cb_slow_call_duration_threshold_ms, 900);
    assert_int_equal(cfg->payment_bulkhead_max_concurrent_calls, 1);
    setenv("HC_PAYMENT_CB_SLOW_CALL_DURATION_THRESHOLD_MS", "300", 1);
    setenv("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS", "7", 1);
    load_ok(cfg);
    assert_int_equal(cfg->payment_cb_slow_call_duration_threshold_ms, 300);
    assert_int_equal(cfg->payment_bulkhead_max_concurrent_calls, 7);
    /* as many payment calls as connections would let a slow payment take them all */
    setenv("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS", "8", 1);
    load_fails_naming("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS");
    setenv("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS", "0", 1);
    load_fails_naming("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS");
    unsetenv("HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS");
    static const char *const pct[] = {"HC_PAYMENT_CB_FAILURE_RATE_THRESHOLD",
                                      "HC_PAYMENT_CB_SLOW_CALL_RATE_THRESHOLD"};
    for (size_t n = 0; n < 2; n++) {
        setenv(pct[n], "0", 1);
        load_fails_naming(pct[n]);
        setenv(pct[n], "101", 1);
        load_fails_naming(pct[n]);
        setenv(pct[n], "100", 1);
        load_ok(cfg);
    }
    static const char *const counts[] = {
        "HC_PAYMENT_CB_SLIDING_WINDOW_SIZE", "HC_PAYMENT_CB_MINIMUM_NUMBER_OF_CALLS",
        "HC_PAYMENT_CB_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE",
        "HC_PAYMENT_CB_WAIT_DURATION_IN_OPEN_STATE_MS",
        "HC_PAYMENT_CB_SLOW_CALL_DURATION_THRESHOLD_MS"};
    for (size_t n = 0; n < sizeof counts / sizeof counts[0]; n++) {
        setenv(counts[n], "0", 1);
        load_fails_naming(counts[n]);
        setenv(counts[n], "x", 1);
        load_fails_naming(counts[n]);
        unsetenv(counts[n]);
    }
    /* a minimum above the window is Resilience4j's "the whole window" */
    setenv("HC_PAYMENT_CB_SLIDING_WINDOW_SIZE", "4", 1);
    setenv("HC_PAYMENT_CB_MINIMUM_NUMBER_OF_CALLS", "40", 1);
    load_ok(cfg);
    free(cfg);
}

static void test_trusted_proxy(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    /* commas and/or blanks between items; stored as a plain comma list */
    setenv("HC_TRUSTED_PROXY", " 10.0.0.0/8,, 192.168.0.1\t::1 , fd00::/8,0.0.0.0/0 ", 1);
    setenv("HC_REAL_IP_HEADER", "X-Real-IP", 1);
    load_ok(cfg);
    assert_string_equal(cfg->trusted_proxy, "10.0.0.0/8,192.168.0.1,::1,fd00::/8,0.0.0.0/0");
    assert_string_equal(cfg->real_ip_header, "X-Real-IP");
    setenv("HC_TRUSTED_PROXY", " , ", 1);
    load_ok(cfg);
    assert_string_equal(cfg->trusted_proxy, "");
    static const char *const bad[] = {
        "proxy.example.com", /* a host name: nginx would resolve it once */
        "10.0.0.1/33",       /* prefix longer than the address */
        "::1/129",           "10.0.0.1/", "10.0.0.1/08",           "/8", "10.0.0",
        "10.0.0.1;deny",     "unix:",     "10.0.0.1,fe80::1%eth0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("HC_TRUSTED_PROXY", bad[i], 1);
        load_fails_naming("HC_TRUSTED_PROXY");
    }
    unsetenv("HC_TRUSTED_PROXY");
    static const char *const bad_header[] = {"", "X Real", "X-A;deny", "proxy_protocol", "X:Y"};
    for (size_t i = 0; i < sizeof bad_header / sizeof bad_header[0]; i++) {
        setenv("HC_REAL_IP_HEADER", bad_header[i], 1);
        load_fails_naming("HC_REAL_IP_HEADER");
    }
    free(cfg);
}

/* Regression (found by fuzz_config): HC_DATA_DIR set but empty was taken as
 * "", which made the run directory "/run" and the databases "/<service>.db". */
static void test_empty_data_dir_refused(void **state)
{
    (void)state;
    setenv("HC_DATA_DIR", "", 1);
    load_fails_naming("HC_DATA_DIR");
}

static void test_parse_packages(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    assert_int_equal(hc_config_parse_packages(cfg, "basic:기본 건강검진:50000,prime:종합:150000,"
                                                   "free:무료:0"),
                     0);
    assert_int_equal(cfg->n_packages, 3);
    assert_string_equal(cfg->packages[0].code, "basic");
    assert_string_equal(cfg->packages[0].name, "기본 건강검진");
    assert_int_equal(cfg->packages[0].price, 50000);
    assert_string_equal(cfg->packages[1].code, "prime");
    assert_int_equal(cfg->packages[1].price, 150000);
    assert_int_equal(cfg->packages[2].price, 0);

    const hc_package_t *p = hc_config_package(cfg, "prime");
    assert_non_null(p);
    assert_ptr_equal(p, &cfg->packages[1]);
    assert_null(hc_config_package(cfg, "PRIME"));
    assert_null(hc_config_package(cfg, "prim"));
    assert_null(hc_config_package(cfg, ""));

    /* a later parse replaces the catalog */
    assert_int_equal(hc_config_parse_packages(cfg, "x:X:1"), 0);
    assert_int_equal(cfg->n_packages, 1);
    assert_null(hc_config_package(cfg, "basic"));

    assert_int_equal(hc_config_parse_packages(cfg, "basic:Basic"), HC_EINVAL);
    assert_int_equal(hc_config_parse_packages(cfg, "basic:Basic:1x"), HC_EINVAL);
    assert_int_equal(hc_config_parse_packages(cfg, "basic:Basic:-1"), HC_EINVAL);
    assert_int_equal(hc_config_parse_packages(cfg, "a:A:1,a:B:2"), HC_EINVAL);
    /* a code that does not fit is refused, not truncated */
    assert_int_equal(
        hc_config_parse_packages(cfg, "this_code_is_much_longer_than_thirty_one_bytes:A:1"),
        HC_EINVAL);

    /* more than HC_MAX_PACKAGES */
    char spec[1024] = "";
    size_t used = 0;
    for (int i = 0; i <= HC_MAX_PACKAGES; i++) {
        int n = snprintf(spec + used, sizeof spec - used, "%sp%d:P:%d", i ? "," : "", i, i);
        assert_true(n > 0 && (size_t)n < sizeof spec - used);
        used += (size_t)n;
    }
    assert_int_equal(hc_config_parse_packages(cfg, spec), HC_EINVAL);
    free(cfg);
}

static void test_parse_centers(void **state)
{
    (void)state;
    hc_config_t *cfg = calloc(1, sizeof *cfg);
    assert_non_null(cfg);
    assert_int_equal(hc_config_parse_centers(cfg, "1:서울중앙검진센터:20,2:부산검진센터:10"), 0);
    assert_int_equal(cfg->n_centers, 2);
    assert_int_equal(cfg->centers[0].id, 1);
    assert_string_equal(cfg->centers[0].name, "서울중앙검진센터");
    assert_int_equal(cfg->centers[0].capacity, 20);
    assert_int_equal(cfg->centers[1].id, 2);
    assert_string_equal(cfg->centers[1].name, "부산검진센터");
    assert_int_equal(cfg->centers[1].capacity, 10);

    assert_int_equal(hc_config_parse_centers(cfg, "1:A"), HC_EINVAL);
    assert_int_equal(hc_config_parse_centers(cfg, "one:A:5"), HC_EINVAL);
    assert_int_equal(hc_config_parse_centers(cfg, "1:A:five"), HC_EINVAL);
    assert_int_equal(hc_config_parse_centers(cfg, "1:A:-1"), HC_EINVAL);
    assert_int_equal(hc_config_parse_centers(cfg, "1:A:5,1:B:6"), HC_EINVAL);
    assert_int_equal(hc_config_parse_centers(cfg, ""), HC_EINVAL);
    free(cfg);
}

static void test_print_table_names_variables(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    hc_config_print_table(out, 1);
    fclose(out);
    assert_non_null(strstr(text, "HC_ORDER_PORT"));
    assert_non_null(strstr(text, "HC_PACKAGES"));
    assert_non_null(strstr(text, "HC_DATA_DIR"));
    assert_non_null(strstr(text, "8081"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_overrides, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_invalid_port, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_invalid_numbers, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_invalid_packages, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_invalid_centers, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_invalid_choices, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_every_choice_is_checked, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_log_format_follows_stderr, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_tz_database, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_tz_database_in_tzdir, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_effective_values_and_sources, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_effective_hides_secrets, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_empty_data_dir_refused, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_rate_limits, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_trusted_proxy, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_payment_breaker_and_bulkhead, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_parse_packages, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_parse_centers, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_parse_scale, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_scale_needs_kafka, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_empty_kafka_brokers_refused, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_secrets_dir, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_service_host_checked, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_print_table_names_variables, clear_env, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
