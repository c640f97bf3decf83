/*
 * Keys and what is made with them (C, src/channel.c and src/token.c): the
 * random keys of chat.secrets, channel names, and signed tokens.  No
 * table is needed here, so the tables can use these.
 */

CREATE OR REPLACE FUNCTION chat._random_key()
RETURNS bytea
AS 'MODULE_PATHNAME', 'chat_random_key'
LANGUAGE C VOLATILE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._random_key() IS
'32 bytes from the server''s strong random source. Internal.';
REVOKE ALL ON FUNCTION chat._random_key() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._channel_name(key bytea, profile_id uuid)
RETURNS text
AS 'MODULE_PATHNAME', 'chat_channel_name'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._channel_name(bytea, uuid) IS
'The LISTEN channel of a profile: chat_ and 40 hex digits of HMAC-SHA256 of the id under the key. Internal.';
REVOKE ALL ON FUNCTION chat._channel_name(bytea, uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._sign_token_v2(key bytea, profile_id uuid, issued_at timestamptz,
                                               expires_at timestamptz, token_id uuid,
                                               single_use boolean)
RETURNS text
AS 'MODULE_PATHNAME', 'chat_sign_token_v2'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION chat._sign_token_v2(bytea, uuid, timestamptz, timestamptz, uuid, boolean) IS
'A version 2 token: profile, issue and expiry times, a token id and a single-use flag, signed with HMAC-SHA256 under key. Internal.';
REVOKE ALL ON FUNCTION chat._sign_token_v2(bytea, uuid, timestamptz, timestamptz, uuid, boolean) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._check_token(token text, key bytea, previous_key bytea,
                                             OUT profile_id uuid, OUT issued_at timestamptz,
                                             OUT expires_at timestamptz, OUT token_id uuid,
                                             OUT single_use boolean, OUT key_fingerprint bytea)
RETURNS record
AS 'MODULE_PATHNAME', 'chat_check_token'
LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL SAFE;

COMMENT ON FUNCTION chat._check_token(text, bytea, bytea) IS
'What a token signed under key or previous_key and not expired says (version 1 tokens have no issue time or id), and the fingerprint of the key that signed it; all NULL for anything else. Internal.';
REVOKE ALL ON FUNCTION chat._check_token(text, bytea, bytea) FROM PUBLIC, chat_service, chat_user;
