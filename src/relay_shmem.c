/*-------------------------------------------------------------------------
 *
 * relay_shmem.c
 *	  The shared state between sending backends and the relay worker.
 *
 * One small struct in shared memory, requested through PG15's
 * shmem_request_hook and attached in shmem_startup_hook, exists only when
 * the library is in shared_preload_libraries.  It holds:
 *
 *	- the worker's process id and latch, published by the worker when it
 *	  starts and withdrawn by a before_shmem_exit callback when it exits.
 *	  A backend wakes the worker by setting that latch.  A process's latch
 *	  outlives nothing: after the worker exits its PGPROC can be reused, so
 *	  a wake-up may land on another process (a harmless spurious wake-up)
 *	  and the worker also polls at stylist_chat.poll_interval;
 *	- the worker's figures for chat.relay_status(): events relayed, when it
 *	  last relayed, when it started.
 *
 * The spinlock guards the pid, the latch and the timestamps; the counter is
 * atomic so that the worker never takes a lock to count.
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
	pg_atomic_uint64 events_relayed;
} RelayShared;

static RelayShared *relay_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void relay_shmem_request(void);
static void relay_shmem_startup(void);
static void relay_worker_detach(int code, Datum arg);

PG_FUNCTION_INFO_V1(chat_relay_status);

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

static void
relay_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(RelayShared)));
}

static void
relay_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	relay_shared = ShmemInitStruct("stylist_chat relay", sizeof(RelayShared), &found);
	if (!found)
	{
		SpinLockInit(&relay_shared->mutex);
		relay_shared->worker_pid = 0;
		relay_shared->worker_latch = NULL;
		relay_shared->started_at = 0;
		relay_shared->last_relay_at = 0;
		pg_atomic_init_u64(&relay_shared->events_relayed, 0);
	}
	LWLockRelease(AddinShmemInitLock);
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
 * chat.relay_status(OUT running boolean, OUT pid integer,
 *					  OUT started_at timestamptz, OUT events_relayed bigint,
 *					  OUT last_relay_at timestamptz, OUT preloaded boolean)
 */
Datum
chat_relay_status(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};
	pid_t		pid = 0;
	TimestampTz started_at = 0;
	TimestampTz last_relay_at = 0;
	uint64		relayed = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	if (relay_shared != NULL)
	{
		SpinLockAcquire(&relay_shared->mutex);
		pid = relay_shared->worker_pid;
		started_at = relay_shared->started_at;
		last_relay_at = relay_shared->last_relay_at;
		SpinLockRelease(&relay_shared->mutex);
		relayed = pg_atomic_read_u64(&relay_shared->events_relayed);
	}

	values[0] = BoolGetDatum(pid != 0);
	values[1] = Int32GetDatum((int32) pid);
	nulls[1] = (pid == 0);
	values[2] = TimestampTzGetDatum(started_at);
	nulls[2] = (pid == 0);
	values[3] = Int64GetDatum((int64) relayed);
	values[4] = TimestampTzGetDatum(last_relay_at);
	nulls[4] = (last_relay_at == 0);
	values[5] = BoolGetDatum(relay_shared != NULL);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
