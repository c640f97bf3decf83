/*-------------------------------------------------------------------------
 *
 * on_node.c
 *	  A call of the API on one chat, run whole on the chat's node of a
 *	  Citus cluster.
 *
 * On a Citus cluster every call of the API arrives at the coordinator,
 * where the actor is known, and each statement that names one chat goes
 * to the node that holds the chat's shards: one round trip a statement.
 * A call on one chat makes that trip once instead.  The API function
 * hands its name, its chat, its actor and its arguments to
 * chat._on_chat_node(), which Citus distributes by its in_chat argument
 * (chat.distribute_tables()) and so runs on the chat's node, in the
 * coordinator's transaction:
 *
 *	- the actor it is given is the acting profile for the call, and for
 *	  the call only: actor_get() answers with it while the call runs, and
 *	  the state as it was comes back when the call returns or fails.  The
 *	  function is the extension owner's alone (Citus connects to the node
 *	  as the owner from inside the API's SECURITY DEFINER functions): a
 *	  login of the node cannot name an actor through it, and the node
 *	  believes the coordinator, which checked the actor, and nobody else;
 *	- it runs the API function there through chat._on_chat_call(), the
 *	  list of the calls that may run so, with every check the function
 *	  makes on one server; a writing call may write on a worker while it
 *	  runs (writable.c);
 *	- the events the call records for the relay do not stay on the node,
 *	  whose relay stands aside: they are taken out of the transaction's
 *	  list (relay_events.c) and returned with the call's result, as
 *	  {"result": ..., "events": [...]}, and chat._on_chat() records them
 *	  again on the coordinator, whose relay tells the listeners when the
 *	  transaction commits.
 *
 * A call made while one runs is not sent on again (chat._to_chat_node()
 * is false): it runs here, with the same actor.  chat.act_as() in a call
 * changes the call's actor (an approved held message is sent as its
 * sender) and never the session's.
 *
 * A call that inserts a row with an identity column (a report, a consent,
 * an image queued for deletion) takes its id on the node.  Each node draws
 * from its own range, as Citus arranges for the tables it creates (from
 * group << 48 + 1): chat.distribute_tables() has Citus set the ranges of
 * the extension's tables, which it did not create, on every worker.  A
 * worker added since has the ranges of a fresh install, which would repeat
 * the coordinator's ids: chat._require_node_ids() refuses such a call
 * there (55000) until chat.distribute_tables() runs again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* the call running on this node, if any, and the actor it speaks for */
static bool in_node_call = false;
static pg_uuid_t node_call_actor;

PG_FUNCTION_INFO_V1(chat_on_chat_node);
PG_FUNCTION_INFO_V1(chat_to_chat_node);
PG_FUNCTION_INFO_V1(chat_require_node_ids);

/* is a call sent from the coordinator running here? */
bool
chat_in_node_call(void)
{
	return in_node_call;
}

/* the actor of the call running here, if one is */
bool
chat_node_call_actor(pg_uuid_t *actor)
{
	if (!in_node_call)
		return false;
	*actor = node_call_actor;
	return true;
}

/*
 * act_as() in the call running here: the call's actor changes for the
 * rest of it (chat.approve_held_message() sends as the held message's
 * sender, then acts as the admin again), whatever a subtransaction rolled
 * back meanwhile (no call runs one around it).  The node's session is the
 * coordinator's connection: no call may leave a session actor in it.
 */
void
chat_node_call_act_as(const pg_uuid_t *actor, bool for_session)
{
	Assert(in_node_call);
	if (for_session)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a call run on its chat's node cannot choose an actor for the session")));
	node_call_actor = *actor;
}

/*
 * chat._on_chat_node(in_chat uuid, in_actor uuid, in_call text,
 *					  in_args jsonb) returns jsonb
 *
 * Runs chat._on_chat_call(in_chat, in_call, in_args) with in_actor acting
 * and returns {"result": its result, "events": the events it recorded}.
 */
Datum
chat_on_chat_node(PG_FUNCTION_ARGS)
{
	static const char *const arg_names[] = {"in_chat", "in_actor", "in_call", "in_args"};
	Oid			argtypes[3] = {UUIDOID, TEXTOID, JSONBOID};
	Oid			call_fn;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(call, 3);
	bool		outer_in_call = in_node_call;
	pg_uuid_t	outer_actor = node_call_actor;
	int			mark;
	volatile Datum result = (Datum) 0;
	volatile bool result_null = true;
	StringInfoData buf;
	int			i;

	for (i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", arg_names[i])));

	call_fn = LookupFuncName(list_make2(makeString("chat"), makeString("_on_chat_call")),
							 3, argtypes, false);
	fmgr_info(call_fn, &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, 3, PG_GET_COLLATION(), NULL, NULL);
	call->args[0].value = PG_GETARG_DATUM(0);
	call->args[0].isnull = false;
	call->args[1].value = PG_GETARG_DATUM(2);
	call->args[1].isnull = false;
	call->args[2].value = PG_GETARG_DATUM(3);
	call->args[2].isnull = false;

	mark = relay_events_mark();
	in_node_call = true;
	node_call_actor = *PG_GETARG_UUID_P(1);
	PG_TRY();
	{
		result = FunctionCallInvoke(call);
		result_null = call->isnull;
	}
	PG_FINALLY();
	{
		in_node_call = outer_in_call;
		node_call_actor = outer_actor;
	}
	PG_END_TRY();

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"result\": ");
	if (result_null)
		appendStringInfoString(&buf, "null");
	else
	{
		Jsonb	   *jb = DatumGetJsonbP(result);

		appendStringInfoString(&buf, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
	}
	appendStringInfoString(&buf, ", \"events\": ");
	relay_events_take_json(mark, &buf);
	appendStringInfoChar(&buf, '}');

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/*
 * chat._to_chat_node() returns boolean: should a call on one chat be sent
 * whole to the chat's node?  Where chat.chats is distributed, unless the
 * call is already running there.
 */
Datum
chat_to_chat_node(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!in_node_call && chat_chats_distributed());
}

/*
 * chat._require_node_ids(tbl regclass) returns void
 *
 * On a worker of a Citus cluster, 55000 unless every identity column of
 * tbl draws from this node's own range of ids (Citus's: from group << 48
 * + 1); elsewhere, nothing.
 */
Datum
chat_require_node_ids(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int			group = chat_citus_group();
	Relation	rel;
	TupleDesc	desc;
	int			i;

	if (group <= 0)
		PG_RETURN_VOID();

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			seqid;
		HeapTuple	tuple;
		int64		seqmin;

		if (att->attisdropped || !att->attidentity)
			continue;
		seqid = getIdentitySequence(relid, att->attnum, false);
		tuple = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
		if (!HeapTupleIsValid(tuple))
			elog(ERROR, "cache lookup failed for sequence %u", seqid);
		seqmin = ((Form_pg_sequence) GETSTRUCT(tuple))->seqmin;
		ReleaseSysCache(tuple);
		if (seqmin != ((int64) group << 48) + 1)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node of the Citus cluster does not have its own range of ids for %s",
							get_rel_name(relid)),
					 errdetail("Ids taken here could repeat ids taken on another node."),
					 errhint("Call chat.distribute_tables() on the coordinator after adding a node: it gives each node its range.")));
	}
	table_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}
