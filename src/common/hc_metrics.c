/* hc_metrics: in-process Prometheus metrics (fixed tables, one mutex). */
#include "hc_metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_proc.h"

#ifndef HC_VERSION
#define HC_VERSION "unknown"
#endif

#define MAX_SERIES 256
#define MAX_GAUGES 16
#define MAX_COUNTERS 64
#define MAX_SET_GAUGES 32
#define N_BUCKETS 13

static const double buckets[N_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,    0.25,  0.5,    1,     2.5,  5};

/* A series keeps its own copy of the route: the pattern strings belong to
 * the hc_http that registered them, and a series outlives a server that is
 * destroyed and made again (the unit tests do; a copy costs nothing). */
#define ROUTE_MAX 96

typedef struct req_series {
    char route[ROUTE_MAX];
    const char *method; /* interned: static */
    int status;
    int64_t count;
} req_series_t;

typedef struct lat_series {
    char route[ROUTE_MAX];
    const char *method; /* interned: static */
    int64_t bucket[N_BUCKETS];
    int64_t count;
    double sum;
} lat_series_t;

typedef struct gauge {
    const char *name, *help;
    int64_t (*fn)(void *ud);
    void *ud;
} gauge_t;

typedef struct counter {
    const char *name;
    char label[48];
    int64_t value;
} counter_t;

/* The HELP text of a counter family (hc_metrics_describe). */
typedef struct counter_help {
    const char *name, *help;
} counter_help_t;

/* A gauge series set by hc_metrics_set (not sampled). */
typedef struct set_gauge {
    const char *name, *help, *label; /* static; label may be NULL */
    char label_value[48];
    int64_t value;
} set_gauge_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static req_series_t reqs[MAX_SERIES];
static size_t n_reqs;
static lat_series_t lats[MAX_SERIES];
static size_t n_lats;
static gauge_t gauges[MAX_GAUGES];
static size_t n_gauges;
static counter_t counters[MAX_COUNTERS];
static size_t n_counters;
static set_gauge_t sets[MAX_SET_GAUGES];
static size_t n_sets;
static counter_help_t helps[MAX_COUNTERS];
static size_t n_helps;

/* The request's method string belongs to the connection and is gone after the
 * request; series keep a static copy of the known methods instead. */
static const char *intern_method(const char *method)
{
    static const char *const known[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(known[i], method) == 0)
            return known[i];
    return "OTHER";
}

void hc_metrics_request(const char *route, const char *method, int status, double seconds)
{
    method = intern_method(method);
    pthread_mutex_lock(&mu);
    size_t i;
    for (i = 0; i < n_reqs; i++)
        if (reqs[i].status == status && reqs[i].method == method &&
            strcmp(reqs[i].route, route) == 0)
            break;
    if (i == n_reqs && n_reqs < MAX_SERIES) {
        reqs[n_reqs] = (req_series_t){.method = method, .status = status};
        hc_strlcpy(reqs[n_reqs++].route, route, ROUTE_MAX);
    }
    if (i < n_reqs)
        reqs[i].count++;
    for (i = 0; i < n_lats; i++)
        if (lats[i].method == method && strcmp(lats[i].route, route) == 0)
            break;
    if (i == n_lats && n_lats < MAX_SERIES) {
        lats[n_lats] = (lat_series_t){.method = method};
        hc_strlcpy(lats[n_lats++].route, route, ROUTE_MAX);
    }
    if (i < n_lats) {
        for (int b = 0; b < N_BUCKETS; b++)
            if (seconds <= buckets[b])
                lats[i].bucket[b]++;
        lats[i].count++;
        lats[i].sum += seconds;
    }
    pthread_mutex_unlock(&mu);
}

void hc_metrics_gauge(const char *name, const char *help, int64_t (*fn)(void *ud), void *ud)
{
    pthread_mutex_lock(&mu);
    if (n_gauges < MAX_GAUGES)
        gauges[n_gauges++] = (gauge_t){name, help, fn, ud};
    pthread_mutex_unlock(&mu);
}

void hc_metrics_set(const char *name, const char *help, const char *label, const char *label_value,
                    int64_t value)
{
    const char *lv = label_value ? label_value : "";
    pthread_mutex_lock(&mu);
    size_t i;
    for (i = 0; i < n_sets; i++)
        if (strcmp(sets[i].name, name) == 0 && strcmp(sets[i].label_value, lv) == 0)
            break;
    if (i == n_sets && n_sets < MAX_SET_GAUGES) {
        sets[i] = (set_gauge_t){.name = name, .help = help, .label = label};
        snprintf(sets[i].label_value, sizeof sets[i].label_value, "%s", lv);
        n_sets++;
    }
    if (i < n_sets)
        sets[i].value = value;
    pthread_mutex_unlock(&mu);
}

void hc_metrics_count(const char *name, const char *label_value, int64_t n)
{
    pthread_mutex_lock(&mu);
    size_t i;
    for (i = 0; i < n_counters; i++)
        if (counters[i].name == name && strcmp(counters[i].label, label_value) == 0)
            break;
    if (i == n_counters && n_counters < MAX_COUNTERS) {
        counters[i].name = name;
        snprintf(counters[i].label, sizeof counters[i].label, "%s", label_value);
        counters[i].value = 0;
        n_counters++;
    }
    if (i < n_counters)
        counters[i].value += n;
    pthread_mutex_unlock(&mu);
}

static void render_texts(hc_buf_t *out, const char *service);

void hc_metrics_describe(const char *name, const char *help)
{
    pthread_mutex_lock(&mu);
    size_t i;
    for (i = 0; i < n_helps; i++)
        if (strcmp(helps[i].name, name) == 0)
            break;
    if (i == n_helps && n_helps < MAX_COUNTERS)
        n_helps++;
    if (i < n_helps)
        helps[i] = (counter_help_t){name, help};
    pthread_mutex_unlock(&mu);
}

/* The HELP text of counter name; the caller holds mu. */
static const char *counter_help(const char *name)
{
    for (size_t i = 0; i < n_helps; i++)
        if (strcmp(helps[i].name, name) == 0)
            return helps[i].help;
    return "Occurrences counted by the service, by type.";
}

/* Writes one family of a single sample without labels: HELP, TYPE, value. */
static void render_plain(hc_buf_t *out, const char *name, const char *type, const char *help,
                         double value)
{
    hc_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name,
                  value);
}

/* healthcenter_build_info and the process_* metrics, named as the official
 * Prometheus clients name them. */
static void render_process(hc_buf_t *out, const char *service)
{
    hc_buf_printf(out,
                  "# HELP healthcenter_build_info The healthcenter version this service runs "
                  "(always 1).\n"
                  "# TYPE healthcenter_build_info gauge\n"
                  "healthcenter_build_info{version=\"%s\",service=\"%s\"} 1\n",
                  HC_VERSION, service);
    hc_proc_stat_t p;
    if (hc_proc_read(&p) != 0)
        return; /* not Linux, or /proc not mounted */
    render_plain(out, "process_cpu_seconds_total", "counter",
                 "Total user and system CPU time spent in seconds.", p.cpu_seconds);
    render_plain(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                 (double)p.resident_bytes);
    render_plain(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                 (double)p.virtual_bytes);
    render_plain(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since unix epoch in seconds.", p.start_time);
    render_plain(out, "process_open_fds", "gauge", "Number of open file descriptors.",
                 (double)p.open_fds);
    if (p.max_fds >= 0)
        render_plain(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                     (double)p.max_fds);
}

void hc_metrics_render(hc_buf_t *out, const char *service)
{
    gauge_t g[MAX_GAUGES];
    size_t ng;
    render_process(out, service);
    pthread_mutex_lock(&mu);
    hc_buf_adds(out, "# HELP hc_http_requests_total HTTP requests handled, by route and status.\n"
                     "# TYPE hc_http_requests_total counter\n");
    for (size_t i = 0; i < n_reqs; i++)
        hc_buf_printf(out,
                      "hc_http_requests_total{service=\"%s\",route=\"%s\",method=\"%s\",status=\"%"
                      "d\"} %lld\n",
                      service, reqs[i].route, reqs[i].method, reqs[i].status,
                      (long long)reqs[i].count);
    hc_buf_adds(out, "# HELP hc_http_request_duration_seconds HTTP request latency.\n"
                     "# TYPE hc_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < n_lats; i++) {
        const lat_series_t *l = &lats[i];
        for (int b = 0; b < N_BUCKETS; b++)
            hc_buf_printf(out,
                          "hc_http_request_duration_seconds_bucket{service=\"%s\",route=\"%s\","
                          "method=\"%s\",le=\"%g\"} %lld\n",
                          service, l->route, l->method, buckets[b], (long long)l->bucket[b]);
        hc_buf_printf(
            out,
            "hc_http_request_duration_seconds_bucket{service=\"%s\",route=\"%s\",method=\"%s\",le="
            "\"+Inf\"} %lld\n"
            "hc_http_request_duration_seconds_sum{service=\"%s\",route=\"%s\",method=\"%s\"} %.6f\n"
            "hc_http_request_duration_seconds_count{service=\"%s\",route=\"%s\",method=\"%s\"} "
            "%lld\n",
            service, l->route, l->method, (long long)l->count, service, l->route, l->method, l->sum,
            service, l->route, l->method, (long long)l->count);
    }
    for (size_t i = 0; i < n_counters; i++) {
        size_t first = 0;
        while (strcmp(counters[first].name, counters[i].name) != 0)
            first++;
        if (first != i)
            continue; /* printed with the first series of its name */
        hc_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", counters[i].name,
                      counter_help(counters[i].name), counters[i].name);
        for (size_t j = i; j < n_counters; j++)
            if (strcmp(counters[j].name, counters[i].name) == 0)
                hc_buf_printf(out, "%s{service=\"%s\",type=\"%s\"} %lld\n", counters[j].name,
                              service, counters[j].label, (long long)counters[j].value);
    }
    for (size_t i = 0; i < n_sets; i++) {
        size_t first = 0;
        while (strcmp(sets[first].name, sets[i].name) != 0)
            first++;
        if (first != i)
            continue; /* printed with the first series of its name */
        hc_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", sets[i].name, sets[i].help,
                      sets[i].name);
        for (size_t j = i; j < n_sets; j++) {
            if (strcmp(sets[j].name, sets[i].name) != 0)
                continue;
            if (sets[j].label)
                hc_buf_printf(out, "%s{service=\"%s\",%s=\"%s\"} %lld\n", sets[j].name, service,
                              sets[j].label, sets[j].label_value, (long long)sets[j].value);
            else
                hc_buf_printf(out, "%s{service=\"%s\"} %lld\n", sets[j].name, service,
                              (long long)sets[j].value);
        }
    }
    ng = n_gauges;
    memcpy(g, gauges, sizeof g);
    pthread_mutex_unlock(&mu);
    /* Gauges may touch the database; sample them outside the lock. */
    for (size_t i = 0; i < ng; i++)
        hc_buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s{service=\"%s\"} %lld\n", g[i].name,
                      g[i].help, g[i].name, g[i].name, service, (long long)g[i].fn(g[i].ud));
    render_texts(out, service);
}

/* ---- sections rendered by their owners (hc_metrics_add_text) ---- */

#define MAX_TEXTS 8

static struct {
    hc_metrics_text_cb fn;
    void *ud;
} texts[MAX_TEXTS];
static size_t n_texts;

void hc_metrics_add_text(hc_metrics_text_cb fn, void *ud)
{
    pthread_mutex_lock(&mu);
    if (n_texts < MAX_TEXTS) {
        texts[n_texts].fn = fn;
        texts[n_texts].ud = ud;
        n_texts++;
    }
    pthread_mutex_unlock(&mu);
}

/* Appends every registered section, called outside the lock (a section may
 * take locks of its own). */
static void render_texts(hc_buf_t *out, const char *service)
{
    pthread_mutex_lock(&mu);
    size_t n = n_texts;
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++)
        texts[i].fn(out, service, texts[i].ud);
}
