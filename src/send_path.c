/*-------------------------------------------------------------------------
 *
 * send_path.c
 *	  chat.send_message(): a text message written straight through the
 *	  table access method.
 *
 * A send updates its chat's row (the next seq, the read state of both
 * participants) and inserts the message.  Written as a statement in
 * PL/pgSQL, most of its time went to what surrounds the writing: an
 * executor start-up for every call, the constraints, the generated column
 * and the index expressions of both tables prepared anew from their node
 * text, the PL/pgSQL function and its SECURITY DEFINER switch.  Here the
 * common case, a text message (with or without a client_msg_id) that no
 * filter rule matches, is written with the pieces the executor itself
 * uses for each row: an index scan, table_tuple_lock(), ExecConstraints(),
 * table_tuple_update() and table_tuple_insert(), ExecInsertIndexTuples(),
 * the after-row triggers of the foreign keys.  The expressions (CHECK
 * constraints, generated columns, column defaults, index expressions and
 * predicates) are prepared once per backend, as the tables' owner, and
 * forgotten at any invalidation of either table or of any function.
 *
 * Everything else goes to chat._send_message_sql(), the same send written
 * in PL/pgSQL: attachments, a booking, a reply, a body out of bounds, a
 * filter rule that matches, a NULL chat id, tables carrying triggers other
 * than those of foreign keys or forced row security, and a database with
 * Citus (whose tables may live on other nodes).  It gives the errors of
 * the arguments too.
 *
 * The order of the checks is that of the PL/pgSQL send: the actor first;
 * the chat's row is locked (FOR NO KEY UPDATE) only after its participants
 * were checked in the statement's snapshot, so that nobody can hold the
 * lock of someone else's chat; then a retry by client_msg_id (in a
 * snapshot taken after the lock, as the next statement would), the blocks,
 * the update, the insert.  In READ COMMITTED the lock follows the row to
 * its latest version, as an UPDATE does; under REPEATABLE READ or
 * SERIALIZABLE a row changed since the snapshot is a serialization
 * failure (40001), as for an UPDATE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "optimizer/optimizer.h"
#include "utils/guc.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

#define BODY_MAX_CHARS 4000
#define SEND_LOCK_TIMEOUT_MS 2000	/* as the SET lock_timeout of the SQL writers */

/* what is prepared once per backend for one table */
typedef struct PreparedTable
{
	Oid			relid;
	int			natts;
	ExprState **checks;			/* one per CHECK constraint, in relcache order */
	ExprState **generated;		/* per attribute: its generation expression */
	ExprState **defaults;		/* per attribute: its default, if any */
	int			ngenerated;
	Bitmapset  *generated_cols; /* offset by FirstLowInvalidHeapAttributeNumber */
	int			nindexes;
	Oid		   *index_oids;
	List	  **index_exprs;	/* per index: its expressions' states */
	ExprState **index_preds;	/* per index: its predicate's state */
	bool		unsafe;			/* see prepared_is_safe() */
} PreparedTable;

typedef struct SendPathCache
{
	bool		valid;
	bool		usable;			/* else every send takes the PL/pgSQL path */
	Oid			owner;			/* the tables' owner, as whom the rows are
								 * written */
	Oid			chats;
	Oid			messages;
	Oid			filter_state;
	Oid			chats_pkey;
	Oid			client_msg_key;
	FmgrInfo	sql_send;		/* chat._send_message_sql() */
	FmgrInfo	denied;			/* chat._chat_access_denied() */
	Bitmapset  *chats_updated;	/* the columns a send updates */

	/* chat.chats */
	AttrNumber	c_chat_id,
				c_customer_id,
				c_stylist_id,
				c_last_seq,
				c_last_message_at,
				c_customer_read_seq,
				c_customer_unread,
				c_stylist_read_seq,
				c_stylist_unread,
				c_customer_blocked_at,
				c_stylist_blocked_at;
	/* chat.chat_messages */
	AttrNumber	m_chat_id,
				m_seq,
				m_sender_id,
				m_body,
				m_client_msg_id,
				m_attachment_count,
				m_created_at,
				m_kind,
				m_reaction_count;
	/* chat.filter_state */
	AttrNumber	f_ci_pattern,
				f_cs_pattern;

	PreparedTable chats_prep;
	PreparedTable messages_prep;
} SendPathCache;

static SendPathCache cache;
static uint64 invalidations = 0;	/* counted by the callbacks */
static MemoryContext cache_cxt = NULL;
static bool callbacks_registered = false;
static int	send_depth = 0;

PG_FUNCTION_INFO_V1(chat_send_message);

static void
send_path_forget(Datum arg, Oid relid)
{
	/*
	 * Only marked: a send in progress may still be using the prepared
	 * states; the next send at the outermost level frees them.
	 */
	if (!OidIsValid(relid) || relid == cache.chats || relid == cache.messages ||
		relid == cache.filter_state)
	{
		cache.valid = false;
		invalidations++;
	}
}

static void
send_path_forget_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	cache.valid = false;
	invalidations++;
}

static AttrNumber
column(Relation rel, const char *name)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), name);

	if (attnum == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of \"%s\" is missing",
			 name, RelationGetRelationName(rel));
	return attnum;
}

/* whether an index has exactly these key columns */
static bool
index_is_on(Oid indexoid, AttrNumber a, AttrNumber b)
{
	Relation	idx = index_open(indexoid, AccessShareLock);
	Form_pg_index form = idx->rd_index;
	bool		ok;

	ok = idx->rd_rel->relam == BTREE_AM_OID &&
		form->indnkeyatts == (b == InvalidAttrNumber ? 1 : 2) &&
		form->indkey.values[0] == a &&
		(b == InvalidAttrNumber || form->indkey.values[1] == b);
	index_close(idx, NoLock);
	return ok;
}

/* only the triggers of foreign keys, no rules, no forced row security */
static bool
table_is_plain(Relation rel)
{
	TriggerDesc *trigdesc = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION ||
		(rel->rd_rules != NULL && rel->rd_rules->numLocks > 0) ||
		(rel->rd_rel->relrowsecurity && rel->rd_rel->relforcerowsecurity))
		return false;
	if (trigdesc != NULL)
	{
		int			i;

		for (i = 0; i < trigdesc->numtriggers; i++)
			if (RI_FKey_trigger_type(trigdesc->triggers[i].tgfoid) == RI_TRIGGER_NONE)
				return false;
	}
	return true;
}

/* expressions that read the whole row or a system column other than tableoid */
static bool unsafe_expressions;

static void
note_columns(Node *node)
{
	Bitmapset  *cols = NULL;
	int			col = -1;

	pull_varattnos(node, 1, &cols);
	while ((col = bms_next_member(cols, col)) >= 0)
	{
		AttrNumber	attnum = col + FirstLowInvalidHeapAttributeNumber;

		if (attnum == InvalidAttrNumber ||
			(attnum < 0 && attnum != TableOidAttributeNumber))
			unsafe_expressions = true;
	}
}

static ExprState *
prepare_expr(Node *node)
{
	Expr	   *planned = expression_planner((Expr *) node);

	note_columns((Node *) planned);
	return ExecInitExpr(planned, NULL);
}

/* in cache_cxt, as the tables' owner */
static void
prepare_table(PreparedTable *prep, Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TupleConstr *constr = tupdesc->constr;
	List	   *indexes;
	ListCell   *lc;
	int			i;

	memset(prep, 0, sizeof(*prep));
	unsafe_expressions = false;
	prep->relid = RelationGetRelid(rel);
	prep->natts = tupdesc->natts;
	prep->generated = palloc0(tupdesc->natts * sizeof(ExprState *));
	prep->defaults = palloc0(tupdesc->natts * sizeof(ExprState *));

	if (constr != NULL && constr->num_check > 0)
	{
		prep->checks = palloc0(constr->num_check * sizeof(ExprState *));
		for (i = 0; i < constr->num_check; i++)
			prep->checks[i] = prepare_expr(stringToNode(constr->check[i].ccbin));
	}

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		Node	   *expr;

		if (att->attisdropped || !att->atthasdef)
			continue;
		expr = build_column_default(rel, i + 1);
		if (expr == NULL)
			continue;
		if (att->attgenerated == ATTRIBUTE_GENERATED_STORED)
		{
			prep->generated[i] = prepare_expr(expr);
			prep->ngenerated++;
			prep->generated_cols = bms_add_member(prep->generated_cols,
												  i + 1 - FirstLowInvalidHeapAttributeNumber);
		}
		else
			prep->defaults[i] = prepare_expr(expr);
	}

	indexes = RelationGetIndexList(rel);
	prep->nindexes = list_length(indexes);
	prep->index_oids = palloc0(prep->nindexes * sizeof(Oid));
	prep->index_exprs = palloc0(prep->nindexes * sizeof(List *));
	prep->index_preds = palloc0(prep->nindexes * sizeof(ExprState *));
	i = 0;
	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		IndexInfo  *info = BuildIndexInfo(idx);
		ListCell   *le;

		prep->index_oids[i] = RelationGetRelid(idx);
		foreach(le, info->ii_Expressions)
			prep->index_exprs[i] = lappend(prep->index_exprs[i], prepare_expr(lfirst(le)));
		if (info->ii_Predicate != NIL)
		{
			List	   *pred = (List *) expression_planner((Expr *) info->ii_Predicate);

			note_columns((Node *) pred);
			prep->index_preds[i] = ExecInitQual(pred, NULL);
		}
		index_close(idx, NoLock);
		i++;
	}
	prep->unsafe = unsafe_expressions;
}

/*
 * Whether the prepared states can serve call after call: an expression
 * that reads the whole row keeps a tuple descriptor in the memory of the
 * call that first ran it, and system columns other than tableoid are not
 * there before the row is written.  Such a table takes the PL/pgSQL send.
 */
static bool
prepared_is_safe(PreparedTable *prep)
{
	return !prep->unsafe;
}

/*
 * Look everything up and prepare it, the two tables being locked by the
 * caller.  Anything unexpected leaves the cache not usable: the PL/pgSQL
 * send then does the work, and says what is wrong if anything is.  The
 * cache is valid only when all of it was prepared and no invalidation
 * arrived meanwhile: after an error here the next call starts again.
 * Prepared as the tables' owner, with the search_path of the SQL
 * functions (the planner inlines SQL functions by parsing their bodies).
 */
static void
prepare_cache(Relation chats, Relation messages, Relation filter_state)
{
	MemoryContext old = MemoryContextSwitchTo(cache_cxt);
	Oid			nsp = RelationGetNamespace(chats);
	Oid			save_user;
	int			save_sec;
	List	   *name;
	Oid			argtypes[6] = {UUIDOID, TEXTOID, UUIDOID, UUIDOID, JSONBOID, INT8OID};
	Oid			fn;
	uint64		seen = invalidations;
	int			nest;

	cache.owner = chats->rd_rel->relowner;
	cache.chats_pkey = get_relname_relid("chats_pkey", nsp);
	cache.client_msg_key = get_relname_relid("chat_messages_client_msg_id_key", nsp);

	cache.c_chat_id = column(chats, "chat_id");
	cache.c_customer_id = column(chats, "customer_id");
	cache.c_stylist_id = column(chats, "stylist_id");
	cache.c_last_seq = column(chats, "last_seq");
	cache.c_last_message_at = column(chats, "last_message_at");
	cache.c_customer_read_seq = column(chats, "customer_read_seq");
	cache.c_customer_unread = column(chats, "customer_unread");
	cache.c_stylist_read_seq = column(chats, "stylist_read_seq");
	cache.c_stylist_unread = column(chats, "stylist_unread");
	cache.c_customer_blocked_at = column(chats, "customer_blocked_at");
	cache.c_stylist_blocked_at = column(chats, "stylist_blocked_at");
	cache.m_chat_id = column(messages, "chat_id");
	cache.m_seq = column(messages, "seq");
	cache.m_sender_id = column(messages, "sender_id");
	cache.m_body = column(messages, "body");
	cache.m_client_msg_id = column(messages, "client_msg_id");
	cache.m_attachment_count = column(messages, "attachment_count");
	cache.m_created_at = column(messages, "created_at");
	cache.m_kind = column(messages, "kind");
	cache.m_reaction_count = column(messages, "reaction_count");
	{
		AttrNumber	updated[] = {cache.c_last_seq, cache.c_last_message_at,
								 cache.c_customer_read_seq, cache.c_customer_unread,
								 cache.c_stylist_read_seq, cache.c_stylist_unread};

		for (int i = 0; i < (int) lengthof(updated); i++)
			cache.chats_updated = bms_add_member(cache.chats_updated,
												 updated[i] - FirstLowInvalidHeapAttributeNumber);
	}
	cache.f_ci_pattern = column(filter_state, "ci_pattern");
	cache.f_cs_pattern = column(filter_state, "cs_pattern");

	name = list_make2(makeString(get_namespace_name(nsp)), makeString("_send_message_sql"));
	fn = LookupFuncName(name, 6, argtypes, false);
	fmgr_info_cxt(fn, &cache.sql_send, cache_cxt);
	name = list_make2(makeString(get_namespace_name(nsp)), makeString("_chat_access_denied"));
	fn = LookupFuncName(name, 1, argtypes, false);
	fmgr_info_cxt(fn, &cache.denied, cache_cxt);

	/*
	 * With Citus the tables may be distributed, their rows on other nodes:
	 * only the planner knows where.  (Distributing a table invalidates it,
	 * which sends us here again.)
	 */
	cache.usable = !OidIsValid(get_extension_oid("citus", true)) &&
		OidIsValid(cache.chats_pkey) && OidIsValid(cache.client_msg_key) &&
		index_is_on(cache.chats_pkey, cache.c_chat_id, InvalidAttrNumber) &&
		index_is_on(cache.client_msg_key, cache.m_chat_id, cache.m_client_msg_id) &&
		table_is_plain(chats) && table_is_plain(messages);

	if (cache.usable)
	{
		/* as the owner, who may execute the functions the expressions call */
		GetUserIdAndSecContext(&save_user, &save_sec);
		SetUserIdAndSecContext(cache.owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		nest = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		prepare_table(&cache.chats_prep, chats);
		prepare_table(&cache.messages_prep, messages);
		cache.usable = prepared_is_safe(&cache.chats_prep) &&
			prepared_is_safe(&cache.messages_prep);
		AtEOXact_GUC(true, nest);
		SetUserIdAndSecContext(save_user, save_sec);
	}
	MemoryContextSwitchTo(old);
	cache.valid = (invalidations == seen);
}

/* the relation of this name in the schema of chat.send_message() */
static Oid
chat_relation(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "relation \"%s\" of stylist_chat is missing", name);
	return relid;
}

static void
close_tables(Relation chats, Relation messages, Relation filter_state)
{
	table_close(chats, NoLock);
	table_close(messages, NoLock);
	if (filter_state != NULL)
		table_close(filter_state, NoLock);
}

/*
 * Open the three tables, preparing the cache first if it is not valid.
 * An invalidation that arrives while the locks are taken sends us round
 * once more, with the tables locked this time.
 */
static void
open_tables(Oid fn_oid, Relation *chats, Relation *messages, Relation *filter_state)
{
	for (;;)
	{
		bool		was_valid = cache.valid;

		if (!was_valid)
		{
			Oid			nsp = get_func_namespace(fn_oid);

			if (send_depth == 1)
				MemoryContextReset(cache_cxt);
			memset(&cache, 0, sizeof(cache));
			cache.chats = chat_relation(nsp, "chats");
			cache.messages = chat_relation(nsp, "chat_messages");
			cache.filter_state = chat_relation(nsp, "filter_state");
		}
		*chats = table_open(cache.chats, RowExclusiveLock);
		*messages = table_open(cache.messages, RowExclusiveLock);
		*filter_state = table_open(cache.filter_state, AccessShareLock);
		if (!was_valid)
		{
			/* what arrived while locking is reflected in the relcache now */
			prepare_cache(*chats, *messages, *filter_state);
			return;
		}
		if (cache.valid)
			return;
		close_tables(*chats, *messages, *filter_state);
	}
}

/* does a rule of the contact filter match the body?  (src/sql/filter.sql) */
static bool
filter_matches(Relation filter_state, Snapshot snapshot, Datum body)
{
	TableScanDesc scan = table_beginscan(filter_state, snapshot, 0, NULL);
	TupleTableSlot *slot = table_slot_create(filter_state, NULL);
	bool		match = false;

	if (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		AttrNumber	cols[2] = {cache.f_ci_pattern, cache.f_cs_pattern};
		int			i;

		for (i = 0; i < 2 && !match; i++)
		{
			bool		isnull;
			Datum		pattern = slot_getattr(slot, cols[i], &isnull);

			if (!isnull)
				match = DatumGetBool(DirectFunctionCall2Coll(textregexeq,
															 DEFAULT_COLLATION_OID,
															 body, pattern));
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	return match;
}

/* the one answer for "no such chat" and "not yours": chat._chat_access_denied() raises it */
static void
access_denied(pg_uuid_t *chat_id)
{
	(void) FunctionCall1(&cache.denied, UUIDPGetDatum(chat_id));
	elog(ERROR, "chat._chat_access_denied() returned");
}

/* a range table entry for a table the send writes */
static RangeTblEntry *
written_rte(Oid relid, Bitmapset *updated)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->updatedCols = bms_copy(updated);
	return rte;
}

/* the executor's end of the send's writes, in the order of ExecutorFinish/End */
static void
end_writes(EState *estate)
{
	AfterTriggerEndQuery(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	ExecCloseResultRelations(estate);
	ExecCloseRangeTableRelations(estate);
	FreeExecutorState(estate);
}

static bool
uuid_equal(Datum a, pg_uuid_t *b)
{
	return memcmp(DatumGetUUIDP(a), b, UUID_LEN) == 0;
}

/* the chat's row as the snapshot sees it, into slot */
static bool
fetch_chat(Relation chats, Snapshot snapshot, pg_uuid_t *chat_id, TupleTableSlot *slot)
{
	Relation	idx = index_open(cache.chats_pkey, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData key;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(chat_id));
	scan = index_beginscan(chats, idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(idx, NoLock);
	return found;
}

/*
 * Lock the chat's row FOR NO KEY UPDATE, leaving its latest version in
 * slot; false if it was deleted meanwhile (READ COMMITTED).
 */
static bool
lock_chat(Relation chats, Snapshot snapshot, TupleTableSlot *slot)
{
	ItemPointerData tid = slot->tts_tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(chats, &tid, snapshot, slot, GetCurrentCommandId(false),
							  LockTupleNoKeyExclusive, LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			return false;
		case TM_Updated:
			/* only without FIND_LAST_VERSION, so only for a transaction snapshot */
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
			break;
		case TM_SelfModified:
			ereport(ERROR,
					(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
					 errmsg("tuple to be updated was already modified by an operation triggered by the current command")));
			break;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", result);
	}
	return false;
}

/* either participant's block stops the send, with the same error */
static void
check_not_blocked(TupleTableSlot *chat_slot)
{
	bool		isnull_customer,
				isnull_stylist;

	(void) slot_getattr(chat_slot, cache.c_customer_blocked_at, &isnull_customer);
	(void) slot_getattr(chat_slot, cache.c_stylist_blocked_at, &isnull_stylist);
	if (!isnull_customer || !isnull_stylist)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this chat is blocked"),
				 errhint("Nothing can be sent in a blocked chat; its history stays readable.")));
}

/* the message already stored under this client_msg_id, if any */
static bool
find_retry(Relation messages, Snapshot snapshot, pg_uuid_t *chat_id, pg_uuid_t *client_msg_id,
		   TupleTableSlot *slot)
{
	Relation	idx = index_open(cache.client_msg_key, AccessShareLock);
	IndexScanDesc scan;
	ScanKeyData keys[2];
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(chat_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(client_msg_id));
	scan = index_beginscan(messages, idx, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	index_close(idx, NoLock);
	return found;
}

/* the cached expression states in place of the executor's own */
static void
use_prepared(ResultRelInfo *rri, PreparedTable *prep, EState *estate)
{
	ResultRelInfoExtra *extra = palloc0(sizeof(ResultRelInfoExtra));
	int			i,
				j;

	rri->ri_ConstraintExprs = prep->checks;
	rri->ri_GeneratedExprs = prep->generated;
	rri->ri_NumGeneratedNeeded = prep->ngenerated;
	extra->rinfo = rri;
	extra->ri_extraUpdatedCols = prep->generated_cols;
	estate->es_resultrelinfo_extra = lappend(estate->es_resultrelinfo_extra, extra);

	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *info = rri->ri_IndexRelationInfo[i];
		Oid			indexoid = RelationGetRelid(rri->ri_IndexRelationDescs[i]);

		for (j = 0; j < prep->nindexes; j++)
			if (prep->index_oids[j] == indexoid)
			{
				if (info->ii_Expressions != NIL)
					info->ii_ExpressionsState = prep->index_exprs[j];
				if (info->ii_Predicate != NIL)
					info->ii_PredicateState = prep->index_preds[j];
				break;
			}
	}
}

/*
 * Fill the columns not given (given[i] false) of a virtual slot: their
 * defaults, then every generated column; then materialize it.
 */
static void
complete_row(PreparedTable *prep, TupleTableSlot *slot, const bool *given, EState *estate)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			i;

	econtext->ecxt_scantuple = slot;
	if (given != NULL)
		for (i = 0; i < prep->natts; i++)
			if (!given[i] && prep->defaults[i] != NULL)
				slot->tts_values[i] = ExecEvalExprSwitchContext(prep->defaults[i], econtext,
																&slot->tts_isnull[i]);
	for (i = 0; i < prep->natts; i++)
		if (prep->generated[i] != NULL)
			slot->tts_values[i] = ExecEvalExprSwitchContext(prep->generated[i], econtext,
															&slot->tts_isnull[i]);
	ExecMaterializeSlot(slot);
}

static Datum
call_sql_send(FunctionCallInfo fcinfo)
{
	LOCAL_FCINFO(inner, 6);
	Datum		result;
	int			i;

	InitFunctionCallInfoData(*inner, &cache.sql_send, 6, fcinfo->fncollation, NULL, NULL);
	for (i = 0; i < 6; i++)
		inner->args[i] = fcinfo->args[i];
	result = FunctionCallInvoke(inner);
	fcinfo->isnull = inner->isnull;
	return result;
}

/* the body is 1 to 4000 characters and not only blanks */
static bool
body_is_plain(text *body)
{
	const char *p = VARDATA_ANY(body);
	int			len = VARSIZE_ANY_EXHDR(body);
	int			i;

	if (len > BODY_MAX_CHARS && pg_mbstrlen_with_len(p, len) > BODY_MAX_CHARS)
		return false;
	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return true;
	return false;
}

/*
 * The send in C; false when the PL/pgSQL send is to do it (the tables are
 * not as expected, or a filter rule matches the body).
 */
static bool
send_plain(FunctionCallInfo fcinfo, pg_uuid_t *actor, Datum *result)
{
	pg_uuid_t  *chat_id = PG_GETARG_UUID_P(0);
	Datum		body = PointerGetDatum(PG_GETARG_TEXT_PP(1));
	pg_uuid_t  *client_msg_id = PG_ARGISNULL(3) ? NULL : PG_GETARG_UUID_P(3);
	Relation	chats,
				messages,
				filter_state;
	EState	   *estate;
	ResultRelInfo *chats_rri,
			   *messages_rri;
	TupleTableSlot *chat_slot,
			   *new_chat,
			   *message;
	ItemPointerData old_tid;
	TM_FailureData tmfd;
	TM_Result	status;
	LockTupleMode lockmode;
	bool		update_indexes;
	List	   *recheck;
	bool	   *given;
	Datum		customer,
				stylist;
	bool		isnull,
				is_customer,
				is_stylist;
	int64		seq;
	TimestampTz at;
	RelayEvent	ev;
	Oid			save_user;
	int			save_sec;

	open_tables(fcinfo->flinfo->fn_oid, &chats, &messages, &filter_state);
	if (!cache.usable)
	{
		close_tables(chats, messages, filter_state);
		return false;
	}

	/* a snapshot of our own, after what this transaction did so far (as SPI) */
	PushActiveSnapshot(GetTransactionSnapshot());
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();

	if (filter_matches(filter_state, GetActiveSnapshot(), body))
	{
		PopActiveSnapshot();
		close_tables(chats, messages, filter_state);
		return false;
	}
	table_close(filter_state, NoLock);

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(cache.owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);

	/* as the executor sets itself up for the two tables, with our states */
	estate = CreateExecutorState();
	ExecInitRangeTable(estate, list_make2(written_rte(cache.chats, cache.chats_updated),
										  written_rte(cache.messages, NULL)));
	estate->es_snapshot = GetActiveSnapshot();
	estate->es_output_cid = GetCurrentCommandId(true);
	chats_rri = makeNode(ResultRelInfo);
	messages_rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(estate, chats_rri, 1);
	ExecInitResultRelation(estate, messages_rri, 2);
	ExecOpenIndices(chats_rri, false);
	ExecOpenIndices(messages_rri, false);
	use_prepared(chats_rri, &cache.chats_prep, estate);
	use_prepared(messages_rri, &cache.messages_prep, estate);
	AfterTriggerBeginQuery();

	/* the actor's chat, checked before its row is locked */
	chat_slot = table_slot_create(chats, &estate->es_tupleTable);
	if (!fetch_chat(chats, estate->es_snapshot, chat_id, chat_slot))
		access_denied(chat_id);
	customer = slot_getattr(chat_slot, cache.c_customer_id, &isnull);
	stylist = slot_getattr(chat_slot, cache.c_stylist_id, &isnull);
	if (!uuid_equal(customer, actor) && !uuid_equal(stylist, actor))
		access_denied(chat_id);
	/* a chat blocked as the snapshot sees it is not locked (as the UPDATE) */
	if (client_msg_id == NULL)
		check_not_blocked(chat_slot);
	if (!lock_chat(chats, estate->es_snapshot, chat_slot))
		access_denied(chat_id);
	/* the latest version, as EvalPlanQual would check it */
	slot_getallattrs(chat_slot);
	customer = chat_slot->tts_values[cache.c_customer_id - 1];
	stylist = chat_slot->tts_values[cache.c_stylist_id - 1];
	is_customer = uuid_equal(customer, actor);
	is_stylist = uuid_equal(stylist, actor);
	if ((!is_customer && !is_stylist) ||
		!uuid_equal(chat_slot->tts_values[cache.c_chat_id - 1], chat_id))
		access_denied(chat_id);

	/* a retry: what it stored the first time, seen after the lock */
	if (client_msg_id != NULL)
	{
		TupleTableSlot *first = table_slot_create(messages, &estate->es_tupleTable);
		Snapshot	snapshot = estate->es_snapshot;

		if (!IsolationUsesXactSnapshot())
		{
			snapshot = RegisterSnapshot(GetLatestSnapshot());
			snapshot->curcid = estate->es_snapshot->curcid;
		}
		if (find_retry(messages, snapshot, chat_id, client_msg_id, first))
		{
			Datum		sender = slot_getattr(first, cache.m_sender_id, &isnull);

			if (isnull || !uuid_equal(sender, actor))
				ereport(ERROR,
						(errcode(ERRCODE_UNIQUE_VIOLATION),
						 errmsg("client_msg_id %s is already used in this chat by the other participant",
								DatumGetCString(DirectFunctionCall1(uuid_out,
																	UUIDPGetDatum(client_msg_id)))),
						 errhint("Make a new random UUID for every new message.")));
			seq = DatumGetInt64(slot_getattr(first, cache.m_seq, &isnull));
			if (snapshot != estate->es_snapshot)
				UnregisterSnapshot(snapshot);
			goto done;
		}
		if (snapshot != estate->es_snapshot)
			UnregisterSnapshot(snapshot);
	}

	check_not_blocked(chat_slot);

	/*
	 * The chat's row: the next seq; everything so far read for the sender,
	 * one more unread for the other; the time of the last message, never
	 * earlier than the previous one, so that within a chat it follows seq.
	 */
	new_chat = table_slot_create(chats, &estate->es_tupleTable);
	ExecClearTuple(new_chat);
	memcpy(new_chat->tts_values, chat_slot->tts_values, chats->rd_att->natts * sizeof(Datum));
	memcpy(new_chat->tts_isnull, chat_slot->tts_isnull, chats->rd_att->natts * sizeof(bool));
	if (pg_add_s64_overflow(DatumGetInt64(chat_slot->tts_values[cache.c_last_seq - 1]), 1, &seq))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	at = GetCurrentTransactionStartTimestamp();
	if (!chat_slot->tts_isnull[cache.c_last_message_at - 1] &&
		DatumGetTimestampTz(chat_slot->tts_values[cache.c_last_message_at - 1]) > at)
		at = DatumGetTimestampTz(chat_slot->tts_values[cache.c_last_message_at - 1]);
	new_chat->tts_values[cache.c_last_seq - 1] = Int64GetDatum(seq);
	new_chat->tts_values[cache.c_last_message_at - 1] = TimestampTzGetDatum(at);
	new_chat->tts_isnull[cache.c_last_message_at - 1] = false;
	{
		AttrNumber	read_col[2] = {cache.c_customer_read_seq, cache.c_stylist_read_seq};
		AttrNumber	unread_col[2] = {cache.c_customer_unread, cache.c_stylist_unread};
		bool		is_sender[2] = {is_customer, is_stylist};
		int			i;

		for (i = 0; i < 2; i++)
		{
			int32		unread;

			if (is_sender[i])
			{
				new_chat->tts_values[read_col[i] - 1] = Int64GetDatum(seq);
				new_chat->tts_values[unread_col[i] - 1] = Int32GetDatum(0);
			}
			else
			{
				if (pg_add_s32_overflow(DatumGetInt32(chat_slot->tts_values[unread_col[i] - 1]),
										1, &unread))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("integer out of range")));
				new_chat->tts_values[unread_col[i] - 1] = Int32GetDatum(unread);
			}
		}
	}
	ExecStoreVirtualTuple(new_chat);
	new_chat->tts_tableOid = RelationGetRelid(chats);
	complete_row(&cache.chats_prep, new_chat, NULL, estate);
	ExecConstraints(chats_rri, new_chat, estate);
	CheckCmdReplicaIdentity(chats, CMD_UPDATE);
	old_tid = chat_slot->tts_tid;
	status = table_tuple_update(chats, &old_tid, new_chat, estate->es_output_cid,
								estate->es_snapshot, InvalidSnapshot, true,
								&tmfd, &lockmode, &update_indexes);
	if (status != TM_Ok)
		elog(ERROR, "unexpected table_tuple_update status: %u", status);
	recheck = NIL;
	if (update_indexes && chats_rri->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(chats_rri, new_chat, estate, true, false, NULL, NIL);
	ExecARUpdateTriggers(estate, chats_rri, NULL, NULL, &old_tid, NULL, new_chat,
						 recheck, NULL, false);

	/* the message */
	message = table_slot_create(messages, &estate->es_tupleTable);
	ExecClearTuple(message);
	memset(message->tts_isnull, true, messages->rd_att->natts * sizeof(bool));
	given = palloc0(messages->rd_att->natts * sizeof(bool));
#define SET_COLUMN(col, value) \
	do { \
		message->tts_values[(col) - 1] = (value); \
		message->tts_isnull[(col) - 1] = false; \
		given[(col) - 1] = true; \
	} while (0)
	SET_COLUMN(cache.m_chat_id, UUIDPGetDatum(chat_id));
	SET_COLUMN(cache.m_seq, Int64GetDatum(seq));
	SET_COLUMN(cache.m_sender_id, UUIDPGetDatum(actor));
	SET_COLUMN(cache.m_body, body);
	if (client_msg_id != NULL)
		SET_COLUMN(cache.m_client_msg_id, UUIDPGetDatum(client_msg_id));
	else
		given[cache.m_client_msg_id - 1] = true;
	SET_COLUMN(cache.m_attachment_count, Int16GetDatum(0));
	SET_COLUMN(cache.m_created_at, TimestampTzGetDatum(at));
	SET_COLUMN(cache.m_kind, CStringGetTextDatum("text"));
	SET_COLUMN(cache.m_reaction_count, Int16GetDatum(0));
#undef SET_COLUMN
	ExecStoreVirtualTuple(message);
	message->tts_tableOid = RelationGetRelid(messages);
	complete_row(&cache.messages_prep, message, given, estate);
	ExecConstraints(messages_rri, message, estate);
	CheckCmdReplicaIdentity(messages, CMD_INSERT);
	table_tuple_insert(messages, message, estate->es_output_cid, 0, NULL);
	recheck = NIL;
	if (messages_rri->ri_NumIndices > 0)
		recheck = ExecInsertIndexTuples(messages_rri, message, estate, false, false, NULL, NIL);
	ExecARInsertTriggers(estate, messages_rri, message, recheck, NULL);

	/* relayed when the transaction commits */
	memset(&ev, 0, sizeof(ev));
	ev.dbid = MyDatabaseId;
	ev.kind = RELAY_MESSAGE;
	ev.chat_id = *chat_id;
	ev.customer_id = *DatumGetUUIDP(customer);
	ev.stylist_id = *DatumGetUUIDP(stylist);
	ev.actor_id = *actor;
	ev.seq = seq;
	ev.at = at;
	relay_event_record(&ev);

done:
	end_writes(estate);
	SetUserIdAndSecContext(save_user, save_sec);
	PopActiveSnapshot();
	close_tables(chats, messages, NULL);
	*result = Int64GetDatum(seq);
	return true;
}

/*
 * chat.send_message(chat_id uuid, body text, booking_id uuid,
 *					 client_msg_id uuid, attachments jsonb,
 *					 reply_to_seq bigint) returns bigint
 */
Datum
chat_send_message(PG_FUNCTION_ARGS)
{
	pg_uuid_t	actor;
	Datum		result = (Datum) 0;
	Datum	   *volatile result_p = &result;
	volatile bool handled = false;
	volatile int save_lock_timeout = LockTimeout;
	volatile bool lock_timeout_set = false;

	actor_require(&actor);
	require_writable("send_message");

	if (!callbacks_registered)
	{
		cache_cxt = AllocSetContextCreate(CacheMemoryContext, "stylist_chat send path",
										  ALLOCSET_SMALL_SIZES);
		CacheRegisterRelcacheCallback(send_path_forget, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, send_path_forget_syscache, (Datum) 0);
		callbacks_registered = true;
	}

	send_depth++;
	PG_TRY();
	{
		/*
		 * Only a plain text message; the PL/pgSQL send for anything else.
		 * Like every writer, it waits at most 2 s for a lock: lock_timeout
		 * for the time of the send in C (the PL/pgSQL send sets its own;
		 * nothing in between sets it, so no GUC state outlives ours).
		 */
		if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1) && PG_ARGISNULL(2) && PG_ARGISNULL(4) &&
			PG_ARGISNULL(5) && body_is_plain(PG_GETARG_TEXT_PP(1)))
		{
			lock_timeout_set = true;
			LockTimeout = SEND_LOCK_TIMEOUT_MS;
			handled = send_plain(fcinfo, &actor, result_p);
			LockTimeout = save_lock_timeout;
			lock_timeout_set = false;
		}
		if (!handled)
		{
			Relation	chats,
						messages,
						filter_state;

			lock_timeout_set = true;
			LockTimeout = SEND_LOCK_TIMEOUT_MS;
			open_tables(fcinfo->flinfo->fn_oid, &chats, &messages, &filter_state);
			LockTimeout = save_lock_timeout;
			lock_timeout_set = false;
			close_tables(chats, messages, filter_state);
			*result_p = call_sql_send(fcinfo);
		}
	}
	PG_FINALLY();
	{
		if (lock_timeout_set)
			LockTimeout = save_lock_timeout;
		send_depth--;
	}
	PG_END_TRY();

	return *result_p;
}
