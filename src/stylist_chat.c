/*-------------------------------------------------------------------------
 *
 * stylist_chat.c
 *	  Entry point of the stylist_chat module.
 *
 * The module is meant to be loaded through shared_preload_libraries, but
 * every SQL function also works when the library is loaded on first use:
 * _PG_init only installs per-backend hooks here.  Each concern lives in its
 * own file and is set up by its Init function:
 *
 *	actor.c			the acting profile, kept in backend memory, never in a GUC
 *	chat_id.c		the name-based chat id of a customer-stylist pair
 *	relay_events.c	a transaction's chat events, queued at commit
 *	relay_shmem.c	the shared state of senders and the relay worker
 *	relay_worker.c	the background worker that turns events into NOTIFY:
 *					its life cycle and main loop
 *	relay_order.c	... its per-chat order, watermarks and recovery
 *	relay_notify.c	... its payloads, channel names and NOTIFYs
 *	relay_note.c	... what it hands to the bookkeeper
 *	bookkeeper.c	the background worker that does the bookkeeping of
 *					relayed messages (notifications, KPIs), off the relay's path
 *	channel.c		private LISTEN channel names
 *	token.c			signed identity tokens
 *	audit_writer.c	audit records that the reader's rollback cannot remove
 *
 * The shared memory, the relay worker and the bookkeeper exist only when
 * the library is preloaded; without them everything else works and events wait.
 *
 * stylist_chat.session_identity (a superuser setting, off by default)
 * decides whether a connection may keep an identity for the whole session
 * (act_as or authenticate for the session).  Behind a transaction-pooling
 * connection pooler consecutive transactions of one server session serve
 * different clients, so an identity kept for the session would act for
 * the next client: a superuser turns it on only for logins that are never
 * pooled, with ALTER ROLE ... SET.  It is defined whether or not the
 * library is preloaded, so that a value set before the library was loaded
 * is checked against the privileges of whoever set it.
 *
 * stylist_chat.booking_cards (a superuser setting, on by default) decides
 * whether chat.upsert_booking() posts a booking card in the pair's chat;
 * the SQL reads it with current_setting().
 *
 * stylist_chat.notifications and stylist_chat.kpis (server settings, on
 * by default) decide whether the bookkeeping worker keeps the offline
 * notifications and the KPI rollups of the messages relayed
 * (bookkeeper.c); stylist_chat.notification_delay and
 * stylist_chat.unread_reminder_delay say when a notification and an unread
 * reminder come due; the SQL reads them with current_setting().
 *
 * stylist_chat.retention (a superuser setting, empty by default: messages
 * are kept) is how old a message may get before chat.apply_retention()
 * redacts it, an interval such as '3 years'; the SQL reads and checks it.
 *
 * The prefix "stylist_chat" is reserved so that no placeholder setting of
 * that name can be invented with SET: such a setting would carry no meaning
 * here anyway, since identity is never read from a setting.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "stylist_chat.h"

PG_MODULE_MAGIC;

/* settings */
char	   *relay_database = NULL;
int			relay_poll_interval = 1000;
bool		session_identity = false;
bool		relay_note_notifications = true;
bool		relay_note_kpis = true;
static int	notification_delay = 30;	/* read from SQL */
static int	unread_reminder_delay = 4 * 3600;	/* read from SQL */
static bool booking_cards = true;	/* read from SQL */
static char *retention = NULL;	/* read from SQL */

void		_PG_init(void);

void
_PG_init(void)
{
	/* nothing of ours may run in a binary upgrade */
	if (IsBinaryUpgrade)
		return;

	actor_init();
	relay_events_init();

	DefineCustomIntVariable("stylist_chat.poll_interval",
							"How often the relay worker looks for events when nobody wakes it.",
							"Senders wake the worker at commit; this is the fallback.",
							&relay_poll_interval,
							1000, 10, 60000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("stylist_chat.session_identity",
							 "Lets this connection keep a chat identity for the whole session.",
							 "Leave it off for logins that may reach the server through a "
							 "transaction-pooling connection pooler.",
							 &session_identity,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("stylist_chat.booking_cards",
							 "Posts a booking card in the pair's chat when a booking is made or changes.",
							 "Turn it off when the platform posts its own booking messages.",
							 &booking_cards,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("stylist_chat.notifications",
							 "Lets the relay worker issue offline notifications of messages.",
							 "Off: no new notification is recorded; those recorded stay.",
							 &relay_note_notifications,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("stylist_chat.notification_delay",
							"How long a message may stay undelivered before its recipient is notified.",
							"A message that reaches a session of its recipient within it needs no notification.",
							&notification_delay,
							30, 0, 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("stylist_chat.unread_reminder_delay",
							"How long a chat may stay unread before its recipient gets one reminder.",
							"0 turns unread reminders off.",
							&unread_reminder_delay,
							4 * 3600, 0, 30 * 86400,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("stylist_chat.retention",
							   "How old a message may get before chat.apply_retention() redacts it.",
							   "An interval such as '3 years'; empty (the default): messages are kept.",
							   &retention,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("stylist_chat.kpis",
							 "Lets the relay worker keep the KPI rollups as it relays messages.",
							 "Off: messages relayed meanwhile are missing from the figures until chat.rebuild_kpis().",
							 &relay_note_kpis,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("stylist_chat.database",
								   "The database in which the relay worker relays chat events.",
								   "The database where CREATE EXTENSION stylist_chat was run.",
								   &relay_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
		DefineCustomIntVariable("stylist_chat.queue_size",
								"How many chat events the shared queue holds.",
								"Events that do not fit are recovered from the tables.",
								&relay_queue_size,
								65536, 1024, 4194304,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
		relay_shmem_init();
		relay_worker_register();
		bookkeeper_init();
	}

	MarkGUCPrefixReserved("stylist_chat");
}
