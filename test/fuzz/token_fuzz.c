/*
 * token_fuzz.c: libFuzzer target for the token parser of src/token.c.
 *
 * What it tests: token_check() on any bytes, under a fixed current key, a
 * fixed previous key and a fixed "now", never crashes, reads out of bounds
 * or leaks (AddressSanitizer, UndefinedBehaviorSanitizer), and:
 *   - a token that verifies re-encodes, with token_encode() under the key
 *     that signed it, to exactly the input (no two spellings of one token);
 *   - the first 24 bytes of the input, read as a profile id and an expiry,
 *     encode under either key to a token of 76 base64url characters that
 *     verifies exactly when the expiry is after "now", giving back the
 *     same profile; under a third key it never verifies.
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

static const uint8 key_now[32] = "stylist_chat fuzz: current key.";
static const uint8 key_prev[32] = "stylist_chat fuzz: previous key";
static const uint8 key_other[32] = "stylist_chat fuzz: foreign key!";

static void
fail(const char *what)
{
	fprintf(stderr, "token_fuzz: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pg_uuid_t	profile;
	char		again[TOKEN_TEXT_LEN + 1];
	char	   *copy;

	/* 1. the parser on the input, in a buffer of exactly its size */
	copy = malloc(size ? size : 1);
	if (size)
		memcpy(copy, data, size);
	if (token_check(copy, size, key_now, sizeof(key_now), key_prev, sizeof(key_prev),
					FUZZ_NOW, &profile))
	{
		bool		same_now,
					same_prev;
		TimestampTz expires = 0;
		int			i;
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

		if (size != TOKEN_TEXT_LEN)
			fail("a token of the wrong length verified");
		/* the expiry is bytes 17-24: decode it back from the text */
		{
			uint8		raw[57];

			for (i = 0; i < TOKEN_TEXT_LEN; i += 4)
			{
				uint32		v = 0;
				int			k;

				for (k = 0; k < 4; k++)
					v = (v << 6) | (uint32) (strchr(alphabet, copy[i + k]) - alphabet);
				raw[i / 4 * 3] = (uint8) (v >> 16);
				raw[i / 4 * 3 + 1] = (uint8) (v >> 8);
				raw[i / 4 * 3 + 2] = (uint8) v;
			}
			if (raw[0] != 1)
				fail("a token of another version verified");
			if (memcmp(raw + 1, profile.data, UUID_LEN) != 0)
				fail("the profile returned is not the token's");
			for (i = 0; i < 8; i++)
				expires = (TimestampTz) (((uint64) expires << 8) | raw[17 + i]);
			if (expires <= FUZZ_NOW)
				fail("an expired token verified");
		}
		if (!token_encode(key_now, sizeof(key_now), &profile, expires, again))
			fail("token_encode failed");
		same_now = memcmp(again, copy, TOKEN_TEXT_LEN) == 0;
		if (!token_encode(key_prev, sizeof(key_prev), &profile, expires, again))
			fail("token_encode failed");
		same_prev = memcmp(again, copy, TOKEN_TEXT_LEN) == 0;
		if (!same_now && !same_prev)
			fail("a token that verified does not re-encode to itself");
	}
	/* a short key never verifies anything */
	if (token_check(copy, size, key_now, 31, NULL, 0, FUZZ_NOW, &profile))
		fail("a token verified under a key shorter than 32 bytes");
	free(copy);

	/* 2. encode then check: the round trip */
	if (size >= UUID_LEN + 8)
	{
		pg_uuid_t	p,
					back;
		TimestampTz expires = 0;
		int			i;
		bool		with_prev = size > 24 && (data[24] & 1);
		const uint8 *key = with_prev ? key_prev : key_now;
		bool		ok;

		memcpy(p.data, data, UUID_LEN);
		for (i = 0; i < 8; i++)
			expires = (TimestampTz) (((uint64) expires << 8) | data[UUID_LEN + i]);
		if (!token_encode(key, 32, &p, expires, again))
			fail("token_encode failed");
		if (strlen(again) != TOKEN_TEXT_LEN ||
			strspn(again, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != TOKEN_TEXT_LEN)
			fail("token_encode made something that is not 76 base64url characters");
		ok = token_check(again, TOKEN_TEXT_LEN, key_now, 32, key_prev, 32, FUZZ_NOW, &back);
		if (ok != (expires > FUZZ_NOW))
			fail(ok ? "an expired token verified" : "a fresh token did not verify");
		if (ok && memcmp(back.data, p.data, UUID_LEN) != 0)
			fail("the round trip changed the profile");
		/* without the previous key, a token of the previous key fails */
		if (with_prev && token_check(again, TOKEN_TEXT_LEN, key_now, 32, NULL, 0, FUZZ_NOW, &back))
			fail("a token of the previous key verified without it");
		if (token_check(again, TOKEN_TEXT_LEN, key_other, 32, NULL, 0, FUZZ_NOW, &back))
			fail("a token verified under a foreign key");
	}
	return 0;
}
