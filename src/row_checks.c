/*-------------------------------------------------------------------------
 *
 * row_checks.c
 *	  The rules of a chat row and of a message row, for their CHECK
 *	  constraints, and the minute of a chat's last activity.
 *
 * Every message sent updates its chat row and inserts a message row, and
 * the executor prepares each CHECK constraint of a table anew for every
 * statement that writes it: it reads the constraint's expression back from
 * its text form, simplifies it and compiles it.  Written as SQL, the two
 * constraints (a dozen comparisons each) were about 9 kB of node text per
 * send, and preparing them took more of a send's time than anything else.
 * A CHECK that calls one of these functions on the row's columns is a
 * tenth of that, and it says the same:
 *
 *   chats_state_check, chat._chat_state_ok(customer_role, stylist_role,
 *   last_seq, customer_read_seq, stylist_read_seq, customer_unread,
 *   stylist_unread):
 *     the roles are 'customer' and 'stylist'; last_seq >= 0; each read seq
 *     between 0 and last_seq; each unread count >= 0.
 *
 *   chat_messages_check, chat._message_ok(body, attachment_count,
 *   deleted_at, seq, reply_to_seq, kind, sender_id, card):
 *     a body of at most 4,000 characters; 0 to 10 attachments; a body
 *     exactly when not deleted; no attachments once deleted; a reply quotes
 *     an earlier seq; kind 'text' (with a sender, without a card) or
 *     'booking' (a card, without a sender).
 *
 * The generated column chats.activity_minute is chat._activity_minute(
 * coalesce(last_message_at, created_at)): minutes since 1970, rounded down,
 * what floor(extract(epoch FROM t - to_timestamp(0)) / 60) gives.
 *
 * All are IMMUTABLE; test/pgtap/schema.sql checks each rule against rows
 * that break it, and the minute against that SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "stylist_chat.h"

/* the longest body, in characters */
#define MAX_BODY_CHARS 4000
#define MAX_ATTACHMENTS 10

PG_FUNCTION_INFO_V1(chat_chat_state_ok);
PG_FUNCTION_INFO_V1(chat_message_ok);
PG_FUNCTION_INFO_V1(chat_activity_minute);

/* whether a text datum is exactly the ASCII string s */
static bool
text_is(Datum t, const char *s)
{
	text	   *v = DatumGetTextPP(t);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(v) == len && memcmp(VARDATA_ANY(v), s, len) == 0;
}

/*
 * chat._chat_state_ok(customer_role text, stylist_role text, last_seq
 * bigint, customer_read_seq bigint, stylist_read_seq bigint,
 * customer_unread integer, stylist_unread integer) returns boolean, STRICT
 */
Datum
chat_chat_state_ok(PG_FUNCTION_ARGS)
{
	int64		last_seq = PG_GETARG_INT64(2);
	int64		customer_read = PG_GETARG_INT64(3);
	int64		stylist_read = PG_GETARG_INT64(4);

	PG_RETURN_BOOL(text_is(PG_GETARG_DATUM(0), "customer") &&
				   text_is(PG_GETARG_DATUM(1), "stylist") &&
				   last_seq >= 0 &&
				   customer_read >= 0 && customer_read <= last_seq &&
				   stylist_read >= 0 && stylist_read <= last_seq &&
				   PG_GETARG_INT32(5) >= 0 && PG_GETARG_INT32(6) >= 0);
}

/*
 * chat._message_ok(body text, attachment_count smallint, deleted_at
 * timestamptz, seq bigint, reply_to_seq bigint, kind text, sender_id uuid,
 * card jsonb) returns boolean
 *
 * Not STRICT: a NULL body, deletion time, reply, sender or card is part of
 * the rules.  attachment_count, seq and kind are NOT NULL columns: without
 * one the answer is NULL, and the NOT NULL constraint says what is wrong.
 */
Datum
chat_message_ok(PG_FUNCTION_ARGS)
{
	bool		has_body = !PG_ARGISNULL(0);
	bool		deleted = !PG_ARGISNULL(2);
	bool		is_text;
	int16		attachments;
	int64		seq;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(3) || PG_ARGISNULL(5))
		PG_RETURN_NULL();
	attachments = PG_GETARG_INT16(1);
	seq = PG_GETARG_INT64(3);

	if (has_body)
	{
		text	   *body = PG_GETARG_TEXT_PP(0);
		int			bytes = VARSIZE_ANY_EXHDR(body);

		/* a character is at least a byte: count only a long body */
		if (bytes > MAX_BODY_CHARS &&
			pg_mbstrlen_with_len(VARDATA_ANY(body), bytes) > MAX_BODY_CHARS)
			PG_RETURN_BOOL(false);
	}
	if (attachments < 0 || attachments > MAX_ATTACHMENTS)
		PG_RETURN_BOOL(false);
	if (deleted == has_body || (deleted && attachments != 0))
		PG_RETURN_BOOL(false);
	if (!PG_ARGISNULL(4) && PG_GETARG_INT64(4) >= seq)
		PG_RETURN_BOOL(false);

	is_text = text_is(PG_GETARG_DATUM(5), "text");
	if (!is_text && !text_is(PG_GETARG_DATUM(5), "booking"))
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(is_text == !PG_ARGISNULL(6) && is_text == PG_ARGISNULL(7));
}

/*
 * chat._activity_minute(t timestamptz) returns bigint, STRICT: minutes
 * since 1970-01-01 00:00 UTC, rounded down
 */
Datum
chat_activity_minute(PG_FUNCTION_ARGS)
{
	TimestampTz t = PG_GETARG_TIMESTAMPTZ(0);
	int64		since_1970;

	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("a chat's activity time must be finite")));
	/* no overflow: finite timestamps are far from the ends of int64 */
	since_1970 = t + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	PG_RETURN_INT64(since_1970 >= 0 ? since_1970 / USECS_PER_MINUTE
					: -((-since_1970 + USECS_PER_MINUTE - 1) / USECS_PER_MINUTE));
}
