/*-------------------------------------------------------------------------
 *
 * placement.c
 *	  Where this node keeps the rows of one of the extension's tables.
 *
 * The acting profile's checks (actor.c) read chat.profiles, chat.secrets
 * and chat.token_revocations below the SQL layer: one probe of an index,
 * no query, no search_path, no privilege in the way.  On one server the
 * rows are in those tables.  On a Citus cluster, once
 * chat.distribute_tables() has made them reference tables, the table of
 * that name is an empty shell: the rows are in the table's one shard,
 * which Citus keeps as a copy on every node (the coordinator included),
 * named after the table and the shard id ("profiles_102008", its primary
 * key "profiles_pkey_102008"), beside it in schema chat.  Writes reach
 * every copy in the writing transaction (Citus commits them together), so
 * this node's copy, read in this transaction's snapshot, says what the
 * shell would say.
 *
 * chat_local_relation() answers with the relation to read: the table
 * itself where Citus does not know it (no Citus, or a table Citus leaves
 * alone), else this node's copy of its shard, found through
 * pg_dist_shard, which it reads the same way (an index probe, no query:
 * Citus's own catalog tables, in pg_catalog, are not the caller's to
 * shadow).  A table Citus distributes with no copy here is an error, not
 * an empty answer: nobody must seem not to exist.
 *
 * Two more questions of the same kind: chat_on_citus_worker() (is this
 * node a Citus worker, where the relay and the bookkeeper stand aside and
 * the API does not write) and chat._distributed() (is chat.chats
 * distributed by hash over a cluster, where the readers that span many
 * chats take one statement per chat).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "stylist_chat.h"

/*
 * The rows of Citus's catalog table pg_catalog.<catalog> for a table of
 * ours (by logicalrelid, through <index> when it is there): how many have
 * <column> set, and in *value (copied) that column of the last of them.
 * None when Citus is not there.
 */
static int
citus_catalog_lookup(const char *catalog, const char *index, Oid relid, const char *column,
					 Datum *value)
{
	Oid			cat_rel = get_relname_relid(catalog, PG_CATALOG_NAMESPACE);
	Oid			cat_index = get_relname_relid(index, PG_CATALOG_NAMESPACE);
	AttrNumber	logical_att;
	AttrNumber	value_att;
	int16		typlen;
	bool		typbyval;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			n = 0;

	*value = (Datum) 0;
	if (!OidIsValid(cat_rel))
		return 0;				/* no Citus in this database */
	logical_att = get_attnum(cat_rel, "logicalrelid");
	value_att = get_attnum(cat_rel, column);
	if (logical_att == InvalidAttrNumber || value_att == InvalidAttrNumber)
		return 0;
	get_typlenbyval(get_atttype(cat_rel, value_att), &typlen, &typbyval);
	if (OidIsValid(cat_index) && IndexGetRelation(cat_index, true) != cat_rel)
		cat_index = InvalidOid;

	rel = table_open(cat_rel, AccessShareLock);
	ScanKeyInit(&key, logical_att, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, cat_index, OidIsValid(cat_index), NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, value_att, RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			*value = datumCopy(d, typbyval, typlen);
			n++;
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * How Citus spreads a table: its pg_dist_partition.partmethod ('h' by
 * hash, 'n' a reference table or a table of the coordinator alone), or 0
 * when Citus does not know it (or is not there).
 */
static char
citus_partition_method(Oid relid)
{
	Datum		method;

	if (citus_catalog_lookup("pg_dist_partition", "pg_dist_partition_logical_relid_index",
							 relid, "partmethod", &method) == 0)
		return 0;
	return DatumGetChar(method);
}

/* the shard of a table Citus knows, or 0 (none, or more than one) */
static int64
citus_shard_of(Oid relid, int *nshards)
{
	Datum		shardid;

	*nshards = citus_catalog_lookup("pg_dist_shard", "pg_dist_shard_logical_relid_index",
									relid, "shardid", &shardid);
	return *nshards == 1 ? DatumGetInt64(shardid) : 0;
}

/*
 * The relation (and, when index_name is given, its index) of chat.<name>
 * to read on this node.  relid is InvalidOid when the table does not
 * exist; so is *indexid when the index does not.
 */
Oid
chat_local_relation(Oid nspid, const char *name, const char *index_name, Oid *indexid)
{
	Oid			relid = get_relname_relid(name, nspid);
	char		method;
	int			nshards;
	int64		shardid;
	char		shard_name[NAMEDATALEN + 32];
	Oid			shard_relid;

	if (indexid != NULL)
		*indexid = index_name != NULL ? get_relname_relid(index_name, nspid) : InvalidOid;
	if (!OidIsValid(relid))
		return InvalidOid;

	method = citus_partition_method(relid);
	if (method == 0)
		return relid;			/* rows in the table itself */
	if (method != 'n')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("table chat.%s is distributed, and stylist_chat reads it on every node", name),
				 errhint("chat.distribute_tables() makes it a reference table: undistribute it (undistribute_table()) and call it again.")));
	shardid = citus_shard_of(relid, &nshards);
	if (nshards != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table chat.%s has %d shards in Citus's metadata, and a reference table has one", name, nshards)));

	snprintf(shard_name, sizeof(shard_name), "%s_" INT64_FORMAT, name, shardid);
	shard_relid = get_relname_relid(shard_name, nspid);
	if (!OidIsValid(shard_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this node has no copy of the reference table chat.%s", name),
				 errdetail("Its shard " INT64_FORMAT " has no placement here.", shardid),
				 errhint("Add the coordinator to the cluster's metadata (citus_set_coordinator_host()) so that reference tables have a copy on it.")));
	if (indexid != NULL && index_name != NULL)
	{
		snprintf(shard_name, sizeof(shard_name), "%s_" INT64_FORMAT, index_name, shardid);
		*indexid = get_relname_relid(shard_name, nspid);
		if (OidIsValid(*indexid) && IndexGetRelation(*indexid, true) != shard_relid)
			*indexid = InvalidOid;
	}
	return shard_relid;
}

/*
 * Is this node a worker of a Citus cluster (a group other than the
 * coordinator's 0 in pg_dist_local_group)?  The relay and the bookkeeper
 * stand aside there: the coordinator, where every call of the API runs,
 * records every event, and a worker's relay or bookkeeper would read the
 * whole cluster's tables through Citus and move the coordinator's
 * watermarks.  Asked in a transaction.
 */
bool
chat_on_citus_worker(void)
{
	return chat_citus_group() > 0;
}

/*
 * This node's group in a Citus cluster (pg_dist_local_group: 0 for the
 * coordinator), or -1 without Citus.
 */
int
chat_citus_group(void)
{
	Oid			group_rel = get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE);
	AttrNumber	group_att;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			group = -1;

	if (!OidIsValid(group_rel))
		return -1;
	group_att = get_attnum(group_rel, "groupid");
	if (group_att == InvalidAttrNumber)
		return -1;
	rel = table_open(group_rel, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, group_att, RelationGetDescr(rel), &isnull);

		if (!isnull)
			group = DatumGetInt32(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return group;
}

/*
 * chat._distributed() returns boolean: is chat.chats spread over a Citus
 * cluster (chat.distribute_tables())?  The readers that span many chats
 * take one statement per chat there (src/sql/catchup.sql).
 */
PG_FUNCTION_INFO_V1(chat_distributed);

Datum
chat_distributed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(chat_chats_distributed());
}

/* is chat.chats distributed by hash (a table of the coordinator alone is not spread)? */
bool
chat_chats_distributed(void)
{
	Oid			nspid = get_namespace_oid("chat", true);
	Oid			relid = OidIsValid(nspid) ? get_relname_relid("chats", nspid) : InvalidOid;

	return OidIsValid(relid) && citus_partition_method(relid) == 'h';
}
