/*-------------------------------------------------------------------------
 *
 * relay_notify.c
 *	  The relay worker's NOTIFYs: who hears of an event, on which channel,
 *	  with which payload.
 *
 * Each event goes to the channel of both participants and of every admin.
 * A channel name is unguessable, made from the profile id and the secret
 * key in chat.secrets (channel.c), since LISTEN has no access control.  The
 * payload names the event, never its content, which a listener reads
 * through the SQL API with its own rights:
 *
 *	{"type":"message","chat_id":"...","seq":7,"sender_id":"...","ts":"..."}
 *
 * What NOTIFY itself does (commands/async.c) shapes the rest:
 *
 *	- a NOTIFY is sent when the transaction that issued it commits, and
 *	  not at all if it aborts: the worker issues a batch's NOTIFYs and
 *	  moves its watermarks in one transaction (relay_order.c), so both
 *	  happen or neither;
 *	- identical notifications (channel and payload) of one transaction are
 *	  merged into one: every payload carries its event's type and seq, so
 *	  only true repeats merge;
 *	- a payload must stay under 8000 bytes: ours is under 256;
 *	- nothing is durable and only connected listeners hear it: the
 *	  real-time stream is at-most-once per connection, and a client gets
 *	  completeness from the catch-up protocol (LISTEN, then catch up, then
 *	  apply events, ignoring seqs it already holds).
 *
 * The key and the admins are read from the database by relay_notify_load,
 * which the main loop calls about once a second (relay_worker.c), so a new
 * admin or a recreated extension is picked up within a second.  Channel
 * names are computed once per profile and cached; a new key empties the
 * cache, and so does its growing past MAX_CACHED_CHANNELS.
 *
 * Typing events are ephemeral: they are thinned here to one per (chat,
 * actor) per second, and the marks that do so are forgotten when stale.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "relay.h"

#define TYPING_INTERVAL_MS		1000	/* one typing event per second */
#define MAX_CACHED_CHANNELS		100000

/* a profile's channel name, computed once */
typedef struct ChannelEntry
{
	pg_uuid_t	profile_id;		/* hash key */
	char		name[CHANNEL_NAME_LEN + 1];
} ChannelEntry;

typedef struct TypingKey
{
	pg_uuid_t	chat_id;
	pg_uuid_t	actor_id;
} TypingKey;

typedef struct TypingEntry
{
	TypingKey	key;
	TimestampTz last;
} TypingEntry;

static HTAB *channels = NULL;	/* profile id -> channel name */
static HTAB *typing = NULL;		/* (chat, actor) -> last typing event */

/* read from the database by relay_notify_load */
static uint8 channel_key[64];
static int	channel_keylen = 0;
static pg_uuid_t *admins = NULL;	/* in TopMemoryContext */
static int	nadmins = 0;

static void notify_all(const RelayEvent *ev);
static bool typing_due(const RelayEvent *ev);
static const char *profile_channel(const pg_uuid_t *profile_id);

/*
 * Read the channel key and the admins, in the current transaction (SPI
 * connected, the extension present).
 */
void
relay_notify_load(void)
{
	int			ret;
	uint64		i;

	ret = SPI_execute("SELECT key FROM chat.secrets WHERE name OPERATOR(pg_catalog.=) 'channel'",
					  true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "stylist_chat relay: the channel key is missing");
	{
		bool		isnull;
		bytea	   *key = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc, 1, &isnull));

		if (isnull || VARSIZE_ANY_EXHDR(key) > (int) sizeof(channel_key))
			elog(ERROR, "stylist_chat relay: the channel key is invalid");
		if (channel_keylen != (int) VARSIZE_ANY_EXHDR(key) ||
			memcmp(channel_key, VARDATA_ANY(key), channel_keylen) != 0)
		{
			/* a new key (the extension was created again): new names */
			if (channels != NULL)
				hash_destroy(channels);
			channels = NULL;
		}
		channel_keylen = VARSIZE_ANY_EXHDR(key);
		memcpy(channel_key, VARDATA_ANY(key), channel_keylen);
	}

	ret = SPI_execute("SELECT id FROM chat.profiles WHERE role OPERATOR(pg_catalog.=) 'admin'"
					  " ORDER BY id", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "stylist_chat relay: could not read admins");
	if (admins != NULL)
		pfree(admins);
	nadmins = (int) SPI_processed;
	admins = MemoryContextAlloc(TopMemoryContext, Max(nadmins, 1) * sizeof(pg_uuid_t));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		admins[i] = *DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1, &isnull));
	}
}

/*
 * Queue the NOTIFYs of one event in the current transaction.  Returns false
 * for a typing event thinned away, true when the event was sent.
 */
bool
relay_notify_event(const RelayEvent *ev)
{
	if (ev->kind == RELAY_TYPING && !typing_due(ev))
		return false;
	notify_all(ev);
	return true;
}

/*
 * One NOTIFY per participant and one per admin.  The payload names the
 * event, never its content: {"type", "chat_id", "seq", "sender_id", "ts"}.
 */
static void
notify_all(const RelayEvent *ev)
{
	char		payload[256];
	char	   *chat_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&ev->chat_id)));
	static const pg_uuid_t nil_uuid;
	char		actor_id[40];
	int			i;

	/* a message without sender (a booking card) says "sender_id":null */
	if (memcmp(&ev->actor_id, &nil_uuid, sizeof(pg_uuid_t)) == 0)
		strcpy(actor_id, "null");
	else
		snprintf(actor_id, sizeof(actor_id), "\"%s\"",
				 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&ev->actor_id))));

	snprintf(payload, sizeof(payload),
			 "{\"type\":\"%s\",\"chat_id\":\"%s\",\"seq\":" INT64_FORMAT
			 ",\"sender_id\":%s,\"ts\":\"%s\"}",
			 relay_event_kind_name(ev->kind), chat_id, ev->seq, actor_id,
			 timestamptz_to_str(ev->at));

	Async_Notify(profile_channel(&ev->customer_id), payload);
	Async_Notify(profile_channel(&ev->stylist_id), payload);
	for (i = 0; i < nadmins; i++)
		Async_Notify(profile_channel(&admins[i]), payload);
}

/*
 * Is this typing event the first of its (chat, actor) for a second?
 */
static bool
typing_due(const RelayEvent *ev)
{
	TypingKey	key;
	bool		found;
	TypingEntry *t;

	if (typing == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(TypingKey);
		ctl.entrysize = sizeof(TypingEntry);
		typing = hash_create("stylist_chat relay typing", 256, &ctl,
							 HASH_ELEM | HASH_BLOBS);
	}

	key.chat_id = ev->chat_id;
	key.actor_id = ev->actor_id;
	t = hash_search(typing, &key, HASH_ENTER, &found);
	if (found && !TimestampDifferenceExceeds(t->last, ev->at, TYPING_INTERVAL_MS))
		return false;
	t->last = ev->at;
	return true;
}

/*
 * The channel of a profile, from a cache that a new key empties and that
 * is emptied when it grows past MAX_CACHED_CHANNELS.
 */
static const char *
profile_channel(const pg_uuid_t *profile_id)
{
	ChannelEntry *entry;
	bool		found;

	if (channels != NULL && hash_get_num_entries(channels) >= MAX_CACHED_CHANNELS)
	{
		hash_destroy(channels);
		channels = NULL;
	}
	if (channels == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(ChannelEntry);
		channels = hash_create("stylist_chat relay channels", 1024, &ctl,
							   HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(channels, profile_id, HASH_FIND, &found);
	if (!found)
	{
		char		name[CHANNEL_NAME_LEN + 1];

		/* computed before the entry exists: an error leaves no half entry */
		channel_name(channel_key, channel_keylen, profile_id, name);
		entry = hash_search(channels, profile_id, HASH_ENTER, &found);
		memcpy(entry->name, name, sizeof(name));
	}
	return entry->name;
}

/*
 * Forget stale typing marks, so that memory follows the typists of the
 * moment.
 */
void
relay_notify_tidy(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	TypingEntry *t;

	if (typing == NULL)
		return;
	hash_seq_init(&status, typing);
	while ((t = hash_seq_search(&status)) != NULL)
		if (TimestampDifferenceExceeds(t->last, now, TYPING_INTERVAL_MS * 2))
			(void) hash_search(typing, &t->key, HASH_REMOVE, NULL);
}
