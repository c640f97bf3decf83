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

/* actor.c: who is acting, kept in backend memory */
extern void actor_init(void);
extern bool actor_get(pg_uuid_t *actor);

#endif							/* STYLIST_CHAT_H */
