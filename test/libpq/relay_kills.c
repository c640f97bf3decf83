/*
 * relay_kills.c: the relay worker, killed again and again while a chat is
 * busy, loses no message and comes back each time.
 *
 * In the database the worker serves (see listener.h), with fresh random
 * profiles: one chat of a customer and a stylist, and an admin; listeners
 * for the stylist and the admin.  A sender thread sends 2000 messages as
 * the customer (2 ms apart) while a killer thread, on its own connection,
 * terminates the worker (pg_terminate_backend on relay_status().pid) after
 * 300, 900 and 1500 messages sent, each time waiting until
 * relay_status() shows a new worker running.
 *
 * What it tests:
 *   - the worker was killed 3 times, each while the sender was still
 *     sending, and the sender got no error;
 *   - the stylist's and the admin's listeners end up with every seq
 *     1..2000 (duplicates and order are reported as diagnostics);
 *   - the chat's watermark in chat.relay_watermark reaches 2000;
 *   - the worker runs again afterwards, with a new pid;
 *   - every payload received during the run is JSON with exactly type,
 *     chat_id, seq, sender_id, ts, without any message text, under 8000
 *     bytes, on the listener's own channel.
 *
 * Usage: relay_kills DBNAME (a database with stylist_chat installed; host,
 * port and a superuser from PGHOST, PGPORT, PGUSER; the library preloaded).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include "listener.h"

#define NTESTS 6

#define KILL_MSGS 2000
#define NKILLS 3

/*
 * The worker killer
 */
typedef struct Killer
{
	pthread_t	thread;
	Sender	   *sender;
	int			at[NKILLS];		/* kill when the sender has sent this many */
	int			killed;			/* pg_terminate_backend returned true */
	int			mid_stream;		/* ... while the sender was still sending */
	int			sent_at[NKILLS];
	int			pids[NKILLS];
	double		restart_s[NKILLS];	/* until a new worker ran; -1 never */
	atomic_int	done;
} Killer;

static void *
killer_main(void *arg)
{
	Killer	   *k = arg;
	PGconn	   *conn = connect_as(relay_db, NULL, "relay test killer");
	int			pid = running_worker(conn, 0, 10);

	for (int i = 0; i < NKILLS; i++)
	{
		char		pidtxt[16];
		const char *p[] = {pidtxt};
		double		start;
		char		res[8];

		k->restart_s[i] = -1;
		/* wait for the sender to get there (bounded: it may have failed) */
		start = now_s();
		while (atomic_load(&k->sender->sent) < k->at[i] && now_s() - start < 60)
			sleep_ms(2);
		if (pid == 0)
			break;
		k->sent_at[i] = atomic_load(&k->sender->sent);
		k->pids[i] = pid;
		snprintf(pidtxt, sizeof(pidtxt), "%d", pid);
		must_value(conn, "SELECT pg_terminate_backend($1::int)", 1, p, res, sizeof(res));
		if (strcmp(res, "t") == 0)
		{
			k->killed++;
			if (k->sent_at[i] < k->sender->nmsgs)
				k->mid_stream++;
		}
		start = now_s();
		pid = running_worker(conn, pid, 10);
		if (pid != 0)
			k->restart_s[i] = now_s() - start;
	}
	PQfinish(conn);
	atomic_store(&k->done, 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	char		c4[37], s3[37], adm[37], cw[37], sw[37];
	char		chat_d[40];
	Listener   *ls3, *ladm;
	static Sender sender;
	static Killer killer;
	Listener   *two[2];
	double		start, sent_done = 0, complete = -1;
	SeqCheck	sc[2];
	const char *p[] = {chat_d};
	long		watermark = -1;

	relay_begin(argc, argv, NTESTS);
	new_profile(c4, "customer", "relay test customer 4");
	new_profile(cw, "customer", "relay test warm-up customer");
	new_profile(s3, "stylist", "relay test stylist 3");
	new_profile(sw, "stylist", "relay test warm-up stylist");
	new_profile(adm, "admin", "relay test admin");

	two[0] = ls3 = listener_new("stylist 3", relay_db, NULL, s3);
	two[1] = ladm = listener_new("admin", relay_db, NULL, adm);
	warm_up(ladm, cw, sw);
	open_chat(c4, s3, chat_d);

	/* 1-5: the worker killed while one sender sends 2000 messages */
	sender.chat = chat_d;
	sender.actor = c4;
	sender.nmsgs = KILL_MSGS;
	sender.pause_us = 2000;
	killer.sender = &sender;
	killer.at[0] = 300;
	killer.at[1] = 900;
	killer.at[2] = 1500;
	start = now_s();
	if (pthread_create(&sender.thread, NULL, sender_main, &sender) != 0 ||
		pthread_create(&killer.thread, NULL, killer_main, &killer) != 0)
		bail("pthread_create failed");
	while ((atomic_load(&sender.sent) < KILL_MSGS || !atomic_load(&killer.done)) &&
		   now_s() - start < 120)
	{
		poll_listeners(20);
		if (sent_done == 0 && atomic_load(&sender.sent) == KILL_MSGS)
			sent_done = now_s();
	}
	if (sent_done == 0)
		sent_done = now_s();
	pthread_join(sender.thread, NULL);
	pthread_join(killer.thread, NULL);
	diag("the sender sent %d messages in %.1f s; kills after %d, %d, %d sent "
		 "(pids %d, %d, %d); a new worker ran %.2f, %.2f, %.2f s after each",
		 KILL_MSGS, sent_done - start, killer.sent_at[0], killer.sent_at[1],
		 killer.sent_at[2], killer.pids[0], killer.pids[1], killer.pids[2],
		 killer.restart_s[0], killer.restart_s[1], killer.restart_s[2]);
	ok(killer.killed == NKILLS && killer.mid_stream == NKILLS && sender.errors == 0,
	   "the worker was killed %d times while the sender sent %d messages (%d kills "
	   "mid-stream, %d sender errors)", killer.killed, KILL_MSGS, killer.mid_stream,
	   sender.errors);

	/* every seq, within 20 s of the last send */
	for (;;)
	{
		int			all = 1;

		poll_listeners(50);
		for (int i = 0; i < 2; i++)
		{
			sc[i] = check_seqs(two[i], chat_d, KILL_MSGS);
			if (sc[i].missing)
				all = 0;
		}
		if (all)
		{
			complete = now_s() - sent_done;
			break;
		}
		if (now_s() - sent_done > 20)
			break;
	}
	drain_for(300);
	for (int i = 0; i < 2; i++)
	{
		sc[i] = check_seqs(two[i], chat_d, KILL_MSGS);
		diag("%s: %d events, %d distinct seqs, %d missing (first %ld), %d duplicates, "
			 "order within the chat %s (%d out of order) %s", two[i]->name, sc[i].got,
			 sc[i].distinct, sc[i].missing, sc[i].first_missing, sc[i].dups,
			 sc[i].out_of_order ? "broken" : "held", sc[i].out_of_order, sc[i].disorder);
	}
	ok(complete >= 0 && sc[0].missing == 0,
	   "despite the kills, the stylist's listener got every seq 1..%d (complete %.2f s "
	   "after the last send)", KILL_MSGS, complete);
	ok(complete >= 0 && sc[1].missing == 0,
	   "... and so did the admin's listener");

	{
		double		wstart = now_s();

		while (now_s() - wstart < 10)
		{
			watermark = must_long(setup, "SELECT coalesce(max(relayed_seq), 0)"
								  " FROM chat.relay_watermark WHERE chat_id = $1::uuid",
								  1, p);
			if (watermark == KILL_MSGS)
				break;
			sleep_ms(100);
		}
	}
	ok(watermark == KILL_MSGS, "the chat's watermark in chat.relay_watermark reached %d: %ld",
	   KILL_MSGS, watermark);
	{
		int			pid = running_worker(setup, killer.pids[NKILLS - 1], 5);

		ok(pid != 0 && pid != killer.pids[0] && pid != killer.pids[1],
		   "relay_status().running is true again afterwards, with a new pid (%d)", pid);
	}

	/* 6: every payload of the run */
	check_all_payloads(NULL, 0);

	return relay_end();
}
