/*
 * catchup_kills.c: the acknowledged catch-up (chat.catch_up) loses nothing
 * and delivers nothing twice to a client that follows its protocol, however
 * its connection is cut; and delivery receipts (delivered events) reach
 * the sender.
 *
 * Part 1, kills.  In the database the worker serves (see listener.h), with
 * fresh random profiles: a customer R with three stylists, one chat each.
 * Three sender threads (listener.h's Sender) send 300 messages each into
 * the three chats, 8 ms apart, and the main thread sends one of R's own
 * messages now and then.  Meanwhile R's client follows the protocol of
 * src/sql/catchup.sql, round after round: it calls
 *     SELECT chat_id, seq, sender_id FROM chat.catch_up($received, $max_rows)
 * with received = per chat the highest seq it has persisted and not yet had
 * confirmed (a call that returned is a confirmation), stores what comes
 * back ("persists": a count per seq) and remembers what was confirmed.
 * Each round, in turn, cuts the exchange at one point:
 *   0 before the call: the client's backend is terminated
 *     (pg_terminate_backend from another connection) while idle, then the
 *     client makes its call;
 *   1 during the acknowledgement: another connection holds one of the
 *     chats being acknowledged locked, so that the call waits on it; once
 *     pg_stat_activity shows it waiting, its backend is terminated (the
 *     call certainly fails before its commit);
 *   2 right after sending the call: terminated at once (before or after
 *     its commit, whichever comes first);
 *   3 after the server committed, before the client read the rows: the
 *     client waits until pg_stat_activity shows its backend idle again,
 *     then closes the socket unread (the rows are lost in transit);
 *   4 after reading, before persisting: the client drops the rows and its
 *     connection (a crash);
 *   5 after persisting, before acknowledging: the client drops its
 *     connection, so that the acknowledgement comes with a later call on a
 *     new connection;
 *   6 nothing happens.
 * max_rows varies from 1 to 20.  After every round the delivered marks
 * (read from another connection) lie between what the client saw confirmed
 * and what it has persisted.  When the senders are done, the client calls
 * until nothing is left.
 *
 * What part 1 tests:
 *   - each of the cut points happened at least 40 times; a kill before the
 *     call or during the acknowledgement always made the call fail;
 *   - after every round each delivered mark was at least what the client
 *     saw confirmed and at most what it had persisted;
 *   - no successful call returned a row at or below what the client had
 *     persisted in its chat, nor a message of R's;
 *   - the senders got no error;
 *   - at the end the client holds every message of the stylists exactly
 *     once, in every chat;
 *   - at the end each delivered mark equals what the client acknowledged,
 *     the last message of the stylist;
 *   - the first stylist's listener heard delivered events, the last with
 *     the final mark.
 *
 * Part 2, receipts: a fresh customer R2 and stylist S4 with a chat, both
 * listening.  S4 sends 3 messages.
 *   - catch_up(NULL) moves nothing and relays no delivered event;
 *   - catch_up acknowledging seq 3: one delivered event (seq 3, sender_id
 *     R2) on S4's channel and on R2's;
 *   - the same acknowledgement again: no event;
 *   - R2 sends message 4 and acknowledges it (ack_delivered): the mark
 *     moves, with no event (nothing of S4's was delivered);
 *   - S4 sends 5, R2 ack_delivered(5): one event seq 5; again: none;
 *   - S4 sends 6, R2's undelivered() fetches it: one event seq 6;
 *   - S4's channel got exactly the delivered events 3, 5, 6, once each,
 *     all with sender_id R2;
 *   - every payload of the run is JSON with exactly the five keys, without
 *     message text, on the listener's own channel.
 *
 * Usage: catchup_kills DBNAME (host, port and a superuser from PGHOST,
 * PGPORT, PGUSER; the library preloaded).  Output: TAP.  Exit status 0
 * only when every test passed.
 */
#include "listener.h"

#define NTESTS 14

#define NCHATS 3
#define MSGS_PER_SENDER 300
#define MIN_ROUNDS 350
#define MAX_SEQ 2000
#define NPOINTS 7

enum
{
	CUT_BEFORE_CALL,
	CUT_DURING_ACK,
	CUT_AFTER_SEND,
	CUT_LOST_IN_TRANSIT,
	CUT_BEFORE_PERSIST,
	CUT_BEFORE_ACK,
	CUT_NONE
};

static const char *const cut_names[NPOINTS] = {
	"before the call", "during the acknowledgement", "right after sending",
	"after the commit, rows lost in transit", "after reading, before persisting",
	"after persisting, before acknowledging", "no cut"
};

/* the client's persistent state: what it holds, and what was confirmed */
typedef struct ClientChat
{
	char		id[40];
	unsigned char held[MAX_SEQ + 1];	/* times each seq is held */
	long		persisted;		/* highest seq held */
	long		confirmed;		/* acknowledged by a call that returned */
} ClientChat;

static ClientChat cc[NCHATS];
static char recipient[37];
static PGconn *client;			/* NULL: disconnected */
static PGconn *killer;

static int	cuts[NPOINTS];
static int	cut_made_fail[NPOINTS];	/* the call failed */
static int	invariant_broken;
static int	reoffered;
static int	own_returned;
static int	unexpected_errors;

static void
client_connect(void)
{
	const char *p[] = {recipient};

	client = connect_as(relay_db, NULL, "catchup client");
	must_do(client, "SELECT chat.act_as($1::uuid, true)", 1, p);
}

static void
client_drop(void)
{
	if (client)
		PQfinish(client);
	client = NULL;
}

static int
chat_index(const char *id)
{
	for (int i = 0; i < NCHATS; i++)
		if (strcmp(cc[i].id, id) == 0)
			return i;
	return -1;
}

/* received: every chat with something persisted and not confirmed; NULL for none */
static int
build_received(char *buf, size_t len, long sent[NCHATS])
{
	size_t		n = 0;
	int			k = 0;

	n += snprintf(buf + n, len - n, "[");
	for (int i = 0; i < NCHATS; i++)
	{
		sent[i] = -1;
		if (cc[i].persisted > cc[i].confirmed)
		{
			n += snprintf(buf + n, len - n, "%s{\"chat_id\": \"%s\", \"seq\": %ld}",
						  k++ ? ", " : "", cc[i].id, cc[i].persisted);
			sent[i] = cc[i].persisted;
		}
	}
	snprintf(buf + n, len - n, "]");
	return k;
}

static void
terminate(int pid)
{
	char		txt[16];
	const char *p[] = {txt};

	snprintf(txt, sizeof(txt), "%d", pid);
	must_do(killer, "SELECT pg_terminate_backend($1::int)", 1, p);
}

/*
 * Wait until a backend is gone (state NULL), or in that state: with a wait
 * event of that type when state is "active", after the query marked so
 * when it is "idle".  1 if so within timeout.  Asked on the setup
 * connection, outside the killer's transaction (which would see one
 * snapshot of pg_stat_activity).
 */
static int
wait_backend(int pid, const char *state, const char *what, double timeout)
{
	char		txt[16];
	const char *p[] = {txt, state ? state : "", what ? what : ""};
	double		start = now_s();

	snprintf(txt, sizeof(txt), "%d", pid);
	while (now_s() - start < timeout)
	{
		long		n;

		if (!state)
			n = must_long(setup, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int",
						  1, p) == 0;
		else
			n = must_long(setup,
						  "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int"
						  " AND state = $2 AND CASE $2 WHEN 'active' THEN wait_event_type = $3"
						  " ELSE strpos(query, '/* ' || $3 || ' */') > 0 END",
						  3, p);
		if (n > 0)
			return 1;
		usleep(300);
	}
	return 0;
}

/* the result of the call sent, all of it; NULL when it failed */
static PGresult *
read_result(void)
{
	PGresult   *res,
			   *ok_res = NULL;
	int			failed = 0;

	while ((res = PQgetResult(client)) != NULL)
	{
		if (PQresultStatus(res) == PGRES_TUPLES_OK && !ok_res)
			ok_res = res;
		else
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			if (PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				failed = 1;
				/* 57P01: terminated by the administrator; no SQLSTATE: connection lost */
				if (state && strcmp(state, "57P01") != 0 && PQstatus(client) == CONNECTION_OK)
				{
					if (unexpected_errors++ < 3)
						diag("unexpected error: %s", PQresultErrorMessage(res));
				}
			}
			PQclear(res);
		}
		if (PQstatus(client) == CONNECTION_BAD)
			break;
	}
	if (failed || PQstatus(client) == CONNECTION_BAD)
	{
		if (ok_res)
			PQclear(ok_res);
		return NULL;
	}
	return ok_res;
}

/* store the rows, and what the call confirmed; count R's own messages among them */
static void
persist(PGresult *res, const long sent[NCHATS])
{
	for (int r = 0; r < PQntuples(res); r++)
	{
		int			i = chat_index(PQgetvalue(res, r, 0));
		long		seq = atol(PQgetvalue(res, r, 1));

		if (i < 0 || seq < 1 || seq > MAX_SEQ)
			bail("catch_up returned a row of no chat of the test: %s %ld", PQgetvalue(res, r, 0), seq);
		if (strcmp(PQgetvalue(res, r, 2), recipient) == 0)
			own_returned++;
		cc[i].held[seq]++;
		if (seq > cc[i].persisted)
			cc[i].persisted = seq;
	}
	for (int i = 0; i < NCHATS; i++)
		if (sent[i] > cc[i].confirmed)
			cc[i].confirmed = sent[i];
}

/* the rows of a successful call must be above what was held when it was made */
static void
check_rows_above(PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++)
	{
		int			i = chat_index(PQgetvalue(res, r, 0));

		if (i >= 0 && atol(PQgetvalue(res, r, 1)) <= cc[i].persisted && reoffered++ < 3)
			diag("chat %d: seq %s offered again (the client holds up to %ld)", i,
				 PQgetvalue(res, r, 1), cc[i].persisted);
	}
}

/* one round of the protocol, cut at point cut; the number of rows persisted, -1 failed */
static int
round_of(int cut, int max_rows)
{
	static int	round_no = 0;
	char		sql[160];
	char		marker[32];
	char		received[1024];
	char		maxtxt[16];
	long		sent[NCHATS];
	int			nreceived = build_received(received, sizeof(received), sent);
	const char *p[] = {nreceived ? received : NULL, maxtxt};
	PGresult   *res;
	int			pid;
	int			n;

	snprintf(maxtxt, sizeof(maxtxt), "%d", max_rows);
	/* a text of its own, so that pg_stat_activity shows when this call is done */
	snprintf(marker, sizeof(marker), "round %d", ++round_no);
	snprintf(sql, sizeof(sql),
			 "SELECT chat_id, seq, sender_id FROM chat.catch_up($1::jsonb, $2::int) /* %s */",
			 marker);
	if (!client)
		client_connect();
	pid = PQbackendPID(client);
	if (cut == CUT_DURING_ACK && nreceived == 0)
		cut = CUT_AFTER_SEND;	/* nothing to acknowledge, so nothing to wait on */
	cuts[cut]++;

	if (cut == CUT_BEFORE_CALL)
	{
		terminate(pid);
		if (!wait_backend(pid, NULL, NULL, 5))
			bail("backend %d did not exit", pid);
	}
	if (cut == CUT_DURING_ACK)
	{
		int			i = 0;
		const char *q[1];

		while (sent[i] < 0)
			i++;
		q[0] = cc[i].id;
		must_do(killer, "BEGIN", 0, NULL);
		must_do(killer, "SELECT 1 FROM chat.chats WHERE chat_id = $1::uuid FOR NO KEY UPDATE", 1, q);
	}

	if (!PQsendQueryParams(client, sql, 2, NULL, p, NULL, NULL, 0))
	{
		/* the connection is gone already (cut 0) */
		if (cut == CUT_DURING_ACK)
			must_do(killer, "ROLLBACK", 0, NULL);
		cut_made_fail[cut]++;
		client_drop();
		return -1;
	}

	switch (cut)
	{
		case CUT_DURING_ACK:
			if (!wait_backend(pid, "active", "Lock", 1.5))
				diag("round cut during the acknowledgement: the call never waited on the lock");
			terminate(pid);
			wait_backend(pid, NULL, NULL, 5);
			must_do(killer, "ROLLBACK", 0, NULL);
			break;
		case CUT_AFTER_SEND:
			terminate(pid);
			break;
		case CUT_LOST_IN_TRANSIT:
			if (!wait_backend(pid, "idle", marker, 5))
				diag("round cut in transit: the call did not finish within 5 s");
			client_drop();		/* the rows are in the socket, unread */
			cut_made_fail[cut]++;
			return -1;
		default:
			break;
	}

	res = read_result();
	if (!res)
	{
		cut_made_fail[cut]++;
		client_drop();
		return -1;
	}
	check_rows_above(res);
	if (cut == CUT_BEFORE_PERSIST)
	{
		PQclear(res);
		client_drop();
		return -1;
	}
	persist(res, sent);
	n = PQntuples(res);
	PQclear(res);
	if (cut == CUT_BEFORE_ACK)
		client_drop();
	return n;
}

/* after a round: confirmed <= delivered mark <= persisted, in every chat */
static void
check_marks(void)
{
	for (int i = 0; i < NCHATS; i++)
	{
		const char *p[] = {cc[i].id};
		long		mark = must_long(killer,
									 "SELECT customer_delivered_seq FROM chat.chats WHERE chat_id = $1::uuid",
									 1, p);

		if (mark < cc[i].confirmed || mark > cc[i].persisted)
		{
			if (invariant_broken++ < 3)
				diag("chat %d: delivered mark %ld, but the client has %ld confirmed and %ld persisted",
					 i, mark, cc[i].confirmed, cc[i].persisted);
		}
	}
}

static unsigned int rnd_state = 12345;

static int
rnd(int n)
{
	rnd_state = rnd_state * 1103515245 + 12345;
	return (int) ((rnd_state >> 16) % (unsigned int) n);
}

static void
part_kills(void)
{
	char		stylist[NCHATS][37], cw[37];
	static Sender senders[NCHATS];
	Listener   *ls0;
	int			rounds = 0, own = 0;
	double		start;
	int			missing = 0, dups = 0, wrong_marks = 0;
	int			all_cuts = 1, fail_ok;

	new_profile(recipient, "customer", "catchup test customer");
	new_profile(cw, "customer", "catchup test warm-up customer");
	for (int i = 0; i < NCHATS; i++)
		new_profile(stylist[i], "stylist", "catchup test stylist");
	ls0 = listener_new("stylist 0", relay_db, NULL, stylist[0]);
	warm_up(ls0, cw, stylist[0]);	/* the relay serves: stylist 0 hears a message */
	for (int i = 0; i < NCHATS; i++)
		open_chat(recipient, stylist[i], cc[i].id);
	killer = connect_as(relay_db, NULL, "catchup killer");

	for (int i = 0; i < NCHATS; i++)
	{
		senders[i].actor = stylist[i];
		senders[i].chat = cc[i].id;
		senders[i].nmsgs = MSGS_PER_SENDER;
		senders[i].pause_us = 8000;
		if (pthread_create(&senders[i].thread, NULL, sender_main, &senders[i]) != 0)
			bail("pthread_create failed");
	}
	start = now_s();
	for (;;)
	{
		int			busy = 0;

		for (int i = 0; i < NCHATS; i++)
			if (atomic_load(&senders[i].sent) < MSGS_PER_SENDER)
				busy = 1;
		if (!busy && rounds >= MIN_ROUNDS)
			break;
		if (now_s() - start > 240)
			bail("the rounds took over 240 s");
		round_of(rounds % NPOINTS, 1 + rnd(20));
		check_marks();
		if (rounds % 25 == 7)
		{
			send_as(setup, recipient, cc[rnd(NCHATS)].id, "my own message");
			own++;
		}
		rounds++;
		poll_listeners(0);
	}
	for (int i = 0; i < NCHATS; i++)
		pthread_join(senders[i].thread, NULL);
	/* the rest, without cuts, until nothing is left to fetch or acknowledge */
	for (int guard = 0; guard < 1000; guard++)
	{
		int			pending = 0;

		for (int i = 0; i < NCHATS; i++)
			if (cc[i].persisted > cc[i].confirmed)
				pending = 1;
		if (round_of(CUT_NONE, 20) == 0 && !pending)
			break;
		check_marks();
	}
	diag("%d rounds in %.1f s while 3 senders sent %d messages each; R sent %d of her own",
		 rounds, now_s() - start, MSGS_PER_SENDER, own);
	for (int k = 0; k < NPOINTS; k++)
	{
		diag("cut %s: %d times, the call failed %d times", cut_names[k], cuts[k], cut_made_fail[k]);
		if (k != CUT_NONE && cuts[k] < 40)
			all_cuts = 0;
	}
	fail_ok = cut_made_fail[CUT_BEFORE_CALL] == cuts[CUT_BEFORE_CALL] &&
		cut_made_fail[CUT_DURING_ACK] == cuts[CUT_DURING_ACK] && unexpected_errors == 0;
	ok(all_cuts, "the exchange was cut at each of the 6 points at least 40 times");
	ok(fail_ok, "a kill before the call or during the acknowledgement always failed the call "
	   "(%d/%d, %d/%d; %d unexpected errors)", cut_made_fail[CUT_BEFORE_CALL],
	   cuts[CUT_BEFORE_CALL], cut_made_fail[CUT_DURING_ACK], cuts[CUT_DURING_ACK],
	   unexpected_errors);
	ok(invariant_broken == 0,
	   "after every round each delivered mark lay between what the client saw confirmed and "
	   "what it had persisted (%d times not)", invariant_broken);
	ok(reoffered == 0 && own_returned == 0,
	   "no call returned a row the client already held (%d did) or one of R's own messages (%d)",
	   reoffered, own_returned);
	ok(senders[0].errors + senders[1].errors + senders[2].errors == 0,
	   "the senders got no error (%d; %s)", senders[0].errors + senders[1].errors + senders[2].errors,
	   senders[0].first_error);

	for (int i = 0; i < NCHATS; i++)
	{
		const char *p[] = {cc[i].id, recipient};
		PGresult   *res = must(killer,
								"SELECT seq, sender_id = $2::uuid FROM chat.chat_messages"
								" WHERE chat_id = $1::uuid ORDER BY seq", 2, p);
		long		last_other = 0;
		long		mark;

		for (int r = 0; r < PQntuples(res); r++)
		{
			long		seq = atol(PQgetvalue(res, r, 0));
			int			mine = strcmp(PQgetvalue(res, r, 1), "t") == 0;

			if (seq > MAX_SEQ)
				bail("chat %d has more than %d messages", i, MAX_SEQ);
			if (mine)
			{
				if (cc[i].held[seq] != 0)
					dups++;
				continue;
			}
			last_other = seq;
			if (cc[i].held[seq] == 0)
			{
				if (missing++ < 3)
					diag("chat %d: seq %ld is missing", i, seq);
			}
			else if (cc[i].held[seq] > 1)
			{
				if (dups++ < 3)
					diag("chat %d: seq %ld is held %d times", i, seq, cc[i].held[seq]);
			}
		}
		PQclear(res);
		mark = must_long(killer, "SELECT customer_delivered_seq FROM chat.chats WHERE chat_id = $1::uuid",
						 1, p);
		if (mark != cc[i].confirmed || mark != last_other || cc[i].persisted != last_other)
		{
			wrong_marks++;
			diag("chat %d: mark %ld, acknowledged %ld, held up to %ld, last message of the "
				 "stylist %ld", i, mark, cc[i].confirmed, cc[i].persisted, last_other);
		}
	}
	ok(missing == 0 && dups == 0,
	   "the client holds every message of the stylists exactly once, in all %d chats "
	   "(%d missing, %d held twice)", NCHATS, missing, dups);
	ok(wrong_marks == 0,
	   "each delivered mark equals what the client acknowledged, the stylist's last message");
	{
		const char *p[] = {cc[0].id};
		long		mark = must_long(killer,
									 "SELECT customer_delivered_seq FROM chat.chats WHERE chat_id = $1::uuid",
									 1, p);
		long		top = 0;
		double		w = wait_for(&ls0, 1, 1, "delivered", cc[0].id, mark, recipient, 10);

		for (int e = 0; e < ls0->nev; e++)
			if (strcmp(ls0->ev[e].type, "delivered") == 0 && strcmp(ls0->ev[e].chat, cc[0].id) == 0 &&
				ls0->ev[e].seq > top)
				top = ls0->ev[e].seq;
		ok(w >= 0 && top == mark,
		   "the first stylist heard %d delivered events, the highest with the final mark %ld (%ld)",
		   count_ev(ls0, "delivered", cc[0].id, -1, recipient), mark, top);
	}
	client_drop();
}

static void
part_receipts(void)
{
	char		r2[37], s4[37];
	char		chat[40];
	char		rec[128];
	const char *pc[] = {chat};
	const char *pr[] = {rec};
	Listener   *lr, *ls;
	Listener   *both[2];
	int			before;

	new_profile(r2, "customer", "catchup test customer 2");
	new_profile(s4, "stylist", "catchup test stylist 4");
	both[0] = lr = listener_new("customer 2", relay_db, NULL, r2);
	both[1] = ls = listener_new("stylist 4", relay_db, NULL, s4);
	open_chat(r2, s4, chat);
	for (int k = 0; k < 3; k++)
		send_as(setup, s4, chat, "hello SECRET");
	if (wait_for(both, 2, 3, "message", chat, -1, s4, 10) < 0)
		bail("the three messages were not relayed within 10 s");

	/* the listener connections act as their profiles for the session */
	must_do(lr->conn, "SELECT count(*) FROM chat.catch_up(NULL)", 0, NULL);
	drain_for(400);
	ok(count_ev(ls, "delivered", chat, -1, NULL) == 0,
	   "catch_up without a position relays no delivered event");

	snprintf(rec, sizeof(rec), "[{\"chat_id\": \"%s\", \"seq\": 3}]", chat);
	must_do(lr->conn, "SELECT count(*) FROM chat.catch_up($1::jsonb)", 1, pr);
	ok(wait_for(both, 2, 1, "delivered", chat, 3, r2, 10) >= 0,
	   "acknowledging seq 3 relays a delivered event (seq 3, sender_id the recipient) to the "
	   "sender's channel and the recipient's");
	must_do(lr->conn, "SELECT count(*) FROM chat.catch_up($1::jsonb)", 1, pr);
	send_as(setup, r2, chat, "my own SECRET");
	must_do(lr->conn, "SELECT chat.ack_delivered($1::uuid, 4)", 1, pc);
	drain_for(400);
	ok(count_ev(ls, "delivered", chat, -1, NULL) == 1 &&
	   must_long(setup, "SELECT customer_delivered_seq FROM chat.chats WHERE chat_id = $1::uuid",
				 1, pc) == 4,
	   "acknowledging seq 3 again, and then one's own message 4, relays nothing more (the mark "
	   "moved to 4)");

	send_as(setup, s4, chat, "five SECRET");
	before = count_ev(ls, "delivered", chat, -1, NULL);
	must_do(lr->conn, "SELECT chat.ack_delivered($1::uuid, 5)", 1, pc);
	must_do(lr->conn, "SELECT chat.ack_delivered($1::uuid, 5)", 1, pc);
	send_as(setup, s4, chat, "six SECRET");
	must_do(lr->conn, "SELECT count(*) FROM chat.undelivered()", 0, NULL);
	ok(wait_for(&ls, 1, 1, "delivered", chat, 5, r2, 10) >= 0 &&
	   wait_for(&ls, 1, 1, "delivered", chat, 6, r2, 10) >= 0 && before == 1,
	   "ack_delivered(5) and undelivered() fetching 6 each relay a delivered event");
	drain_for(400);
	{
		int			n = count_ev(ls, "delivered", chat, -1, NULL);
		int			ok3 = count_ev(ls, "delivered", chat, 3, r2) == 1 &&
			count_ev(ls, "delivered", chat, 5, r2) == 1 &&
			count_ev(ls, "delivered", chat, 6, r2) == 1;

		ok(n == 3 && ok3 && count_ev(lr, "delivered", chat, -1, r2) == 3 &&
		   count_ev(ls, "delivered", NULL, -1, s4) == 0,
		   "the sender got exactly the delivered events 3, 5 and 6, once each, from the "
		   "recipient (%d events), and so did the recipient", n);
	}
}

int
main(int argc, char **argv)
{
	relay_begin(argc, argv, NTESTS);
	part_kills();
	part_receipts();
	check_all_payloads(NULL, 0);
	PQfinish(killer);
	return relay_end();
}
