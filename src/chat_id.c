/*-------------------------------------------------------------------------
 *
 * chat_id.c
 *	  The chat id of a customer-stylist pair.
 *
 * A chat's id is a name-based UUID (RFC 4122 version 5: SHA-1 of a fixed
 * namespace followed by the name) whose name is the 32 bytes of the
 * customer id followed by the stylist id.  Because the id is a pure
 * function of the pair, two sessions that race to open the same chat
 * compute the same primary key and the loser's INSERT ... ON CONFLICT does
 * nothing; and pair uniqueness still holds where a (customer, stylist)
 * unique constraint cannot be enforced, such as a table distributed by
 * chat_id.  The order of the pair matters: the customer always comes first.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha1.h"
#include "fmgr.h"
#include "utils/uuid.h"

#include "stylist_chat.h"

/* the namespace of stylist_chat pair ids; never change it */
static const uint8 chat_namespace[UUID_LEN] = {
	0x2d, 0x61, 0x44, 0x0d, 0x0f, 0x56, 0x48, 0xfe,
	0xb5, 0x30, 0x3d, 0xb1, 0xa8, 0x22, 0x58, 0xaf
};

PG_FUNCTION_INFO_V1(chat_pair_chat_id);

/*
 * chat.pair_chat_id(customer_id uuid, stylist_id uuid) returns uuid
 */
Datum
chat_pair_chat_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *customer = PG_GETARG_UUID_P(0);
	pg_uuid_t  *stylist = PG_GETARG_UUID_P(1);
	pg_uuid_t  *result;
	pg_cryptohash_ctx *ctx;
	uint8		digest[SHA1_DIGEST_LENGTH];

	ctx = pg_cryptohash_create(PG_SHA1);
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, chat_namespace, UUID_LEN) < 0 ||
		pg_cryptohash_update(ctx, customer->data, UUID_LEN) < 0 ||
		pg_cryptohash_update(ctx, stylist->data, UUID_LEN) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "could not compute SHA-1 digest of a chat pair");
	}
	pg_cryptohash_free(ctx);

	result = (pg_uuid_t *) palloc(sizeof(pg_uuid_t));
	memcpy(result->data, digest, UUID_LEN);
	result->data[6] = (result->data[6] & 0x0f) | 0x50;	/* version 5 */
	result->data[8] = (result->data[8] & 0x3f) | 0x80;	/* RFC 4122 variant */

	PG_RETURN_UUID_P(result);
}
