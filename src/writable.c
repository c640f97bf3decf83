/*-------------------------------------------------------------------------
 *
 * writable.c
 *	  The one answer of every writing function on a standby, or in a
 *	  read-only transaction.
 *
 * A streaming replica serves the reads of the API (history, inbox,
 * search, ...) with the same access checks as the primary; whatever
 * writes (a send, a read mark, a delivery, a catch-up's acknowledgement,
 * an admin's setting) cannot run there.  PostgreSQL would refuse the
 * function at its first write, with a message naming that statement
 * ("cannot execute SELECT FOR NO KEY UPDATE in a read-only transaction").
 * Each writing function of the API calls chat._require_writable() first
 * instead, and the send path in C calls require_writable(): SQLSTATE
 * 25006, a message that names the function, and a hint that says where
 * to call it.
 *
 * A worker of a Citus cluster answers the same way: the API writes on the
 * coordinator, whose relay worker records and relays every event (a
 * worker's relay stands aside), so a message sent through a worker would
 * be stored and reach its recipient only by catch-up.  A worker serves the
 * reads, like a standby (placement.c says how this node knows).
 * A call the coordinator sends whole to the chat's node (on_node.c) writes
 * there: its events go back to the coordinator with its result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "stylist_chat.h"

PG_FUNCTION_INFO_V1(chat_require_writable);

/* 25006 unless this transaction may write; what: the function, for the message */
void
require_writable(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("chat.%s() writes, and this server is a standby", what),
				 errhint("Call it on the primary. A standby serves the reads: history(), messages_since(), inbox(), search(), gallery(), get_chat() and the like.")));
	if (!chat_in_node_call() && chat_on_citus_worker())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("chat.%s() writes, and this node is a worker of a Citus cluster", what),
				 errhint("Call it on the coordinator, whose relay tells the listeners. A worker serves the reads: history(), messages_since(), inbox(), search(), gallery(), get_chat() and the like.")));
	if (XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("chat.%s() writes, and this transaction is read-only", what),
				 errhint("Call it in a read-write transaction.")));
}

/*
 * chat._require_writable(what text) returns void
 */
Datum
chat_require_writable(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		elog(ERROR, "chat._require_writable() needs the name of its caller");
	require_writable(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
