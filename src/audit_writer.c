/*-------------------------------------------------------------------------
 *
 * audit_writer.c
 *	  Audit records of admin reads, committed in a transaction of their own.
 *
 * An admin who reads a chat's messages leaves a row in chat.audit_entries;
 * one who exports a person's data (chat.export_profile(), action
 * 'export_profile', the profile's id in place of the chat's) a row in
 * chat.privacy_requests.  Written by the reading function itself, that row
 * belongs to the reader's
 * transaction: an admin who reads and then rolls back (or reads inside a
 * savepoint that is rolled back, or through a cursor whose transaction
 * aborts) takes the content and removes the record.  So the record is
 * written by somebody else, in a transaction that commits, durably, before
 * the reader sees any content; nothing the reader does afterwards can
 * remove it.
 *
 * chat._audit_durably(chat_id, actor_id, action, seq, reason) does that, the
 * way pg_background and worker_spi's dynamic launch do:
 *
 *	1. the backend puts the record into a dynamic shared memory segment,
 *	   with the database and the role to write it as (the owner of the
 *	   extension, from pg_extension);
 *	2. it registers a one-shot dynamic background worker (never restarted,
 *	   notifying this backend) whose argument is the segment's handle, and
 *	   waits for it to start and then to stop;
 *	3. the worker attaches to the segment, connects to the reader's database
 *	   as the extension owner, sets search_path to pg_catalog, keeps
 *	   synchronous_commit on, caps lock waits and the whole statement at a
 *	   few seconds (a lock held on the table, even by a superuser, fails the
 *	   call instead of making the reader wait for ever), inserts the row
 *	   with SPI and parameters, commits, and writes into the segment that it
 *	   did, or the error that stopped it;
 *	4. the backend reads the outcome.  Anything but a committed record (no
 *	   free worker slot, a worker that failed or died) is an ERROR, 55000,
 *	   with the cause in the detail: the calling function then returns
 *	   nothing.
 *
 * Errors the worker meets while connecting (a FATAL: the extension owner
 * may not log in, the database is going away, the worker is terminated)
 * are caught by an emit_log_hook and written into the segment too.
 *
 * It needs no shared_preload_libraries: a dynamic worker needs only the
 * library to be loadable, and works in whatever database the reader is in.
 * Admin reads are recorded on the primary only; a standby refuses them.
 *
 * Cost: one worker start per call (a fork by the postmaster and a backend's
 * initialisation), one insert, and one commit that waits for its WAL flush;
 * and one of max_worker_processes' slots while it runs.  Measured on this
 * project's 2-core machines: a median of 5 to 7 ms a call, against 0.3 ms
 * for the insert and commit alone.
 *
 * A reader cancelled while it waits stops waiting, but the worker goes on:
 * the record may still commit although nothing was read.  That is the safe
 * side of the trade.  With synchronous replication, the statement timeout
 * also ends the worker's wait for the standby; the record is then committed
 * and flushed here, not yet confirmed there.
 *
 * Only the extension's own SECURITY DEFINER functions call this (it is
 * granted to nobody), and it refuses anybody but a superuser as well.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

#define AUDIT_LOCK_TIMEOUT		"2s"	/* a lock on the table */
#define AUDIT_STATEMENT_TIMEOUT	"5s"	/* the whole insert and commit */
#define AUDIT_ERRMSG_LEN		1024

/* what the worker reports */
typedef enum AuditOutcome
{
	AUDIT_PENDING = 0,			/* not yet (or the worker never got there) */
	AUDIT_RECORDED,				/* committed */
	AUDIT_FAILED				/* see errmsg */
} AuditOutcome;

/* the dynamic shared memory segment: one record and its outcome */
typedef struct AuditRequest
{
	/* written by the backend */
	Oid			dbid;
	Oid			owner;			/* the extension owner: the worker's role */
	pg_uuid_t	chat_id;
	pg_uuid_t	actor_id;
	int64		seq;
	bool		seq_isnull;
	bool		reason_isnull;
	int32		action_len;
	int32		reason_len;

	/* written by the worker */
	int32		outcome;		/* an AuditOutcome, set last */
	int32		sqlstate;
	char		errmsg[AUDIT_ERRMSG_LEN];

	char		data[FLEXIBLE_ARRAY_MEMBER];	/* action, then reason */
} AuditRequest;

/* the worker's segment, for the log hook */
static AuditRequest *worker_request = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

static Oid	extension_owner(void);
static void report_failure(AuditRequest *req, int sqlstate, const char *msg);
static void worker_log_hook(ErrorData *edata);
static void insert_record(AuditRequest *req);

PG_FUNCTION_INFO_V1(chat_audit_durably);

/*
 * chat._audit_durably(chat_id uuid, actor_id uuid, action text, seq bigint,
 *					   reason text) RETURNS void
 *
 * Returns once the record is committed; raises 55000 otherwise.
 */
Datum
chat_audit_durably(PG_FUNCTION_ARGS)
{
	text	   *action;
	text	   *reason = NULL;
	Size		action_len;
	Size		reason_len = 0;
	Size		size;
	dsm_segment *seg;
	AuditRequest *req;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	pid_t		pid;
	int32		outcome;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function chat._audit_durably"),
				 errdetail("Only the extension's own functions write the audit log.")));

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("chat_id, actor_id and action of an audit record must not be null")));

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("admin reads cannot be recorded on a standby"),
				 errdetail("Admin reads are recorded in the audit log on the primary, and a standby cannot write it."),
				 errhint("Read the chat on the primary.")));

	action = PG_GETARG_TEXT_PP(2);
	action_len = VARSIZE_ANY_EXHDR(action);
	if (!PG_ARGISNULL(4))
	{
		reason = PG_GETARG_TEXT_PP(4);
		reason_len = VARSIZE_ANY_EXHDR(reason);
	}

	/* the record */
	size = add_size(add_size(offsetof(AuditRequest, data), action_len), reason_len);
	seg = dsm_create(size, 0);
	req = dsm_segment_address(seg);
	memset(req, 0, offsetof(AuditRequest, data));
	req->dbid = MyDatabaseId;
	req->owner = extension_owner();
	req->chat_id = *PG_GETARG_UUID_P(0);
	req->actor_id = *PG_GETARG_UUID_P(1);
	req->seq_isnull = PG_ARGISNULL(3);
	req->seq = req->seq_isnull ? 0 : PG_GETARG_INT64(3);
	req->reason_isnull = (reason == NULL);
	req->action_len = (int32) action_len;
	req->reason_len = (int32) reason_len;
	memcpy(req->data, VARDATA_ANY(action), action_len);
	if (reason != NULL)
		memcpy(req->data + action_len, VARDATA_ANY(reason), reason_len);
	req->outcome = AUDIT_PENDING;

	/* the writer */
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "stylist_chat");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "audit_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "stylist_chat audit writer for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "stylist_chat audit writer");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not record the admin read in the audit log"),
				 errdetail("No background worker slot was free to write the record (max_worker_processes is %d).",
						   max_worker_processes),
				 errhint("Try again when background workers have finished, or raise max_worker_processes (this needs a restart).")));

	/* the worker may be gone again by the time we look: the outcome tells */
	status = WaitForBackgroundWorkerStartup(handle, &pid);
	if (status == BGWH_STARTED)
		status = WaitForBackgroundWorkerShutdown(handle);
	if (status == BGWH_POSTMASTER_DIED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not record the admin read in the audit log"),
				 errdetail("The postmaster died while the record was being written.")));

	pg_read_barrier();
	outcome = req->outcome;
	if (outcome == AUDIT_FAILED)
	{
		char	   *msg = pstrdup(req->errmsg);
		int32		sqlstate = req->sqlstate;

		dsm_detach(seg);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not record the admin read in the audit log"),
				 errdetail("The audit writer failed: %s", msg),
				 (sqlstate == ERRCODE_LOCK_NOT_AVAILABLE || sqlstate == ERRCODE_QUERY_CANCELED) ?
				 errhint("chat.audit_entries is locked, or writing to it is slow; try again later.") :
				 errhint("The server log has the audit writer's report; try again once its cause is fixed.")));
	}
	if (outcome != AUDIT_RECORDED)
	{
		dsm_detach(seg);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not record the admin read in the audit log"),
				 errdetail("The audit writer stopped before it committed the record."),
				 errhint("The server log tells why; try again once the cause is fixed.")));
	}

	dsm_detach(seg);
	PG_RETURN_VOID();
}

/*
 * The owner of extension stylist_chat in this database.
 */
static Oid
extension_owner(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner = InvalidOid;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key,
				Anum_pg_extension_extname,
				BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("stylist_chat"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"stylist_chat\" is not installed in this database")));
	return owner;
}

/*
 * Write a failure into the segment, if nothing was written yet; the message
 * is cut at a character boundary.
 */
static void
report_failure(AuditRequest *req, int sqlstate, const char *msg)
{
	int			len;

	if (req == NULL || req->outcome != AUDIT_PENDING)
		return;
	if (msg == NULL)
		msg = "unknown error";
	len = pg_mbcliplen(msg, strlen(msg), AUDIT_ERRMSG_LEN - 1);
	memcpy(req->errmsg, msg, len);
	req->errmsg[len] = '\0';
	req->sqlstate = sqlstate;
	pg_write_barrier();
	req->outcome = AUDIT_FAILED;
}

/*
 * An error the worker cannot catch (FATAL, while connecting or when it is
 * terminated) still reaches the backend.
 */
static void
worker_log_hook(ErrorData *edata)
{
	if (edata->elevel >= FATAL)
		report_failure(worker_request, edata->sqlerrcode, edata->message);
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * The worker: write one record, report, exit.
 */
void
audit_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	AuditRequest *req;
	MemoryContext cxt = CurrentMemoryContext;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* mapped until exit: no resource owner */
	seg = dsm_attach(DatumGetUInt32(main_arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stylist_chat audit writer could not map its request"),
				 errdetail("The reader stopped waiting before the writer started; nothing was recorded.")));
	req = dsm_segment_address(seg);

	worker_request = req;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_log_hook;

	BackgroundWorkerInitializeConnectionByOid(req->dbid, req->owner, BGWORKER_BYPASS_ALLOWCONN);
	pgstat_report_appname("stylist_chat audit writer");

	/*
	 * The worker runs as the extension owner, a superuser: resolve nothing
	 * through a search_path anybody else could write to.  The record is
	 * the proof that a read happened: its commit waits for the WAL flush
	 * whatever the database or role defaults say.  A lock held on the
	 * table fails the call after a few seconds; so does anything else slow.
	 */
	SetConfigOption("search_path", "pg_catalog", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "on", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", AUDIT_LOCK_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", AUDIT_STATEMENT_TIMEOUT, PGC_SUSET, PGC_S_OVERRIDE);

	PG_TRY();
	{
		insert_record(req);
		pg_write_barrier();
		req->outcome = AUDIT_RECORDED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		report_failure(req, edata->sqlerrcode, edata->message);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		disable_all_timeouts(false);
	}
	PG_END_TRY();

	emit_log_hook = prev_emit_log_hook;
	worker_request = NULL;
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * The insert and its commit, under the statement timeout.  Outside a
 * regular backend nobody arms that timer: arm it here.
 */
static void
insert_record(AuditRequest *req)
{
	Oid			argtypes[5] = {UUIDOID, UUIDOID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			ret;

	SetCurrentStatementStartTimestamp();
	enable_timeout_after(STATEMENT_TIMEOUT, StatementTimeout);
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "stylist_chat audit writer: recording an admin read");

	values[0] = UUIDPGetDatum(&req->chat_id);
	values[1] = UUIDPGetDatum(&req->actor_id);
	values[2] = PointerGetDatum(cstring_to_text_with_len(req->data, req->action_len));
	values[3] = Int64GetDatum(req->seq);
	if (req->seq_isnull)
		nulls[3] = 'n';
	if (req->reason_isnull)
	{
		values[4] = (Datum) 0;
		nulls[4] = 'n';
	}
	else
		values[4] = PointerGetDatum(cstring_to_text_with_len(req->data + req->action_len,
															 req->reason_len));

	if (req->action_len == 14 && memcmp(req->data, "export_profile", 14) == 0)
		ret = SPI_execute_with_args("INSERT INTO chat.privacy_requests (profile_id, actor_id, action, reason)"
									" VALUES ($1, $2, 'export', $5)",
									5, argtypes, values, nulls, false, 0);
	else
		ret = SPI_execute_with_args("INSERT INTO chat.audit_entries (chat_id, actor_id, action, seq, reason)"
									" VALUES ($1, $2, $3, $4, $5)",
									5, argtypes, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT || SPI_processed != 1)
		elog(ERROR, "stylist_chat audit writer: the insert returned %d", ret);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	disable_timeout(STATEMENT_TIMEOUT, false);
}
