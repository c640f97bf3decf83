/*-------------------------------------------------------------------------
 *
 * stylist_chat.h
 *	  Declarations shared by the C files of the stylist_chat extension.
 *
 * Each C file owns one concern and exposes an Init function that
 * _PG_init (stylist_chat.c) calls; everything else is SQL-callable.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STYLIST_CHAT_H
#define STYLIST_CHAT_H

#include "postgres.h"
#include "utils/uuid.h"

/* stylist_chat.c: settings */
extern char *relay_database;
extern int	relay_poll_interval;

/* actor.c: who is acting, kept in backend memory */
extern void actor_init(void);
extern bool actor_get(pg_uuid_t *actor);

/* relay_shmem.c: state shared by senders and the relay worker */
extern void relay_shmem_init(void);
extern void relay_worker_attach(void);
extern void relay_wake_worker(void);
extern void relay_count_relayed(uint64 n);

/* relay_worker.c: the background worker */
extern void relay_worker_register(void);

#endif							/* STYLIST_CHAT_H */
