/*-------------------------------------------------------------------------
 *
 * relay_note.c
 *	  The relay worker's bookkeeping hook: what must be kept of every
 *	  message besides its notification (due offline notifications, the
 *	  KPI rollups) is kept by the worker, off the send path.
 *
 * A sender commits its message and nothing else; the worker, which sees
 * every message once in seq order per chat, keeps the messages it relays
 * and hands them to one SQL function, chat._note_messages(), a batch at a
 * time: when NOTE_FLUSH_MESSAGES have gathered, or NOTE_FLUSH_MS after the
 * first of them, whichever comes first (at the end of a relay batch, in
 * its transaction, or on its own when the worker is idle).  One call for
 * hundreds of messages rather than one for each relay batch, which at low
 * load holds one message: the call costs about as much for one message as
 * for a hundred.
 *
 * Nothing is noted twice or lost.  The function moves each chat's noted
 * seq (chat.relay_watermark.noted_seq) in its transaction; when the
 * worker starts, and whenever it recovers, it first notes what is between
 * the noted and the relayed seq, read from the history
 * (chat._note_recover()), and forgets what it kept (relay_note_reset), so
 * a worker killed at any point, or a failed transaction, neither skips a
 * message's bookkeeping nor does it twice.  (A crash of the whole server
 * may bring a watermark back a little, and the messages above it are
 * noted again: the KPIs ignore what they already have.)
 *
 * The call runs in a subtransaction.  Real-time delivery matters more than
 * the bookkeeping: should the function fail (a table a DBA broke, a bug),
 * the worker logs what was missed and goes on relaying, rather than
 * stalling every listener while it retries.
 *
 * The hook is skipped when the functions do not exist (a database still
 * at version 1.0, between the new library's start and ALTER EXTENSION
 * UPDATE).  With stylist_chat.notifications and stylist_chat.kpis both off
 * the function still moves the noted seq.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "relay.h"

#define NOTE_ARGS 6
/* hand the kept messages over when this many have gathered ... */
#define NOTE_FLUSH_MESSAGES 1000
/* ... or this long after the first of them */
#define NOTE_FLUSH_MS 100

/* the messages of the current batch */
typedef struct NotedMessage
{
	pg_uuid_t	chat_id;
	int64		seq;
	pg_uuid_t	sender_id;		/* all zero for a booking card */
	pg_uuid_t	customer_id;
	pg_uuid_t	stylist_id;
	TimestampTz at;
} NotedMessage;

static NotedMessage *noted = NULL;
static int	nnoted = 0;
static int	noted_size = 0;
static TimestampTz first_noted_at = 0;

static bool hook_present = false;
static SPIPlanPtr note_plan = NULL;

static Datum uuid_array(int field, int n);
static ErrorData *call_guarded(SPIPlanPtr plan, const char *sql, Datum *values, const char *nulls);

/*
 * Do chat._note_messages() and chat._note_recover() exist?  In the current
 * transaction (SPI connected, the extension present); the worker asks once
 * a second.
 */
void
relay_note_load(void)
{
	int			ret;
	bool		isnull;

	ret = SPI_execute("SELECT pg_catalog.to_regprocedure('chat._note_messages(uuid[], bigint[],"
					  " uuid[], uuid[], uuid[], timestamp with time zone[])') IS NOT NULL"
					  " AND pg_catalog.to_regprocedure('chat._note_recover()') IS NOT NULL",
					  true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "stylist_chat relay: could not look for the bookkeeping function");
	hook_present = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Keep a message relayed for the first time, until it is noted.
 */
void
relay_note_message(const RelayEvent *ev)
{
	NotedMessage *m;

	if (nnoted == 0)
		first_noted_at = GetCurrentTimestamp();
	if (nnoted == noted_size)
	{
		noted_size = noted_size == 0 ? 1024 : noted_size * 2;
		noted = noted == NULL ?
			MemoryContextAlloc(TopMemoryContext, noted_size * sizeof(NotedMessage)) :
			repalloc(noted, noted_size * sizeof(NotedMessage));
	}
	m = &noted[nnoted++];
	m->chat_id = ev->chat_id;
	m->seq = ev->seq;
	m->sender_id = ev->actor_id;
	m->customer_id = ev->customer_id;
	m->stylist_id = ev->stylist_id;
	m->at = ev->at;
}

/*
 * Forget the kept messages without noting them: recovery notes them from
 * the history (relay_note_recover), or relays them again.
 */
void
relay_note_reset(void)
{
	nnoted = 0;
	first_noted_at = 0;
}

/*
 * Milliseconds until the kept messages are due to be noted: -1 when none
 * is kept, 0 when they are due.
 */
long
relay_note_due_in(void)
{
	long		waited;

	if (nnoted == 0)
		return -1;
	if (nnoted >= NOTE_FLUSH_MESSAGES)
		return 0;
	waited = TimestampDifferenceMilliseconds(first_noted_at, GetCurrentTimestamp());
	return waited >= NOTE_FLUSH_MS ? 0 : NOTE_FLUSH_MS - waited;
}

/*
 * Note what was relayed and not noted yet, from the history, in the
 * current transaction (SPI connected): at the start of recovery, after
 * relay_note_reset.  A failure is logged and recovery goes on.
 */
void
relay_note_recover(void)
{
	ErrorData  *edata;

	if (!hook_present)
		return;
	edata = call_guarded(NULL, "SELECT chat._note_recover()", NULL, NULL);
	if (edata != NULL)
	{
		ereport(WARNING,
				(errmsg("stylist_chat relay: the bookkeeping of the messages relayed before the worker stopped failed"),
				 errdetail("chat._note_recover(): %s", edata->message),
				 errhint("It is tried again when the worker next recovers; chat.rebuild_kpis() recomputes the KPI figures.")));
		FreeErrorData(edata);
	}
}

/*
 * Hand the kept messages to chat._note_messages(), in the current
 * transaction (SPI connected), in a subtransaction of their own, when they
 * are due (relay_note_due_in).
 */
void
relay_note_flush(void)
{
	Datum		values[NOTE_ARGS];
	char		nulls[NOTE_ARGS];
	Datum	   *seqs;
	Datum	   *ats;
	int			n = nnoted;
	int			i;
	ErrorData  *edata;

	if (relay_note_due_in() != 0)
		return;
	relay_note_reset();
	if (!hook_present)
		return;

	if (note_plan == NULL)
	{
		Oid			argtypes[NOTE_ARGS] = {UUIDARRAYOID, INT8ARRAYOID, UUIDARRAYOID,
		UUIDARRAYOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT chat._note_messages($1, $2, $3, $4, $5, $6)",
						   NOTE_ARGS, argtypes);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "stylist_chat relay: could not prepare the bookkeeping call");
		note_plan = plan;
	}

	seqs = palloc(n * sizeof(Datum));
	ats = palloc(n * sizeof(Datum));
	for (i = 0; i < n; i++)
	{
		seqs[i] = Int64GetDatum(noted[i].seq);
		ats[i] = TimestampTzGetDatum(noted[i].at);
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
				(errmsg_plural("stylist_chat relay: the bookkeeping of %d message failed; it was relayed without it",
							   "stylist_chat relay: the bookkeeping of %d messages failed; they were relayed without it",
							   n, n),
				 errdetail("chat._note_messages(): %s", edata->message),
				 errhint("Their offline notifications are not issued; chat.rebuild_kpis() recomputes the KPI figures.")));
		FreeErrorData(edata);
	}
}

/*
 * Run a prepared plan with its values, or a query, in a subtransaction of
 * the current transaction (SPI connected): NULL when it ran, else its
 * error, which the caller reports and frees.  The bookkeeping never takes
 * the worker's transaction down with it.
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
			elog(ERROR, "stylist_chat relay: the bookkeeping call failed");
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
 * One of the uuid columns of the first n messages as an array: 0 the chat,
 * 2 the sender (NULL for a booking card, which has none), 3 the customer,
 * 4 the stylist.
 */
static Datum
uuid_array(int field, int n)
{
	static const pg_uuid_t nil;
	Datum	   *elems = palloc(n * sizeof(Datum));
	bool	   *isnull = palloc(n * sizeof(bool));
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		const pg_uuid_t *u;

		switch (field)
		{
			case 0:
				u = &noted[i].chat_id;
				break;
			case 2:
				u = &noted[i].sender_id;
				break;
			case 3:
				u = &noted[i].customer_id;
				break;
			default:
				u = &noted[i].stylist_id;
				break;
		}
		isnull[i] = field == 2 && memcmp(u, &nil, sizeof(nil)) == 0;
		elems[i] = UUIDPGetDatum(u);
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(elems, isnull, 1, dims, lbs, UUIDOID,
											  UUID_LEN, false, TYPALIGN_CHAR));
}
