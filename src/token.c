/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed identity tokens, for connections that are not trusted.
 *
 * The application backend (a chat_service member) mints a token for a
 * profile with chat.issue_token(); an end-user connection presents it to
 * chat.authenticate(), which makes that profile the session's actor.
 *
 * A token is 76 characters of unpadded base64url encoding 57 bytes:
 *
 *	byte  0		   version, 1
 *	bytes 1-16	   the profile id
 *	bytes 17-24	   the expiry, a TimestampTz, big-endian
 *	bytes 25-56	   HMAC-SHA256 of bytes 0-24 under the signing key
 *
 * The key is 32 bytes from pg_strong_random, kept in chat.secrets and
 * readable by the extension owner only.  Rotation keeps the previous key,
 * so a token verifies under the current key or the previous one; both
 * MACs are computed and compared in constant time (timingsafe_bcmp)
 * whatever the outcome, and every failure looks the same to the caller.
 *
 * token_encode() and token_check() are plain C over caller-supplied
 * buffers: no palloc, no ereport, so that they can be fuzzed outside the
 * server.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

#define TOKEN_VERSION		1
#define TOKEN_PAYLOAD_LEN	(1 + UUID_LEN + 8)
#define TOKEN_RAW_LEN		(TOKEN_PAYLOAD_LEN + PG_SHA256_DIGEST_LENGTH)	/* 57 */
#define TOKEN_MIN_KEY_LEN	32

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#ifndef TOKEN_FUZZ
PG_FUNCTION_INFO_V1(chat_sign_token);
PG_FUNCTION_INFO_V1(chat_verify_token);
#endif

/* HMAC-SHA256 of data under key into mac; false on failure */
static bool
token_mac(const uint8 *key, size_t keylen, const uint8 *data, size_t len,
		  uint8 *mac)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_hmac_init(ctx, key, keylen) >= 0 &&
		pg_hmac_update(ctx, data, len) >= 0 &&
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) >= 0;
	pg_hmac_free(ctx);
	return ok;
}

static int
b64url_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64url, c);
	return p ? (int) (p - b64url) : -1;
}

/*
 * Encode a token for profile and expiry into dest (TOKEN_TEXT_LEN + 1
 * bytes).  False if the MAC cannot be computed.
 */
bool
token_encode(const uint8 *key, size_t keylen, const pg_uuid_t *profile,
			 TimestampTz expires, char *dest)
{
	uint8		raw[TOKEN_RAW_LEN];
	uint64		e = (uint64) expires;
	int			i;
	char	   *p = dest;

	raw[0] = TOKEN_VERSION;
	memcpy(raw + 1, profile->data, UUID_LEN);
	for (i = 0; i < 8; i++)
		raw[1 + UUID_LEN + i] = (uint8) (e >> (56 - 8 * i));
	if (!token_mac(key, keylen, raw, TOKEN_PAYLOAD_LEN, raw + TOKEN_PAYLOAD_LEN))
		return false;

	for (i = 0; i < TOKEN_RAW_LEN; i += 3)
	{
		uint32		v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];

		*p++ = b64url[(v >> 18) & 63];
		*p++ = b64url[(v >> 12) & 63];
		*p++ = b64url[(v >> 6) & 63];
		*p++ = b64url[v & 63];
	}
	*p = '\0';
	return true;
}

/*
 * Check a token of len bytes against the current key and, if given, the
 * previous one, at time now.  On success fill *profile and return true.
 * Every failure (length, alphabet, version, signature, expiry) returns
 * false, and the work done does not depend on which part failed once the
 * token has the right shape.
 */
bool
token_check(const char *token, size_t len,
			const uint8 *key, size_t keylen,
			const uint8 *prev_key, size_t prev_keylen,
			TimestampTz now, pg_uuid_t *profile)
{
	uint8		raw[TOKEN_RAW_LEN];
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	uint8		prev_mac[PG_SHA256_DIGEST_LENGTH];
	uint64		e = 0;
	size_t		i;
	bool		good_now;
	bool		good_prev = false;

	if (len != TOKEN_TEXT_LEN || keylen < TOKEN_MIN_KEY_LEN)
		return false;
	for (i = 0; i < len; i += 4)
	{
		int			a = b64url_value(token[i]);
		int			b = b64url_value(token[i + 1]);
		int			c = b64url_value(token[i + 2]);
		int			d = b64url_value(token[i + 3]);
		uint32		v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return false;
		v = ((uint32) a << 18) | ((uint32) b << 12) | ((uint32) c << 6) | (uint32) d;
		raw[i / 4 * 3] = (uint8) (v >> 16);
		raw[i / 4 * 3 + 1] = (uint8) (v >> 8);
		raw[i / 4 * 3 + 2] = (uint8) v;
	}

	if (!token_mac(key, keylen, raw, TOKEN_PAYLOAD_LEN, mac))
		return false;
	good_now = timingsafe_bcmp(mac, raw + TOKEN_PAYLOAD_LEN, sizeof(mac)) == 0;
	if (prev_key != NULL && prev_keylen >= TOKEN_MIN_KEY_LEN)
	{
		if (!token_mac(prev_key, prev_keylen, raw, TOKEN_PAYLOAD_LEN, prev_mac))
			return false;
		good_prev = timingsafe_bcmp(prev_mac, raw + TOKEN_PAYLOAD_LEN, sizeof(prev_mac)) == 0;
	}

	for (i = 0; i < 8; i++)
		e = (e << 8) | raw[1 + UUID_LEN + i];

	if (!(good_now || good_prev) || raw[0] != TOKEN_VERSION || (TimestampTz) e <= now)
		return false;

	memcpy(profile->data, raw + 1, UUID_LEN);
	return true;
}

#ifndef TOKEN_FUZZ
/*
 * chat._sign_token(key bytea, profile_id uuid, expires_at timestamptz)
 * returns text
 */
Datum
chat_sign_token(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	pg_uuid_t  *profile = PG_GETARG_UUID_P(1);
	TimestampTz expires = PG_GETARG_TIMESTAMPTZ(2);
	char		token[TOKEN_TEXT_LEN + 1];

	if (VARSIZE_ANY_EXHDR(key) < TOKEN_MIN_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signing key must be at least %d bytes", TOKEN_MIN_KEY_LEN)));
	if (!token_encode((uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					  profile, expires, token))
		elog(ERROR, "could not compute HMAC-SHA256 of a token");
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/*
 * chat._verify_token(token text, key bytea, previous_key bytea) returns uuid
 *
 * The token's profile, or NULL for any token that is not valid now.
 */
Datum
chat_verify_token(PG_FUNCTION_ARGS)
{
	text	   *token;
	bytea	   *key;
	bytea	   *prev = NULL;
	pg_uuid_t  *profile;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	token = PG_GETARG_TEXT_PP(0);
	key = PG_GETARG_BYTEA_PP(1);
	if (!PG_ARGISNULL(2))
		prev = PG_GETARG_BYTEA_PP(2);

	profile = palloc(sizeof(pg_uuid_t));
	if (!token_check(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
					 (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					 prev ? (uint8 *) VARDATA_ANY(prev) : NULL,
					 prev ? VARSIZE_ANY_EXHDR(prev) : 0,
					 GetCurrentTimestamp(), profile))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(profile);
}
#endif							/* TOKEN_FUZZ */
