/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Signed identity tokens, for connections that are not trusted.
 *
 * The application backend (a chat_service member) mints a token for a
 * profile with chat.issue_token(); an end-user connection presents it to
 * chat.authenticate(), which makes that profile the actor (src/actor.c).
 *
 * Two versions exist.  Both are unpadded base64url over a byte string whose
 * length is a multiple of 3, so that every character carries 6 bits of the
 * token and no bit is left over: each token has exactly one spelling.
 *
 * Version 1 (1.0), 76 characters encoding 57 bytes:
 *
 *	byte  0		   version, 1
 *	bytes 1-16	   the profile id
 *	bytes 17-24	   the expiry, a TimestampTz, big-endian
 *	bytes 25-56	   HMAC-SHA256 of bytes 0-24 under the signing key
 *
 * Version 2 (1.1), 112 characters encoding 84 bytes:
 *
 *	byte  0		   version, 2
 *	byte  1		   flags: bit 0 = single use; the other bits must be 0
 *	bytes 2-17	   the profile id
 *	bytes 18-25	   issued at, a TimestampTz, big-endian
 *	bytes 26-33	   the expiry, a TimestampTz, big-endian
 *	bytes 34-49	   the token id, 16 random bytes (a uuid)
 *	bytes 50-51	   reserved, must be 0 (they bring 82 bytes up to 84)
 *	bytes 52-83	   HMAC-SHA256 of bytes 0-51 under the signing key
 *
 * The issue time lets a revocation of a profile stop the tokens issued
 * before it and no later one; the token id lets chat.authenticate() accept
 * a single-use token once, since anyone who can read the query text of the
 * session (pg_stat_activity, for another session of the same login) sees
 * it.  Version 1 tokens still verify, so that tokens minted before an
 * upgrade keep working until they expire; they have neither.
 *
 * The key is 32 bytes from pg_strong_random, kept in chat.secrets and
 * readable by the extension owner only.  Rotation keeps the previous key,
 * so a token verifies under the current key or the previous one; both
 * MACs are computed and compared in constant time (timingsafe_bcmp)
 * whatever the outcome, every check of the contents is made whatever the
 * MAC said, and every failure looks the same to the caller.  The key
 * fingerprint (the first 16 bytes of SHA-256 of the key that verified a
 * token) lets an actor bound to a token notice that its key has been
 * rotated out without keeping the key itself.
 *
 * token_encode(), token_encode_v2(), token_check(), token_read() and
 * token_key_fingerprint() are plain C over caller-supplied buffers: no
 * palloc, no ereport, so that they can be fuzzed outside the server
 * (test/fuzz/token_fuzz.c).
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

#ifndef TOKEN_FUZZ
#include "access/htup_details.h"
#include "funcapi.h"
#endif

#include "stylist_chat.h"

#define TOKEN_MIN_KEY_LEN	32

/* version 1 */
#define V1_PAYLOAD_LEN		(1 + UUID_LEN + 8)		/* 25 */
#define V1_RAW_LEN			(V1_PAYLOAD_LEN + PG_SHA256_DIGEST_LENGTH)	/* 57 */
#define V1_OFF_PROFILE		1
#define V1_OFF_EXPIRES		(V1_OFF_PROFILE + UUID_LEN)

/* version 2 */
#define V2_OFF_FLAGS		1
#define V2_OFF_PROFILE		2
#define V2_OFF_ISSUED		(V2_OFF_PROFILE + UUID_LEN)		/* 18 */
#define V2_OFF_EXPIRES		(V2_OFF_ISSUED + 8)				/* 26 */
#define V2_OFF_TOKEN_ID		(V2_OFF_EXPIRES + 8)			/* 34 */
#define V2_OFF_RESERVED		(V2_OFF_TOKEN_ID + UUID_LEN)	/* 50 */
#define V2_PAYLOAD_LEN		(V2_OFF_RESERVED + 2)			/* 52 */
#define V2_RAW_LEN			(V2_PAYLOAD_LEN + PG_SHA256_DIGEST_LENGTH)	/* 84 */
#define V2_FLAG_SINGLE_USE	0x01

#define TOKEN_MAX_RAW_LEN	V2_RAW_LEN

StaticAssertDecl(V1_RAW_LEN % 3 == 0 && V1_RAW_LEN / 3 * 4 == TOKEN_TEXT_LEN,
				 "a version 1 token is a whole number of base64 groups");
StaticAssertDecl(V2_RAW_LEN % 3 == 0 && V2_RAW_LEN / 3 * 4 == TOKEN_V2_TEXT_LEN,
				 "a version 2 token is a whole number of base64 groups");

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#ifndef TOKEN_FUZZ
PG_FUNCTION_INFO_V1(chat_sign_token);
PG_FUNCTION_INFO_V1(chat_verify_token);
PG_FUNCTION_INFO_V1(chat_sign_token_v2);
PG_FUNCTION_INFO_V1(chat_check_token);
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

/*
 * The first TOKEN_FINGERPRINT_LEN bytes of SHA-256 of key into dest; false
 * on failure.
 */
bool
token_key_fingerprint(const uint8 *key, size_t keylen, uint8 *dest)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	bool		ok;

	if (ctx == NULL)
		return false;
	ok = pg_cryptohash_init(ctx) >= 0 &&
		pg_cryptohash_update(ctx, key, keylen) >= 0 &&
		pg_cryptohash_final(ctx, digest, sizeof(digest)) >= 0;
	pg_cryptohash_free(ctx);
	if (ok)
		memcpy(dest, digest, TOKEN_FINGERPRINT_LEN);
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

/* len bytes (a multiple of 3) of raw as len / 3 * 4 characters, terminated */
static void
b64url_encode(const uint8 *raw, size_t len, char *dest)
{
	size_t		i;

	for (i = 0; i < len; i += 3)
	{
		uint32		v = ((uint32) raw[i] << 16) | ((uint32) raw[i + 1] << 8) | raw[i + 2];

		*dest++ = b64url[(v >> 18) & 63];
		*dest++ = b64url[(v >> 12) & 63];
		*dest++ = b64url[(v >> 6) & 63];
		*dest++ = b64url[v & 63];
	}
	*dest = '\0';
}

/* len characters (a multiple of 4) into len / 4 * 3 bytes; false if not base64url */
static bool
b64url_decode(const char *text, size_t len, uint8 *raw)
{
	size_t		i;

	for (i = 0; i < len; i += 4)
	{
		int			a = b64url_value(text[i]);
		int			b = b64url_value(text[i + 1]);
		int			c = b64url_value(text[i + 2]);
		int			d = b64url_value(text[i + 3]);
		uint32		v;

		if (a < 0 || b < 0 || c < 0 || d < 0)
			return false;
		v = ((uint32) a << 18) | ((uint32) b << 12) | ((uint32) c << 6) | (uint32) d;
		raw[i / 4 * 3] = (uint8) (v >> 16);
		raw[i / 4 * 3 + 1] = (uint8) (v >> 8);
		raw[i / 4 * 3 + 2] = (uint8) v;
	}
	return true;
}

static void
put_timestamp(uint8 *dest, TimestampTz t)
{
	uint64		v = (uint64) t;
	int			i;

	for (i = 0; i < 8; i++)
		dest[i] = (uint8) (v >> (56 - 8 * i));
}

static TimestampTz
get_timestamp(const uint8 *src)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | src[i];
	return (TimestampTz) v;
}

/*
 * Encode a version 1 token for profile and expiry into dest
 * (TOKEN_TEXT_LEN + 1 bytes).  False if the MAC cannot be computed.
 */
bool
token_encode(const uint8 *key, size_t keylen, const pg_uuid_t *profile,
			 TimestampTz expires, char *dest)
{
	uint8		raw[V1_RAW_LEN];

	raw[0] = 1;
	memcpy(raw + V1_OFF_PROFILE, profile->data, UUID_LEN);
	put_timestamp(raw + V1_OFF_EXPIRES, expires);
	if (!token_mac(key, keylen, raw, V1_PAYLOAD_LEN, raw + V1_PAYLOAD_LEN))
		return false;
	b64url_encode(raw, V1_RAW_LEN, dest);
	return true;
}

/*
 * Encode a version 2 token of the claims into dest (TOKEN_V2_TEXT_LEN + 1
 * bytes); claims->version is not looked at.  False if the MAC cannot be
 * computed.
 */
bool
token_encode_v2(const uint8 *key, size_t keylen, const TokenClaims *claims,
				char *dest)
{
	uint8		raw[V2_RAW_LEN];

	raw[0] = 2;
	raw[V2_OFF_FLAGS] = claims->single_use ? V2_FLAG_SINGLE_USE : 0;
	memcpy(raw + V2_OFF_PROFILE, claims->profile.data, UUID_LEN);
	put_timestamp(raw + V2_OFF_ISSUED, claims->issued_at);
	put_timestamp(raw + V2_OFF_EXPIRES, claims->expires_at);
	memcpy(raw + V2_OFF_TOKEN_ID, claims->token_id.data, UUID_LEN);
	raw[V2_OFF_RESERVED] = 0;
	raw[V2_OFF_RESERVED + 1] = 0;
	if (!token_mac(key, keylen, raw, V2_PAYLOAD_LEN, raw + V2_PAYLOAD_LEN))
		return false;
	b64url_encode(raw, V2_RAW_LEN, dest);
	return true;
}

/*
 * Read a token of either version, of len bytes, signed under the current
 * key or, if given, the previous one, and valid at time now.
 *
 * On success fill *claims (for version 1: issued_at 0, token_id zeros,
 * single_use false) and return TOKEN_BY_CURRENT or TOKEN_BY_PREVIOUS, the
 * key that signed it (the current one when both did).  Every failure
 * (length, alphabet, signature, version, flags, reserved bytes, expiry)
 * returns TOKEN_INVALID, and once the token has the length and alphabet of
 * a token the work done does not depend on which part failed.
 */
TokenKey
token_read(const char *token, size_t len,
		   const uint8 *key, size_t keylen,
		   const uint8 *prev_key, size_t prev_keylen,
		   TimestampTz now, TokenClaims *claims)
{
	uint8		raw[TOKEN_MAX_RAW_LEN];
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	uint8		prev_mac[PG_SHA256_DIGEST_LENGTH];
	size_t		payload_len;
	int			version;
	bool		good_now;
	bool		good_prev = false;
	bool		good_shape;
	TimestampTz expires;

	if (len == TOKEN_TEXT_LEN)
	{
		version = 1;
		payload_len = V1_PAYLOAD_LEN;
	}
	else if (len == TOKEN_V2_TEXT_LEN)
	{
		version = 2;
		payload_len = V2_PAYLOAD_LEN;
	}
	else
		return TOKEN_INVALID;
	if (keylen < TOKEN_MIN_KEY_LEN)
		return TOKEN_INVALID;
	if (!b64url_decode(token, len, raw))
		return TOKEN_INVALID;

	if (!token_mac(key, keylen, raw, payload_len, mac))
		return TOKEN_INVALID;
	good_now = timingsafe_bcmp(mac, raw + payload_len, sizeof(mac)) == 0;
	if (prev_key != NULL && prev_keylen >= TOKEN_MIN_KEY_LEN)
	{
		if (!token_mac(prev_key, prev_keylen, raw, payload_len, prev_mac))
			return TOKEN_INVALID;
		good_prev = timingsafe_bcmp(prev_mac, raw + payload_len, sizeof(prev_mac)) == 0;
	}

	if (version == 1)
	{
		good_shape = raw[0] == 1;
		expires = get_timestamp(raw + V1_OFF_EXPIRES);
	}
	else
	{
		good_shape = raw[0] == 2 &&
			(raw[V2_OFF_FLAGS] & ~V2_FLAG_SINGLE_USE) == 0 &&
			raw[V2_OFF_RESERVED] == 0 && raw[V2_OFF_RESERVED + 1] == 0;
		expires = get_timestamp(raw + V2_OFF_EXPIRES);
	}

	if (!(good_now || good_prev) || !good_shape || expires <= now)
		return TOKEN_INVALID;

	memset(claims, 0, sizeof(*claims));
	claims->version = version;
	claims->expires_at = expires;
	if (version == 1)
		memcpy(claims->profile.data, raw + V1_OFF_PROFILE, UUID_LEN);
	else
	{
		claims->single_use = (raw[V2_OFF_FLAGS] & V2_FLAG_SINGLE_USE) != 0;
		memcpy(claims->profile.data, raw + V2_OFF_PROFILE, UUID_LEN);
		claims->issued_at = get_timestamp(raw + V2_OFF_ISSUED);
		memcpy(claims->token_id.data, raw + V2_OFF_TOKEN_ID, UUID_LEN);
	}
	return good_now ? TOKEN_BY_CURRENT : TOKEN_BY_PREVIOUS;
}

/*
 * Check a version 1 token, as 1.0 did: on success fill *profile and return
 * true.  A version 2 token is refused here, so that the 1.0 SQL, which
 * knows nothing of single use, cannot accept one.
 */
bool
token_check(const char *token, size_t len,
			const uint8 *key, size_t keylen,
			const uint8 *prev_key, size_t prev_keylen,
			TimestampTz now, pg_uuid_t *profile)
{
	TokenClaims claims;

	if (len != TOKEN_TEXT_LEN)
		return false;
	if (token_read(token, len, key, keylen, prev_key, prev_keylen, now,
				   &claims) == TOKEN_INVALID)
		return false;
	*profile = claims.profile;
	return true;
}

#ifndef TOKEN_FUZZ

static void
check_key_length(bytea *key)
{
	if (VARSIZE_ANY_EXHDR(key) < TOKEN_MIN_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("signing key must be at least %d bytes", TOKEN_MIN_KEY_LEN)));
}

/*
 * chat._sign_token(key bytea, profile_id uuid, expires_at timestamptz)
 * returns text: a version 1 token
 */
Datum
chat_sign_token(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	pg_uuid_t  *profile = PG_GETARG_UUID_P(1);
	TimestampTz expires = PG_GETARG_TIMESTAMPTZ(2);
	char		token[TOKEN_TEXT_LEN + 1];

	check_key_length(key);
	if (!token_encode((uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					  profile, expires, token))
		elog(ERROR, "could not compute HMAC-SHA256 of a token");
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/*
 * chat._verify_token(token text, key bytea, previous_key bytea) returns uuid
 *
 * The profile of a version 1 token, or NULL for any token that is not a
 * valid version 1 token now.
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

/*
 * chat._sign_token_v2(key bytea, profile_id uuid, issued_at timestamptz,
 *					   expires_at timestamptz, token_id uuid,
 *					   single_use boolean) returns text: a version 2 token
 */
Datum
chat_sign_token_v2(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	TokenClaims claims;
	char		token[TOKEN_V2_TEXT_LEN + 1];

	check_key_length(key);
	memset(&claims, 0, sizeof(claims));
	claims.version = 2;
	claims.profile = *PG_GETARG_UUID_P(1);
	claims.issued_at = PG_GETARG_TIMESTAMPTZ(2);
	claims.expires_at = PG_GETARG_TIMESTAMPTZ(3);
	claims.token_id = *PG_GETARG_UUID_P(4);
	claims.single_use = PG_GETARG_BOOL(5);
	if (!token_encode_v2((uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
						 &claims, token))
		elog(ERROR, "could not compute HMAC-SHA256 of a token");
	PG_RETURN_TEXT_P(cstring_to_text(token));
}

/*
 * chat._check_token(token text, key bytea, previous_key bytea,
 *					 OUT profile_id uuid, OUT issued_at timestamptz,
 *					 OUT expires_at timestamptz, OUT token_id uuid,
 *					 OUT single_use boolean, OUT key_fingerprint bytea)
 *	returns record
 *
 * What a token of either version says, if it is valid now; for version 1,
 * issued_at and token_id are NULL and single_use false.  For anything else
 * (including NULL arguments) one row of NULLs: the caller cannot tell
 * which part failed.  key_fingerprint identifies the key that verified it.
 */
#define CHECK_TOKEN_COLUMNS 6

Datum
chat_check_token(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[CHECK_TOKEN_COLUMNS];
	bool		nulls[CHECK_TOKEN_COLUMNS];
	TokenClaims claims;
	TokenKey	which = TOKEN_INVALID;
	bytea	   *key = NULL;
	bytea	   *prev = NULL;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts != CHECK_TOKEN_COLUMNS)
		elog(ERROR, "chat._check_token must return %d columns", CHECK_TOKEN_COLUMNS);
	tupdesc = BlessTupleDesc(tupdesc);

	memset(values, 0, sizeof(values));
	memset(nulls, true, sizeof(nulls));

	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
	{
		text	   *token = PG_GETARG_TEXT_PP(0);

		key = PG_GETARG_BYTEA_PP(1);
		if (!PG_ARGISNULL(2))
			prev = PG_GETARG_BYTEA_PP(2);
		which = token_read(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token),
						   (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
						   prev ? (uint8 *) VARDATA_ANY(prev) : NULL,
						   prev ? VARSIZE_ANY_EXHDR(prev) : 0,
						   GetCurrentTimestamp(), &claims);
	}

	if (which != TOKEN_INVALID)
	{
		bytea	   *signer = which == TOKEN_BY_CURRENT ? key : prev;
		bytea	   *fingerprint = palloc(VARHDRSZ + TOKEN_FINGERPRINT_LEN);
		pg_uuid_t  *profile = palloc(sizeof(pg_uuid_t));

		SET_VARSIZE(fingerprint, VARHDRSZ + TOKEN_FINGERPRINT_LEN);
		if (!token_key_fingerprint((uint8 *) VARDATA_ANY(signer),
								   VARSIZE_ANY_EXHDR(signer),
								   (uint8 *) VARDATA(fingerprint)))
			elog(ERROR, "could not compute SHA-256 of a key");

		*profile = claims.profile;
		values[0] = UUIDPGetDatum(profile);
		nulls[0] = false;
		if (claims.version >= 2)
		{
			pg_uuid_t  *token_id = palloc(sizeof(pg_uuid_t));

			*token_id = claims.token_id;
			values[1] = TimestampTzGetDatum(claims.issued_at);
			nulls[1] = false;
			values[3] = UUIDPGetDatum(token_id);
			nulls[3] = false;
		}
		values[2] = TimestampTzGetDatum(claims.expires_at);
		nulls[2] = false;
		values[4] = BoolGetDatum(claims.single_use);
		nulls[4] = false;
		values[5] = PointerGetDatum(fingerprint);
		nulls[5] = false;
	}

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
#endif							/* TOKEN_FUZZ */
