/*-------------------------------------------------------------------------
 *
 * relay_worker.c
 *	  The relay background worker: turns committed chat events into NOTIFY.
 *
 * Why a worker: a transaction that issues NOTIFY takes one cluster-wide
 * lock at commit and holds it through the commit, which caps senders near
 * 5k messages/s on a 2-core machine whatever the concurrency.  So senders
 * never NOTIFY; they commit rows and, from their commit callback, put the
 * transaction's events into a shared-memory queue and set this worker's
 * latch (relay_events.c, relay_shmem.c).  The worker notifies a whole batch
 * of events in one transaction of its own.
 *
 * Why a queue and not an outbox table: an outbox costs every message a
 * second row written, and a queue of deleted rows to vacuum.  The queue
 * costs nothing durable; durability comes from the messages themselves:
 *
 *	- chat.relay_watermark holds, per chat, the seq up to which messages
 *	  are relayed.  The worker moves it in the very transaction that
 *	  issues the NOTIFYs, so the two commit together: a worker killed at
 *	  any point neither loses nor repeats a message.  That transaction
 *	  commits with synchronous_commit off; after a crash of the whole
 *	  server a watermark may come back a little behind, and the messages
 *	  above it are relayed a second time, to listeners who had all been
 *	  disconnected by the crash anyway.
 *	- Recovery: when the worker starts (after a crash, a restart, a kill, or
 *	  with the library newly preloaded) and whenever the queue overflowed
 *	  or an error may have lost a batch, it relays, chat by chat in seq
 *	  order, every message above the watermark.  Messages the queue then
 *	  brings again are skipped by seq (the worker remembers each active
 *	  chat's watermark).
 *
 * Order within a chat.  Seqs are assigned under the chat row's lock, and a
 * sender's commit callback runs before its locks are released; yet the
 * next sender may see the row committed a moment before the callback runs
 * (once the commit is in the proc array) and overtake it into the queue.
 * So the worker relays a chat's messages strictly in seq order: a message
 * that arrives before its predecessor is held back until the predecessor
 * comes, which it does within microseconds; a gap that is still open after
 * a second (the predecessor was dropped by a full queue) is filled by
 * recovery from the tables.
 *
 * So every committed message is relayed at least once, whatever dies when.
 * Edits, deletes, read marks and new chats travel the same queue but are
 * not recovered after a crash of the server: a client that reconnects
 * refreshes them through the catch-up protocol anyway.  Typing events are
 * ephemeral and thinned here to one per (chat, actor) per second.
 *
 * NOTIFY itself is not durable and reaches only connected listeners: the
 * real-time stream is at-most-once per connection, and a client gets
 * completeness from the catch-up protocol (LISTEN, then catch up, then
 * apply events, ignoring seqs it already holds).
 *
 * Each event goes to the channels of both participants and of every admin
 * (channel.c); the payload is compact JSON without the message text.
 *
 * Life cycle (the worker_spi skeleton): registered by _PG_init when the
 * library is preloaded; connects to the database named by
 * stylist_chat.database; appears in pg_stat_activity with backend_type
 * "stylist_chat relay"; restarted by the postmaster one second after a
 * crash or a pg_terminate_backend(); reloads its settings on SIGHUP; exits
 * at once on SIGTERM and at shutdown.  An error inside a cycle is logged,
 * the transaction aborted, recovery scheduled, and the worker backs off
 * (from 100 ms, doubling up to five seconds) before trying again; wake-ups
 * by senders during a back-off do not bring the retry forward.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

PGDLLEXPORT void relay_worker_main(Datum main_arg);

#define RELAY_BATCH				1024	/* events per NOTIFY transaction */
#define RECOVERY_BATCH			1000	/* messages per recovery query */
#define REFRESH_INTERVAL_MS		1000	/* key and admins are reread */
#define TIDY_INTERVAL_MS		1000	/* idle chats and typing marks go */
#define IDLE_CHAT_MS			60000	/* a chat forgotten after this */
#define TYPING_INTERVAL_MS		1000	/* one typing event per second */
#define GAP_TIMEOUT_MS			1000	/* a hold-back this old: recover */
#define GAP_POLL_MS				50		/* how often to look while holding */
#define MAX_BACKOFF_MS			5000

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

typedef struct TypingKey
{
	pg_uuid_t	chat_id;
	pg_uuid_t	actor_id;
} TypingKey;

typedef struct TypingEntry
{
	TypingKey	key;
	TimestampTz last;
} TypingEntry;

/* a profile's channel name, computed once */
typedef struct ChannelEntry
{
	pg_uuid_t	profile_id;		/* hash key */
	char		name[CHANNEL_NAME_LEN + 1];
} ChannelEntry;

#define MAX_CACHED_CHANNELS		100000

/* the chats recovery must walk */
typedef struct RecoveryChat
{
	pg_uuid_t	chat_id;
	pg_uuid_t	customer_id;
	pg_uuid_t	stylist_id;
	int64		from_seq;
} RecoveryChat;

static HTAB *watermarks = NULL;
static HTAB *typing = NULL;
static HTAB *channels = NULL;	/* profile id -> channel name */
static bool need_recovery = true;
static TimestampTz last_tidy = 0;
static SPIPlanPtr watermark_plan = NULL;
static SPIPlanPtr lookup_plan = NULL;
static int	nheld = 0;			/* events held back, all chats */

/* read from the database, refreshed every REFRESH_INTERVAL_MS */
static bool extension_present = false;
static uint8 channel_key[64];
static int	channel_keylen = 0;
static pg_uuid_t *admins = NULL;	/* in TopMemoryContext */
static int	nadmins = 0;
static TimestampTz refreshed_at = 0;

static RelayEvent event_buffer[RELAY_BATCH];

static void relay_cycle(void);
static void refresh_context(void);
static void recover(void);
static int	notify_events(RelayEvent *events, int n);
static void notify_one(const RelayEvent *ev);
static const char *profile_channel(const pg_uuid_t *profile_id);
static ChatWatermark *chat_watermark(const pg_uuid_t *chat_id);
static void hold_event(ChatWatermark *w, const RelayEvent *ev);
static bool gap_expired(void);
static void write_watermarks(pg_uuid_t *chat_ids, int64 *seqs, int n);
static void tidy(void);
static void reset_watermarks(void);

/*
 * Register the worker; called from _PG_init while preloading.
 */
void
relay_worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "stylist_chat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "relay_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "stylist_chat relay");
	snprintf(worker.bgw_type, BGW_MAXLEN, "stylist_chat relay");
	RegisterBackgroundWorker(&worker);
}

void
relay_worker_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	volatile long backoff_ms = 0;
	volatile TimestampTz retry_at = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(relay_database, NULL, 0);
	pgstat_report_appname("stylist_chat relay");

	/*
	 * The worker runs as a superuser: resolve nothing through a search_path
	 * anybody else could write to.  A lost relay commit only means events
	 * are relayed again, so none of them waits for a WAL flush.
	 */
	SetConfigOption("search_path", "pg_catalog", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	relay_worker_attach();
	ereport(LOG,
			(errmsg("stylist_chat relay started in database \"%s\"", relay_database)));

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stylist_chat relay loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = nheld > 0 ? Min(GAP_POLL_MS, relay_poll_interval) :
			relay_poll_interval;
		TimestampTz now;

		if (retry_at != 0)
			timeout = Max(1, Min(timeout, TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																		  retry_at)));
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			int			old_poll_interval = relay_poll_interval;

			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			if (relay_poll_interval != old_poll_interval)
				ereport(LOG,
						(errmsg("stylist_chat relay now polls every %d ms", relay_poll_interval)));
		}

		/* backing off: events wait, whoever rings */
		now = GetCurrentTimestamp();
		if (retry_at != 0 && now < retry_at)
			continue;
		retry_at = 0;

		MemoryContextSwitchTo(loop_cxt);
		PG_TRY();
		{
			relay_cycle();
			backoff_ms = 0;
		}
		PG_CATCH();
		{
			/* log it, undo the transaction, and try again later */
			MemoryContextSwitchTo(loop_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			need_recovery = true;
			refreshed_at = 0;
			backoff_ms = backoff_ms == 0 ? 100 : Min(backoff_ms * 2, MAX_BACKOFF_MS);
			retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms);
			ereport(LOG,
					(errmsg("stylist_chat relay will retry in %ld ms; events wait", backoff_ms)));
		}
		PG_END_TRY();
		MemoryContextReset(loop_cxt);
	}
}

/*
 * One wake-up: recover if needed, then drain the queue batch by batch.
 */
static void
relay_cycle(void)
{
	bool		overflowed;
	int			n;

	refresh_context();
	if (!extension_present)
	{
		/* events wait in the queue, and messages in their tables */
		return;
	}

	do
	{
		CHECK_FOR_INTERRUPTS();
		n = relay_queue_pop(event_buffer, RELAY_BATCH, &overflowed);
		if (overflowed)
		{
			ereport(LOG,
					(errmsg("stylist_chat relay queue overflowed; recovering from the tables"),
					 errhint("Raise stylist_chat.queue_size if this happens often.")));
			need_recovery = true;
		}
		if (need_recovery)
			recover();
		if (n > 0)
			notify_events(event_buffer, n);
	} while (n == RELAY_BATCH);

	if (nheld > 0 && gap_expired())
	{
		need_recovery = true;
		recover();
	}

	if (TimestampDifferenceExceeds(last_tidy, GetCurrentTimestamp(), TIDY_INTERVAL_MS))
		tidy();
}

/*
 * Is the extension there, with which key and which admins?  Reread at most
 * once a REFRESH_INTERVAL_MS, so a new admin or a recreated extension is
 * picked up within a second.
 */
static void
refresh_context(void)
{
	int			ret;
	uint64		i;
	bool		was_present = extension_present;

	if (refreshed_at != 0 &&
		!TimestampDifferenceExceeds(refreshed_at, GetCurrentTimestamp(), REFRESH_INTERVAL_MS))
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "stylist_chat relay: reading settings");

	extension_present = OidIsValid(get_extension_oid("stylist_chat", true));
	if (extension_present)
	{
		ret = SPI_execute("SELECT key FROM chat.secrets WHERE name OPERATOR(pg_catalog.=) 'channel'",
						  true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "stylist_chat relay: the channel key is missing");
		{
			bool		isnull;
			bytea	   *key = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 1, &isnull));

			if (isnull || VARSIZE_ANY_EXHDR(key) > (int) sizeof(channel_key))
				elog(ERROR, "stylist_chat relay: the channel key is invalid");
			if (channel_keylen != (int) VARSIZE_ANY_EXHDR(key) ||
				memcmp(channel_key, VARDATA_ANY(key), channel_keylen) != 0)
			{
				/* a new key (the extension was created again): new names */
				if (channels != NULL)
					hash_destroy(channels);
				channels = NULL;
			}
			channel_keylen = VARSIZE_ANY_EXHDR(key);
			memcpy(channel_key, VARDATA_ANY(key), channel_keylen);
		}

		ret = SPI_execute("SELECT id FROM chat.profiles WHERE role OPERATOR(pg_catalog.=) 'admin'"
						  " ORDER BY id", true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "stylist_chat relay: could not read admins");
		if (admins != NULL)
			pfree(admins);
		nadmins = (int) SPI_processed;
		admins = MemoryContextAlloc(TopMemoryContext, Max(nadmins, 1) * sizeof(pg_uuid_t));
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			admins[i] = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc, 1, &isnull));
		}
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	refreshed_at = GetCurrentTimestamp();

	if (extension_present && !was_present)
		need_recovery = true;
	if (!extension_present && was_present)
		reset_watermarks();
}

static void
reset_watermarks(void)
{
	HASHCTL		ctl;

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

	if (typing == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(TypingKey);
		ctl.entrysize = sizeof(TypingEntry);
		typing = hash_create("stylist_chat relay typing", 256, &ctl,
							 HASH_ELEM | HASH_BLOBS);
	}
}

/*
 * Relay every message above the written watermark, chat by chat in seq
 * order, and start the in-memory watermarks from there.
 */
static void
recover(void)
{
	RecoveryChat *chats;
	uint64		nchats;
	uint64		c;
	int			ret;
	uint64		i;
	uint64		relayed = 0;

	reset_watermarks();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "stylist_chat relay: recovering");

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

	/* the chats with messages above them */
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
	chats = MemoryContextAlloc(TopMemoryContext, Max(nchats, 1) * sizeof(RecoveryChat));
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
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();

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
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			SPI_connect();
			PushActiveSnapshot(GetTransactionSnapshot());

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
				ev.actor_id = *DatumGetUUIDP(SPI_getbinval(tup, desc, 2, &isnull));
				ev.at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
				notify_one(&ev);
				from = ev.seq;
			}
			if (n > 0)
				write_watermarks(&chats[c].chat_id, &from, 1);
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();

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
	pgstat_report_activity(STATE_IDLE, NULL);

	if (relayed > 0)
		ereport(LOG,
				(errmsg("stylist_chat relay recovered " UINT64_FORMAT " messages of " UINT64_FORMAT " chats",
						relayed, nchats)));
	need_recovery = false;
}

/*
 * NOTIFY a batch of queued events, and move the watermarks of their chats,
 * in one transaction.
 */
static int
notify_events(RelayEvent *events, int n)
{
	int			i;
	int			sent = 0;
	int			nmoved = 0;
	int			nchats;
	pg_uuid_t  *moved_chats = palloc(n * sizeof(pg_uuid_t));
	int64	   *moved_seqs = palloc(n * sizeof(int64));
	ChatWatermark **moved = palloc(n * sizeof(ChatWatermark *));
	TimestampTz now = GetCurrentTimestamp();

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "stylist_chat relay: notifying");

	for (i = 0; i < n; i++)
	{
		RelayEvent *ev = &events[i];

		if (ev->dbid != MyDatabaseId)
			continue;			/* stylist_chat.database relays only its own */

		if (ev->kind == RELAY_MESSAGE)
		{
			ChatWatermark *w = chat_watermark(&ev->chat_id);

			if (!w->in_batch)
			{
				w->in_batch = true;
				w->batch_seq = w->relayed_seq;
				moved[nmoved++] = w;
			}
			if (ev->seq <= w->batch_seq)
				continue;		/* recovery relayed it already */
			if (ev->seq > w->batch_seq + 1)
			{
				hold_event(w, ev);	/* its predecessor is still on its way */
				continue;
			}
			notify_one(ev);
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
					notify_one(&h->ev);
					sent++;
					w->batch_seq = h->ev.seq;
				}
				pfree(h);
			}
			if (w->held == NULL)
				w->held_since = 0;
			continue;
		}
		else if (ev->kind == RELAY_TYPING)
		{
			TypingKey	key;
			bool		found;
			TypingEntry *t;

			key.chat_id = ev->chat_id;
			key.actor_id = ev->actor_id;
			t = hash_search(typing, &key, HASH_ENTER, &found);
			if (found && !TimestampDifferenceExceeds(t->last, ev->at, TYPING_INTERVAL_MS))
				continue;
			t->last = ev->at;
		}
		notify_one(ev);
		sent++;
	}

	/* one watermark per chat, at the batch's highest seq */
	nchats = 0;
	for (i = 0; i < nmoved; i++)
		if (moved[i]->batch_seq > moved[i]->relayed_seq)
		{
			moved_chats[nchats] = moved[i]->chat_id;
			moved_seqs[nchats] = moved[i]->batch_seq;
			nchats++;
		}
	write_watermarks(moved_chats, moved_seqs, nchats);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	/* committed: the notifications are out and the watermarks written */
	for (i = 0; i < nmoved; i++)
	{
		moved[i]->relayed_seq = moved[i]->batch_seq;
		moved[i]->in_batch = false;
		moved[i]->touched = now;
	}
	if (sent > 0)
		relay_count_relayed(sent);
	return sent;
}

/*
 * Queue the NOTIFYs of one event in the current transaction: one per
 * participant and one per admin.  The payload names the event, never its
 * content: {"type", "chat_id", "seq", "sender_id", "ts"}.
 */
static void
notify_one(const RelayEvent *ev)
{
	char		payload[256];
	char	   *chat_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&ev->chat_id)));
	char	   *actor_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&ev->actor_id)));
	int			i;

	snprintf(payload, sizeof(payload),
			 "{\"type\":\"%s\",\"chat_id\":\"%s\",\"seq\":" INT64_FORMAT
			 ",\"sender_id\":\"%s\",\"ts\":\"%s\"}",
			 relay_event_kind_name(ev->kind), chat_id, ev->seq, actor_id,
			 timestamptz_to_str(ev->at));

	Async_Notify(profile_channel(&ev->customer_id), payload);
	Async_Notify(profile_channel(&ev->stylist_id), payload);
	for (i = 0; i < nadmins; i++)
		Async_Notify(profile_channel(&admins[i]), payload);
}

/*
 * The channel of a profile, from a cache that a new key empties and that
 * is emptied when it grows past MAX_CACHED_CHANNELS.
 */
static const char *
profile_channel(const pg_uuid_t *profile_id)
{
	ChannelEntry *entry;
	bool		found;

	if (channels != NULL && hash_get_num_entries(channels) >= MAX_CACHED_CHANNELS)
	{
		hash_destroy(channels);
		channels = NULL;
	}
	if (channels == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(ChannelEntry);
		channels = hash_create("stylist_chat relay channels", 1024, &ctl,
							   HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(channels, profile_id, HASH_FIND, &found);
	if (!found)
	{
		char		name[CHANNEL_NAME_LEN + 1];

		/* computed before the entry exists: an error leaves no half entry */
		channel_name(channel_key, channel_keylen, profile_id, name);
		entry = hash_search(channels, profile_id, HASH_ENTER, &found);
		memcpy(entry->name, name, sizeof(name));
	}
	return entry->name;
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
static bool
gap_expired(void)
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

		plan = SPI_prepare("INSERT INTO chat.relay_watermark AS w (chat_id, relayed_seq)"
						   " SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2))"
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
 * Forget chats idle for a minute and stale typing marks, so that memory
 * follows the active chats, not all chats.
 */
static void
tidy(void)
{
	HASH_SEQ_STATUS status;
	TimestampTz now = GetCurrentTimestamp();

	if (watermarks != NULL)
	{
		ChatWatermark *w;

		hash_seq_init(&status, watermarks);
		while ((w = hash_seq_search(&status)) != NULL)
			if (w->held == NULL &&
				TimestampDifferenceExceeds(w->touched, now, IDLE_CHAT_MS))
				(void) hash_search(watermarks, &w->chat_id, HASH_REMOVE, NULL);
	}
	if (typing != NULL)
	{
		TypingEntry *t;

		hash_seq_init(&status, typing);
		while ((t = hash_seq_search(&status)) != NULL)
			if (TimestampDifferenceExceeds(t->last, now, TYPING_INTERVAL_MS * 2))
				(void) hash_search(typing, &t->key, HASH_REMOVE, NULL);
	}
	last_tidy = now;
}
