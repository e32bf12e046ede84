/* hc_service: what every service process has in common: configuration, its
 * database with migrations, the bus, the outbox relay, the event consumer and
 * the HTTP server, started in order and stopped in reverse on SIGINT/SIGTERM. */
#ifndef HC_SERVICE_H
#define HC_SERVICE_H

#include "hc_bus.h"
#include "hc_consumer.h"
#include "hc_db.h"
#include "hc_http.h"
#include "hc_outbox.h"

typedef struct hc_service hc_service_t;

typedef struct hc_service_def {
    const char *name; /* "order", ... also the consumer group and db file name */
    int port;         /* 0: the configured HC_<NAME>_PORT */
    const hc_migration_t *migrations;
    size_t n_migrations;
    /* Registers routes on svc->http and sets up state. Returns 0 or hc_err. */
    int (*init)(hc_service_t *svc);
    /* Events to consume (NULL-terminated) and how to apply them; NULL types = no consumer. */
    const char *const *consume_types;
    hc_event_cb apply;
    void (*after_commit)(void *ud);
    /* Optional: start/stop service-specific background threads. */
    int (*start)(hc_service_t *svc);
    void (*stop)(hc_service_t *svc);
} hc_service_def_t;

struct hc_service {
    const hc_service_def_t *def;
    hc_db_t *db;
    hc_bus_t *bus;
    hc_relay_t *relay;
    hc_consumer_t *consumer;
    hc_http_t *http;
    void *state; /* service-specific */
};

/* Runs the service until SIGINT/SIGTERM. Returns a process exit code. */
int hc_service_run(const hc_service_def_t *def);

/* Commits c's transaction and, on success, wakes the relay. Returns 0 or hc_err. */
int hc_service_commit(hc_service_t *svc, hc_conn_t *c);

#endif
