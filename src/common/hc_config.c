/* hc_config: the table of environment variables and their parsing. */
#include "hc_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_buf.h"
#include "hc_err.h"

/* Where the system keeps the tz database (Debian: package tzdata). */
#define HC_ZONEINFO_DIR "/usr/share/zoneinfo"

hc_config_t hc_cfg;

typedef enum { CFG_STR, CFG_INT, CFG_SIZE, CFG_I64 } cfg_kind_t;

typedef struct cfg_var {
    const char *name;
    const char *def; /* default as text; "" = empty; NULL = derived (see meaning) */
    cfg_kind_t kind;
    size_t off;  /* offset of the field in hc_config_t */
    size_t size; /* buffer size for CFG_STR */
    long long min, max;
    const char *choices; /* CFG_STR: the only values allowed, "a|b|c"; NULL = any */
    int secret;          /* 1: `healthcenter config` never shows the value */
    const char *meaning;
} cfg_var_t;

#define STR_(field) CFG_STR, offsetof(hc_config_t, field), sizeof(((hc_config_t *)0)->field), 0, 0
#define S(field) STR_(field), NULL, 0
#define C(field, choices) STR_(field), choices, 0 /* one of choices, "a|b|c" */
#define SECRET(field) STR_(field), NULL, 1
#define I(field, lo, hi) CFG_INT, offsetof(hc_config_t, field), 0, lo, hi, NULL, 0
#define Z(field, lo, hi) CFG_SIZE, offsetof(hc_config_t, field), 0, lo, hi, NULL, 0
#define L(field, lo, hi) CFG_I64, offsetof(hc_config_t, field), 0, lo, hi, NULL, 0

static const cfg_var_t vars[] = {
    {"HC_DATA_DIR", "./data", S(data_dir), "directory for databases, the event log and run files"},
    {"HC_RUN_DIR", NULL, S(run_dir),
     "nginx config, pid and logs for `up` (default: $HC_DATA_DIR/run)"},
    {"HC_BIND_ADDR", "127.0.0.1", S(bind_addr), "address every service and the gateway listen on"},
    {"HC_GATEWAY_PORT", "8080", I(gateway_port, 1, 65535), "nginx gateway port"},
    {"HC_ORDER_PORT", "8081", I(order_port, 1, 65535), "order service port"},
    {"HC_RESERVATION_PORT", "8082", I(reservation_port, 1, 65535), "reservation service port"},
    {"HC_PAYMENT_PORT", "8083", I(payment_port, 1, 65535), "payment service port"},
    {"HC_NOTIFICATION_PORT", "8084", I(notification_port, 1, 65535),
     "notification (mypage, SMS) service port"},
    {"HC_PAYMENT_URL", NULL, S(payment_url),
     "base URL order calls for payments (default: http://127.0.0.1:$HC_PAYMENT_PORT)"},
    {"HC_ORDER_URL", NULL, S(order_url),
     "base URL reservation and payment call to ask order for a booking's status change (default: "
     "http://127.0.0.1:$HC_ORDER_PORT)"},
    {"HC_PUBLIC_URL", NULL, S(public_url),
     "base of every link and `Location` the services answer (default: "
     "http://localhost:$HC_GATEWAY_PORT, or http://$HC_BIND_ADDR:$HC_GATEWAY_PORT when that is not "
     "a loopback or wildcard address); never taken from the request"},
    {"HC_SERVICE_SECRET", "", SECRET(service_secret),
     "shared secret (32+ characters) that signs calls between services; empty: a random key kept "
     "in $HC_DATA_DIR/service.key"},
    {"HC_JWT_SECRET", "", SECRET(jwt_secret),
     "secret (32 to 256 characters) that signs and verifies bearer tokens (HS256 JWTs); empty: a "
     "random key kept in $HC_DATA_DIR/jwt.key (docs/accounts.md, \"Secrets\")"},
    {"HC_TOKEN_TTL_S", "3600", I(token_ttl_s, 60, 604800),
     "lifetime of the tokens sign-in (`/auth/otp/verify`, `/auth/login`) and `healthcenter token` "
     "issue, s"},
    {"HC_ADMIN_USER", "admin", S(admin_user),
     "the super-admin notification creates, or whose password it updates, at start"},
    {"HC_ADMIN_PASSWORD", "", SECRET(admin_password),
     "the password of HC_ADMIN_USER (8+ characters); empty: an existing super-admin keeps its "
     "password, and on first start a random one is written to $HC_DATA_DIR/admin.password (0600)"},
    {"HC_OTP_TTL_S", "300", I(otp_ttl_s, 30, 3600), "lifetime of a sign-in code sent by SMS, s"},
    {"HC_OTP_MAX_ATTEMPTS", "5", I(otp_max_attempts, 1, 100),
     "wrong tries after which a sign-in code is locked (a new one must be asked for)"},
    {"HC_OTP_PER_PHONE", "3", I(otp_per_phone, 1, 1000),
     "sign-in codes one phone number may be sent per HC_OTP_WINDOW_S (429 beyond)"},
    {"HC_OTP_PER_CLIENT", "10", I(otp_per_client, 1, 100000),
     "sign-in codes one client address may ask for per HC_OTP_WINDOW_S (429 beyond)"},
    {"HC_OTP_WINDOW_S", "900", I(otp_window_s, 10, 86400),
     "the window of HC_OTP_PER_PHONE and HC_OTP_PER_CLIENT, s"},
    {"HC_ORDER_TIMEOUT_MS", "3000", I(order_timeout_ms, 10, 600000),
     "reservation/payment->order call timeout, ms"},
    {"HC_HTTP_MAX_CONNECTIONS", "1000", I(http_max_connections, 8, 20000),
     "connections a service serves at once, each on its own thread; a connection beyond them is "
     "closed at once (through the gateway: 502)"},
    {"HC_MAX_BODY_BYTES", "65536", Z(max_body_bytes, 256, 64 * 1024 * 1024),
     "largest accepted request body, bytes (413 above)"},
    {"HC_DB_SYNC", "FULL", C(db_sync, "FULL|NORMAL"),
     "SQLite synchronous mode: FULL (durable commits) or NORMAL"},
    {"HC_DB", "sqlite", C(db, "sqlite|postgres"),
     "storage of the services: sqlite (a file per service under $HC_DATA_DIR) or postgres "
     "(a schema per service, named after it, at $HC_DB_URL); HC_<SERVICE>_DB_URL overrides it "
     "per service (docs/distributed.md, \"PostgreSQL\")"},
    {"HC_DB_URL", "", S(db_url),
     "PostgreSQL URL (postgresql://user:password@host:port/database) of every service when "
     "HC_DB=postgres; the password is never shown"},
    {"HC_ORDER_DB_URL", "", S(order_db_url),
     "order's storage, whatever HC_DB says: a PostgreSQL URL, or sqlite for its file; empty: "
     "as HC_DB"},
    {"HC_RESERVATION_DB_URL", "", S(reservation_db_url),
     "reservation's storage: a PostgreSQL URL, or sqlite; empty: as HC_DB"},
    {"HC_PAYMENT_DB_URL", "", S(payment_db_url),
     "payment's storage: a PostgreSQL URL, or sqlite; empty: as HC_DB"},
    {"HC_NOTIFICATION_DB_URL", "", S(notification_db_url),
     "notification's storage: a PostgreSQL URL, or sqlite; empty: as HC_DB"},
    {"HC_DB_POOL_SIZE", "16", I(db_pool_size, 1, 1000),
     "PostgreSQL connections each service process keeps at most"},
    {"HC_LOG_LEVEL", "info", C(log_level, "debug|info|warn|error"), "debug, info, warn or error"},
    {"HC_LOG_FORMAT", NULL, C(log_format, "json|text"),
     "json (one object per line) or text (one readable line); default: text when stderr is a "
     "terminal, else json"},
    {"HC_BUS", "log", C(bus, "log|kafka"),
     "event bus: log (embedded durable log under $HC_DATA_DIR/bus) or kafka (Apache Kafka at "
     "HC_KAFKA_BROKERS, docs/distributed.md)"},
    {"HC_TOPIC", "healthcenter", S(topic), "event topic name"},
    {"HC_KAFKA_BROKERS", "127.0.0.1:9092", S(kafka_brokers),
     "kafka: bootstrap brokers, host:port,... (librdkafka `bootstrap.servers`)"},
    {"HC_KAFKA_PARTITIONS", "6", I(kafka_partitions, 1, 1000),
     "kafka: partitions of HC_TOPIC when a service creates it at start (it is created when "
     "missing); at most this many instances of a service consume at once"},
    {"HC_KAFKA_REPLICATION_FACTOR", "-1", I(kafka_replication_factor, -1, 32),
     "kafka: replicas of each partition of a topic created at start; -1: the broker's "
     "`default.replication.factor`"},
    {"HC_KAFKA_GROUP_PREFIX", "", S(kafka_group_prefix),
     "kafka: prefix of every consumer group; a service's group is this followed by its name "
     "(`order`, ...), so systems sharing a cluster keep apart"},
    {"HC_KAFKA_DELIVERY_TIMEOUT_MS", "10000", I(kafka_delivery_timeout_ms, 100, 3600000),
     "kafka: time a published event may wait for the brokers' acknowledgement (librdkafka "
     "`message.timeout.ms`); after it the outbox row stays unsent and is published again, ms"},
    {"HC_KAFKA_SESSION_TIMEOUT_MS", "10000", I(kafka_session_timeout_ms, 1000, 3600000),
     "kafka: an instance that sends no heartbeat for this long (killed, hung) loses its "
     "partitions to the group's other members (librdkafka `session.timeout.ms`), ms"},
    {"HC_KAFKA_CONFIG", "", S(kafka_config),
     "kafka: more librdkafka client properties, key=value,... (e.g. "
     "security.protocol=SSL,ssl.ca.location=/etc/ssl/ca.pem); the delivery and offset settings "
     "that keep events exactly-once cannot be changed here"},
    {"HC_PAYMENT_TIMEOUT_MS", "610", I(payment_timeout_ms, 10, 600000),
     "order->payment call timeout, ms (610: the original's Hystrix timeout)"},
    {"HC_PENDING_RECOVERY_MS", "10000", I(pending_recovery_ms, 100, 86400000),
     "a booking still PENDING after this long (crash mid-payment) is failed and compensated, ms"},
    {"HC_TZ", "Asia/Seoul", S(tz),
     "the centers' time zone (dates, deadlines): a tz database name (/usr/share/zoneinfo)"},
    {"HC_BOOKING_HORIZON_DAYS", "90", I(horizon_days, 1, 3650),
     "latest bookable checkup date, days after today"},
    {"HC_CANCEL_CUTOFF_DAYS", "1", I(cancel_cutoff_days, 0, 365),
     "cancel allowed until the end of the day N days before the checkup"},
    {"HC_CLOCK_OFFSET_SECONDS", "0", L(clock_offset_s, -3650LL * 86400, 3650LL * 86400),
     "shifts the service clock (for testing date rules)"},
    {"HC_DECLINE_CARDS", "4000000000000002", S(decline_cards),
     "comma list of card numbers the built-in payment provider declines"},
    {"HC_PACKAGES", "basic:기본 건강검진:50000,prime:종합 건강검진:150000", S(packages_spec),
     "package catalog, code:name:priceKRW,..."},
    {"HC_CENTERS", "1:서울중앙검진센터:20,2:부산검진센터:10", S(centers_spec),
     "centers, id:name:dailyCapacity,..."},
    {"HC_SMS_PROVIDER", "log", C(sms_provider, "log|http"),
     "SMS provider: log (records and logs) or http"},
    {"HC_SMS_URL", "", S(sms_url), "SMS API endpoint for the http provider"},
    {"HC_SMS_API_KEY", "", SECRET(sms_api_key),
     "API key sent as `Authorization: Bearer` to the SMS API"},
    {"HC_SMS_TIMEOUT_MS", "2000", I(sms_timeout_ms, 10, 600000), "SMS API call timeout, ms"},
    {"HC_SMS_MAX_ATTEMPTS", "8", I(sms_max_attempts, 1, 100),
     "SMS delivery attempts before FAILED for good"},
    {"HC_NGINX", "", S(nginx_bin), "nginx binary for `up` (default: found in /usr/sbin or PATH)"},
    {"HC_ORDER_HOST", NULL, S(service_host[0]),
     "gateway: host name or address where nginx reaches order on HC_ORDER_PORT (`healthcenter "
     "gateway` in a cluster: the order Service's name); default: where `up` runs it (HC_BIND_ADDR, "
     "or 127.0.0.1 when that is every interface)"},
    {"HC_RESERVATION_HOST", NULL, S(service_host[1]),
     "gateway: where nginx reaches reservation on HC_RESERVATION_PORT; default: as HC_ORDER_HOST"},
    {"HC_PAYMENT_HOST", NULL, S(service_host[2]),
     "gateway: where nginx reaches payment on HC_PAYMENT_PORT; default: as HC_ORDER_HOST"},
    {"HC_NOTIFICATION_HOST", NULL, S(service_host[3]),
     "gateway: where nginx reaches notification on HC_NOTIFICATION_PORT; default: as "
     "HC_ORDER_HOST"},
    {"HC_SECRETS_DIR", "", S(secrets_dir),
     "a directory of files named after settings (e.g. a mounted Kubernetes Secret: HC_JWT_SECRET, "
     "HC_DB_URL, ...): a setting not in the environment is read from its file there (one trailing "
     "newline dropped); the environment wins"},
    {"HC_SHUTDOWN_GRACE_MS", "10000", I(shutdown_grace_ms, 0, 600000),
     "on SIGTERM/SIGINT a service stops taking connections and gives the requests in flight this "
     "long to finish, then publishes its outbox and commits its consumer, ms"},
    {"HC_READY_TIMEOUT_MS", "15000", I(ready_timeout_ms, 100, 600000),
     "`up`: time allowed for every process to become ready, ms"},
    {"HC_LIVENESS_PERIOD_MS", "2000", I(liveness_period_ms, 0, 600000),
     "`up`: how often it probes each running child's liveness (`/health/live`; nginx: "
     "`/gateway/health`), ms; 0: never"},
    {"HC_LIVENESS_TIMEOUT_MS", "1000", I(liveness_timeout_ms, 10, 60000),
     "`up`: time one liveness probe may take, ms; also each service's share of the gateway's "
     "`/actuator/health`"},
    {"HC_LIVENESS_FAILURE_THRESHOLD", "3", I(liveness_failures, 1, 100),
     "`up`: liveness probes failed in a row after which a child is killed and restarted"},
    {"HC_RESTART_BACKOFF_MS", "100", I(restart_backoff_ms, 0, 60000),
     "`up`: delay before restarting a child that exited or hung; it doubles with each restart "
     "up to HC_RESTART_BACKOFF_MAX_MS, and starts again here once the child ran 10 s, ms"},
    {"HC_RESTART_BACKOFF_MAX_MS", "5000", I(restart_backoff_max_ms, 0, 600000),
     "`up`: the longest delay before a restart, ms"},
    {"HC_CRASH_LOOP_RESTARTS", "5", I(crash_loop_restarts, 1, 100),
     "`up`: restarts of one child allowed within HC_CRASH_LOOP_WINDOW_MS; the next exit in the "
     "window gives up on it (DOWN in the gateway's `/actuator/health` until `healthcenter "
     "restart`)"},
    {"HC_CRASH_LOOP_WINDOW_MS", "60000", I(crash_loop_window_ms, 1000, 86400000),
     "`up`: the window of HC_CRASH_LOOP_RESTARTS, ms"},
    {"HC_SCALE", "", S(scale_spec),
     "`up`: instances per service, service=count,... (e.g. order=2,reservation=2), at most 8 "
     "each; the first listens on the service's port, instance k on that port + (k-1) * "
     "HC_SCALE_PORT_STEP; the gateway balances across them. Needs HC_BUS=kafka (every service "
     "consumes events; docs/supervisor.md, \"Scale-out\")"},
    {"HC_SCALE_PORT_STEP", "100", I(scale_port_step, 1, 10000),
     "`up`: port distance between a scaled service's instances (HC_SCALE)"},
    {"HC_RATE_LIMIT_RPS", "20", I(rate_limit_rps, 0, 100000),
     "gateway: requests per second one client may make on average (nginx `limit_req`; beyond it "
     "and its burst: 429 with `Retry-After`); 0 turns the limit off. Health and metrics paths are "
     "never limited"},
    {"HC_RATE_LIMIT_BURST", "40", I(rate_limit_burst, 0, 100000),
     "gateway: requests a client may make at once above HC_RATE_LIMIT_RPS, served without delay; "
     "0: none, every request must keep to the rate"},
    {"HC_RATE_LIMIT_CONNECTIONS", "20", I(rate_limit_connections, 0, 100000),
     "gateway: requests one client may have in progress at once (nginx `limit_conn`; 429 beyond); "
     "0 turns the limit off"},
    {"HC_AUTH_RATE_LIMIT_RPM", "60", I(auth_rate_limit_rpm, 0, 100000),
     "gateway: sign-in requests (`/auth/`: codes, code checks, passwords) one client may make "
     "per minute on average, on top of HC_RATE_LIMIT_RPS (429 beyond it and its burst); 0 turns "
     "this extra limit off"},
    {"HC_AUTH_RATE_LIMIT_BURST", "20", I(auth_rate_limit_burst, 0, 100000),
     "gateway: sign-in requests a client may make at once above HC_AUTH_RATE_LIMIT_RPM"},
    {"HC_TRUSTED_PROXY", "", S(trusted_proxy),
     "gateway: IP addresses or CIDRs (comma list) of the proxies in front of it; for a connection "
     "from one of them the client is the address in HC_REAL_IP_HEADER (rate limits, access log). "
     "Empty: the client is always the connection's own address and the header is ignored"},
    {"HC_REAL_IP_HEADER", "X-Forwarded-For", S(real_ip_header),
     "gateway: the header a trusted proxy names the client in (the rightmost address in it that "
     "is not a trusted proxy counts)"},
    {"HC_WEB_DIR", NULL, S(web_dir),
     "gateway: the web app's directory (index.html, admin.html, assets/) served at `/` and "
     "`/admin` (default: ../web from the binary's directory, else ../share/healthcenter/web; "
     "none found: those pages answer 404)"},
    {"HC_CORS_ORIGINS", "", S(cors_origins),
     "gateway: the origins (comma list, e.g. `https://app.example.com`) whose pages may call the "
     "API from a browser (CORS `Access-Control-Allow-Origin`, echoed for these only). Empty: "
     "same-origin only, no other site's page may read an answer"},
    {"HC_PAYMENT_CB_SLIDING_WINDOW_SIZE", "20", I(payment_cb_sliding_window_size, 1, 10000),
     "order->payment circuit breaker: the last N calls whose outcomes it judges (count-based "
     "sliding window)"},
    {"HC_PAYMENT_CB_MINIMUM_NUMBER_OF_CALLS", "10", I(payment_cb_minimum_number_of_calls, 1, 10000),
     "circuit breaker: calls in the window before it may open (at most the window)"},
    {"HC_PAYMENT_CB_FAILURE_RATE_THRESHOLD", "50", I(payment_cb_failure_rate_threshold, 1, 100),
     "circuit breaker: opens when this percentage of the window failed (no answer in time, "
     "could not connect, reset, 5xx; a decline is an answer)"},
    {"HC_PAYMENT_CB_SLOW_CALL_DURATION_THRESHOLD_MS", NULL,
     I(payment_cb_slow_call_duration_threshold_ms, 1, 600000),
     "circuit breaker: a call longer than this is slow, ms (default: HC_PAYMENT_TIMEOUT_MS)"},
    {"HC_PAYMENT_CB_SLOW_CALL_RATE_THRESHOLD", "100",
     I(payment_cb_slow_call_rate_threshold, 1, 100),
     "circuit breaker: opens when this percentage of the window was slow"},
    {"HC_PAYMENT_CB_WAIT_DURATION_IN_OPEN_STATE_MS", "5000",
     I(payment_cb_wait_duration_in_open_state_ms, 10, 3600000),
     "circuit breaker: how long it stays open, refusing bookings and refunds at once (503 with "
     "Retry-After), before trial calls, ms"},
    {"HC_PAYMENT_CB_PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE", "3",
     I(payment_cb_permitted_calls_in_half_open, 1, 1000),
     "circuit breaker: trial calls when half-open; their failure rate closes it or opens it again"},
    {"HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS", NULL,
     I(payment_bulkhead_max_concurrent_calls, 1, 20000),
     "payment calls one order process makes at once (bookings and refunds); one more is refused "
     "at once (503); below HC_HTTP_MAX_CONNECTIONS, so that reads and probes always find a "
     "connection (default: a fifth of it, 200)"},
};

/* Returns 1 when val is one of choices ("a|b|c"), exactly. */
static int is_choice(const char *choices, const char *val)
{
    size_t n = strlen(val);
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && strncmp(c, val, n) == 0)
            return 1;
        c += len;
        if (*c == '|')
            c++;
    }
    return 0;
}

/* Writes "expected a, b or c" for choices "a|b|c" into err, then the value. */
static void choice_error(const cfg_var_t *v, const char *val, char *err, size_t errlen)
{
    char list[128] = "";
    size_t used = 0, count = 1;
    for (const char *c = v->choices; *c; c++)
        count += *c == '|';
    size_t i = 0;
    for (const char *c = v->choices; *c; i++) {
        size_t len = strcspn(c, "|");
        const char *sep = i == 0 ? "" : i + 1 == count ? " or " : ", ";
        int n = snprintf(list + used, sizeof list - used, "%s%.*s", sep, (int)len, c);
        if (n < 0 || (size_t)n >= sizeof list - used)
            break;
        used += (size_t)n;
        c += len;
        if (*c == '|')
            c++;
    }
    snprintf(err, errlen, "%s: expected %s, got \"%s\"", v->name, list, val);
}

static int set_var(hc_config_t *cfg, const cfg_var_t *v, const char *val, char *err, size_t errlen)
{
    char *field = (char *)cfg + v->off;
    long long n = 0;
    switch (v->kind) {
    case CFG_STR:
        if (v->choices && !is_choice(v->choices, val)) {
            choice_error(v, val, err, errlen);
            return HC_EINVAL;
        }
        if (strlen(val) >= v->size) {
            snprintf(err, errlen, "%s: value too long (max %zu bytes)", v->name, v->size - 1);
            return HC_EINVAL;
        }
        hc_strlcpy(field, val, v->size);
        return 0;
    case CFG_INT:
    case CFG_SIZE:
    case CFG_I64:
        if (hc_parse_i64(val, &n) || n < v->min || n > v->max) {
            snprintf(err, errlen, "%s: expected an integer from %lld to %lld, got \"%s\"", v->name,
                     v->min, v->max, val);
            return HC_EINVAL;
        }
        if (v->kind == CFG_INT)
            *(int *)(void *)field = (int)n;
        else if (v->kind == CFG_SIZE)
            *(size_t *)(void *)field = (size_t)n;
        else
            *(int64_t *)(void *)field = (int64_t)n;
        return 0;
    }
    return HC_EINVAL;
}

/* Splits "a:b:c,..." items; calls fn for each with the three parts. */
static int parse_triples(const char *spec, int (*fn)(void *ud, char *a, char *b, char *c), void *ud)
{
    char buf[1024];
    if (hc_strlcpy(buf, spec, sizeof buf) >= sizeof buf)
        return HC_EINVAL;
    char *save = NULL;
    int count = 0;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *a = item, *b = strchr(a, ':');
        if (!b)
            return HC_EINVAL;
        *b++ = '\0';
        char *c = strrchr(b, ':');
        if (!c)
            return HC_EINVAL;
        *c++ = '\0';
        if (!*a || !*b || !*c || fn(ud, a, b, c))
            return HC_EINVAL;
        count++;
    }
    return count ? 0 : HC_EINVAL;
}

static int add_package(void *ud, char *code, char *name, char *price)
{
    hc_config_t *cfg = ud;
    long long p;
    if (cfg->n_packages >= HC_MAX_PACKAGES || hc_parse_i64(price, &p) || p < 0 ||
        strlen(code) >= sizeof cfg->packages[0].code ||
        strlen(name) >= sizeof cfg->packages[0].name)
        return HC_EINVAL;
    if (hc_config_package(cfg, code))
        return HC_EINVAL;
    hc_package_t *pk = &cfg->packages[cfg->n_packages++];
    hc_strlcpy(pk->code, code, sizeof pk->code);
    hc_strlcpy(pk->name, name, sizeof pk->name);
    pk->price = p;
    return 0;
}

int hc_config_parse_packages(hc_config_t *cfg, const char *spec)
{
    cfg->n_packages = 0;
    int rc = parse_triples(spec, add_package, cfg);
    if (rc)
        cfg->n_packages = 0;
    return rc;
}

static int add_center(void *ud, char *id, char *name, char *cap)
{
    hc_config_t *cfg = ud;
    long long i, c;
    if (cfg->n_centers >= HC_MAX_CENTERS || hc_parse_i64(id, &i) || i <= 0 ||
        hc_parse_i64(cap, &c) || c < 0 || c > 1000000 ||
        strlen(name) >= sizeof cfg->centers[0].name)
        return HC_EINVAL;
    for (size_t k = 0; k < cfg->n_centers; k++)
        if (cfg->centers[k].id == i)
            return HC_EINVAL;
    hc_center_cfg_t *ce = &cfg->centers[cfg->n_centers++];
    ce->id = i;
    hc_strlcpy(ce->name, name, sizeof ce->name);
    ce->capacity = (int)c;
    return 0;
}

int hc_config_parse_centers(hc_config_t *cfg, const char *spec)
{
    cfg->n_centers = 0;
    int rc = parse_triples(spec, add_center, cfg);
    if (rc)
        cfg->n_centers = 0;
    return rc;
}

/* The services, indexed as HC_NSERVICES says. */
static const char *const service_names[HC_NSERVICES] = {"order", "reservation", "payment",
                                                        "notification"};

/* The variable HC_<SERVICE><suffix> of service i ("HC_ORDER_HOST"), into out. */
static void service_var(int i, const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "HC_%s%s", service_names[i], suffix);
    for (char *p = out; *p; p++)
        *p = (char)toupper((unsigned char)*p);
}

int hc_config_parse_scale(hc_config_t *cfg, const char *spec, char *err, size_t errlen)
{
    for (int i = 0; i < HC_NSERVICES; i++)
        cfg->scale[i] = 1;
    const char *p = spec;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[64];
        if (len == 0 || len >= sizeof item) {
            snprintf(err, errlen, "HC_SCALE: expected service=count,... got \"%s\"", spec);
            goto bad;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        long long n = 0;
        if (!eq || hc_parse_i64(eq + 1, &n)) {
            snprintf(err, errlen, "HC_SCALE: expected service=count, got \"%s\"", item);
            goto bad;
        }
        *eq = '\0';
        int k = -1;
        for (int i = 0; i < HC_NSERVICES; i++)
            if (strcmp(item, service_names[i]) == 0)
                k = i;
        if (k < 0) {
            snprintf(err, errlen,
                     "HC_SCALE: unknown service \"%s\" (order, reservation, payment or "
                     "notification)",
                     item);
            goto bad;
        }
        if (n < 1 || n > HC_SCALE_MAX) {
            snprintf(err, errlen, "HC_SCALE: %s=%lld: a count from 1 to %d", item, n, HC_SCALE_MAX);
            goto bad;
        }
        cfg->scale[k] = (int)n;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
bad:
    for (int i = 0; i < HC_NSERVICES; i++)
        cfg->scale[i] = 1;
    return HC_EINVAL;
}

const hc_package_t *hc_config_package(const hc_config_t *cfg, const char *code)
{
    for (size_t i = 0; i < cfg->n_packages; i++)
        if (strcmp(cfg->packages[i].code, code) == 0)
            return &cfg->packages[i];
    return NULL;
}

/* Checks HC_TRUSTED_PROXY: IPv4 or IPv6 addresses, each with an optional
 * "/bits" prefix length, separated by commas and/or spaces; rewrites it in
 * place as "a,b/24,c" (what the gateway renders, one set_real_ip_from each).
 * Host names are refused: nginx would resolve them once, at start. Returns 0,
 * or HC_EINVAL with the first bad item in bad (size badlen). */
static int trusted_proxy_check(char *list, char *bad, size_t badlen)
{
    char in[sizeof((hc_config_t *)0)->trusted_proxy];
    hc_strlcpy(in, list, sizeof in);
    size_t n = 0;
    char *save = NULL;
    for (char *item = strtok_r(in, ", \t", &save); item; item = strtok_r(NULL, ", \t", &save)) {
        char addr[INET6_ADDRSTRLEN];
        unsigned char bin[sizeof(struct in6_addr)];
        const char *slash = strchr(item, '/');
        size_t alen = slash ? (size_t)(slash - item) : strlen(item);
        int family = memchr(item, ':', alen) ? AF_INET6 : AF_INET;
        long long bits = 0;
        if (alen == 0 || alen >= sizeof addr ||
            (slash && (hc_parse_i64(slash + 1, &bits) || bits < 0 ||
                       bits > (family == AF_INET6 ? 128 : 32)))) {
            hc_strlcpy(bad, item, badlen);
            return HC_EINVAL;
        }
        memcpy(addr, item, alen);
        addr[alen] = '\0';
        if (inet_pton(family, addr, bin) != 1) {
            hc_strlcpy(bad, item, badlen);
            return HC_EINVAL;
        }
        /* the normalised list is never longer than the original */
        n += (size_t)snprintf(list + n, sizeof in - n, "%s%s", n ? "," : "", item);
    }
    list[n] = '\0';
    return 0;
}

/* Returns 1 when name is an HTTP header name nginx's real_ip_header takes as
 * one: letters, digits and '-'. */
static int header_name_ok(const char *name)
{
    if (!*name)
        return 0;
    for (; *name; name++)
        if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z') ||
              (*name >= '0' && *name <= '9') || *name == '-'))
            return 0;
    return 1;
}

/* Checks (and trims a trailing '/' from) a public base URL: http:// or
 * https://, a host, then only characters that are safe in a link. Returns 0
 * or HC_EINVAL. */
static int public_url_check(char *url)
{
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    const char *host = strncmp(url, "http://", 7) == 0    ? url + 7
                       : strncmp(url, "https://", 8) == 0 ? url + 8
                                                          : NULL;
    if (!host || !*host || *host == '/' || *host == ':')
        return HC_EINVAL;
    for (const char *p = host; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(".-_~:/[]%", *p)))
            return HC_EINVAL;
    return 0;
}

int hc_config_tz_valid(const char *name)
{
    if (!name || !*name || *name == '/' || strlen(name) > 255)
        return 0;
    /* A relative path inside the database only: no empty, "." or ".."
     * component. */
    for (const char *seg = name;; seg++) {
        size_t len = strcspn(seg, "/");
        if (len == 0 || (seg[0] == '.' && (len == 1 || (len == 2 && seg[1] == '.'))))
            return 0;
        seg += len;
        if (!*seg)
            break;
    }
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-.", *p)))
            return 0;
    /* glibc reads zones from $TZDIR when it is set, else from the system's
     * database; a name it cannot load silently means UTC. */
    const char *dir = getenv("TZDIR");
    char path[512];
    int n = snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : HC_ZONEINFO_DIR, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return 0;
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *f = fopen(path, "rbe");
    if (!f)
        return 0;
    char magic[4];
    size_t got = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return got == sizeof magic && memcmp(magic, "TZif", 4) == 0;
}

static int is_pg_url(const char *url)
{
    return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Every service's storage is a file or a PostgreSQL URL (the URI form only,
 * so that `healthcenter config` can mask its password). */
static int db_urls_check(const hc_config_t *cfg, char *err, size_t errlen)
{
    if (cfg->db_url[0] && !is_pg_url(cfg->db_url)) {
        snprintf(err, errlen, "HC_DB_URL: expected postgresql://[user[:password]@]host[:port]/db");
        return HC_EINVAL;
    }
    for (int i = 0; i < HC_NSERVICES; i++) {
        const char *own = hc_config_db_url(cfg, service_names[i]);
        char var[64];
        service_var(i, "_DB_URL", var, sizeof var);
        const char *set = (i == 0   ? cfg->order_db_url
                           : i == 1 ? cfg->reservation_db_url
                           : i == 2 ? cfg->payment_db_url
                                    : cfg->notification_db_url);
        if (set[0] && strcmp(set, "sqlite") != 0 && !is_pg_url(set)) {
            snprintf(err, errlen,
                     "%s: expected sqlite or postgresql://[user[:password]@]host[:port]/db", var);
            return HC_EINVAL;
        }
        if (strcmp(cfg->db, "postgres") == 0 && !set[0] && !own) {
            snprintf(err, errlen, "HC_DB_URL: required by HC_DB=postgres (or set %s)", var);
            return HC_EINVAL;
        }
    }
    return 0;
}

/* Reads setting name from its file in dir (HC_SECRETS_DIR) into buf (size
 * bytes), dropping one trailing newline ("\n" or "\r\n"). Returns 1 when
 * read; 0 when dir is empty or there is no such file; -1 with a message in
 * err when the file exists but cannot be read or is too long. */
static int secret_file(const char *dir, const char *name, char *buf, size_t size, char *err,
                       size_t errlen)
{
    if (!dir || !*dir)
        return 0;
    char path[768];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        snprintf(err, errlen, "HC_SECRETS_DIR: path too long");
        return -1;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: cannot read %s: %s", name, path, strerror(errno));
        return -1;
    }
    size_t n = fread(buf, 1, size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n >= size) {
        snprintf(err, errlen, "%s: %s: %s", name, path, bad ? "read error" : "value too long");
        return -1;
    }
    buf[n] = '\0';
    if (n && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (n && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return 1;
}

/* Returns 1 when host is a plain host name or IP address (letters, digits,
 * '.', '-', ':', and IPv6 brackets), i.e. one nginx word and URL part. */
static int host_ok(const char *host)
{
    return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") ==
           strlen(host);
}

int hc_config_load(hc_config_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (errlen)
        err[0] = '\0';
    /* Read first: every other setting may come from a file there. */
    const char *secrets_dir = getenv("HC_SECRETS_DIR");
    char file_val[4096];
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const cfg_var_t *v = &vars[i];
        const char *val = getenv(v->name);
        if (!val) {
            int got = secret_file(secrets_dir, v->name, file_val, sizeof file_val, err, errlen);
            if (got < 0)
                return HC_EINVAL;
            if (got)
                val = file_val;
        }
        /* Set but empty: a number or a choice takes its default. */
        if (!val || (!*val && (v->kind != CFG_STR || v->choices)))
            val = v->def;
        if (!val)
            continue; /* derived below */
        int rc = set_var(cfg, v, val, err, errlen);
        if (rc)
            return rc;
    }
    /* An empty directory would put the databases in / and the run files in /run. */
    if (!cfg->data_dir[0]) {
        snprintf(err, errlen, "HC_DATA_DIR: must not be empty (unset it for ./data)");
        return HC_EINVAL;
    }
    if (!cfg->run_dir[0]) {
        if (strlen(cfg->data_dir) + sizeof "/run" > sizeof cfg->run_dir) {
            snprintf(err, errlen, "HC_DATA_DIR: path longer than %zu bytes",
                     sizeof cfg->run_dir - sizeof "/run");
            return HC_EINVAL;
        }
        memcpy(cfg->run_dir, cfg->data_dir, strlen(cfg->data_dir));
        memcpy(cfg->run_dir + strlen(cfg->data_dir), "/run", sizeof "/run");
    }
    if (db_urls_check(cfg, err, errlen))
        return HC_EINVAL;
    if (!cfg->log_format[0])
        hc_strlcpy(cfg->log_format, isatty(STDERR_FILENO) ? "text" : "json",
                   sizeof cfg->log_format);
    if (!hc_config_tz_valid(cfg->tz)) {
        snprintf(err, errlen,
                 "HC_TZ: expected a time zone of the tz database (e.g. Asia/Seoul or UTC, a file "
                 "under %s), got \"%s\"",
                 HC_ZONEINFO_DIR, cfg->tz);
        return HC_EINVAL;
    }
    if (!cfg->payment_url[0])
        snprintf(cfg->payment_url, sizeof cfg->payment_url, "http://127.0.0.1:%d",
                 cfg->payment_port);
    if (!cfg->payment_cb_slow_call_duration_threshold_ms)
        cfg->payment_cb_slow_call_duration_threshold_ms = cfg->payment_timeout_ms;
    if (!cfg->payment_bulkhead_max_concurrent_calls)
        cfg->payment_bulkhead_max_concurrent_calls =
            cfg->http_max_connections / 5 > 0 ? cfg->http_max_connections / 5 : 1;
    if (cfg->payment_bulkhead_max_concurrent_calls >= cfg->http_max_connections) {
        snprintf(err, errlen,
                 "HC_PAYMENT_BULKHEAD_MAX_CONCURRENT_CALLS: must be below HC_HTTP_MAX_CONNECTIONS "
                 "(%d), so that a slow payment never takes every connection; got %d",
                 cfg->http_max_connections, cfg->payment_bulkhead_max_concurrent_calls);
        return HC_EINVAL;
    }
    if (!cfg->order_url[0])
        snprintf(cfg->order_url, sizeof cfg->order_url, "http://127.0.0.1:%d", cfg->order_port);
    if (cfg->public_url[0] == '\0') {
        int loopback =
            strcmp(cfg->bind_addr, "127.0.0.1") == 0 || strcmp(cfg->bind_addr, "0.0.0.0") == 0;
        snprintf(cfg->public_url, sizeof cfg->public_url, "http://%s:%d",
                 loopback ? "localhost" : cfg->bind_addr, cfg->gateway_port);
    } else if (public_url_check(cfg->public_url)) {
        snprintf(err, errlen,
                 "HC_PUBLIC_URL: expected http(s)://host[:port][/path] without query,"
                 " spaces or quotes, got \"%s\"",
                 cfg->public_url);
        return HC_EINVAL;
    }
    if (cfg->service_secret[0] && strlen(cfg->service_secret) < 32) {
        snprintf(err, errlen, "HC_SERVICE_SECRET: must be at least 32 characters (or empty)");
        return HC_EINVAL;
    }
    if (cfg->jwt_secret[0] && strlen(cfg->jwt_secret) < 32) {
        snprintf(err, errlen, "HC_JWT_SECRET: must be 32 to 256 characters (or empty)");
        return HC_EINVAL;
    }
    /* The rules of auth_domain (auth_username_valid, auth_password_valid),
     * checked here so that `up` refuses to start instead of notification
     * failing at each restart. */
    size_t user_len = strlen(cfg->admin_user);
    if (user_len == 0 ||
        strspn(cfg->admin_user,
               "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") != user_len) {
        snprintf(err, errlen, "HC_ADMIN_USER: 1 to 63 of A-Z a-z 0-9 . _ @ -, got \"%s\"",
                 cfg->admin_user);
        return HC_EINVAL;
    }
    if (cfg->admin_password[0] && strlen(cfg->admin_password) < 8) {
        snprintf(err, errlen, "HC_ADMIN_PASSWORD: must be 8 to 255 characters (or empty)");
        return HC_EINVAL;
    }
    if (strcmp(cfg->sms_provider, "http") == 0 && !cfg->sms_url[0]) {
        snprintf(err, errlen, "HC_SMS_URL: required when HC_SMS_PROVIDER=http");
        return HC_EINVAL;
    }
    if (cfg->restart_backoff_max_ms < cfg->restart_backoff_ms) {
        snprintf(err, errlen, "HC_RESTART_BACKOFF_MAX_MS (%d) is below HC_RESTART_BACKOFF_MS (%d)",
                 cfg->restart_backoff_max_ms, cfg->restart_backoff_ms);
        return HC_EINVAL;
    }
    char bad[64];
    if (trusted_proxy_check(cfg->trusted_proxy, bad, sizeof bad)) {
        snprintf(err, errlen,
                 "HC_TRUSTED_PROXY: expected IP addresses or CIDRs (a.b.c.d[/bits], ipv6[/bits]) "
                 "separated by commas, got \"%s\"",
                 bad);
        return HC_EINVAL;
    }
    if (!header_name_ok(cfg->real_ip_header)) {
        snprintf(err, errlen,
                 "HC_REAL_IP_HEADER: expected a header name (letters, digits and '-'), got \"%s\"",
                 cfg->real_ip_header);
        return HC_EINVAL;
    }
    if (hc_config_parse_packages(cfg, cfg->packages_spec)) {
        snprintf(err, errlen, "HC_PACKAGES: expected code:name:price,... got \"%s\"",
                 cfg->packages_spec);
        return HC_EINVAL;
    }
    if (hc_config_parse_centers(cfg, cfg->centers_spec)) {
        snprintf(err, errlen, "HC_CENTERS: expected id:name:capacity,... got \"%s\"",
                 cfg->centers_spec);
        return HC_EINVAL;
    }
    if (!cfg->kafka_brokers[0]) {
        snprintf(err, errlen, "HC_KAFKA_BROKERS: must not be empty (unset it for 127.0.0.1:9092)");
        return HC_EINVAL;
    }
    for (int i = 0; i < HC_NSERVICES; i++) {
        if (!host_ok(cfg->service_host[i])) {
            char var[64];
            service_var(i, "_HOST", var, sizeof var);
            snprintf(err, errlen, "%s: expected a host name or address, got \"%s\"", var,
                     cfg->service_host[i]);
            return HC_EINVAL;
        }
    }
    if (hc_config_parse_scale(cfg, cfg->scale_spec, err, errlen))
        return HC_EINVAL;
    /* Every service consumes events. The embedded log is one partition with
     * one committed offset per service, so two instances would both read
     * every event and race each other through one booking's events; Kafka's
     * consumer group gives each partition (each booking) to one instance. */
    for (int i = 0; i < HC_NSERVICES; i++) {
        if (cfg->scale[i] > 1 && strcmp(cfg->bus, "kafka") != 0) {
            snprintf(err, errlen,
                     "HC_SCALE: %s cannot run %d instances on the embedded event log "
                     "(HC_BUS=log): every service consumes events, and the log has no partitions "
                     "to share, so both would read every event and could apply one booking's "
                     "events out of order; set HC_BUS=kafka (a consumer group shares the "
                     "partitions between instances) or drop HC_SCALE",
                     service_names[i], cfg->scale[i]);
            return HC_EINVAL;
        }
    }
    return 0;
}

int hc_config_describe(size_t i, const char **name, const char **def, const char **meaning)
{
    if (i >= sizeof vars / sizeof vars[0])
        return -1;
    *name = vars[i].name;
    *def = vars[i].def ? (*vars[i].def ? vars[i].def : "(empty)") : "(derived)";
    *meaning = vars[i].meaning;
    return 0;
}

void hc_config_print_table(FILE *out, int markdown)
{
    if (markdown)
        fprintf(out, "| variable | default | meaning |\n|---|---|---|\n");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const cfg_var_t *v = &vars[i];
        const char *def = v->def ? (*v->def ? v->def : "(empty)") : "(derived)";
        if (markdown)
            fprintf(out, "| `%s` | `%s` | %s |\n", v->name, def, v->meaning);
        else
            fprintf(out, "  %-26s %s\n  %-26s default: %s\n", v->name, v->meaning, "", def);
    }
}

/* Returns 1 when value can stand unquoted after NAME= in a shell. */
static int shell_safe(const char *value)
{
    for (const char *p = value; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("_./:@%+,=-", *p)))
            return 0;
    return 1;
}

/* Appends len bytes of s to buf (size bytes, n used), cutting at the end;
 * returns the new length. buf stays NUL-terminated. */
static size_t put(char *buf, size_t size, size_t n, const char *s, size_t len)
{
    if (len > size - 1 - n)
        len = size - 1 - n;
    memcpy(buf + n, s, len);
    buf[n + len] = '\0';
    return n + len;
}

void hc_config_print_value(FILE *out, const char *name, const char *value, const char *source)
{
    char line[2048];
    size_t n = put(line, sizeof line, 0, name, strlen(name));
    n = put(line, sizeof line, n, "=", 1);
    if (shell_safe(value)) {
        n = put(line, sizeof line, n, value, strlen(value));
    } else {
        n = put(line, sizeof line, n, "'", 1);
        for (const char *p = value; *p; p++)
            n = *p == '\'' ? put(line, sizeof line, n, "'\\''", 4)
                           : put(line, sizeof line, n, p, 1);
        put(line, sizeof line, n, "'", 1);
    }
    fprintf(out, "%-40s  # %s\n", line, source);
}

/* Copies url into out with the user:password of "scheme://user:pw@host"
 * replaced by ***. */
static void mask_userinfo(const char *url, char *out, size_t size)
{
    const char *host = strstr(url, "://");
    const char *at = host ? strchr(host + 3, '@') : NULL;
    if (!at || at > host + 3 + strcspn(host + 3, "/?#")) {
        hc_strlcpy(out, url, size);
        return;
    }
    snprintf(out, size, "%.*s***%s", (int)(host + 3 - url), url, at);
}

void hc_config_print_effective(FILE *out, const hc_config_t *cfg)
{
    fprintf(out, "# the configuration in effect; source: env (from the environment), default,\n"
                 "# or derived (from other settings; see healthcenter help)\n");
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const cfg_var_t *v = &vars[i];
        const char *field = (const char *)cfg + v->off;
        const char *env = getenv(v->name);
        /* Taken from the environment as hc_config_load takes it. */
        int from_env = env && (*env || (v->kind == CFG_STR && !v->choices));
        char path[768];
        int from_file = !env && cfg->secrets_dir[0] &&
                        snprintf(path, sizeof path, "%s/%s", cfg->secrets_dir, v->name) > 0 &&
                        access(path, F_OK) == 0;
        const char *source = from_env ? "env" : from_file ? "file" : v->def ? "default" : "derived";
        char value[1200], shown[1200];
        switch (v->kind) {
        case CFG_STR:
            hc_strlcpy(value, field, sizeof value);
            break;
        case CFG_INT:
            snprintf(value, sizeof value, "%d", *(const int *)(const void *)field);
            break;
        case CFG_SIZE:
            snprintf(value, sizeof value, "%zu", *(const size_t *)(const void *)field);
            break;
        case CFG_I64:
            snprintf(value, sizeof value, "%lld", (long long)*(const int64_t *)(const void *)field);
            break;
        }
        if (v->secret && value[0]) {
            char hidden[32];
            snprintf(hidden, sizeof hidden, "%s, hidden", source);
            hc_config_print_value(out, v->name, "********", hidden);
            continue;
        }
        mask_userinfo(value, shown, sizeof shown);
        hc_config_print_value(out, v->name, shown, source);
    }
}

const char *hc_config_db_url(const hc_config_t *cfg, const char *name)
{
    const char *own = strcmp(name, "order") == 0          ? cfg->order_db_url
                      : strcmp(name, "reservation") == 0  ? cfg->reservation_db_url
                      : strcmp(name, "payment") == 0      ? cfg->payment_db_url
                      : strcmp(name, "notification") == 0 ? cfg->notification_db_url
                                                          : "";
    if (own[0])
        return strcmp(own, "sqlite") == 0 ? NULL : own;
    if (strcmp(cfg->db, "postgres") == 0 && cfg->db_url[0])
        return cfg->db_url;
    return NULL;
}
