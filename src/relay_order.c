/*-------------------------------------------------------------------------
 *
 * relay_order.c
 *	  The relay worker's bookkeeping: each chat's messages relayed once, in
 *	  seq order, with a durable watermark to recover from.
 *
 * Why a queue and not an outbox table: an outbox costs every message a
 * second row written, and a queue of deleted rows to vacuum.  The shared
 * queue (relay_shmem.c) costs nothing durable; durability comes from the
 * messages themselves:
 *
 *	- chat.relay_watermark holds, per chat, the seq up to which messages
 *	  are relayed.  The worker moves it in the very transaction that
 *	  issues the NOTIFYs, so the two commit together: a worker killed at
 *	  any point neither loses nor repeats a message.  That transaction
 *	  commits with synchronous_commit off; after a crash of the whole
 *	  server a watermark may come back a little behind, and the messages
 *	  above it are relayed a second time, to listeners who had all been
 *	  disconnected by the crash anyway.  One statement writes the
 *	  watermarks of a whole batch.
 *	- Recovery: when the worker starts (after a crash, a restart, a kill, or
 *	  with the library newly preloaded), when the extension appears, and
 *	  whenever the queue overflowed or an error may have lost a batch
 *	  (relay_need_recovery), it relays, chat by chat in seq order, every
 *	  message above the watermark, a batch of RECOVERY_BATCH per
 *	  transaction.  Messages the queue then brings again are skipped by
 *	  seq: the worker remembers each active chat's watermark in memory,
 *	  and reads the written one for a chat it does not know.
 *
 * Order within a chat.  Seqs are assigned under the chat row's lock, and a
 * sender's commit callback runs before its locks are released; yet the
 * next sender may see the row committed a moment before the callback runs
 * (once the commit is in the proc array) and overtake it into the queue.
 * So the worker relays a chat's messages strictly in seq order: a message
 * that arrives before its predecessor is held back until the predecessor
 * comes, which it does within microseconds; a gap that is still open after
 * GAP_TIMEOUT_MS (the predecessor was dropped by a full queue) is filled by
 * recovery from the tables.  While anything is held back the main loop
 * looks every GAP_POLL_MS.
 *
 * The messages relayed are kept (relay_note.c) and handed to the
 * bookkeeping worker once their transaction has committed; recovery asks
 * it to note what was relayed and never handed over.
 *
 * So every committed message is relayed at least once, whatever dies when.
 * Edits, deletes, read marks and new chats travel the same queue, in queue
 * order and without a watermark: they are not recovered after a crash of
 * the server, and a client that reconnects refreshes them through the
 * catch-up protocol anyway.
 *
 * Memory follows the active chats: a chat idle for IDLE_CHAT_MS, with
 * nothing held back, is forgotten, and read again from its written
 * watermark when it comes back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "relay.h"

#define RECOVERY_BATCH			1000	/* messages per recovery query */
#define IDLE_CHAT_MS			60000	/* a chat forgotten after this */
#define GAP_TIMEOUT_MS			1000	/* a hold-back this old: recover */

/* a message that came before its predecessor */
typedef struct HeldEvent
{
	RelayEvent	ev;
	struct HeldEvent *next;
} HeldEvent;

/* what the worker knows of one chat */
typedef struct ChatWatermark
{
	pg_uuid_t	chat_id;		/* hash key */
	int64		relayed_seq;	/* messages relayed (and committed) up to here */
	int64		batch_seq;		/* ... and in the current batch */
	bool		in_batch;
	HeldEvent  *held;			/* waiting for a predecessor, by seq */
	TimestampTz held_since;
	TimestampTz touched;
} ChatWatermark;

/* the chats recovery must walk */
typedef struct RecoveryChat
{
	pg_uuid_t	chat_id;
	pg_uuid_t	customer_id;
	pg_uuid_t	stylist_id;
	int64		from_seq;
} RecoveryChat;

bool		relay_need_recovery = true;

static HTAB *watermarks = NULL;
static int	nheld = 0;			/* events held back, all chats */
static SPIPlanPtr watermark_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;

static ChatWatermark *chat_watermark(const pg_uuid_t *chat_id);
static void hold_event(ChatWatermark *w, const RelayEvent *ev);
static void write_watermarks(pg_uuid_t *chat_ids, int64 *seqs, int n);
static void relay_message(const RelayEvent *ev);

/*
 * Forget every chat, every held event and the messages kept for their
 * bookkeeping; recovery starts from here.
 */
void
relay_order_reset(void)
{
	HASHCTL		ctl;

	relay_note_reset();

	if (watermarks != NULL)
	{
		HASH_SEQ_STATUS status;
		ChatWatermark *w;

		hash_seq_init(&status, watermarks);
		while ((w = hash_seq_search(&status)) != NULL)
			while (w->held != NULL)
			{
				HeldEvent  *h = w->held;

				w->held = h->next;
				pfree(h);
			}
		hash_destroy(watermarks);
	}
	nheld = 0;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(ChatWatermark);
	watermarks = hash_create("stylist_chat relay watermarks", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS);
}

/*
 * Relay every message above the written watermark, chat by chat in seq
 * order, and start the in-memory watermarks from there.
 */
void
relay_order_recover(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	RecoveryChat *chats;
	uint64		nchats;
	uint64		c;
	int			ret;
	uint64		i;
	uint64		relayed = 0;

	relay_order_reset();

	relay_xact_begin("stylist_chat relay: recovering");

	/* what was relayed and not handed over when the worker stopped */
	bookkeeper_request_recovery();

	/* the written watermarks become the known ones */
	ret = SPI_execute("SELECT chat_id, relayed_seq FROM chat.relay_watermark", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "stylist_chat relay: could not read watermarks");
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		pg_uuid_t  *chat_id = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		ChatWatermark *w = hash_search(watermarks, chat_id, HASH_ENTER, NULL);

		memset(((char *) w) + sizeof(pg_uuid_t), 0, sizeof(ChatWatermark) - sizeof(pg_uuid_t));
		w->relayed_seq =
			DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		w->touched = GetCurrentTimestamp();
	}

	/* the chats with messages above them, kept past this transaction */
	ret = SPI_execute("SELECT c.chat_id, c.customer_id, c.stylist_id,"
					  "       COALESCE(w.relayed_seq, 0)"
					  "  FROM chat.chats c"
					  "  LEFT JOIN chat.relay_watermark w"
					  "    ON w.chat_id OPERATOR(pg_catalog.=) c.chat_id"
					  " WHERE c.last_seq OPERATOR(pg_catalog.>) COALESCE(w.relayed_seq, 0)",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "stylist_chat relay: could not find chats to recover");
	nchats = SPI_processed;
	chats = MemoryContextAlloc(cxt, Max(nchats, 1) * sizeof(RecoveryChat));
	for (c = 0; c < nchats; c++)
	{
		HeapTuple	tup = SPI_tuptable->vals[c];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		chats[c].chat_id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull));
		chats[c].customer_id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull));
		chats[c].stylist_id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 3, &isnull));
		chats[c].from_seq = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	}
	relay_xact_end();

	/* each chat's messages in seq order, a batch per transaction */
	for (c = 0; c < nchats; c++)
	{
		int64		from = chats[c].from_seq;

		for (;;)
		{
			Oid			argtypes[2] = {UUIDOID, INT8OID};
			Datum		values[2];
			uint64		n;

			CHECK_FOR_INTERRUPTS();
			relay_xact_begin("stylist_chat relay: recovering");

			values[0] = UUIDPGetDatum(&chats[c].chat_id);
			values[1] = Int64GetDatum(from);
			ret = SPI_execute_with_args("SELECT seq, sender_id, created_at"
										"  FROM chat.chat_messages"
										" WHERE chat_id OPERATOR(pg_catalog.=) $1"
										"   AND seq OPERATOR(pg_catalog.>) $2"
										" ORDER BY seq LIMIT " CppAsString2(RECOVERY_BATCH),
										2, argtypes, values, NULL, true, 0);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "stylist_chat relay: could not read messages to recover");
			n = SPI_processed;
			for (i = 0; i < n; i++)
			{
				HeapTuple	tup = SPI_tuptable->vals[i];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;
				RelayEvent	ev;

				memset(&ev, 0, sizeof(ev));
				ev.dbid = MyDatabaseId;
				ev.kind = RELAY_MESSAGE;
				ev.chat_id = chats[c].chat_id;
				ev.customer_id = chats[c].customer_id;
				ev.stylist_id = chats[c].stylist_id;
				ev.seq = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
				{
					Datum		sender = SPI_getbinval(tup, desc, 2, &isnull);

					/* a booking card has no sender: the nil UUID */
					if (!isnull)
						ev.actor_id = *DatumGetUUIDP(sender);
				}
				ev.at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
				relay_message(&ev);
				from = ev.seq;
			}
			if (n > 0)
				write_watermarks(&chats[c].chat_id, &from, 1);
			relay_xact_end();
			relay_note_hand_over();

			if (n > 0)
			{
				bool		found;
				ChatWatermark *w = hash_search(watermarks, &chats[c].chat_id,
											   HASH_ENTER, &found);

				if (!found)
					memset(((char *) w) + sizeof(pg_uuid_t), 0,
						   sizeof(ChatWatermark) - sizeof(pg_uuid_t));
				w->relayed_seq = from;
				w->touched = GetCurrentTimestamp();
				relayed += n;
				relay_count_relayed(n);
			}
			if (n < RECOVERY_BATCH)
				break;
		}
	}
	pfree(chats);

	if (relayed > 0)
		ereport(LOG,
				(errmsg("stylist_chat relay recovered " UINT64_FORMAT " messages of " UINT64_FORMAT " chats",
						relayed, nchats)));
	relay_need_recovery = false;
}

/*
 * NOTIFY a batch of queued events, and move the watermarks of their chats,
 * in one transaction.  Messages go out in seq order per chat: one already
 * relayed is skipped, one ahead of its predecessor is held back, and one
 * that closes a gap brings out what waited for it.  Other events go out in
 * queue order.
 */
void
relay_order_batch(RelayEvent *events, int n)
{
	int			i;
	int			sent = 0;
	int			nmoved = 0;
	int			nchats;
	pg_uuid_t  *moved_chats = palloc(n * sizeof(pg_uuid_t));
	int64	   *moved_seqs = palloc(n * sizeof(int64));
	ChatWatermark **moved = palloc(n * sizeof(ChatWatermark *));
	TimestampTz now = GetCurrentTimestamp();

	relay_xact_begin("stylist_chat relay: notifying");

	for (i = 0; i < n; i++)
	{
		RelayEvent *ev = &events[i];
		ChatWatermark *w;

		if (ev->dbid != MyDatabaseId)
			continue;			/* stylist_chat.database relays only its own */

		if (ev->kind != RELAY_MESSAGE)
		{
			if (relay_notify_event(ev))
				sent++;
			continue;
		}

		w = chat_watermark(&ev->chat_id);
		if (!w->in_batch)
		{
			w->in_batch = true;
			w->batch_seq = w->relayed_seq;
			moved[nmoved++] = w;
		}
		if (ev->seq <= w->batch_seq)
			continue;			/* recovery relayed it already */
		if (ev->seq > w->batch_seq + 1)
		{
			hold_event(w, ev);	/* its predecessor is still on its way */
			continue;
		}
		relay_message(ev);
		sent++;
		w->batch_seq = ev->seq;

		/* what waited for this one */
		while (w->held != NULL && w->held->ev.seq <= w->batch_seq + 1)
		{
			HeldEvent  *h = w->held;

			w->held = h->next;
			nheld--;
			if (h->ev.seq == w->batch_seq + 1)
			{
				relay_message(&h->ev);
				sent++;
				w->batch_seq = h->ev.seq;
			}
			pfree(h);
		}
		if (w->held == NULL)
			w->held_since = 0;
	}

	/* one watermark per chat at its highest seq */
	nchats = 0;
	for (i = 0; i < nmoved; i++)
		if (moved[i]->batch_seq > moved[i]->relayed_seq)
		{
			moved_chats[nchats] = moved[i]->chat_id;
			moved_seqs[nchats] = moved[i]->batch_seq;
			nchats++;
		}
	write_watermarks(moved_chats, moved_seqs, nchats);

	relay_xact_end();
	relay_note_hand_over();

	/* committed: the notifications are out and the watermarks written */
	for (i = 0; i < nmoved; i++)
	{
		moved[i]->relayed_seq = moved[i]->batch_seq;
		moved[i]->in_batch = false;
		moved[i]->touched = now;
	}
	if (sent > 0)
		relay_count_relayed(sent);
	pfree(moved_chats);
	pfree(moved_seqs);
	pfree(moved);
}

/*
 * Relay a message for the first time: NOTIFY it, and keep it for its
 * bookkeeping (relay_note.c).
 */
static void
relay_message(const RelayEvent *ev)
{
	(void) relay_notify_event(ev);
	relay_note_message(ev);
}

/*
 * Is any message held back, waiting for its predecessor?
 */
bool
relay_order_holding(void)
{
	return nheld > 0;
}

/*
 * The worker's entry for a chat; one it does not know starts from the
 * written watermark (in the current transaction, SPI connected).
 */
static ChatWatermark *
chat_watermark(const pg_uuid_t *chat_id)
{
	bool		found;
	ChatWatermark *w = hash_search(watermarks, chat_id, HASH_ENTER, &found);

	if (!found)
	{
		Datum		values[1];
		bool		isnull;

		memset(((char *) w) + sizeof(pg_uuid_t), 0, sizeof(ChatWatermark) - sizeof(pg_uuid_t));
		if (lookup_plan == NULL)
		{
			Oid			argtypes[1] = {UUIDOID};
			SPIPlanPtr	plan;

			plan = SPI_prepare("SELECT relayed_seq FROM chat.relay_watermark"
							   " WHERE chat_id OPERATOR(pg_catalog.=) $1", 1, argtypes);
			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "stylist_chat relay: could not prepare the watermark lookup");
			lookup_plan = plan;
		}
		values[0] = UUIDPGetDatum(chat_id);
		if (SPI_execute_plan(lookup_plan, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "stylist_chat relay: could not read a watermark");
		if (SPI_processed > 0)
			w->relayed_seq = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));
		w->touched = GetCurrentTimestamp();
	}
	return w;
}

/*
 * Keep a message until its predecessor has been relayed.
 */
static void
hold_event(ChatWatermark *w, const RelayEvent *ev)
{
	HeldEvent **p = &w->held;
	HeldEvent  *h;

	while (*p != NULL && (*p)->ev.seq < ev->seq)
		p = &(*p)->next;
	if (*p != NULL && (*p)->ev.seq == ev->seq)
		return;					/* held already */
	h = MemoryContextAlloc(TopMemoryContext, sizeof(HeldEvent));
	h->ev = *ev;
	h->next = *p;
	*p = h;
	if (w->held_since == 0)
		w->held_since = GetCurrentTimestamp();
	nheld++;
}

/*
 * Has a chat waited too long for a message?  Then it was lost on the way
 * (a full queue) and only the tables have it.
 */
bool
relay_order_gap_expired(void)
{
	HASH_SEQ_STATUS status;
	ChatWatermark *w;
	TimestampTz now = GetCurrentTimestamp();
	bool		expired = false;

	hash_seq_init(&status, watermarks);
	while ((w = hash_seq_search(&status)) != NULL)
		if (w->held != NULL && !expired &&
			TimestampDifferenceExceeds(w->held_since, now, GAP_TIMEOUT_MS))
		{
			ereport(LOG,
					(errmsg("stylist_chat relay: message " INT64_FORMAT " of a chat did not arrive; recovering from the tables",
							w->relayed_seq + 1)));
			expired = true;
		}
	return expired;
}

/*
 * Move the watermarks of n chats, in the current transaction (SPI
 * connected): one statement for the whole batch.
 */
static void
write_watermarks(pg_uuid_t *chat_ids, int64 *seqs, int n)
{
	Datum	   *chat_datums;
	Datum	   *seq_datums;
	Datum		values[2];
	int			i;

	if (n == 0)
		return;

	if (watermark_plan == NULL)
	{
		Oid			argtypes[2] = {UUIDARRAYOID, INT8ARRAYOID};
		SPIPlanPtr	plan;

		/*
		 * in chat_id order, as the bookkeeper writes its noted seqs: the
		 * two never wait for each other in a circle
		 */
		plan = SPI_prepare("INSERT INTO chat.relay_watermark AS w (chat_id, relayed_seq)"
						   " SELECT u.c, u.s FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS u (c, s)"
						   " ORDER BY u.c"
						   " ON CONFLICT (chat_id) DO UPDATE"
						   " SET relayed_seq = excluded.relayed_seq"
						   " WHERE w.relayed_seq OPERATOR(pg_catalog.<) excluded.relayed_seq",
						   2, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "stylist_chat relay: could not prepare the watermark update");
		watermark_plan = plan;
	}

	chat_datums = palloc(n * sizeof(Datum));
	seq_datums = palloc(n * sizeof(Datum));
	for (i = 0; i < n; i++)
	{
		chat_datums[i] = UUIDPGetDatum(&chat_ids[i]);
		seq_datums[i] = Int64GetDatum(seqs[i]);
	}
	values[0] = PointerGetDatum(construct_array(chat_datums, n, UUIDOID, UUID_LEN,
												false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(construct_array(seq_datums, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_plan(watermark_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "stylist_chat relay: could not write watermarks");
}

/*
 * Forget chats idle for a minute, so that memory follows the active chats,
 * not all chats.
 */
void
relay_order_tidy(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	ChatWatermark *w;

	if (watermarks == NULL)
		return;
	hash_seq_init(&status, watermarks);
	while ((w = hash_seq_search(&status)) != NULL)
		if (w->held == NULL &&
			TimestampDifferenceExceeds(w->touched, now, IDLE_CHAT_MS))
			(void) hash_search(watermarks, &w->chat_id, HASH_REMOVE, NULL);
}
