/*
 * token_fuzz.c: libFuzzer target for the token parser of src/token.c.
 *
 * What it tests: token_read() (both versions) and token_check() (version 1
 * only, as in 1.0) on any bytes, under a fixed current key, a fixed
 * previous key and a fixed "now", never crash, read out of bounds or leak
 * (AddressSanitizer, UndefinedBehaviorSanitizer), and:
 *   - a token that verifies has the length of its version (76 or 112
 *     characters), says what its bytes say (decoded here independently),
 *     is not expired, and re-encodes, with token_encode() or
 *     token_encode_v2() under the key token_read() says signed it, to
 *     exactly the input (no two spellings of one token); a token of the
 *     previous key does not verify without it;
 *   - token_check() agrees with token_read() on version 1 and refuses
 *     version 2;
 *   - the first 24 bytes of the input, read as a profile id and an expiry,
 *     encode as version 1 under either key (bit 0 of byte 24 picks the
 *     previous key) to 76 base64url characters that verify exactly when
 *     the expiry is after "now", giving back the same profile; under a
 *     third key they never verify;
 *   - the first 49 bytes, read as profile id, issue time, expiry, token id
 *     and a byte of options (bit 0: single use, bit 1: previous key),
 *     encode as version 2 to 112 base64url characters with the same
 *     properties, giving back every claim.
 * A broken property aborts, which libFuzzer reports as a crash.
 *
 * Build and run: test/fuzz/run.sh (token.c is compiled with -DTOKEN_FUZZ,
 * which leaves out its SQL-callable functions).
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "stylist_chat.h"

/* 2024-01-01 00:00:00 UTC, in microseconds since 2000-01-01 */
#define FUZZ_NOW ((TimestampTz) INT64CONST(757382400000000))

#define V1_RAW_LEN 57
#define V2_RAW_LEN 84

static const uint8 key_now[32] = "stylist_chat fuzz: current key.";
static const uint8 key_prev[32] = "stylist_chat fuzz: previous key";
static const uint8 key_other[32] = "stylist_chat fuzz: foreign key!";

static const char alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
fail(const char *what)
{
	fprintf(stderr, "token_fuzz: %s\n", what);
	abort();
}

static TimestampTz
read_be64(const uint8 *p)
{
	uint64		v = 0;
	int			i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (TimestampTz) v;
}

/* base64url text of len characters into raw, independently of token.c */
static void
decode(const char *text, size_t len, uint8 *raw)
{
	size_t		i;

	for (i = 0; i < len; i += 4)
	{
		uint32		v = 0;
		int			k;

		for (k = 0; k < 4; k++)
			v = (v << 6) | (uint32) (strchr(alphabet, text[i + k]) - alphabet);
		raw[i / 4 * 3] = (uint8) (v >> 16);
		raw[i / 4 * 3 + 1] = (uint8) (v >> 8);
		raw[i / 4 * 3 + 2] = (uint8) v;
	}
}

static bool
is_token_text(const char *s, size_t len)
{
	return strlen(s) == len && strspn(s, alphabet) == len;
}

/* a token that verified: check it against its own bytes and re-encode it */
static void
check_verified(const char *copy, size_t size, TokenKey which, const TokenClaims *c)
{
	char		again[TOKEN_V2_TEXT_LEN + 1];
	const uint8 *signer = which == TOKEN_BY_CURRENT ? key_now : key_prev;
	uint8		raw[V2_RAW_LEN];
	TokenClaims other;
	pg_uuid_t	profile;

	if (which != TOKEN_BY_CURRENT && which != TOKEN_BY_PREVIOUS)
		fail("token_read returned something that is not a key");
	if (c->expires_at <= FUZZ_NOW)
		fail("an expired token verified");

	if (size == TOKEN_TEXT_LEN)
	{
		decode(copy, size, raw);
		if (c->version != 1 || raw[0] != 1)
			fail("a token of another version verified as version 1");
		if (memcmp(raw + 1, c->profile.data, UUID_LEN) != 0)
			fail("the profile returned is not the token's");
		if (read_be64(raw + 17) != c->expires_at)
			fail("the expiry returned is not the token's");
		if (c->single_use || c->issued_at != 0)
			fail("a version 1 token has version 2 claims");
		if (!token_encode(signer, 32, &c->profile, c->expires_at, again))
			fail("token_encode failed");
		if (memcmp(again, copy, TOKEN_TEXT_LEN) != 0)
			fail("a version 1 token that verified does not re-encode to itself");
		/* token_check, the 1.0 entry point, agrees */
		if (!token_check(copy, size, key_now, 32, key_prev, 32, FUZZ_NOW, &profile) ||
			memcmp(profile.data, c->profile.data, UUID_LEN) != 0)
			fail("token_check disagrees with token_read on a version 1 token");
	}
	else if (size == TOKEN_V2_TEXT_LEN)
	{
		decode(copy, size, raw);
		if (c->version != 2 || raw[0] != 2)
			fail("a token of another version verified as version 2");
		if ((raw[1] & ~1) != 0 || raw[50] != 0 || raw[51] != 0)
			fail("a version 2 token with unknown flags or reserved bits verified");
		if (c->single_use != ((raw[1] & 1) != 0))
			fail("the single use flag returned is not the token's");
		if (memcmp(raw + 2, c->profile.data, UUID_LEN) != 0)
			fail("the profile returned is not the token's");
		if (read_be64(raw + 18) != c->issued_at)
			fail("the issue time returned is not the token's");
		if (read_be64(raw + 26) != c->expires_at)
			fail("the expiry returned is not the token's");
		if (memcmp(raw + 34, c->token_id.data, UUID_LEN) != 0)
			fail("the token id returned is not the token's");
		if (!token_encode_v2(signer, 32, c, again))
			fail("token_encode_v2 failed");
		if (memcmp(again, copy, TOKEN_V2_TEXT_LEN) != 0)
			fail("a version 2 token that verified does not re-encode to itself");
		if (token_check(copy, size, key_now, 32, key_prev, 32, FUZZ_NOW, &profile))
			fail("token_check accepted a version 2 token");
	}
	else
		fail("a token of the wrong length verified");

	if (which == TOKEN_BY_PREVIOUS &&
		token_read(copy, size, key_now, 32, NULL, 0, FUZZ_NOW, &other) != TOKEN_INVALID)
		fail("a token of the previous key verified without it");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pg_uuid_t	profile;
	TokenClaims claims;
	TokenKey	which;
	char		again[TOKEN_V2_TEXT_LEN + 1];
	char	   *copy;

	/* 1. the parsers on the input, in a buffer of exactly its size */
	copy = malloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	which = token_read(copy, size, key_now, sizeof(key_now), key_prev, sizeof(key_prev),
					   FUZZ_NOW, &claims);
	if (which != TOKEN_INVALID)
		check_verified(copy, size, which, &claims);
	else if (token_check(copy, size, key_now, sizeof(key_now), key_prev, sizeof(key_prev),
						 FUZZ_NOW, &profile))
		fail("token_check accepted what token_read refused");
	/* a short key never verifies anything */
	if (token_read(copy, size, key_now, 31, NULL, 0, FUZZ_NOW, &claims) != TOKEN_INVALID ||
		token_check(copy, size, key_now, 31, NULL, 0, FUZZ_NOW, &profile))
		fail("a token verified under a key shorter than 32 bytes");
	free(copy);

	/* 2. version 1: encode then check, the round trip */
	if (size >= UUID_LEN + 8)
	{
		pg_uuid_t	p,
					back;
		TimestampTz expires = read_be64(data + UUID_LEN);
		bool		with_prev = size > 24 && (data[24] & 1);
		const uint8 *key = with_prev ? key_prev : key_now;
		bool		ok;

		memcpy(p.data, data, UUID_LEN);
		if (!token_encode(key, 32, &p, expires, again))
			fail("token_encode failed");
		if (!is_token_text(again, TOKEN_TEXT_LEN))
			fail("token_encode made something that is not 76 base64url characters");
		ok = token_check(again, TOKEN_TEXT_LEN, key_now, 32, key_prev, 32, FUZZ_NOW, &back);
		if (ok != (expires > FUZZ_NOW))
			fail(ok ? "an expired token verified" : "a fresh token did not verify");
		if (ok && memcmp(back.data, p.data, UUID_LEN) != 0)
			fail("the round trip changed the profile");
		which = token_read(again, TOKEN_TEXT_LEN, key_now, 32, key_prev, 32, FUZZ_NOW, &claims);
		if ((which != TOKEN_INVALID) != ok)
			fail("token_read disagrees with token_check on a version 1 token");
		if (ok && which != (with_prev ? TOKEN_BY_PREVIOUS : TOKEN_BY_CURRENT))
			fail("token_read names the wrong key");
		/* without the previous key, a token of the previous key fails */
		if (with_prev && token_check(again, TOKEN_TEXT_LEN, key_now, 32, NULL, 0, FUZZ_NOW, &back))
			fail("a token of the previous key verified without it");
		if (token_check(again, TOKEN_TEXT_LEN, key_other, 32, NULL, 0, FUZZ_NOW, &back))
			fail("a token verified under a foreign key");
	}

	/* 3. version 2: encode then check, the round trip */
	if (size >= 2 * UUID_LEN + 16 + 1)
	{
		TokenClaims c,
					back;
		uint8		options = data[2 * UUID_LEN + 16];
		bool		with_prev = (options & 2) != 0;
		const uint8 *key = with_prev ? key_prev : key_now;
		bool		ok;

		memset(&c, 0, sizeof(c));
		c.version = 2;
		memcpy(c.profile.data, data, UUID_LEN);
		c.issued_at = read_be64(data + UUID_LEN);
		c.expires_at = read_be64(data + UUID_LEN + 8);
		memcpy(c.token_id.data, data + UUID_LEN + 16, UUID_LEN);
		c.single_use = (options & 1) != 0;
		if (!token_encode_v2(key, 32, &c, again))
			fail("token_encode_v2 failed");
		if (!is_token_text(again, TOKEN_V2_TEXT_LEN))
			fail("token_encode_v2 made something that is not 112 base64url characters");
		which = token_read(again, TOKEN_V2_TEXT_LEN, key_now, 32, key_prev, 32, FUZZ_NOW, &back);
		ok = which != TOKEN_INVALID;
		if (ok != (c.expires_at > FUZZ_NOW))
			fail(ok ? "an expired token verified" : "a fresh token did not verify");
		if (ok && (which != (with_prev ? TOKEN_BY_PREVIOUS : TOKEN_BY_CURRENT) ||
				   back.version != 2 || back.single_use != c.single_use ||
				   memcmp(back.profile.data, c.profile.data, UUID_LEN) != 0 ||
				   back.issued_at != c.issued_at || back.expires_at != c.expires_at ||
				   memcmp(back.token_id.data, c.token_id.data, UUID_LEN) != 0))
			fail("the round trip changed a claim of a version 2 token");
		if (with_prev &&
			token_read(again, TOKEN_V2_TEXT_LEN, key_now, 32, NULL, 0, FUZZ_NOW, &back) != TOKEN_INVALID)
			fail("a token of the previous key verified without it");
		if (token_read(again, TOKEN_V2_TEXT_LEN, key_other, 32, NULL, 0, FUZZ_NOW, &back) != TOKEN_INVALID)
			fail("a token verified under a foreign key");
		if (token_check(again, TOKEN_V2_TEXT_LEN, key_now, 32, key_prev, 32, FUZZ_NOW, &profile))
			fail("token_check accepted a version 2 token");
	}
	return 0;
}
