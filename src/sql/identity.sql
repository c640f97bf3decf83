/*
 * Who is acting (C, src/actor.c) and the chat id of a pair (C,
 * src/chat_id.c).  No table is needed here, so the tables can use these.
 */

CREATE OR REPLACE FUNCTION chat.act_as(profile_id uuid, for_session boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_act_as'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat.act_as(uuid, boolean) IS
'Act as a profile until the transaction ends, or for the session when for_session is true (only where a superuser has enabled stylist_chat.session_identity for the login). Superusers and members of chat_service only.';
REVOKE ALL ON FUNCTION chat.act_as(uuid, boolean) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.act_as(uuid, boolean) TO chat_service;

CREATE OR REPLACE FUNCTION chat.current_actor()
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_current_actor'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat.current_actor() IS
'The acting profile, or NULL when nobody is acting.';
REVOKE ALL ON FUNCTION chat.current_actor() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.current_actor() TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.require_actor()
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_require_actor'
LANGUAGE C STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat.require_actor() IS
'The acting profile; raises SQLSTATE 28000 when nobody is acting. Internal.';
REVOKE ALL ON FUNCTION chat.require_actor() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.reset_actor()
RETURNS void
AS 'MODULE_PATHNAME', 'chat_reset_actor'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat.reset_actor() IS
'Stop acting as any profile, for the transaction and the session.';
REVOKE ALL ON FUNCTION chat.reset_actor() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.reset_actor() TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.pair_chat_id(customer_id uuid, stylist_id uuid)
RETURNS uuid
AS 'MODULE_PATHNAME', 'chat_pair_chat_id'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat.pair_chat_id(uuid, uuid) IS
'The id of the chat of a customer and a stylist: a name-based (version 5) UUID of the pair.';
REVOKE ALL ON FUNCTION chat.pair_chat_id(uuid, uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.pair_chat_id(uuid, uuid) TO chat_service;

CREATE OR REPLACE FUNCTION chat._act_as_token(profile_id uuid, issued_at timestamptz,
                                              expires_at timestamptz, key_fingerprint bytea,
                                              for_session boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_act_as_token'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;

COMMENT ON FUNCTION chat._act_as_token(uuid, timestamptz, timestamptz, bytea, boolean) IS
'Act as the profile of a checked token, for the transaction or the session, until the token expires, its key is rotated out or the profile''s tokens are revoked. Internal: called by chat.authenticate().';
REVOKE ALL ON FUNCTION chat._act_as_token(uuid, timestamptz, timestamptz, bytea, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._require_writable(what text)
RETURNS void
AS 'MODULE_PATHNAME', 'chat_require_writable'
LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;

COMMENT ON FUNCTION chat._require_writable(text) IS
'Raises SQLSTATE 25006, naming chat.<what>() and where to call it, on a standby or in a read-only transaction: the first call of every function that writes. Internal.';
REVOKE ALL ON FUNCTION chat._require_writable(text) FROM PUBLIC, chat_service, chat_user;
