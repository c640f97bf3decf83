/*-------------------------------------------------------------------------
 *
 * channel.c
 *	  Private LISTEN channel names, and the secret they are made from.
 *
 * LISTEN has no access control: anyone who can connect can listen on any
 * channel name.  So a profile's channel name must be unguessable: it is
 * "chat_" followed by the first 20 bytes, in hex, of HMAC-SHA256 of the
 * profile id under a 32-byte key made at CREATE EXTENSION from the
 * server's strong random source.  The key lives in chat.secrets, readable
 * by the extension owner only; chat.listen_channel() hands a profile its
 * own name, and the relay worker computes the names it notifies.
 *
 * HMAC, SHA-256 and the random source are PostgreSQL's own (common/hmac.h,
 * pg_strong_random).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

#define CHANNEL_KEY_LEN 32
#define CHANNEL_PREFIX "chat_"
#define CHANNEL_DIGEST_BYTES 20

PG_FUNCTION_INFO_V1(chat_channel_name);
PG_FUNCTION_INFO_V1(chat_random_key);

/*
 * The channel of a profile under a key; dest holds CHANNEL_NAME_LEN + 1.
 */
void
channel_name(const uint8 *key, int keylen, const pg_uuid_t *profile, char *dest)
{
	static const char hex[] = "0123456789abcdef";
	pg_hmac_ctx *ctx;
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *p;
	int			i;

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, profile->data, UUID_LEN) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256 of a channel name");
	}
	pg_hmac_free(ctx);

	strcpy(dest, CHANNEL_PREFIX);
	p = dest + strlen(CHANNEL_PREFIX);
	for (i = 0; i < CHANNEL_DIGEST_BYTES; i++)
	{
		*p++ = hex[digest[i] >> 4];
		*p++ = hex[digest[i] & 0x0f];
	}
	*p = '\0';
}

/*
 * chat._channel_name(key bytea, profile_id uuid) returns text
 */
Datum
chat_channel_name(PG_FUNCTION_ARGS)
{
	bytea	   *key = PG_GETARG_BYTEA_PP(0);
	pg_uuid_t  *profile = PG_GETARG_UUID_P(1);
	char		name[CHANNEL_NAME_LEN + 1];

	if (VARSIZE_ANY_EXHDR(key) < CHANNEL_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("channel key must be at least %d bytes", CHANNEL_KEY_LEN)));
	channel_name((uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key), profile, name);
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/*
 * chat._random_key() returns bytea: 32 bytes from the strong random source
 */
Datum
chat_random_key(PG_FUNCTION_ARGS)
{
	bytea	   *result = palloc(VARHDRSZ + CHANNEL_KEY_LEN);

	SET_VARSIZE(result, VARHDRSZ + CHANNEL_KEY_LEN);
	if (!pg_strong_random(VARDATA(result), CHANNEL_KEY_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random key")));
	PG_RETURN_BYTEA_P(result);
}
