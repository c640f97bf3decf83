/*-------------------------------------------------------------------------
 *
 * actor.c
 *	  The acting profile: who a session is speaking for.
 *
 * Every access decision of stylist_chat asks one question: which profile is
 * acting?  The answer lives here, in this backend's memory, and nowhere
 * else.  It is not a GUC, because anybody can SET a custom GUC; it can only
 * be changed through chat.act_as(), which checks that the caller is a
 * superuser or a member of the chat_service role, and through
 * chat.reset_actor().
 *
 * There are two slots:
 *
 *	- the transaction actor, set by act_as(id) and cleared when the
 *	  transaction ends, whichever way it ends.  This is the right scope
 *	  behind a transaction-pooling connection pooler, where consecutive
 *	  transactions of one server session serve different people;
 *	- the session actor, set by act_as(id, for_session => true), which lasts
 *	  until reset_actor(), DISCARD ALL, or the end of the session.
 *
 * The transaction actor wins when both are set.
 *
 * Changes are transactional, like SET: a change made in a transaction or
 * subtransaction that rolls back is undone.  The first change made at a
 * given nesting level saves the state as it was before into a small stack
 * kept in TopTransactionContext; aborting that level restores it, committing
 * it hands the saved state to the parent level.
 *
 * DISCARD ALL, which session-pooling connection poolers run between
 * clients, clears both slots: a new client never inherits an identity.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* the role whose members may act for any profile */
#define CHAT_SERVICE_ROLE "chat_service"

typedef struct ActorState
{
	bool		xact_set;
	pg_uuid_t	xact_actor;
	bool		session_set;
	pg_uuid_t	session_actor;
} ActorState;

/* the state as it was before the first change at one nesting level */
typedef struct SavedActorState
{
	int			nest_level;
	ActorState	state;
	struct SavedActorState *prev;
} SavedActorState;

static ActorState current = {0};
static SavedActorState *saved_states = NULL;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void actor_xact_callback(XactEvent event, void *arg);
static void actor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);
static void actor_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree, ProcessUtilityContext context,
								 ParamListInfo params, QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

PG_FUNCTION_INFO_V1(chat_act_as);
PG_FUNCTION_INFO_V1(chat_current_actor);
PG_FUNCTION_INFO_V1(chat_require_actor);
PG_FUNCTION_INFO_V1(chat_reset_actor);

void
actor_init(void)
{
	RegisterXactCallback(actor_xact_callback, NULL);
	RegisterSubXactCallback(actor_subxact_callback, NULL);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = actor_ProcessUtility;
}

/*
 * The acting profile, if any: the transaction actor, else the session actor.
 */
bool
actor_get(pg_uuid_t *actor)
{
	if (current.xact_set)
	{
		*actor = current.xact_actor;
		return true;
	}
	if (current.session_set)
	{
		*actor = current.session_actor;
		return true;
	}
	return false;
}

/*
 * Remember the state before the first change at the current nesting level.
 */
static void
save_state_for_rollback(void)
{
	int			level = GetCurrentTransactionNestLevel();
	SavedActorState *saved;

	if (saved_states != NULL && saved_states->nest_level == level)
		return;

	saved = MemoryContextAlloc(TopTransactionContext, sizeof(SavedActorState));
	saved->nest_level = level;
	saved->state = current;
	saved->prev = saved_states;
	saved_states = saved;
}

static void
actor_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the oldest saved state is the one at transaction start */
			while (saved_states != NULL)
			{
				current = saved_states->state;
				saved_states = saved_states->prev;
			}
			current.xact_set = false;
			break;

		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* TopTransactionContext is going away with the saved states */
			saved_states = NULL;
			current.xact_set = false;
			break;

		default:
			break;
	}
}

static void
actor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (saved_states == NULL || saved_states->nest_level != level)
		return;

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			current = saved_states->state;
			saved_states = saved_states->prev;
			break;

		case SUBXACT_EVENT_COMMIT_SUB:
			/* the parent keeps the older of the two saved states */
			if (saved_states->prev != NULL &&
				saved_states->prev->nest_level == level - 1)
				saved_states = saved_states->prev;
			else
				saved_states->nest_level = level - 1;
			break;

		default:
			break;
	}
}

static void
actor_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		discard_all = IsA(parsetree, DiscardStmt) &&
		((DiscardStmt *) parsetree)->target == DISCARD_ALL;

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/* DISCARD ALL refuses to run in a transaction block: nothing to save */
	if (discard_all)
		memset(&current, 0, sizeof(current));
}

/*
 * May the current user pick an actor?
 */
static bool
may_act_for_others(void)
{
	Oid			service_role;

	if (superuser())
		return true;
	service_role = get_role_oid(CHAT_SERVICE_ROLE, true);
	return OidIsValid(service_role) &&
		has_privs_of_role(GetUserId(), service_role);
}

/*
 * Does a profile exist?  One probe of the primary key index of
 * chat.profiles, below the SQL layer: no query is planned, no name is
 * looked up through the caller's search_path, and the caller needs no
 * privilege on the table.
 */
static bool
profile_exists(pg_uuid_t *profile_id)
{
	Oid			nspid = get_namespace_oid("chat", false);
	Oid			relid = get_relname_relid("profiles", nspid);
	Oid			indexid = get_relname_relid("profiles_pkey", nspid);
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	bool		found;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table chat.profiles does not exist"),
				 errhint("Run CREATE EXTENSION stylist_chat in this database.")));

	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(profile_id));
	scan = systable_beginscan(rel, indexid, true, GetTransactionSnapshot(), 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);

	return found;
}

/*
 * chat.act_as(profile_id uuid, for_session boolean default false) returns void
 */
Datum
chat_act_as(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *profile_id;
	bool		for_session;

	if (!may_act_for_others())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as a chat profile"),
				 errdetail("Only superusers and members of role \"%s\" may choose the acting profile.",
						   CHAT_SERVICE_ROLE),
				 errhint("An end-user connection cannot pick who it is; ask the application backend to act for it.")));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("profile_id must not be null"),
				 errhint("Use chat.reset_actor() to stop acting as a profile.")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("for_session must not be null")));

	profile_id = PG_GETARG_UUID_P(0);
	for_session = PG_GETARG_BOOL(1);

	if (!profile_exists(profile_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("profile %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out,
															UUIDPGetDatum(profile_id)))),
				 errhint("Create it first with chat.upsert_profile().")));

	save_state_for_rollback();
	if (for_session)
	{
		current.session_set = true;
		current.session_actor = *profile_id;
		/* a session actor chosen now is not shadowed by an older one */
		current.xact_set = false;
	}
	else
	{
		current.xact_set = true;
		current.xact_actor = *profile_id;
	}

	PG_RETURN_VOID();
}

/*
 * chat.current_actor() returns uuid: the acting profile or NULL
 */
Datum
chat_current_actor(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	if (!actor_get(result))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(result);
}

/*
 * chat.require_actor() returns uuid: the acting profile, or SQLSTATE 28000
 */
Datum
chat_require_actor(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	if (!actor_get(result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no chat profile is acting in this session"),
				 errhint("Call chat.act_as(profile_id) in the same transaction, or chat.act_as(profile_id, for_session => true).")));
	PG_RETURN_UUID_P(result);
}

/*
 * chat.reset_actor() returns void: nobody is acting any more
 */
Datum
chat_reset_actor(PG_FUNCTION_ARGS)
{
	save_state_for_rollback();
	memset(&current, 0, sizeof(current));
	PG_RETURN_VOID();
}
