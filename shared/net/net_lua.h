/* What the `net` and `socket` bindings share: deadlines of blocking calls
 * and address arguments. */
#ifndef NET_LUA_H
#define NET_LUA_H

#include <stdbool.h>
#include <stdint.h>

#include "lua.h"
#include "lwip/ip_addr.h"

/* Replace the optional timeout (ms) at `arg` with an absolute deadline in
 * microseconds, left at `arg` (the top); returns `arg`, or 0 (nothing
 * pushed, stack cut to arg-1) when there is none. The continuation of the
 * blocking call passes the returned value as ctx to netwait_left. */
lua_KContext netwait_deadline(lua_State *L, int arg, uint64_t def_us);
/* Microseconds left before the deadline stored at `ctx` (UINT64_MAX: none;
 * 0: passed). */
uint64_t netwait_left(lua_State *L, lua_KContext ctx);

/* Parse a dotted IPv4 literal ("192.0.2.1"); false otherwise. */
bool net_lua_parse_ip(const char *s, ip_addr_t *out);
void net_lua_push_ip(lua_State *L, const ip_addr_t *a);

/* DNS lookups in flight live in a fixed table, not in Lua objects: lwIP
 * calls back even when the task that asked is gone (cancelled, timed out).
 * net_dns_start: 1 = resolved at once (*out set: a literal, "localhost", a
 * cached name), 0 = started (*slot set: wait on net_dns_queue(*slot)),
 * -1 = refused (*err set: a bad name, the table full). */
int net_dns_start(const char *name, ip_addr_t *out, int *slot, const char **err);
struct sched_waitq *net_dns_queue(int slot);
/* 1: found (*out set, slot freed); 0: not found (slot freed); -1: pending. */
int net_dns_take(int slot, ip_addr_t *out);
/* The asker gives up (timeout): the slot is freed when lwIP answers. */
void net_dns_abandon(int slot);

int luaopen_net(lua_State *L);
int luaopen_socket(lua_State *L);

#endif
