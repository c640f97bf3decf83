/*
 * The rules of a chat row and of a message row, and the minute of a chat's
 * last activity (C, src/row_checks.c): what the CHECK constraints
 * chats_state_check and chat_messages_check and the generated column
 * chats.activity_minute call.  Every send writes both rows, and the
 * executor prepares a table's CHECK constraints and generation expressions
 * anew for every statement: one call on the columns is a tenth of the
 * work of the same rules written out in SQL.  No table is needed here, so
 * the tables can use these.
 */

CREATE OR REPLACE FUNCTION chat._chat_state_ok(customer_role text, stylist_role text, last_seq bigint,
                                               customer_read_seq bigint, stylist_read_seq bigint,
                                               customer_unread integer, stylist_unread integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'chat_chat_state_ok'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._chat_state_ok(text, text, bigint, bigint, bigint, integer, integer) IS
'chats_state_check: the roles are ''customer'' and ''stylist''; last_seq >= 0; each read seq between 0 and last_seq; each unread count >= 0. Internal.';
REVOKE ALL ON FUNCTION chat._chat_state_ok(text, text, bigint, bigint, bigint, integer, integer) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._message_ok(body text, attachment_count smallint, deleted_at timestamptz,
                                            seq bigint, reply_to_seq bigint, kind text, sender_id uuid,
                                            card jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'chat_message_ok'
LANGUAGE C IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION chat._message_ok(text, smallint, timestamptz, bigint, bigint, text, uuid, jsonb) IS
'chat_messages_check: a body of at most 4000 characters; 0 to 10 attachments; a body exactly when not deleted (a tombstone has none), and no attachments once deleted; a reply quotes an earlier seq; kind ''text'' (with a sender, without a card) or ''booking'' (with a card, without a sender). Internal.';
REVOKE ALL ON FUNCTION chat._message_ok(text, smallint, timestamptz, bigint, bigint, text, uuid, jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._activity_minute(t timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'chat_activity_minute'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._activity_minute(timestamptz) IS
'The minute of a time, in minutes since 1970-01-01 UTC rounded down (floor(extract(epoch FROM t - to_timestamp(0)) / 60)): chats.activity_minute, the inbox''s index. Internal.';
REVOKE ALL ON FUNCTION chat._activity_minute(timestamptz) FROM PUBLIC, chat_service, chat_user;
