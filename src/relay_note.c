/*-------------------------------------------------------------------------
 *
 * relay_note.c
 *	  What the relay worker keeps of the messages it relays, for the
 *	  bookkeeping worker.
 *
 * Each message relayed for the first time is kept here (relay_note_message)
 * until the relay's transaction commits; then the kept messages go to the
 * bookkeeping worker's ring (relay_note_hand_over, bookkeeper.c), which
 * keeps the offline notifications and the KPI rollups in a process of its
 * own.  A transaction that fails forgets what it kept (relay_note_reset):
 * its messages are relayed again by recovery, and kept again then.  A
 * worker that stops between a commit and the hand-over loses nothing: when
 * it starts it recovers, and asks the bookkeeper to note from the history
 * what was relayed and not noted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "relay.h"

/* the messages kept in the current transaction */
static NotedMessage *kept = NULL;
static int	nkept = 0;
static int	kept_size = 0;

/*
 * Keep a message relayed for the first time, until its transaction commits.
 */
void
relay_note_message(const RelayEvent *ev)
{
	NotedMessage *m;

	if (nkept == kept_size)
	{
		kept_size = kept_size == 0 ? 1024 : kept_size * 2;
		kept = kept == NULL ?
			MemoryContextAlloc(TopMemoryContext, kept_size * sizeof(NotedMessage)) :
			repalloc(kept, kept_size * sizeof(NotedMessage));
	}
	m = &kept[nkept++];
	m->chat_id = ev->chat_id;
	m->seq = ev->seq;
	m->sender_id = ev->actor_id;
	m->customer_id = ev->customer_id;
	m->stylist_id = ev->stylist_id;
	m->at = ev->at;
}

/*
 * Forget the kept messages: their transaction did not commit.
 */
void
relay_note_reset(void)
{
	nkept = 0;
}

/*
 * The transaction that relayed the kept messages has committed: hand them
 * to the bookkeeper.
 */
void
relay_note_hand_over(void)
{
	bookkeeper_hand_over(kept, nkept);
	nkept = 0;
}
