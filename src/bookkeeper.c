/*-------------------------------------------------------------------------
 *
 * bookkeeper.c
 *	  The bookkeeping worker: what must be kept of every message besides
 *	  its notification (due offline notifications, the KPI rollups), in a
 *	  process of its own, so that it never holds up delivery.
 *
 * The relay worker relays a message and, once its transaction has
 * committed (the notifications out, the watermark written), hands the
 * message to this worker through a ring in shared memory
 * (bookkeeper_hand_over).  This worker takes what has gathered when
 * NOTE_FLUSH_MESSAGES have, or NOTE_FLUSH_MS after the first of them, and
 * hands it to one SQL function, chat._note_messages(), in a transaction of
 * its own: one call for hundreds of messages.  When the relay did the
 * bookkeeping itself, a call (a few milliseconds for a hundred messages)
 * held up every event that arrived meanwhile: at 1,000 messages a second
 * the delivery p99 was the call's length.
 *
 * Nothing is lost.  chat._note_messages() leaves out what is noted already
 * and moves each chat's noted seq (relay_watermark.noted_seq) in its
 * transaction; chat._note_recover() notes what was relayed and not noted,
 * read from the history.  This worker recovers so when it starts, when the
 * relay worker starts or recovers (it may have stopped between a commit and
 * the hand-over), when the ring was full and messages were dropped, and
 * after an error of its own.  A failure of the call itself is logged and
 * the messages are not noted (as when the relay did it): real-time
 * delivery never waits for the bookkeeping.
 *
 * The worker runs as a superuser in stylist_chat.database, with
 * search_path pg_catalog and synchronous_commit off (a lost commit is
 * recovered like a crash), at a lower CPU priority than the rest of the
 * server (BOOKKEEPER_NICE): with every core busy, delivery goes first.  It waits for the relay worker to have found
 * the database, so that a missing database is reported once, by the relay.
 * Without chat._note_messages() (a database still at 1.0) it does nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifndef WIN32
#include <sys/resource.h>
#endif

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "relay.h"

#define NOTE_ARGS 6
/* hand the messages to SQL when this many have gathered ... */
#define NOTE_FLUSH_MESSAGES 1000
/* ... or this long after the first of them */
#define NOTE_FLUSH_MS 100
/* how many messages the ring holds: about four seconds at full speed */
#define NOTE_RING_SIZE 16384
/* look for the functions (and the extension) at most this often */
#define LOAD_INTERVAL_MS 1000
#define MAX_BACKOFF_MS 5000
/*
 * The worker's CPU priority (nice value): below the relay's and the
 * senders'.  On a machine whose cores are all busy the bookkeeping then
 * waits for the relay and the senders rather than the other way round;
 * it has the time (a notification is due 30 s after its message).  A
 * nice value weighs, it does not starve: the worker still runs.
 */
#define BOOKKEEPER_NICE 10

typedef struct NoteRing
{
	LWLock	   *lock;
	pid_t		worker_pid;		/* 0 when no bookkeeper runs */
	Latch	   *worker_latch;
	bool		recover;		/* note what was relayed and not noted */
	uint64		head;			/* messages ever handed over */
	uint64		tail;			/* messages ever taken */
	uint64		dropped;		/* lost to a full ring (then recovered) */
	TimestampTz oldest_at;		/* when the oldest waiting one came */
	NotedMessage ring[NOTE_RING_SIZE];
} NoteRing;

static NoteRing *notes = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* the worker's own state */
static NotedMessage batch[NOTE_FLUSH_MESSAGES];
static bool functions_present = false;
static TimestampTz loaded_at = 0;
static SPIPlanPtr note_plan = NULL;

PGDLLEXPORT void bookkeeper_main(Datum main_arg);

static void bookkeeper_shmem_request(void);
static void bookkeeper_shmem_startup(void);
static void bookkeeper_detach(int code, Datum arg);
static void wait_until_due(long backoff_ms);
static long due_in(int *waiting);
static int	take(void);
static bool take_recover(void);
static void cycle(void);
static void load(void);
static void recover(void);
static void note(int n);
static ErrorData *call_guarded(SPIPlanPtr plan, const char *sql, Datum *values, const char *nulls);
static Datum uuid_array(int field, int n);

/*
 * From _PG_init, while shared_preload_libraries is being processed: the
 * ring, and the worker.
 */
void
bookkeeper_init(void)
{
	BackgroundWorker worker;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = bookkeeper_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = bookkeeper_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "stylist_chat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "bookkeeper_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "stylist_chat bookkeeper");
	snprintf(worker.bgw_type, BGW_MAXLEN, "stylist_chat bookkeeper");
	RegisterBackgroundWorker(&worker);
}

static void
bookkeeper_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(NoteRing)));
	RequestNamedLWLockTranche("stylist_chat notes", 1);
}

static void
bookkeeper_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	notes = ShmemInitStruct("stylist_chat notes", sizeof(NoteRing), &found);
	if (!found)
	{
		memset(notes, 0, offsetof(NoteRing, ring));
		notes->lock = &(GetNamedLWLockTranche("stylist_chat notes"))->lock;
		notes->recover = true;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The relay worker hands over messages it relayed, after its transaction
 * committed.  What does not fit is dropped and recovered from the history.
 * The bookkeeper is woken when the first message comes into an empty ring:
 * it then waits NOTE_FLUSH_MS for more.
 */
void
bookkeeper_hand_over(const NotedMessage *messages, int n)
{
	uint64		room;
	int			k;
	Latch	   *latch = NULL;

	if (notes == NULL || n == 0)
		return;
	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	room = NOTE_RING_SIZE - (notes->head - notes->tail);
	k = (uint64) n > room ? (int) room : n;
	if (k > 0 && notes->head == notes->tail)
	{
		notes->oldest_at = GetCurrentTimestamp();
		latch = notes->worker_latch;
	}
	for (int i = 0; i < k; i++)
		notes->ring[(notes->head + i) % NOTE_RING_SIZE] = messages[i];
	notes->head += k;
	if (k < n)
	{
		notes->dropped += n - k;
		notes->recover = true;
		latch = notes->worker_latch;
	}
	LWLockRelease(notes->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * The relay worker recovers: what it relayed before and had not handed
 * over yet is noted from the history.
 */
void
bookkeeper_request_recovery(void)
{
	Latch	   *latch;

	if (notes == NULL)
		return;
	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	notes->recover = true;
	latch = notes->worker_latch;
	LWLockRelease(notes->lock);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * For chat.relay_status(): the bookkeeper's pid (0 when none runs) and how
 * many messages wait in its ring.
 */
void
bookkeeper_status(pid_t *pid, uint64 *waiting)
{
	*pid = 0;
	*waiting = 0;
	if (notes == NULL)
		return;
	LWLockAcquire(notes->lock, LW_SHARED);
	*pid = notes->worker_pid;
	*waiting = notes->head - notes->tail;
	LWLockRelease(notes->lock);
}

/*
 * The worker's main loop.
 */
void
bookkeeper_main(Datum main_arg)
{
	MemoryContext loop_cxt;
	volatile long backoff_ms = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/*
	 * The relay worker connects first (and says when the database is
	 * missing): its being attached means the database is there
	 */
	while (!relay_worker_running())
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	BackgroundWorkerInitializeConnection(relay_database, NULL, 0);
	pgstat_report_appname("stylist_chat bookkeeper");
#ifndef WIN32
	if (setpriority(PRIO_PROCESS, 0, BOOKKEEPER_NICE) != 0)
		ereport(LOG,
				(errmsg("stylist_chat bookkeeper could not lower its CPU priority: %m")));
#endif
	SetConfigOption("search_path", "pg_catalog", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	notes->worker_pid = MyProcPid;
	notes->worker_latch = &MyProc->procLatch;
	notes->recover = true;
	LWLockRelease(notes->lock);
	before_shmem_exit(bookkeeper_detach, (Datum) 0);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "stylist_chat bookkeeper loop",
									 ALLOCSET_DEFAULT_SIZES);
	SetLatch(MyLatch);

	for (;;)
	{
		wait_until_due(backoff_ms);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(loop_cxt);
		PG_TRY();
		{
			cycle();
			backoff_ms = 0;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(loop_cxt);
			EmitErrorReport();
			FlushErrorState();
			AbortCurrentTransaction();
			pgstat_report_activity(STATE_IDLE, NULL);
			bookkeeper_request_recovery();
			loaded_at = 0;
			backoff_ms = backoff_ms == 0 ? 100 : Min(backoff_ms * 2, MAX_BACKOFF_MS);
		}
		PG_END_TRY();
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_cxt);
	}
}

static void
bookkeeper_detach(int code, Datum arg)
{
	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	notes->worker_pid = 0;
	notes->worker_latch = NULL;
	LWLockRelease(notes->lock);
}

/*
 * Sleep until what waits in the ring is due, or backoff_ms when backing
 * off, or until woken.
 */
static void
wait_until_due(long backoff_ms)
{
	int			waiting;
	long		timeout = backoff_ms > 0 ? backoff_ms : due_in(&waiting);

	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
					 (timeout >= 0 ? WL_TIMEOUT : 0),
					 Max(timeout, 0), PG_WAIT_EXTENSION);
}

/*
 * Milliseconds until what waits in the ring is due (0: now), -1 when
 * nothing waits; *waiting is how many wait.
 */
static long
due_in(int *waiting)
{
	uint64		n;
	long		waited;
	TimestampTz oldest;
	bool		recovering;

	LWLockAcquire(notes->lock, LW_SHARED);
	n = notes->head - notes->tail;
	oldest = notes->oldest_at;
	recovering = notes->recover;
	LWLockRelease(notes->lock);
	*waiting = (int) Min(n, (uint64) INT_MAX);
	if (recovering || n >= NOTE_FLUSH_MESSAGES)
		return 0;
	if (n == 0)
		return -1;
	waited = TimestampDifferenceMilliseconds(oldest, GetCurrentTimestamp());
	return waited >= NOTE_FLUSH_MS ? 0 : NOTE_FLUSH_MS - waited;
}

/* take up to NOTE_FLUSH_MESSAGES from the ring into batch */
static int
take(void)
{
	int			n = 0;

	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	while (n < NOTE_FLUSH_MESSAGES && notes->tail < notes->head)
	{
		batch[n++] = notes->ring[notes->tail % NOTE_RING_SIZE];
		notes->tail++;
	}
	if (notes->tail < notes->head)
		notes->oldest_at = GetCurrentTimestamp();
	LWLockRelease(notes->lock);
	return n;
}

/* whether a recovery was asked for, and the request taken */
static bool
take_recover(void)
{
	bool		recovering;

	LWLockAcquire(notes->lock, LW_EXCLUSIVE);
	recovering = notes->recover;
	notes->recover = false;
	LWLockRelease(notes->lock);
	return recovering;
}

/*
 * One cycle: recover when asked, then note what is due, a transaction
 * each.
 */
static void
cycle(void)
{
	int			waiting;

	if (take_recover())
	{
		relay_xact_begin("stylist_chat bookkeeper: recovering");
		load();
		recover();
		relay_xact_end();
	}

	while (due_in(&waiting) == 0 && waiting > 0)
	{
		int			n = take();

		relay_xact_begin("stylist_chat bookkeeper: noting");
		load();
		note(n);
		relay_xact_end();
	}
}

/*
 * Are the extension and chat._note_messages() there?  Asked at most once a
 * LOAD_INTERVAL_MS, in the current transaction (SPI connected).
 */
static void
load(void)
{
	int			ret;
	bool		isnull;

	if (loaded_at != 0 &&
		!TimestampDifferenceExceeds(loaded_at, GetCurrentTimestamp(), LOAD_INTERVAL_MS))
		return;
	functions_present = false;
	if (OidIsValid(get_extension_oid("stylist_chat", true)) && !chat_on_citus_worker())
	{
		ret = SPI_execute("SELECT pg_catalog.to_regprocedure('chat._note_messages(uuid[], bigint[],"
						  " uuid[], uuid[], uuid[], timestamp with time zone[])') IS NOT NULL"
						  " AND pg_catalog.to_regprocedure('chat._note_recover()') IS NOT NULL",
						  true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "stylist_chat bookkeeper: could not look for the bookkeeping functions");
		functions_present = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
													   SPI_tuptable->tupdesc, 1, &isnull));
	}
	loaded_at = GetCurrentTimestamp();
}

/*
 * Note what was relayed and not noted yet, from the history (current
 * transaction, SPI connected).  A failure is logged; the next recovery
 * tries again.
 */
static void
recover(void)
{
	ErrorData  *edata;

	if (!functions_present)
		return;
	edata = call_guarded(NULL, "SELECT chat._note_recover()", NULL, NULL);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errmsg("stylist_chat bookkeeper: the bookkeeping of the messages relayed and not noted failed"),
				 errdetail("chat._note_recover(): %s", edata->message),
				 errhint("It is tried again at the next recovery; chat.rebuild_kpis() recomputes the KPI figures.")));
		FreeErrorData(edata);
	}
}

/*
 * Hand the first n messages of batch to chat._note_messages() (current
 * transaction, SPI connected), in a subtransaction of their own.
 */
static void
note(int n)
{
	Datum		values[NOTE_ARGS];
	char		nulls[NOTE_ARGS];
	Datum	   *seqs;
	Datum	   *ats;
	ErrorData  *edata;

	if (!functions_present || n == 0)
		return;

	if (note_plan == NULL)
	{
		Oid			argtypes[NOTE_ARGS] = {UUIDARRAYOID, INT8ARRAYOID, UUIDARRAYOID,
		UUIDARRAYOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT chat._note_messages($1, $2, $3, $4, $5, $6)",
						   NOTE_ARGS, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "stylist_chat bookkeeper: could not prepare the bookkeeping call");
		note_plan = plan;
	}

	seqs = palloc(n * sizeof(Datum));
	ats = palloc(n * sizeof(Datum));
	for (int i = 0; i < n; i++)
	{
		seqs[i] = Int64GetDatum(batch[i].seq);
		ats[i] = TimestampTzGetDatum(batch[i].at);
	}
	values[0] = uuid_array(0, n);
	values[1] = PointerGetDatum(construct_array(seqs, n, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = uuid_array(2, n);
	values[3] = uuid_array(3, n);
	values[4] = uuid_array(4, n);
	values[5] = PointerGetDatum(construct_array(ats, n, TIMESTAMPTZOID, sizeof(TimestampTz),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	memset(nulls, ' ', sizeof(nulls));

	edata = call_guarded(note_plan, NULL, values, nulls);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errmsg_plural("stylist_chat bookkeeper: the bookkeeping of %d message failed; it was relayed without it",
							   "stylist_chat bookkeeper: the bookkeeping of %d messages failed; they were relayed without it",
							   n, n),
				 errdetail("chat._note_messages(): %s", edata->message),
				 errhint("Their offline notifications are not issued; chat.rebuild_kpis() recomputes the KPI figures.")));
		FreeErrorData(edata);
	}
}

/*
 * Run a prepared plan with its values, or a query, in a subtransaction of
 * the current transaction (SPI connected): NULL when it ran, else its
 * error, which the caller reports and frees.
 */
static ErrorData *
call_guarded(SPIPlanPtr plan, const char *sql, Datum *values, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			ret = plan != NULL ? SPI_execute_plan(plan, values, nulls, false, 0) :
			SPI_execute(sql, false, 0);

		if (ret != SPI_OK_SELECT)
			elog(ERROR, "stylist_chat bookkeeper: the bookkeeping call failed");
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}

/*
 * One of the uuid columns of the first n messages of batch as an array: 0
 * the chat, 2 the sender (NULL for a booking card, which has none), 3 the
 * customer, 4 the stylist.
 */
static Datum
uuid_array(int field, int n)
{
	static const pg_uuid_t nil;
	Datum	   *elems = palloc(n * sizeof(Datum));
	bool	   *isnull = palloc(n * sizeof(bool));
	int			dims[1];
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		const pg_uuid_t *u;

		switch (field)
		{
			case 0:
				u = &batch[i].chat_id;
				break;
			case 2:
				u = &batch[i].sender_id;
				break;
			case 3:
				u = &batch[i].customer_id;
				break;
			default:
				u = &batch[i].stylist_id;
				break;
		}
		isnull[i] = field == 2 && memcmp(u, &nil, sizeof(nil)) == 0;
		elems[i] = UUIDPGetDatum(u);
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, isnull, 1, dims, lbs, UUIDOID,
											  UUID_LEN, false, TYPALIGN_CHAR));
}
