/*-------------------------------------------------------------------------
 *
 * stylist_chat.h
 *	  Declarations shared by the C files of the stylist_chat extension.
 *
 * Each C file owns one concern and exposes an Init function that
 * _PG_init (stylist_chat.c) calls; everything else is SQL-callable.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STYLIST_CHAT_H
#define STYLIST_CHAT_H

#include "postgres.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/uuid.h"

/* stylist_chat.c: settings */
extern char *relay_database;
extern int	relay_poll_interval;
extern bool session_identity;
extern bool relay_note_notifications;
extern bool relay_note_kpis;

/* actor.c: who is acting, kept in backend memory */
extern void actor_init(void);
extern bool actor_get(pg_uuid_t *actor);
extern void actor_require(pg_uuid_t *actor);

/* placement.c: this node's rows of a table, on one server or Citus */
extern Oid	chat_local_relation(Oid nspid, const char *name, const char *index_name,
								Oid *indexid);
extern bool chat_on_citus_worker(void);
extern int	chat_citus_group(void);
extern bool chat_chats_distributed(void);

/* on_node.c: a call on one chat run whole on the chat's node */
extern bool chat_in_node_call(void);
extern bool chat_node_call_actor(pg_uuid_t *actor);
extern void chat_node_call_act_as(const pg_uuid_t *actor, bool for_session);

/* what happened in a chat, on its way to the relay worker */
typedef enum RelayEventKind
{
	RELAY_MESSAGE = 1,
	RELAY_EDITED,
	RELAY_DELETED,
	RELAY_READ,
	RELAY_CHAT_CREATED,
	RELAY_HIDDEN,
	RELAY_TYPING,
	RELAY_PINNED,
	RELAY_UNPINNED,
	RELAY_REACTION,				/* a reaction added or taken back */
	RELAY_CONSENT,				/* portfolio consent granted or revoked */
	RELAY_DELIVERED				/* the recipient's sessions have the message */
} RelayEventKind;

#define RELAY_LAST_KIND RELAY_DELIVERED

typedef struct RelayEvent
{
	Oid			dbid;			/* the database it happened in */
	int32		kind;			/* a RelayEventKind */
	pg_uuid_t	chat_id;
	pg_uuid_t	customer_id;	/* the two participants: the recipients */
	pg_uuid_t	stylist_id;
	pg_uuid_t	actor_id;		/* the sender, editor, reader or typist;
								 * all zero for a message without sender */
	int64		seq;			/* the message's seq, or the new read mark */
	TimestampTz at;
} RelayEvent;

extern const char *relay_event_kind_name(int kind);

/* a message relayed, as the bookkeeping needs it */
typedef struct NotedMessage
{
	pg_uuid_t	chat_id;
	int64		seq;
	pg_uuid_t	sender_id;		/* all zero for a booking card */
	pg_uuid_t	customer_id;
	pg_uuid_t	stylist_id;
	TimestampTz at;
} NotedMessage;

/* bookkeeper.c: the bookkeeping worker and its ring */
extern void bookkeeper_init(void);
extern void bookkeeper_hand_over(const NotedMessage *messages, int n);
extern void bookkeeper_request_recovery(void);
extern void bookkeeper_status(pid_t *pid, uint64 *waiting);

/* relay_shmem.c: state shared by senders and the relay worker */
typedef enum RelayDatabaseState
{
	RELAY_DB_UNKNOWN = 0,		/* not looked, or the look failed */
	RELAY_DB_PRESENT,
	RELAY_DB_MISSING
} RelayDatabaseState;

extern int	relay_queue_size;
extern void relay_shmem_init(void);
extern bool relay_shmem_available(void);
extern void relay_worker_attach(void);
extern bool relay_worker_running(void);
extern void relay_wake_worker(void);
extern void relay_count_relayed(uint64 n);
extern void relay_record_error(const char *message);
extern void relay_set_database_state(RelayDatabaseState state);
extern RelayDatabaseState relay_get_database_state(void);
extern void relay_queue_push(const RelayEvent *events, int n);
extern int	relay_queue_pop(RelayEvent *events, int max, bool *overflowed);

/* relay_events.c: the events of the current transaction */
extern void relay_events_init(void);
extern void relay_event_record(const RelayEvent *ev);
extern int	relay_events_mark(void);
extern void relay_events_take_json(int mark, StringInfo buf);

/* channel.c: private channel names */
extern void channel_name(const uint8 *key, int keylen, const pg_uuid_t *profile,
						 char *dest);
#define CHANNEL_NAME_LEN 45		/* "chat_" and 40 hex digits */

/* writable.c: 25006 for a writing call on a standby or read-only */
extern void require_writable(const char *what);

/* relay_worker.c: the background worker (its own declarations: relay.h) */
extern void relay_worker_register(void);

/* audit_writer.c: audit records written by a one-shot worker of their own */
extern PGDLLEXPORT void audit_worker_main(Datum main_arg);

/*
 * token.c: signed identity tokens.  Version 1 is 76 characters, version 2
 * 112 (the byte layouts are in the header comment of token.c).
 */
#define TOKEN_TEXT_LEN 76
#define TOKEN_V2_TEXT_LEN 112
#define TOKEN_FINGERPRINT_LEN 16

/* what a valid token says */
typedef struct TokenClaims
{
	int			version;		/* 1 or 2 */
	bool		single_use;		/* version 2 only; false for version 1 */
	pg_uuid_t	profile;
	TimestampTz issued_at;		/* version 2 only; 0 for version 1 */
	TimestampTz expires_at;
	pg_uuid_t	token_id;		/* version 2 only; zeros for version 1 */
} TokenClaims;

/* which key verified a token */
typedef enum TokenKey
{
	TOKEN_INVALID = 0,
	TOKEN_BY_CURRENT,
	TOKEN_BY_PREVIOUS
} TokenKey;

extern bool token_encode(const uint8 *key, size_t keylen, const pg_uuid_t *profile,
						 TimestampTz expires, char *dest);
extern bool token_encode_v2(const uint8 *key, size_t keylen,
							const TokenClaims *claims, char *dest);
extern bool token_check(const char *token, size_t len,
						const uint8 *key, size_t keylen,
						const uint8 *prev_key, size_t prev_keylen,
						TimestampTz now, pg_uuid_t *profile);
extern TokenKey token_read(const char *token, size_t len,
						   const uint8 *key, size_t keylen,
						   const uint8 *prev_key, size_t prev_keylen,
						   TimestampTz now, TokenClaims *claims);
extern bool token_key_fingerprint(const uint8 *key, size_t keylen, uint8 *dest);

#endif							/* STYLIST_CHAT_H */
