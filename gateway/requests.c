/*
 * requests.c: the requests a client of the gateway may make.
 *
 * Each request names its arguments (as the SQL API names them), their JSON
 * kinds, and one statement that the pool prepares once per connection and
 * runs right after chat.authenticate() in the same transaction.  Every
 * statement returns one text column holding the answer as JSON, made by
 * PostgreSQL (json_agg, to_json): the gateway never reads a row, it passes
 * the text on.  An argument left out is NULL, and the statement supplies
 * the function's default where NULL would mean something else.
 *
 * Set-returning calls give at most 200 rows a request through the gateway
 * (frame.c refuses a larger max_rows), so that one answer stays well
 * under a megabyte.
 */
#include "gateway.h"

#define A(n, k, r) {n, k, r}
#define ROWS(call) "SELECT COALESCE(pg_catalog.json_agg(r), '[]')::text FROM " call " r"
#define VALUE(call) "SELECT pg_catalog.to_json(" call ")::text"
#define NOTHING(call) "SELECT 'null'::text FROM (SELECT " call ") AS done"

const RequestSpec request_specs[] = {
	{"authenticate", REQ_AUTHENTICATE, 1, {A("token", ARG_TEXT, true)}, SQL_WHOAMI},
	{"status", REQ_STATUS, 0, {{0}}, NULL},
	{"inbox", REQ_SQL, 4,
		{A("max_rows", ARG_INT, false), A("before_activity", ARG_TIME, false),
		 A("before_chat_id", ARG_UUID, false), A("archived", ARG_BOOL, false)},
		ROWS("chat.inbox(COALESCE($1::integer, 50), $2::timestamptz, $3::uuid,"
			 " COALESCE($4::boolean, false))")},
	{"get_chat", REQ_SQL, 1, {A("chat_id", ARG_UUID, true)},
		"SELECT pg_catalog.to_json(r)::text FROM chat.get_chat($1::uuid) r"},
	{"bookings", REQ_SQL, 1, {A("chat_id", ARG_UUID, true)},
		ROWS("chat.chat_bookings($1::uuid)")},
	{"history", REQ_SQL, 3,
		{A("chat_id", ARG_UUID, true), A("before_seq", ARG_INT, false), A("max_rows", ARG_INT, false)},
		ROWS("chat.history($1::uuid, $2::bigint, COALESCE($3::integer, 50))")},
	{"since", REQ_SQL, 3,
		{A("chat_id", ARG_UUID, true), A("after_seq", ARG_INT, true), A("max_rows", ARG_INT, false)},
		ROWS("chat.messages_since($1::uuid, $2::bigint, COALESCE($3::integer, 100))")},
	{"catch_up", REQ_SQL, 2,
		{A("received", ARG_JSON, false), A("max_rows", ARG_INT, false)},
		ROWS("chat.catch_up($1::jsonb, COALESCE($2::integer, 100))")},
	{"ack", REQ_SQL, 2, {A("chat_id", ARG_UUID, true), A("seq", ARG_INT, true)},
		VALUE("chat.ack_delivered($1::uuid, $2::bigint)")},
	{"send", REQ_SQL, 6,
		{A("chat_id", ARG_UUID, true), A("body", ARG_TEXT, false), A("booking_id", ARG_UUID, false),
		 A("client_msg_id", ARG_UUID, false), A("attachments", ARG_JSON, false),
		 A("reply_to_seq", ARG_INT, false)},
		VALUE("chat.send_message($1::uuid, COALESCE($2::text, ''), $3::uuid, $4::uuid,"
			  " $5::jsonb, $6::bigint)")},
	{"read", REQ_SQL, 2, {A("chat_id", ARG_UUID, true), A("up_to_seq", ARG_INT, false)},
		VALUE("chat.mark_read($1::uuid, $2::bigint)")},
	{"typing", REQ_SQL, 1, {A("chat_id", ARG_UUID, true)},
		NOTHING("chat.typing($1::uuid)")},
	{"search", REQ_SQL, 4,
		{A("chat_id", ARG_UUID, true), A("query", ARG_TEXT, true), A("max_rows", ARG_INT, false),
		 A("before_seq", ARG_INT, false)},
		ROWS("chat.search($1::uuid, $2::text, COALESCE($3::integer, 20), $4::bigint)")},
	{"pin", REQ_SQL, 4,
		{A("chat_id", ARG_UUID, true), A("seq", ARG_INT, true), A("note", ARG_TEXT, false),
		 A("expires_at", ARG_TIME, false)},
		NOTHING("chat.pin($1::uuid, $2::bigint, $3::text, $4::timestamptz)")},
	{"unpin", REQ_SQL, 2, {A("chat_id", ARG_UUID, true), A("seq", ARG_INT, true)},
		NOTHING("chat.unpin($1::uuid, $2::bigint)")},
	{"pinned", REQ_SQL, 1, {A("chat_id", ARG_UUID, true)},
		ROWS("chat.pinned($1::uuid)")},
	{"react", REQ_SQL, 3,
		{A("chat_id", ARG_UUID, true), A("seq", ARG_INT, true), A("emoji", ARG_TEXT, true)},
		"SELECT chat.react($1::uuid, $2::bigint, $3::text)::text"},
	{"unreact", REQ_SQL, 3,
		{A("chat_id", ARG_UUID, true), A("seq", ARG_INT, true), A("emoji", ARG_TEXT, true)},
		"SELECT chat.unreact($1::uuid, $2::bigint, $3::text)::text"},
};

const int	n_request_specs = sizeof(request_specs) / sizeof(request_specs[0]);
