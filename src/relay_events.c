/*-------------------------------------------------------------------------
 *
 * relay_events.c
 *	  The chat events of the current transaction, handed to the relay
 *	  worker when the transaction commits.
 *
 * The SQL API records an event for each change it makes (a message, an
 * edit, a delete, a read mark, a new chat, a message hidden by a moderator,
 * a message pinned or unpinned, a reaction, a portfolio consent given or
 * taken back, messages delivered to their recipient) with
 * chat._relay_event().  The
 * events wait in TopTransactionContext; the commit callback appends them to
 * the shared queue and sets the worker's latch, so a listener hears about a
 * change as soon as it is visible, without the sender ever issuing NOTIFY.
 * An aborted transaction or subtransaction drops its events: a rolled-back
 * message is never relayed.
 *
 * A transaction with events cannot be prepared for two-phase commit: its
 * commit would happen in another session, out of our callback's sight.
 *
 * Typing events are not transactional and never stored:
 * chat._relay_now() queues one at once.
 *
 * Without shared memory (the library not preloaded) nothing is recorded;
 * the messages wait in their tables for the worker's recovery scan.
 *
 * A call that the coordinator of a Citus cluster sent whole to a chat's
 * node (on_node.c) records its events here too, with or without shared
 * memory, and takes them out again as JSON when it returns: they go back
 * with its result and are recorded on the coordinator, whose relay tells
 * the listeners.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* in TopTransactionContext: the events, and the subtransaction of each */
static RelayEvent *pending = NULL;
static int *pending_level = NULL;
static int	npending = 0;
static int	maxpending = 0;

static const char *const kind_names[] = {
	[RELAY_MESSAGE] = "message",
	[RELAY_EDITED] = "edited",
	[RELAY_DELETED] = "deleted",
	[RELAY_READ] = "read",
	[RELAY_CHAT_CREATED] = "chat_created",
	[RELAY_HIDDEN] = "hidden",
	[RELAY_TYPING] = "typing",
	[RELAY_PINNED] = "pinned",
	[RELAY_UNPINNED] = "unpinned",
	[RELAY_REACTION] = "reaction",
	[RELAY_CONSENT] = "consent",
	[RELAY_DELIVERED] = "delivered",
};

static void relay_events_xact_callback(XactEvent event, void *arg);
static void relay_events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
										  SubTransactionId parentSubid, void *arg);

PG_FUNCTION_INFO_V1(chat_relay_event);
PG_FUNCTION_INFO_V1(chat_relay_now);

void
relay_events_init(void)
{
	RegisterXactCallback(relay_events_xact_callback, NULL);
	RegisterSubXactCallback(relay_events_subxact_callback, NULL);
}

const char *
relay_event_kind_name(int kind)
{
	if (kind < RELAY_MESSAGE || kind > RELAY_LAST_KIND)
		return "unknown";
	return kind_names[kind];
}

static int
relay_event_kind(const char *name)
{
	int			kind;

	for (kind = RELAY_MESSAGE; kind <= RELAY_LAST_KIND; kind++)
		if (strcmp(name, kind_names[kind]) == 0)
			return kind;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown chat event kind \"%s\"", name)));
	return 0;					/* keep the compiler quiet */
}

static void
forget_pending(void)
{
	/* the memory goes with TopTransactionContext */
	pending = NULL;
	pending_level = NULL;
	npending = 0;
	maxpending = 0;
}

static void
relay_events_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			if (npending > 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that changed a chat"),
						 errhint("Commit chat changes with an ordinary COMMIT.")));
			break;

		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* nothing here may fail: the transaction has committed */
			if (npending > 0 && relay_shmem_available())
			{
				relay_queue_push(pending, npending);
				relay_wake_worker();
			}
			forget_pending();
			break;

		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			forget_pending();
			break;

		default:
			break;
	}
}

static void
relay_events_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			i;

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			/* events are recorded in order: the aborted ones are the last */
			while (npending > 0 && pending_level[npending - 1] >= level)
				npending--;
			break;

		case SUBXACT_EVENT_COMMIT_SUB:
			for (i = npending - 1; i >= 0 && pending_level[i] >= level; i--)
				pending_level[i] = level - 1;
			break;

		default:
			break;
	}
}

static void
fill_event(RelayEvent *ev, FunctionCallInfo fcinfo)
{
	int			i;

	/* the actor may be NULL: a booking card has no sender */
	for (i = 0; i <= 6; i++)
		if (PG_ARGISNULL(i) && i != 4 && i != 5)
			elog(ERROR, "chat event argument %d must not be null", i + 1);

	memset(ev, 0, sizeof(*ev));
	ev->dbid = MyDatabaseId;
	ev->kind = relay_event_kind(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	ev->chat_id = *PG_GETARG_UUID_P(1);
	ev->customer_id = *PG_GETARG_UUID_P(2);
	ev->stylist_id = *PG_GETARG_UUID_P(3);
	if (!PG_ARGISNULL(4))
		ev->actor_id = *PG_GETARG_UUID_P(4);	/* else the nil UUID */
	ev->seq = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT64(5);
	ev->at = PG_GETARG_TIMESTAMPTZ(6);
}

/*
 * chat._relay_event(kind text, chat_id uuid, customer_id uuid,
 *					 stylist_id uuid, actor_id uuid, seq bigint,
 *					 at timestamptz) returns bigint
 *
 * Record an event of this transaction, relayed if and when it commits, and
 * return its seq, so that a statement can record the event of the row it
 * writes in its RETURNING or SELECT list.
 */
Datum
chat_relay_event(PG_FUNCTION_ARGS)
{
	RelayEvent	ev;

	if (!relay_shmem_available() && !chat_in_node_call())
		PG_RETURN_DATUM(PG_ARGISNULL(5) ? Int64GetDatum(0) : PG_GETARG_DATUM(5));

	fill_event(&ev, fcinfo);
	relay_event_record(&ev);
	PG_RETURN_INT64(ev.seq);
}

/*
 * Record an event of this transaction, relayed if and when it commits
 * (chat._relay_event() and the send path in C).  Without shared memory
 * nothing is recorded, but in a call sent to a chat's node.
 */
void
relay_event_record(const RelayEvent *ev)
{
	if (!relay_shmem_available() && !chat_in_node_call())
		return;

	if (npending == maxpending)
	{
		if (pending == NULL)
		{
			maxpending = 8;
			pending = MemoryContextAlloc(TopTransactionContext,
										 maxpending * sizeof(RelayEvent));
			pending_level = MemoryContextAlloc(TopTransactionContext,
											   maxpending * sizeof(int));
		}
		else
		{
			maxpending *= 2;
			pending = repalloc(pending, maxpending * sizeof(RelayEvent));
			pending_level = repalloc(pending_level, maxpending * sizeof(int));
		}
	}
	pending[npending] = *ev;
	pending_level[npending] = GetCurrentTransactionNestLevel();
	npending++;
}

/* how many events this transaction has recorded so far */
int
relay_events_mark(void)
{
	return npending;
}

static void
append_uuid(StringInfo buf, const pg_uuid_t *id)
{
	escape_json(buf, DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id))));
}

/*
 * Take the events recorded since mark out of the transaction's list and
 * append them to buf as a JSON array of objects with the arguments of
 * chat._relay_event(): kind, chat_id, customer_id, stylist_id, actor_id
 * (null for none), seq and at (ISO 8601, whatever the DateStyle).
 */
void
relay_events_take_json(int mark, StringInfo buf)
{
	static const pg_uuid_t nil = {{0}};
	int			i;

	appendStringInfoChar(buf, '[');
	for (i = mark; i < npending; i++)
	{
		const RelayEvent *ev = &pending[i];
		char		at[MAXDATELEN + 1];

		if (i > mark)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, "{\"kind\": ");
		escape_json(buf, relay_event_kind_name(ev->kind));
		appendStringInfoString(buf, ", \"chat_id\": ");
		append_uuid(buf, &ev->chat_id);
		appendStringInfoString(buf, ", \"customer_id\": ");
		append_uuid(buf, &ev->customer_id);
		appendStringInfoString(buf, ", \"stylist_id\": ");
		append_uuid(buf, &ev->stylist_id);
		appendStringInfoString(buf, ", \"actor_id\": ");
		if (memcmp(&ev->actor_id, &nil, sizeof(nil)) == 0)
			appendStringInfoString(buf, "null");
		else
			append_uuid(buf, &ev->actor_id);
		appendStringInfo(buf, ", \"seq\": " INT64_FORMAT ", \"at\": ", ev->seq);
		escape_json(buf, JsonEncodeDateTime(at, TimestampTzGetDatum(ev->at), TIMESTAMPTZOID, NULL));
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
	if (npending > mark)
		npending = mark;
}

/*
 * chat._relay_now(kind text, chat_id uuid, customer_id uuid,
 *				  stylist_id uuid, actor_id uuid, seq bigint,
 *				  at timestamptz) returns void
 *
 * Queue an ephemeral event (typing) now, whatever becomes of the
 * transaction.
 */
Datum
chat_relay_now(PG_FUNCTION_ARGS)
{
	RelayEvent	ev;

	if (!relay_shmem_available())
		PG_RETURN_VOID();
	fill_event(&ev, fcinfo);
	relay_queue_push(&ev, 1);
	relay_wake_worker();
	PG_RETURN_VOID();
}
