/*-------------------------------------------------------------------------
 *
 * relay_worker.c
 *	  The relay background worker: turns committed chat events into NOTIFY.
 *
 * Why a worker: a transaction that issues NOTIFY takes one cluster-wide
 * lock at commit and holds it through the commit, which caps senders near
 * 5k messages/s on a 2-core machine whatever the concurrency.  So senders
 * never NOTIFY; they commit rows and wake this worker, which notifies many
 * events per transaction of its own.
 *
 * Life cycle (the worker_spi skeleton): registered by _PG_init when the
 * library is preloaded; connects to the database named by
 * stylist_chat.database; appears in pg_stat_activity with backend_type
 * "stylist_chat relay"; restarted by the postmaster one second after a
 * crash or a pg_terminate_backend(); reloads its settings on SIGHUP; exits
 * at once on SIGTERM and at shutdown (die() and WL_EXIT_ON_PM_DEATH).
 *
 * Each loop waits on the process latch, which sending backends set from a
 * commit callback (relay_shmem.c), or for stylist_chat.poll_interval
 * milliseconds as the fallback, then relays what has committed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"

#include "stylist_chat.h"

PGDLLEXPORT void relay_worker_main(Datum main_arg);

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
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(relay_database, NULL, 0);
	pgstat_report_appname("stylist_chat relay");

	relay_worker_attach();
	ereport(LOG,
			(errmsg("stylist_chat relay started in database \"%s\"", relay_database)));

	for (;;)
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 relay_poll_interval,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* relaying committed events comes here */
	}
}
