/* up_notify: systemd's readiness protocol (sd_notify) for `healthcenter up`
 * under a unit of Type=notify, without linking libsystemd: one datagram to
 * the socket systemd names in $NOTIFY_SOCKET. */
#ifndef UP_NOTIFY_H
#define UP_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=all services ready", borrowed) to the
 * AF_UNIX datagram socket named by $NOTIFY_SOCKET: a path, or an abstract
 * socket when it starts with '@'. Returns 0 when sent, HC_ENOTFOUND when
 * NOTIFY_SOCKET is unset or empty (not run by systemd: nothing to do), or
 * HC_EIO (errno set) when it could not be sent. Safe to call from any
 * thread; keeps no state. */
int up_notify(const char *state);

#endif
