/*-------------------------------------------------------------------------
 *
 * relay_shmem.c
 *	  The shared state between sending backends and the relay worker.
 *
 * One struct in shared memory, requested through PG15's
 * shmem_request_hook and attached in shmem_startup_hook, exists only when
 * the library is in shared_preload_libraries.  It holds:
 *
 *	- the event queue: a ring of stylist_chat.queue_size RelayEvents.  A
 *	  sending backend appends its transaction's events from its commit
 *	  callback, after the commit is durable and visible.  The events of one
 *	  chat mostly enter the ring in seq order, but not always (the next
 *	  sender can see the commit before the callback runs): the worker
 *	  restores the order.  The worker takes events out in batches.  The ring is not
 *	  durable and a commit callback must not fail, so a full ring drops
 *	  the event and raises the overflow flag; the worker then recovers
 *	  from the tables (relay_order.c), as it does after a crash;
 *	- the worker's process id and latch, published by the worker when it
 *	  starts and withdrawn by a before_shmem_exit callback when it exits.
 *	  A backend wakes the worker by setting that latch.  A process's latch
 *	  outlives nothing: after the worker exits its PGPROC can be reused, so
 *	  a wake-up may land on another process (a harmless spurious wake-up)
 *	  and the worker also polls at stylist_chat.poll_interval;
 *	- the worker's figures for chat.relay_status(): events relayed, when it
 *	  last relayed, when it started;
 *	- whether stylist_chat.database exists, as the worker's helper found it
 *	  (relay_worker.c): the helper runs in a process of its own, and this
 *	  is how its answer comes back.
 *
 * The spinlock guards the pid, the latch, the timestamps and the answer; the counter is
 * atomic so that the worker never takes a lock to count; the queue has an
 * LWLock of its own, held only to copy events in or out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "stylist_chat.h"

typedef struct RelayShared
{
	slock_t		mutex;
	pid_t		worker_pid;		/* 0 when no worker runs */
	Latch	   *worker_latch;	/* NULL when no worker runs */
	TimestampTz started_at;
	TimestampTz last_relay_at;
	RelayDatabaseState database_state;
	uint64		failed_cycles;	/* cycles that ended in an error */
	TimestampTz last_error_at;
	char		last_error[256];
	pg_atomic_uint64 events_relayed;

	/* the queue, under queue_lock */
	LWLock	   *queue_lock;
	uint64		queue_head;		/* events ever pushed */
	uint64		queue_tail;		/* events ever popped */
	uint64		queue_dropped;	/* events lost to a full queue */
	bool		queue_overflowed;	/* dropped since the worker last looked */
	int			queue_capacity;
	RelayEvent	queue[FLEXIBLE_ARRAY_MEMBER];
} RelayShared;

int			relay_queue_size = 65536;

static RelayShared *relay_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size relay_shmem_size(void);
static void relay_shmem_request(void);
static void relay_shmem_startup(void);
static void relay_worker_detach(int code, Datum arg);

PG_FUNCTION_INFO_V1(chat_relay_shared_status);

/*
 * Called from _PG_init while shared_preload_libraries is being processed.
 */
void
relay_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = relay_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = relay_shmem_startup;
}

static Size
relay_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(RelayShared, queue),
							 mul_size(relay_queue_size, sizeof(RelayEvent))));
}

static void
relay_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(relay_shmem_size());
	RequestNamedLWLockTranche("stylist_chat", 1);
}

static void
relay_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	relay_shared = ShmemInitStruct("stylist_chat relay", relay_shmem_size(), &found);
	if (!found)
	{
		relay_shared->queue_lock = &(GetNamedLWLockTranche("stylist_chat"))->lock;
		relay_shared->queue_head = 0;
		relay_shared->queue_tail = 0;
		relay_shared->queue_dropped = 0;
		relay_shared->queue_overflowed = false;
		relay_shared->queue_capacity = relay_queue_size;
		SpinLockInit(&relay_shared->mutex);
		relay_shared->worker_pid = 0;
		relay_shared->worker_latch = NULL;
		relay_shared->started_at = 0;
		relay_shared->last_relay_at = 0;
		relay_shared->failed_cycles = 0;
		relay_shared->last_error_at = 0;
		relay_shared->last_error[0] = '\0';
		relay_shared->database_state = RELAY_DB_UNKNOWN;
		pg_atomic_init_u64(&relay_shared->events_relayed, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Is there shared memory, that is, was the library preloaded?
 */
bool
relay_shmem_available(void)
{
	return relay_shared != NULL;
}

/*
 * Append events to the queue.  Called from commit callbacks: it cannot
 * fail; an event that does not fit is dropped and the overflow flag tells
 * the worker to recover from the tables.
 */
void
relay_queue_push(const RelayEvent *events, int n)
{
	int			i;

	if (relay_shared == NULL || n == 0)
		return;

	LWLockAcquire(relay_shared->queue_lock, LW_EXCLUSIVE);
	for (i = 0; i < n; i++)
	{
		if (relay_shared->queue_head - relay_shared->queue_tail >=
			(uint64) relay_shared->queue_capacity)
		{
			relay_shared->queue_dropped += n - i;
			relay_shared->queue_overflowed = true;
			break;
		}
		relay_shared->queue[relay_shared->queue_head % relay_shared->queue_capacity] = events[i];
		relay_shared->queue_head++;
	}
	LWLockRelease(relay_shared->queue_lock);
}

/*
 * Take up to max events out of the queue, oldest first.  *overflowed says
 * whether events were dropped since the last call.
 */
int
relay_queue_pop(RelayEvent *events, int max, bool *overflowed)
{
	int			n = 0;

	LWLockAcquire(relay_shared->queue_lock, LW_EXCLUSIVE);
	while (n < max && relay_shared->queue_tail < relay_shared->queue_head)
	{
		events[n++] = relay_shared->queue[relay_shared->queue_tail % relay_shared->queue_capacity];
		relay_shared->queue_tail++;
	}
	*overflowed = relay_shared->queue_overflowed;
	relay_shared->queue_overflowed = false;
	LWLockRelease(relay_shared->queue_lock);
	return n;
}

/*
 * The worker announces itself; undone when it exits, however it exits.
 */
void
relay_worker_attach(void)
{
	if (relay_shared == NULL)
		elog(ERROR, "stylist_chat shared memory is not initialized");

	SpinLockAcquire(&relay_shared->mutex);
	relay_shared->worker_pid = MyProcPid;
	relay_shared->worker_latch = &MyProc->procLatch;
	relay_shared->started_at = GetCurrentTimestamp();
	SpinLockRelease(&relay_shared->mutex);

	before_shmem_exit(relay_worker_detach, (Datum) 0);
}

/*
 * Is a relay worker attached?
 */
bool
relay_worker_running(void)
{
	pid_t		pid;

	if (relay_shared == NULL)
		return false;
	SpinLockAcquire(&relay_shared->mutex);
	pid = relay_shared->worker_pid;
	SpinLockRelease(&relay_shared->mutex);
	return pid != 0;
}

static void
relay_worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&relay_shared->mutex);
	relay_shared->worker_pid = 0;
	relay_shared->worker_latch = NULL;
	SpinLockRelease(&relay_shared->mutex);
}

/*
 * Wake the worker, if there is one.  Safe to call from a commit callback:
 * it takes a spinlock and sets a latch, and cannot fail.
 */
void
relay_wake_worker(void)
{
	Latch	   *latch;

	if (relay_shared == NULL)
		return;
	SpinLockAcquire(&relay_shared->mutex);
	latch = relay_shared->worker_latch;
	SpinLockRelease(&relay_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

/*
 * What the worker's helper found of stylist_chat.database.
 */
void
relay_set_database_state(RelayDatabaseState state)
{
	SpinLockAcquire(&relay_shared->mutex);
	relay_shared->database_state = state;
	SpinLockRelease(&relay_shared->mutex);
}

RelayDatabaseState
relay_get_database_state(void)
{
	RelayDatabaseState state;

	SpinLockAcquire(&relay_shared->mutex);
	state = relay_shared->database_state;
	SpinLockRelease(&relay_shared->mutex);
	return state;
}

/*
 * The worker has relayed n events.
 */
void
relay_count_relayed(uint64 n)
{
	pg_atomic_fetch_add_u64(&relay_shared->events_relayed, n);
	SpinLockAcquire(&relay_shared->mutex);
	relay_shared->last_relay_at = GetCurrentTimestamp();
	SpinLockRelease(&relay_shared->mutex);
}

/*
 * A cycle of the worker ended in an error (a NOTIFY refused because the
 * server's notification queue is full, say): what relay_status() shows.
 */
void
relay_record_error(const char *message)
{
	SpinLockAcquire(&relay_shared->mutex);
	relay_shared->failed_cycles++;
	relay_shared->last_error_at = GetCurrentTimestamp();
	strlcpy(relay_shared->last_error, message != NULL ? message : "", sizeof(relay_shared->last_error));
	SpinLockRelease(&relay_shared->mutex);
}

/*
 * chat._relay_shared_status(OUT preloaded boolean, OUT running boolean,
 *		OUT pid integer, OUT started_at timestamptz, OUT events_relayed bigint,
 *		OUT last_relay_at timestamptz, OUT queued bigint, OUT dropped bigint,
 *		OUT failed_cycles bigint, OUT last_error text, OUT last_error_at timestamptz,
 *		OUT bookkeeper_pid integer, OUT notes_waiting bigint)
 *
 * Version 1.0 declared the first eight columns only: the tuple is formed
 * with the caller's descriptor, which takes as many as it has.
 */
Datum
chat_relay_shared_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[13];
	bool		nulls[13] = {0};
	uint64		queued = 0;
	uint64		dropped = 0;
	pid_t		pid = 0;
	TimestampTz started_at = 0;
	TimestampTz last_relay_at = 0;
	uint64		relayed = 0;
	uint64		failed = 0;
	TimestampTz error_at = 0;
	char		error[256] = "";
	pid_t		bookkeeper_pid;
	uint64		notes_waiting;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (relay_shared != NULL)
	{
		SpinLockAcquire(&relay_shared->mutex);
		pid = relay_shared->worker_pid;
		started_at = relay_shared->started_at;
		last_relay_at = relay_shared->last_relay_at;
		failed = relay_shared->failed_cycles;
		error_at = relay_shared->last_error_at;
		memcpy(error, relay_shared->last_error, sizeof(error));
		SpinLockRelease(&relay_shared->mutex);
		relayed = pg_atomic_read_u64(&relay_shared->events_relayed);
		LWLockAcquire(relay_shared->queue_lock, LW_SHARED);
		queued = relay_shared->queue_head - relay_shared->queue_tail;
		dropped = relay_shared->queue_dropped;
		LWLockRelease(relay_shared->queue_lock);
	}

	values[0] = BoolGetDatum(relay_shared != NULL);
	values[1] = BoolGetDatum(pid != 0);
	values[2] = Int32GetDatum((int32) pid);
	nulls[2] = (pid == 0);
	values[3] = TimestampTzGetDatum(started_at);
	nulls[3] = (pid == 0);
	values[4] = Int64GetDatum((int64) relayed);
	values[5] = TimestampTzGetDatum(last_relay_at);
	nulls[5] = (last_relay_at == 0);
	values[6] = Int64GetDatum((int64) queued);
	values[7] = Int64GetDatum((int64) dropped);
	values[8] = Int64GetDatum((int64) failed);
	values[9] = CStringGetTextDatum(error);
	nulls[9] = (error_at == 0);
	values[10] = TimestampTzGetDatum(error_at);
	nulls[10] = (error_at == 0);
	bookkeeper_status(&bookkeeper_pid, &notes_waiting);
	values[11] = Int32GetDatum((int32) bookkeeper_pid);
	nulls[11] = (bookkeeper_pid == 0);
	values[12] = Int64GetDatum((int64) notes_waiting);
	if (tupdesc->natts > 13)
		elog(ERROR, "chat._relay_shared_status() declares more columns than the library has");

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
