/* up_gateway: the nginx gateway as `healthcenter up` runs it: which nginx
 * binary, and the config rendered from gateway/nginx.conf.tmpl. See
 * docs/gateway.md and docs/supervisor.md. */
#ifndef UP_GATEWAY_H
#define UP_GATEWAY_H

#include <stddef.h>
#include <sys/types.h>

#include "hc_buf.h"
#include "hc_config.h"

/* The gateway template as built into the binary: generated from
 * gateway/nginx.conf.tmpl at build time (cmake/embed.cmake). */
extern const char up_gateway_tmpl[];

/* Loads the gateway template text: the file named by $HC_GATEWAY_TEMPLATE
 * (an error when set but unreadable), else <exe_dir>/../gateway/nginx.conf.tmpl,
 * else <exe_dir>/../share/healthcenter/nginx.conf.tmpl, else the copy built
 * into the binary (up_gateway_tmpl). exe_dir may be NULL. Returns a malloc'd
 * string the caller frees and names where it came from in source (size
 * srclen); NULL with a message in err (size errlen) when the named file
 * cannot be read. */
char *up_gateway_load_template(const char *exe_dir, char *source, size_t srclen, char *err,
                               size_t errlen);

/* Writes the WORKER_USER placeholder's value for a gateway started with
 * effective user euid and group egid into out (size outlen). As root (euid 0)
 * it is "user NAME GROUP;" naming euid and egid: nginx started by root runs
 * its workers as `nobody` when the config has no `user`, and nobody cannot
 * read a web app (or run dir) inside a tree other users cannot enter (a clone
 * in a mode 0700 directory, /root); with it the workers keep the user that
 * runs `up`. Otherwise a comment: nginx ignores `user` unless root (with a
 * warning), and its workers keep the caller's user anyway. Returns 0, or
 * HC_ENOTFOUND when root's user or group has no name nginx could use (out is
 * then a comment saying so, and the workers run as nginx's default). */
int up_gateway_user_directive(uid_t euid, gid_t egid, char *out, size_t outlen);

/* The port of instance k (0 = the first) of a service whose first instance
 * listens on port: port + k * HC_SCALE_PORT_STEP. */
int up_gateway_instance_port(const hc_config_t *cfg, int port, int k);

/* Replaces every @NAME@ placeholder of the gateway template tmpl with its
 * value from cfg (ports, bind address, max body, real-IP header), run_dir
 * (an absolute path) and health_addr (HEALTH_ADDR: host:port where `up`
 * answers the gateway's /actuator/health), appending the result to out. Some placeholders stand
 * for whole directives, one per line, each line indented like the
 * placeholder: REAL_IP_FROM (a set_real_ip_from per HC_TRUSTED_PROXY item),
 * LIMIT_REQ (limit_req_zone and limit_req) and LIMIT_CONN (limit_conn_zone
 * and limit_conn), WORKER_USER (nginx's `user`, for the user running this
 * process: up_gateway_user_directive), ORDER_SERVERS ... NOTIFICATION_SERVERS (a `server` line
 * per instance of the service, HC_SCALE); a limit that is off, or an empty proxy list, renders as
 * one comment line. Returns 0, or HC_EINVAL with a message in err (size
 * errlen) for an unknown placeholder, a value nginx could not parse (say a
 * run_dir with spaces) or a result larger than out's maximum. web_dir
 * (WEB_DIR) is the web app's directory and web_version (WEB_VERSION) the
 * version its assets are served under (up_web.h); web_dir NULL: there is no
 * web app, WEB_DIR is <run_dir>/no-web (nothing there: its pages answer 404).
 * Everything is borrowed; out stays the caller's. */
int up_gateway_render(const char *tmpl, const hc_config_t *cfg, const char *run_dir,
                      const char *health_addr, const char *web_dir, const char *web_version,
                      hc_buf_t *out, char *err, size_t errlen);

/* Renders the template found next to the running executable (see
 * up_gateway_load_template) for cfg and run_dir into the file conf_path, with
 * the web app found as up_web_find finds it (none: a warning in the log, its
 * pages answer 404; HC_WEB_DIR set but wrong: an error).
 * Returns 0 with where the template came from in source (size srclen), or
 * an hc_err with a message in err (size errlen); conf_path is then unchanged. */
int up_gateway_write_config(const hc_config_t *cfg, const char *run_dir, const char *health_addr,
                            const char *conf_path, char *source, size_t srclen, char *err,
                            size_t errlen);

/* Writes the address the children are reached at into out (size outlen):
 * bind_addr, or the loopback address when the services listen on every
 * interface ("", "0.0.0.0", "*", "::"). */
void up_gateway_reach_addr(const char *bind_addr, char *out, size_t outlen);

/* Writes addr into out (size outlen) in the form nginx and URLs want: IPv6
 * addresses in brackets ("[::1]"), anything else as it is. */
void up_gateway_addr_literal(const char *addr, char *out, size_t outlen);

/* Picks the nginx program `up` runs, into out (size outlen). With nginx_bin
 * (HC_NGINX) set: that path, which must name an executable file (a name
 * without '/' is a path relative to the working directory, written "./name",
 * never searched in PATH). Otherwise the first executable of /usr/sbin/nginx,
 * /usr/local/sbin/nginx and /usr/local/nginx/sbin/nginx, else the bare name
 * "nginx": up_proc_spawn's execvp then searches $PATH for it, and reports
 * ENOENT when it is not there. Returns 0, or HC_ENOTFOUND when nginx_bin is
 * set but not executable (or longer than outlen). */
int up_gateway_nginx_program(const char *nginx_bin, char *out, size_t outlen);

#endif
