/* hc_check: the `healthcenter check` report: service databases, then the log. */
#include "hc_check.h"

#include <stdarg.h>
#include <string.h>

#include "hc_buf.h"
#include "hc_bus.h"
#include "hc_config.h"
#include "hc_db.h"
#include "hc_deadletter.h"
#include "hc_err.h"

void hc_check_report(hc_check_t *k, int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(ok ? "ok    " : "FAIL  ", k->out);
    vfprintf(k->out, fmt, ap);
    fputc('\n', k->out);
    va_end(ap);
    k->items++;
    k->failed += !ok;
}

void hc_check_note(hc_check_t *k, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("note  ", k->out);
    vfprintf(k->out, fmt, ap);
    fputc('\n', k->out);
    va_end(ap);
}

/* Checks one service database: integrity, then its parked dead letters. */
static void check_service_db(hc_check_t *k, const char *data_dir, const char *service)
{
    char path[700], why[512];
    hc_db_t *db = NULL;
    snprintf(path, sizeof path, "%s/%s.db", data_dir, service);
    const char *url = hc_config_db_url(&hc_cfg, service);
    int rc = url ? hc_db_open_pg(url, service, 1, NULL, 0, &db) : hc_db_open_existing(path, 1, &db);
    if (!rc && url)
        hc_strlcpy(path, hc_db_path(db), sizeof path);
    if (rc) {
        hc_check_report(k, 0, "%s: cannot open: %s", path,
                        rc == HC_ENOTFOUND ? "no such file (has the service ever run?)"
                                           : hc_strerror(rc));
        return;
    }
    rc = hc_db_check(db, 1, why, sizeof why);
    if (url && rc)
        hc_check_report(k, 0, "%s: %s", path, why);
    else if (url) /* the server checks its own pages; this proves the schema answers */
        hc_check_report(k, 1, "%s: reachable, %s", path, why);
    else if (rc)
        hc_check_report(k, 0, "%s: integrity_check: %s", path, why);
    else
        hc_check_report(k, 1, "%s: integrity_check ok", path);
    if (!rc) {
        int64_t parked = hc_deadletter_count(db);
        if (parked > 0)
            hc_check_note(k, "%s: %lld dead letter(s) parked (healthcenter dead-letters list %s)",
                          path, (long long)parked, service);
    }
    hc_db_destroy(db);
}

int hc_check_run(const char *data_dir, const char *const *services, size_t n, FILE *out)
{
    hc_check_t k = {.out = out};
    for (size_t i = 0; i < n; i++)
        check_service_db(&k, data_dir, services[i]);
    if (strcmp(hc_cfg.bus, "kafka") == 0) {
        /* There is no embedded log to read: the broker checks its own. */
        hc_check_note(&k,
                      "bus: Kafka topic %s on %s, not checked here (the broker verifies its "
                      "own log)",
                      hc_cfg.topic, hc_cfg.kafka_brokers);
    } else {
        char dir[600];
        snprintf(dir, sizeof dir, "%s/bus", data_dir);
        hc_bus_log_verify(dir, &k);
    }
    if (k.failed)
        fprintf(out, "check: %d of %d items FAILED\n", k.failed, k.items);
    else
        fprintf(out, "check: all %d items ok\n", k.items);
    return k.failed;
}
