/* hc_config: every setting of the system, read from environment variables.
 * The table in hc_config.c is the single source of names, defaults and meaning:
 * `healthcenter --help` prints it and the README copies it. */
#ifndef HC_CONFIG_H
#define HC_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HC_MAX_PACKAGES 16
#define HC_MAX_CENTERS 32
#define HC_NSERVICES 4 /* order, reservation, payment, notification, in that order */
#define HC_SCALE_MAX 8 /* instances of one service at most (HC_SCALE) */
/* In the data directory: the first super-admin's generated password (written
 * by notification when HC_ADMIN_PASSWORD is empty; `up` points to it). */
#define HC_ADMIN_PASSWORD_FILE "admin.password"

typedef struct hc_package {
    char code[32];  /* orderType, e.g. "basic" */
    char name[128]; /* display name (UTF-8) */
    int64_t price;  /* KRW */
} hc_package_t;

typedef struct hc_center_cfg {
    int64_t id;
    char name[128];
    int capacity; /* default checkups per day */
} hc_center_cfg_t;

typedef struct hc_config {
    char data_dir[512];
    char run_dir[512];
    char bind_addr[64];
    int gateway_port;
    int order_port;
    int reservation_port;
    int payment_port;
    int notification_port;
    char payment_url[256];    /* base URL order uses to reach payment */
    char order_url[256];      /* base URL reservation and payment use to reach order */
    char public_url[256];     /* base of links and Location (no trailing '/') */
    char service_secret[256]; /* signs service calls; "" = data_dir/service.key */
    char jwt_secret[257];     /* signs bearer tokens (HS256); "" = data_dir/jwt.key */
    int token_ttl_s;          /* lifetime of the tokens sign-in issues, s */
    char admin_user[64];      /* the super-admin created or updated at start */
    char admin_password[256]; /* its password; "" = keep, or generate on first start */
    int otp_ttl_s;            /* a sign-in code's lifetime, s */
    int otp_max_attempts;     /* wrong codes before a code is locked */
    int otp_per_phone;        /* codes one phone may be sent per otp_window_s */
    int otp_per_client;       /* codes one client may ask for per otp_window_s */
    int otp_window_s;         /* the window of both limits, s */
    int order_timeout_ms;     /* reservation/payment -> order call timeout */
    int http_max_connections; /* connections (threads) a service serves at once */
    size_t max_body_bytes;    /* request body limit, bytes */
    char db_sync[16];         /* SQLite synchronous: FULL or NORMAL */
    char db[16];              /* storage of every service: "sqlite" or "postgres" */
    char db_url[512];         /* PostgreSQL URL for HC_DB=postgres */
    char order_db_url[512];   /* per service: "", "sqlite" or a PostgreSQL URL */
    char reservation_db_url[512];
    char payment_db_url[512];
    char notification_db_url[512];
    int db_pool_size;        /* PostgreSQL connections per service process */
    char log_level[16];      /* debug, info, warn, error */
    char log_format[8];      /* json or text */
    char bus[16];            /* "log" (embedded) or "kafka" */
    char topic[64];          /* event topic */
    int payment_timeout_ms;  /* order -> payment call timeout */
    int pending_recovery_ms; /* a PENDING order older than this is failed */
    char tz[64];             /* the centers' time zone */
    int horizon_days;        /* how far ahead a checkup may be booked */
    int cancel_cutoff_days;  /* cancel allowed until end of day (checkup - N) */
    int64_t clock_offset_s;  /* added to the wall clock (tests of date rules) */
    char decline_cards[256]; /* comma list of card numbers the payment declines */
    char packages_spec[1024];
    char centers_spec[1024];
    hc_package_t packages[HC_MAX_PACKAGES];
    size_t n_packages;
    hc_center_cfg_t centers[HC_MAX_CENTERS];
    size_t n_centers;
    char sms_provider[16]; /* "log" or "http" */
    char sms_url[256];
    char sms_api_key[256];
    int sms_timeout_ms;
    int sms_max_attempts;
    char nginx_bin[256];
    /* Where the gateway reaches each service (HC_ORDER_HOST, ...): a host
     * name or address; "" = the address `up` runs it on. */
    char service_host[HC_NSERVICES][256];
    char secrets_dir[256];      /* HC_SECRETS_DIR: settings read from files named after them */
    int shutdown_grace_ms;      /* time requests in flight get on SIGTERM, ms */
    int ready_timeout_ms;       /* `up`: how long to wait for every service */
    int liveness_period_ms;     /* `up`: liveness probe interval per child, ms; 0 = none */
    int liveness_timeout_ms;    /* `up`: one liveness probe, ms */
    int liveness_failures;      /* `up`: failed probes in a row before a child is replaced */
    int restart_backoff_ms;     /* `up`: first restart delay, ms */
    int restart_backoff_max_ms; /* `up`: restart delay cap, ms */
    int crash_loop_restarts;    /* `up`: restarts allowed within crash_loop_window_ms */
    int crash_loop_window_ms;   /* `up`: the crash-loop window, ms */
    char scale_spec[256];       /* HC_SCALE as given, "service=count,..." */
    int scale[HC_NSERVICES];    /* `up`: instances of order, reservation, payment, notification */
    int scale_port_step;        /* `up`: port distance between a service's instances */
    /* Gateway rate limits per client (docs/gateway.md, "Rate limits"). */
    int rate_limit_rps;         /* requests per second per client; 0 = no rate limit */
    int rate_limit_burst;       /* requests served at once above the rate; 0 = none */
    int rate_limit_connections; /* requests in progress per client; 0 = no limit */
    int auth_rate_limit_rpm;    /* /auth/ requests per minute per client; 0 = no extra limit */
    int auth_rate_limit_burst;  /* /auth/ requests at once above that rate */
    char trusted_proxy[512];    /* "addr[/bits],..." whose real_ip_header is believed */
    char real_ip_header[64];    /* header a trusted proxy names the client in */
    char cors_origins[1024];    /* origins browsers may call from: "https://a,https://b" */
    char web_dir[1024];         /* the web app served at / and /admin; "" = derived */
    /* order -> payment: the circuit breaker (Resilience4j's settings) and the
     * bulkhead, docs/breaker.md */
    int payment_cb_sliding_window_size;             /* outcomes kept while CLOSED */
    int payment_cb_minimum_number_of_calls;         /* outcomes before the rates count */
    int payment_cb_failure_rate_threshold;          /* percent */
    int payment_cb_slow_call_duration_threshold_ms; /* default: payment_timeout_ms */
    int payment_cb_slow_call_rate_threshold;        /* percent */
    int payment_cb_wait_duration_in_open_state_ms;
    int payment_cb_permitted_calls_in_half_open; /* trial calls in HALF_OPEN */
    int payment_bulkhead_max_concurrent_calls;   /* payment calls at once per order process */

    /* HC_BUS=kafka (docs/distributed.md, "Kafka") */
    char kafka_brokers[512];       /* bootstrap.servers */
    int kafka_partitions;          /* of the topic when it is created */
    int kafka_replication_factor;  /* of the topic when it is created; -1: broker's */
    char kafka_group_prefix[64];   /* group.id = prefix + service name */
    int kafka_delivery_timeout_ms; /* producer message.timeout.ms */
    int kafka_session_timeout_ms;  /* consumer session.timeout.ms */
    char kafka_config[1024];       /* more librdkafka properties, "k=v,..." */
} hc_config_t;

/* Fills cfg from defaults and the environment. Returns 0, or HC_EINVAL with a
 * message in err (size errlen) naming the bad variable. */
int hc_config_load(hc_config_t *cfg, char *err, size_t errlen);

/* Parses "code:name:price,..." into cfg->packages. Returns 0, or HC_EINVAL
 * with no package left (n_packages 0). */
int hc_config_parse_packages(hc_config_t *cfg, const char *spec);

/* Parses "id:name:capacity,..." into cfg->centers. Returns 0, or HC_EINVAL
 * with no center left (n_centers 0). */
int hc_config_parse_centers(hc_config_t *cfg, const char *spec);

/* Parses HC_SCALE, "service=count,..." (services order, reservation, payment,
 * notification; counts 1..HC_SCALE_MAX; empty: one each), into cfg->scale,
 * indexed as HC_NSERVICES says. Returns 0, or HC_EINVAL with a message in err
 * and every count back at 1. */
int hc_config_parse_scale(hc_config_t *cfg, const char *spec, char *err, size_t errlen);

/* Looks a package up by code; NULL when unknown. */
const hc_package_t *hc_config_package(const hc_config_t *cfg, const char *code);

/* Prints the table of variables (name, default, meaning). markdown=1 prints the
 * README's table form. */
void hc_config_print_table(FILE *out, int markdown);

/* Describes setting i of the table (0, 1, ... in the order of the help):
 * its name, its default as help shows it ("(empty)", "(derived)" or the
 * value) and its meaning, all static strings. Returns 0, or -1 (outputs
 * untouched) when i is past the last setting. */
int hc_config_describe(size_t i, const char **name, const char **def, const char **meaning);

/* Prints the configuration in effect: one "NAME=value  # source" line per
 * variable, source "env" (taken from the environment), "default" or "derived"
 * (computed from other settings, see the table). The values are cfg's, which
 * hc_config_load filled from this same environment. Secrets
 * (HC_SERVICE_SECRET, HC_SMS_API_KEY) print as ******** when set, and the
 * user:password of a URL as ***. */
void hc_config_print_effective(FILE *out, const hc_config_t *cfg);

/* Prints one line of that listing, for a variable outside the table: value is
 * shell-quoted when it needs to be; source as above. */
void hc_config_print_value(FILE *out, const char *name, const char *value, const char *source);

/* Returns 1 when name is a time zone of the tz database ($TZDIR, else
 * /usr/share/zoneinfo): a relative path of letters, digits and "/_+-.",
 * without empty, "." or ".." components, to a file in TZif format. glibc takes
 * any other name as UTC without a word, so hc_config_load refuses it. */
int hc_config_tz_valid(const char *name);

/* The PostgreSQL URL the service called name keeps its state at, or NULL
 * when it uses its SQLite file in the data directory: HC_<NAME>_DB_URL when
 * set ("sqlite" for the file), else HC_DB_URL when HC_DB=postgres. */
const char *hc_config_db_url(const hc_config_t *cfg, const char *name);

/* The process-wide configuration, loaded once by main before threads start. */
extern hc_config_t hc_cfg;

#endif
