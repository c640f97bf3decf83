/*-------------------------------------------------------------------------
 *
 * relay.h
 *	  Declarations private to the relay worker's three files.
 *
 * The relay worker is one process whose code is split by concern:
 *
 *	relay_worker.c	life cycle and main loop, and the worker's transactions
 *	relay_order.c	per-chat order, watermarks and recovery
 *	relay_notify.c	payloads, channel names and the NOTIFYs
 *	relay_note.c	what it hands to the bookkeeping worker (bookkeeper.c)
 *
 * Nothing here is used outside the worker processes (the relay, and the
 * bookkeeper, bookkeeper.c, which runs its transactions the same way);
 * what senders and the workers share lives in stylist_chat.h
 * (relay_shmem.c, relay_events.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RELAY_H
#define RELAY_H

#include "stylist_chat.h"

/*
 * relay_worker.c: one transaction of the worker.  relay_xact_begin starts
 * it, connects SPI, pushes a snapshot and shows the activity in
 * pg_stat_activity; relay_xact_end undoes all that, commits, shows the
 * worker idle and returns to the caller's memory context.  An error in
 * between is cleaned up by the main loop (AbortCurrentTransaction).
 */
extern void relay_xact_begin(const char *activity);
extern void relay_xact_end(void);

/* relay_order.c: per-chat order, watermarks, recovery */
extern bool relay_need_recovery;
extern void relay_order_reset(void);
extern void relay_order_recover(void);
extern void relay_order_batch(RelayEvent *events, int n);
extern bool relay_order_holding(void);
extern bool relay_order_gap_expired(void);
extern void relay_order_tidy(TimestampTz now);

/* relay_notify.c: payloads, channel names, NOTIFY */
extern void relay_notify_load(void);
extern bool relay_notify_event(const RelayEvent *ev);
extern void relay_notify_tidy(TimestampTz now);

/* relay_note.c: the messages relayed, for the bookkeeping worker */
extern void relay_note_message(const RelayEvent *ev);
extern void relay_note_reset(void);
extern void relay_note_hand_over(void);

#endif							/* RELAY_H */
