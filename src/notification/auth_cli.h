/* auth_cli: the operator's account commands, `healthcenter admin
 * add|passwd|list` and `healthcenter token`, on notification's database
 * (opened, and migrated, as the service opens it). Call after the
 * configuration is loaded (hc_cfg). */
#ifndef AUTH_CLI_H
#define AUTH_CLI_H

#include <stdio.h>

/* `healthcenter admin ...` with argv[0] = "admin". Passwords are read from
 * in (prompted for twice, without echo, when it is a terminal). Returns the
 * exit code: 0, 1 (failed) or 2 (usage). */
int auth_cli_admin(int argc, char **argv, FILE *in, FILE *out, FILE *err);

/* `healthcenter token (--phone P | --admin USER | --service NAME) [--ttl S]`
 * with argv[0] = "token": prints a token signed with the configured key.
 * Returns the exit code. */
int auth_cli_token(int argc, char **argv, FILE *out, FILE *err);

#endif
