/* hc_check: `healthcenter check`: verifies every service database and the
 * event log without changing them (safe on a running system), one line per
 * item, and says whether all is well. */
#ifndef HC_CHECK_H
#define HC_CHECK_H

#include <stddef.h>
#include <stdio.h>

typedef struct hc_check {
    FILE *out;  /* where the lines go */
    int items;  /* items reported (ok or FAIL) */
    int failed; /* of which FAIL */
} hc_check_t;

/* Reports one item as "ok    <text>" or "FAIL  <text>" and counts it. */
void hc_check_report(hc_check_t *k, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints "note  <text>": worth knowing, not a failure (parked dead letters). */
void hc_check_note(hc_check_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks data_dir: for each of the n services, <data_dir>/<service>.db with
 * PRAGMA integrity_check, or the schema on PostgreSQL (and notes its parked
 * dead letters); then the embedded log under data_dir/bus (hc_bus_log_verify),
 * or, with HC_BUS=kafka, a note that the broker's log is not checked here.
 * Prints a summary line
 * to out. Returns the number of failed items: 0 when all is well. */
int hc_check_run(const char *data_dir, const char *const *services, size_t n, FILE *out);

#endif
