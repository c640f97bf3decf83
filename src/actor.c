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
 * On a node of a Citus cluster, a call the coordinator sends whole to a
 * chat's node speaks for the actor the coordinator gives it, while it runs
 * (on_node.c): that actor wins over both slots, and leaves them as they
 * were.
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
 * The session slot is available only where a superuser has turned on
 * stylist_chat.session_identity for the login (src/stylist_chat.c): behind
 * a transaction-pooling pooler, which runs no DISCARD ALL between clients,
 * an identity kept for the session would act for the next client.
 *
 * Token-bound actors.  chat.authenticate(), after checking a token, makes
 * its profile the actor through chat._act_as_token(), and the slot
 * remembers what the token allows: its expiry, its issue time (none for a
 * version 1 token) and the fingerprint of the key that signed it.  Every
 * time the actor is asked for, a token-bound actor is checked again:
 *
 *	- its expiry against the clock, on every call;
 *	- once per transaction (a flag per slot, forgotten when the transaction
 *	  ends or the slot changes): its key must still be the 'signing' or the
 *	  'signing_previous' key of chat.secrets, and chat.token_revocations
 *	  must have no row for the profile revoked at or after the issue time
 *	  (any row, for a version 1 token).  Both tables are read below the SQL
 *	  layer, like chat.profiles by act_as: no query, no search_path, no
 *	  privilege or row level security in the way (on a Citus cluster,
 *	  this node's copy of them: placement.c).  Without
 *	  chat.token_revocations (the 1.0 SQL) nothing is revoked.
 *
 * A check that fails clears the slot for good, in the saved states too, so
 * that the rollback of the error does not bring the actor back, and raises
 * SQLSTATE 28000.  So a session authenticated with a token stops being
 * that profile when the token expires, when its key is rotated out, or
 * when the profile's tokens are revoked.  Actors chosen by act_as are not
 * bound to a token: the trusted caller answers for them.
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
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* the role whose members may act for any profile */
#define CHAT_SERVICE_ROLE "chat_service"

/* what a token-bound actor's token allows */
typedef struct TokenBinding
{
	bool		bound;			/* set by _act_as_token, not by act_as */
	bool		has_issued_at;	/* false for a version 1 token */
	TimestampTz issued_at;
	TimestampTz expires_at;
	uint8		key_fingerprint[TOKEN_FINGERPRINT_LEN];
} TokenBinding;

typedef struct ActorSlot
{
	bool		set;
	pg_uuid_t	actor;
	TokenBinding token;
} ActorSlot;

typedef struct ActorState
{
	ActorSlot	xact;
	ActorSlot	session;
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

/* has the token of a slot's actor passed the per-transaction checks? */
static bool xact_slot_checked = false;
static bool session_slot_checked = false;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void actor_xact_callback(XactEvent event, void *arg);
static void actor_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);
static void actor_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								 bool readOnlyTree, ProcessUtilityContext context,
								 ParamListInfo params, QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

PG_FUNCTION_INFO_V1(chat_act_as);
PG_FUNCTION_INFO_V1(chat_act_as_token);
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

/* the slots changed: their tokens must be checked again */
static void
forget_checks(void)
{
	xact_slot_checked = false;
	session_slot_checked = false;
}

/* do two slots hold the same token-bound actor? */
static bool
same_token_actor(const ActorSlot *a, const ActorSlot *b)
{
	return a->set && b->set && a->token.bound && b->token.bound &&
		memcmp(a->actor.data, b->actor.data, UUID_LEN) == 0 &&
		a->token.has_issued_at == b->token.has_issued_at &&
		(!a->token.has_issued_at || a->token.issued_at == b->token.issued_at) &&
		a->token.expires_at == b->token.expires_at &&
		memcmp(a->token.key_fingerprint, b->token.key_fingerprint,
			   TOKEN_FINGERPRINT_LEN) == 0;
}

/*
 * A token-bound actor failed its check: clear it from both slots, now and
 * in every saved state, so that no rollback brings it back.
 */
static void
drop_token_actor(const ActorSlot *failed)
{
	ActorSlot	gone = *failed;
	SavedActorState *saved;

	for (saved = saved_states; saved != NULL; saved = saved->prev)
	{
		if (same_token_actor(&saved->state.xact, &gone))
			memset(&saved->state.xact, 0, sizeof(ActorSlot));
		if (same_token_actor(&saved->state.session, &gone))
			memset(&saved->state.session, 0, sizeof(ActorSlot));
	}
	if (same_token_actor(&current.xact, &gone))
		memset(&current.xact, 0, sizeof(ActorSlot));
	if (same_token_actor(&current.session, &gone))
		memset(&current.session, 0, sizeof(ActorSlot));
	forget_checks();
}

/*
 * The snapshot the checks read with: the transaction's, as act_as reads
 * chat.profiles (in READ COMMITTED, a fresh one).
 */
static Snapshot
check_snapshot(void)
{
	return RegisterSnapshot(GetTransactionSnapshot());
}

/*
 * Is the key of this fingerprint still the 'signing' or the
 * 'signing_previous' key of chat.secrets?  Read with a plain heap scan (a
 * handful of rows), which row level security does not apply to.
 */
static bool
signing_key_in_use(const uint8 *fingerprint)
{
	Oid			nspid = get_namespace_oid("chat", true);
	Oid			relid;
	AttrNumber	name_att;
	AttrNumber	key_att;
	Relation	rel;
	TupleDesc	desc;
	Snapshot	snapshot;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(nspid))
		return false;
	relid = chat_local_relation(nspid, "secrets", NULL, NULL);
	if (!OidIsValid(relid))
		return false;
	name_att = get_attnum(relid, "name");
	key_att = get_attnum(relid, "key");
	if (name_att == InvalidAttrNumber || key_att == InvalidAttrNumber ||
		get_atttype(relid, name_att) != TEXTOID ||
		get_atttype(relid, key_att) != BYTEAOID)
		elog(ERROR, "table chat.secrets does not have the columns name text and key bytea");

	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	snapshot = check_snapshot();
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Datum		name_datum;
		Datum		key_datum;
		bool		isnull;
		text	   *name;
		bytea	   *key;
		char	   *name_str;
		uint8		key_fingerprint[TOKEN_FINGERPRINT_LEN];

		name_datum = heap_getattr(tuple, name_att, desc, &isnull);
		if (isnull)
			continue;
		name = DatumGetTextPP(name_datum);
		name_str = text_to_cstring(name);
		if (strcmp(name_str, "signing") != 0 &&
			strcmp(name_str, "signing_previous") != 0)
			continue;

		key_datum = heap_getattr(tuple, key_att, desc, &isnull);
		if (isnull)
			continue;
		key = DatumGetByteaPP(key_datum);
		if (!token_key_fingerprint((uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
								   key_fingerprint))
			elog(ERROR, "could not compute SHA-256 of a key");
		found = memcmp(key_fingerprint, fingerprint, TOKEN_FINGERPRINT_LEN) == 0;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);

	return found;
}

/*
 * Has the profile's token been revoked?  A row of chat.token_revocations
 * for the profile revokes every token issued at or before revoked_at, and
 * every version 1 token (which says nothing of when it was issued).  One
 * probe of the primary key index, like profile_exists(); no table (the 1.0
 * SQL), no revocation.
 */
static bool
token_revoked(const pg_uuid_t *profile_id, const TokenBinding *token)
{
	Oid			nspid = get_namespace_oid("chat", true);
	Oid			relid;
	Oid			indexid;
	AttrNumber	profile_att;
	AttrNumber	revoked_att;
	Relation	rel;
	Snapshot	snapshot;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		revoked = false;

	if (!OidIsValid(nspid))
		return false;
	relid = chat_local_relation(nspid, "token_revocations", "token_revocations_pkey", &indexid);
	if (!OidIsValid(relid))
		return false;
	if (OidIsValid(indexid) && IndexGetRelation(indexid, true) != relid)
		indexid = InvalidOid;
	profile_att = get_attnum(relid, "profile_id");
	revoked_att = get_attnum(relid, "revoked_at");
	if (profile_att == InvalidAttrNumber || revoked_att == InvalidAttrNumber ||
		get_atttype(relid, profile_att) != UUIDOID ||
		get_atttype(relid, revoked_att) != TIMESTAMPTZOID)
		elog(ERROR, "table chat.token_revocations does not have the columns profile_id uuid and revoked_at timestamptz");

	rel = table_open(relid, AccessShareLock);
	snapshot = check_snapshot();
	ScanKeyInit(&key, profile_att, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum(profile_id));
	scan = systable_beginscan(rel, indexid, OidIsValid(indexid), snapshot, 1, &key);
	while (!revoked && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		at = heap_getattr(tuple, revoked_att, RelationGetDescr(rel), &isnull);

		revoked = !token->has_issued_at || isnull ||
			DatumGetTimestampTz(at) >= token->issued_at;
	}
	systable_endscan(scan);
	UnregisterSnapshot(snapshot);
	table_close(rel, AccessShareLock);

	return revoked;
}

/*
 * Is the token of a token-bound actor still good?  If not, drop the actor
 * and raise SQLSTATE 28000.
 */
static void
check_token_actor(ActorSlot *slot, bool *checked)
{
	if (GetCurrentTimestamp() >= slot->token.expires_at)
	{
		drop_token_actor(slot);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the token of this session has expired"),
				 errhint("Ask the application for a new token and call chat.authenticate() again.")));
	}

	if (*checked)
		return;
	if (!signing_key_in_use(slot->token.key_fingerprint) ||
		token_revoked(&slot->actor, &slot->token))
	{
		drop_token_actor(slot);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("the token of this session is no longer valid"),
				 errhint("Ask the application for a new token and call chat.authenticate() again.")));
	}
	*checked = true;
}

/*
 * The acting profile, if any: the transaction actor, else the session actor.
 * A token-bound actor is checked first, and raises an error if its token
 * is no longer good.
 */
bool
actor_get(pg_uuid_t *actor)
{
	ActorSlot  *slot;
	bool	   *checked;

	/* a call the coordinator sent to this node speaks for its actor */
	if (chat_node_call_actor(actor))
		return true;

	if (current.xact.set)
	{
		slot = &current.xact;
		checked = &xact_slot_checked;
	}
	else if (current.session.set)
	{
		slot = &current.session;
		checked = &session_slot_checked;
	}
	else
		return false;

	if (slot->token.bound)
		check_token_actor(slot, checked);

	*actor = slot->actor;
	return true;
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
			memset(&current.xact, 0, sizeof(ActorSlot));
			forget_checks();
			break;

		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* TopTransactionContext is going away with the saved states */
			saved_states = NULL;
			memset(&current.xact, 0, sizeof(ActorSlot));
			forget_checks();
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
			forget_checks();
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
	{
		memset(&current, 0, sizeof(current));
		forget_checks();
	}
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
 * Refuse an identity for the session unless stylist_chat.session_identity
 * is on for this connection.
 */
static void
require_session_identity(void)
{
	if (!session_identity)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("session-scoped identity is not enabled for this connection"),
				 errdetail("Behind a transaction-pooling connection pooler, the next transaction of this server session may serve another client: an identity kept for the session would act for that client."),
				 errhint("Act for one transaction (BEGIN; SELECT chat.act_as(...) or chat.authenticate(token, false); ... COMMIT), or have a superuser run ALTER ROLE <login> SET stylist_chat.session_identity = on for a login that is never pooled.")));
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
	Oid			indexid;
	Oid			relid = chat_local_relation(nspid, "profiles", "profiles_pkey", &indexid);
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

static void
require_profile(pg_uuid_t *profile_id)
{
	if (!profile_exists(profile_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("profile %s does not exist",
						DatumGetCString(DirectFunctionCall1(uuid_out,
															UUIDPGetDatum(profile_id)))),
				 errhint("Create it first with chat.upsert_profile().")));
}

/* make slot (a slot of current) hold this actor, transactionally */
static void
set_actor(bool for_session, const pg_uuid_t *profile_id, const TokenBinding *token)
{
	ActorSlot  *slot = for_session ? &current.session : &current.xact;

	save_state_for_rollback();
	memset(slot, 0, sizeof(ActorSlot));
	slot->set = true;
	slot->actor = *profile_id;
	if (token != NULL)
		slot->token = *token;
	/* a session actor chosen now is not shadowed by an older one */
	if (for_session)
		memset(&current.xact, 0, sizeof(ActorSlot));
	forget_checks();
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

	/* in a call the coordinator sent to this node: that call's actor */
	if (chat_in_node_call())
	{
		require_profile(profile_id);
		chat_node_call_act_as(profile_id, for_session);
		PG_RETURN_VOID();
	}
	if (for_session)
		require_session_identity();
	require_profile(profile_id);
	set_actor(for_session, profile_id, NULL);
	PG_RETURN_VOID();
}

/*
 * chat._act_as_token(profile_id uuid, issued_at timestamptz,
 *					  expires_at timestamptz, key_fingerprint bytea,
 *					  for_session boolean) returns void
 *
 * act_as for chat.authenticate(), which has checked the token, its
 * revocation and its single use: the actor stays bound to the token and
 * is checked again while it acts (see the header).  issued_at is NULL for
 * a version 1 token.  Superusers only; the extension grants it to nobody.
 */
Datum
chat_act_as_token(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *profile_id;
	bytea	   *fingerprint;
	bool		for_session;
	TokenBinding token;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to act as a chat profile"),
				 errdetail("Only superusers may bind the acting profile to a token; chat.authenticate() does, once it has checked the token."),
				 errhint("Call chat.authenticate(token).")));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("profile_id must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("expires_at must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_fingerprint must not be null")));
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("for_session must not be null")));

	profile_id = PG_GETARG_UUID_P(0);
	fingerprint = PG_GETARG_BYTEA_PP(3);
	for_session = PG_GETARG_BOOL(4);

	if (VARSIZE_ANY_EXHDR(fingerprint) != TOKEN_FINGERPRINT_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key_fingerprint must be %d bytes", TOKEN_FINGERPRINT_LEN)));

	memset(&token, 0, sizeof(token));
	token.bound = true;
	token.has_issued_at = !PG_ARGISNULL(1);
	if (token.has_issued_at)
		token.issued_at = PG_GETARG_TIMESTAMPTZ(1);
	token.expires_at = PG_GETARG_TIMESTAMPTZ(2);
	memcpy(token.key_fingerprint, VARDATA_ANY(fingerprint), TOKEN_FINGERPRINT_LEN);

	if (for_session)
		require_session_identity();
	require_profile(profile_id);

	set_actor(for_session, profile_id, &token);
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

	actor_require(result);
	PG_RETURN_UUID_P(result);
}

/*
 * The acting profile, or SQLSTATE 28000 (chat.require_actor(), and the
 * send path in C)
 */
void
actor_require(pg_uuid_t *actor)
{
	if (!actor_get(actor))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no chat profile is acting in this session"),
				 errhint("Call chat.act_as(profile_id) in the same transaction, or chat.act_as(profile_id, for_session => true).")));
}

/*
 * chat.reset_actor() returns void: nobody is acting any more
 */
Datum
chat_reset_actor(PG_FUNCTION_ARGS)
{
	save_state_for_rollback();
	memset(&current, 0, sizeof(current));
	forget_checks();
	PG_RETURN_VOID();
}
