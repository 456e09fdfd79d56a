/* conn_guard.h — what both listeners of the api role (REST, live) admit:
 * connections in total and per client address, and what a listener does
 * when accept() runs out of descriptors. One guard per listener; any
 * thread (REST has several loop threads). */
#ifndef AMBIENT_API_CONN_GUARD_H
#define AMBIENT_API_CONN_GUARD_H

#include <stddef.h>
#include <sys/socket.h>

struct evconnlistener;
struct conn_guard;

/* A client's share of a guard: its address key, once admitted. */
struct conn_guard_slot {
    unsigned char key[17]; /* family byte + IPv4 address or IPv6 /64 */
    int admitted;
};

/* name ("api", "live") prefixes the guard's log lines. NULL: no memory. */
struct conn_guard *conn_guard_new(const char *name, size_t max_total, size_t max_per_client);
void conn_guard_free(struct conn_guard *g);

/* Counts a connection from peer into slot: 0, or -1 when the listener is
 * at max_total or that client (its IPv4 address, its IPv6 /64) at
 * max_per_client; a refusal is logged at most every few seconds. */
int conn_guard_enter(struct conn_guard *g, const struct sockaddr *peer,
                     struct conn_guard_slot *slot);
/* Request bodies being read, in total and per client: past either budget
 * a reservation fails, so slow bodies from one address (with any token)
 * cannot hold the memory every client shares. 0 (the default): none. */
void conn_guard_set_body_budget(struct conn_guard *g, size_t total, size_t per_client);
/* 0, or -1 when bytes more would pass a budget. Any thread. */
int conn_guard_reserve_body(struct conn_guard *g, const struct conn_guard_slot *slot,
                            size_t bytes);
void conn_guard_release_body(struct conn_guard *g, const struct conn_guard_slot *slot,
                             size_t bytes);
/* Gives an admitted slot back (no-op for one that was not; release its
 * body bytes first). */
void conn_guard_leave(struct conn_guard *g, struct conn_guard_slot *slot);

/* Handles lis's accept errors: out of descriptors (EMFILE, ENFILE), it
 * frees a descriptor kept in reserve, accepts and closes what waits, takes
 * the reserve again and stops accepting for a quarter second, so the
 * listener sheds those clients instead of being woken for them in a loop;
 * every error is logged at most every few seconds, with how many were not.
 * Call on lis's loop thread. */
void conn_guard_watch(struct evconnlistener *lis, struct conn_guard *g);
/* Before lis is freed. */
void conn_guard_unwatch(struct evconnlistener *lis);

#endif
