/* hc_metrics: Prometheus text metrics: HTTP requests by route and status, a
 * latency histogram per route, counters, gauges read through callbacks, the
 * process's resource use and the build. */
#ifndef HC_METRICS_H
#define HC_METRICS_H

#include <stdint.h>

#include "hc_buf.h"

/* Counts one handled request. route is the route pattern (static string);
 * method is borrowed (unknown methods are counted as OTHER). */
void hc_metrics_request(const char *route, const char *method, int status, double seconds);

/* Registers a gauge sampled at scrape time. name/help are static strings. */
void hc_metrics_gauge(const char *name, const char *help, int64_t (*fn)(void *ud), void *ud);

/* Sets a gauge series to value: name and help are static strings; label and
 * label_value (copied) name one series, e.g. ("reason", "corrupt_record"); a
 * NULL label gives a series with the service label only. Rendered as
 * name{service="...",label="label_value"} value. */
void hc_metrics_set(const char *name, const char *help, const char *label, const char *label_value,
                    int64_t value);

/* Counts an occurrence of a named counter (static name), e.g. events applied. */
void hc_metrics_count(const char *name, const char *label_value, int64_t n);

/* Gives the counter name (static) its HELP text (static), e.g. "Events
 * applied, by type." A counter never described still gets a generic one, so
 * that every family rendered has HELP and TYPE. Call at start-up. */
void hc_metrics_describe(const char *name, const char *help);

/* Writes all metrics in Prometheus text format for service: each family
 * with its HELP and TYPE lines, and first healthcenter_build_info and the
 * process_* metrics of this process (from /proc; left out where it cannot be
 * read). */
void hc_metrics_render(hc_buf_t *out, const char *service);

/* Appends one section of complete Prometheus text (HELP, TYPE, samples) for
 * service to out; for metrics whose labels the tables above cannot express. */
typedef void (*hc_metrics_text_cb)(hc_buf_t *out, const char *service, void *ud);

/* Registers a section that hc_metrics_render appends at scrape time, after
 * everything else, calling fn outside the metrics lock (at most 8; ud must
 * outlive every scrape). */
void hc_metrics_add_text(hc_metrics_text_cb fn, void *ud);

#endif
