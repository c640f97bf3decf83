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
 * The worker's code is split by concern (relay.h):
 *
 *	relay_worker.c	this file: life cycle, main loop, the worker's
 *					transactions
 *	relay_order.c	per-chat seq order, the durable watermarks, and the
 *					recovery that makes every committed message relayed
 *					at least once
 *	relay_notify.c	payloads, channel names and the NOTIFYs themselves
 *
 * Life cycle (the worker_spi skeleton): registered by _PG_init when the
 * library is preloaded; connects to the database named by
 * stylist_chat.database; appears in pg_stat_activity with backend_type
 * "stylist_chat relay"; restarted by the postmaster one second after a
 * crash or a pg_terminate_backend(); reloads its settings on SIGHUP; exits
 * at once on SIGTERM and at shutdown.
 *
 * A database that does not exist.  Connecting to it would end the worker
 * with a FATAL, and the postmaster would start it again a second later, and
 * so on: two lines in the log every second for as long as the database is
 * missing (before its CREATE DATABASE, or after a DROP DATABASE ... WITH
 * (FORCE), which terminates the worker).  A process connects to a database
 * only once, so the worker does not look for itself: before connecting it
 * starts a short-lived helper worker ("stylist_chat relay database check")
 * that connects to no database, looks the name up in the shared catalog
 * pg_database, leaves its answer in shared memory (relay_shmem.c) and
 * exits.  While the database is missing the worker logs that it waits,
 * once, and asks again every stylist_chat.poll_interval (but not more than
 * once a DATABASE_POLL_MS, since each look is a process); when the
 * database appears it connects at once.  Should the helper not start (no
 * free worker slot), the worker connects as it always did.  A plain DROP
 * DATABASE of the worker's database is refused while the worker is
 * connected, as for any session.
 *
 * The main loop waits on its latch, set by senders at commit, with
 * stylist_chat.poll_interval as a fallback (a latch can be lost: see
 * relay_shmem.c), and more often while a message is held back for its
 * predecessor.  Each wake-up is a cycle: about once a second, see whether
 * the extension is there and reread the channel key and the admins; then
 * recover if needed, and drain the queue a batch at a time; then tidy the
 * in-memory state.  Without the extension in its database the worker
 * waits: events stay in the queue and messages in their tables.
 *
 * An error inside a cycle is logged and kept for relay_status() (a NOTIFY
 * refused by a full notification queue, whose tail a listener that does
 * not read holds back, is one), the transaction aborted, recovery
 * scheduled, and the worker backs off (from 100 ms, doubling up to five
 * seconds) before trying again; wake-ups by senders during a back-off do
 * not bring the retry forward.
 *
 * chat._relay_database() tells SQL which database the worker serves, the
 * setting stylist_chat.database, which exists only when the library is
 * preloaded.
 *
 * Every transaction of the worker goes through relay_xact_begin and
 * relay_xact_end.  The worker runs as a superuser with search_path set to
 * pg_catalog alone, and commits with synchronous_commit off: a lost relay
 * commit only means events are relayed again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
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
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "relay.h"

PGDLLEXPORT void relay_worker_main(Datum main_arg);
PGDLLEXPORT void relay_database_check_main(Datum main_arg);

PG_FUNCTION_INFO_V1(chat_relay_database);

#define RELAY_BATCH				1024	/* events per NOTIFY transaction */
#define REFRESH_INTERVAL_MS		1000	/* key and admins are reread */
#define TIDY_INTERVAL_MS		1000	/* idle chats and typing marks go */
#define GAP_POLL_MS				50		/* how often to look while holding */
#define MAX_BACKOFF_MS			5000
#define DATABASE_POLL_MS		1000	/* a missing database: at most so often */

static TimestampTz last_tidy = 0;

/* is the extension there?  Reread every REFRESH_INTERVAL_MS */
static bool extension_present = false;
static TimestampTz refreshed_at = 0;

/* the caller's memory context, given back by relay_xact_end */
static MemoryContext xact_caller_cxt = NULL;

static RelayEvent event_buffer[RELAY_BATCH];

static void wait_for_database(void);
static RelayDatabaseState check_database(void);
static void relay_cycle(void);
static void refresh_context(void);

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

	wait_for_database();
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

	/* the first cycle, which recovers, runs at once */
	SetLatch(MyLatch);

	for (;;)
	{
		long		timeout = relay_order_holding() ? Min(GAP_POLL_MS, relay_poll_interval) :
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
			/* log it, keep it for relay_status(), undo, and try again later */
			ErrorData  *edata;

			MemoryContextSwitchTo(loop_cxt);
			edata = CopyErrorData();
			relay_record_error(edata->message);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
			relay_need_recovery = true;
			refreshed_at = 0;
			backoff_ms = backoff_ms == 0 ? 100 : Min(backoff_ms * 2, MAX_BACKOFF_MS);
			retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), backoff_ms);
			ereport(LOG,
					(errmsg("stylist_chat relay will retry in %ld ms; events wait", backoff_ms)));
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_cxt);
	}
}

/*
 * Return once stylist_chat.database exists, or once nobody can tell;
 * before connecting, so that a missing database costs one line in the log
 * rather than a FATAL a second.
 */
static void
wait_for_database(void)
{
	if (check_database() != RELAY_DB_MISSING)
		return;

	ereport(LOG,
			(errmsg("stylist_chat relay waits for database \"%s\" to be created",
					relay_database),
			 errhint("Create the database and the extension in it, or set stylist_chat.database and restart the server.")));
	do
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(relay_poll_interval, DATABASE_POLL_MS),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	} while (check_database() == RELAY_DB_MISSING);
}

/*
 * Does stylist_chat.database exist?  Asks a helper worker, and waits for
 * its answer; RELAY_DB_UNKNOWN when the helper could not start or did not
 * answer.
 */
static RelayDatabaseState
check_database(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	relay_set_database_state(RELAY_DB_UNKNOWN);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "stylist_chat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "relay_database_check_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "stylist_chat relay database check");
	snprintf(worker.bgw_type, BGW_MAXLEN, "stylist_chat relay database check");
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return RELAY_DB_UNKNOWN;
	if (WaitForBackgroundWorkerShutdown(handle) == BGWH_POSTMASTER_DIED)
		proc_exit(1);
	pfree(handle);

	return relay_get_database_state();
}

/*
 * The helper: connected to no database, it can read the shared catalogs
 * only, which is all it needs.  Without a database the relation cache
 * cannot open their indexes, so it scans pg_database itself, as
 * InitPostgres does when it looks up a database by name.  A database left
 * invalid by an interrupted DROP DATABASE cannot be connected to: it counts
 * as missing.
 */
void
relay_database_check_main(Datum main_arg)
{
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		present;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	StartTransactionCommand();
	ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum(relay_database));
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = systable_beginscan(rel, DatabaseNameIndexId, false, NULL, 1, &key);
	tuple = systable_getnext(scan);
	present = HeapTupleIsValid(tuple);
#ifdef DATCONNLIMIT_INVALID_DB
	if (present &&
		((Form_pg_database) GETSTRUCT(tuple))->datconnlimit == DATCONNLIMIT_INVALID_DB)
		present = false;
#endif
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();

	relay_set_database_state(present ? RELAY_DB_PRESENT : RELAY_DB_MISSING);
	proc_exit(0);
}

/*
 * One wake-up: recover if needed, then drain the queue batch by batch.
 */
static void
relay_cycle(void)
{
	bool		overflowed;
	int			n;
	TimestampTz now;

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
			relay_need_recovery = true;
		}
		if (relay_need_recovery)
			relay_order_recover();
		if (n > 0)
			relay_order_batch(event_buffer, n);
	} while (n == RELAY_BATCH);

	if (relay_order_holding() && relay_order_gap_expired())
	{
		relay_need_recovery = true;
		relay_order_recover();
	}

	now = GetCurrentTimestamp();
	if (TimestampDifferenceExceeds(last_tidy, now, TIDY_INTERVAL_MS))
	{
		relay_order_tidy(now);
		relay_notify_tidy(now);
		last_tidy = now;
	}
}

/*
 * Is the extension there, with which key and which admins?  Reread at most
 * once a REFRESH_INTERVAL_MS, so a new admin or a recreated extension is
 * picked up within a second.  An extension that appears is recovered from
 * its tables; one that goes takes the worker's memory of its chats along.
 */
static void
refresh_context(void)
{
	bool		was_present = extension_present;

	if (refreshed_at != 0 &&
		!TimestampDifferenceExceeds(refreshed_at, GetCurrentTimestamp(), REFRESH_INTERVAL_MS))
		return;

	relay_xact_begin("stylist_chat relay: reading settings");
	/* a worker of a Citus cluster relays nothing: placement.c */
	extension_present = OidIsValid(get_extension_oid("stylist_chat", true)) &&
		!chat_on_citus_worker();
	if (extension_present)
	{
		relay_notify_load();
	}
	relay_xact_end();
	refreshed_at = GetCurrentTimestamp();

	if (extension_present && !was_present)
		relay_need_recovery = true;
	if (!extension_present && was_present)
		relay_order_reset();
}

/*
 * Start one of the worker's transactions, ready for SPI, and say what it
 * does in pg_stat_activity.
 */
void
relay_xact_begin(const char *activity)
{
	Assert(!IsTransactionState());
	xact_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * Commit it.  Commit leaves TopMemoryContext current: go back to the
 * caller's context, so that what the caller allocates next is freed with
 * it rather than kept for the life of the worker.
 */
void
relay_xact_end(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(xact_caller_cxt);
}

/*
 * chat._relay_database() RETURNS text: the database the relay worker
 * serves (stylist_chat.database) when the library is preloaded, NULL when
 * it is not and no worker runs.  For chat.relay_status(), to say when the
 * current database is not the one relayed.
 */
Datum
chat_relay_database(PG_FUNCTION_ARGS)
{
	if (!relay_shmem_available() || relay_database == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(relay_database));
}
