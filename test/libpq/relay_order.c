/*
 * relay_order.c: under concurrent senders, the relay worker delivers every
 * message of a chat once, in the order of its seqs, to each of the chat's
 * listeners and to nobody outside the chat.
 *
 * In the database the worker serves (see listener.h), with fresh random
 * profiles: two customers with one stylist (chats B and C), and an admin; a
 * listener for each of the four profiles.
 *
 * What it tests:
 *   - 8 concurrent senders (threads, a connection each; in each chat two
 *     act as its customer and two as the stylist) send 150 messages each:
 *     no error, and each chat stores 600 messages;
 *   - every listener sees every seq of each of its chats once, in
 *     increasing order (a customer's listener: its chat only, nothing of
 *     the other; the stylist's and the admin's: both);
 *   - every payload received during the run is JSON with exactly type,
 *     chat_id, seq, sender_id, ts, without any message text, under 8000
 *     bytes, on the listener's own channel.
 *
 * Usage: relay_order DBNAME (a database with stylist_chat installed; host,
 * port and a superuser from PGHOST, PGPORT, PGUSER; the library preloaded).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include "listener.h"

#define NTESTS 6

#define CONC_THREADS 8			/* 4 per chat */
#define CONC_MSGS 150			/* per thread */

int
main(int argc, char **argv)
{
	char		c2[37], c3[37], s2[37], adm[37], cw[37], sw[37];
	char		chat_b[40], chat_c[40];
	Listener   *lc2, *lc3, *ls2, *ladm;
	static Sender senders[CONC_THREADS];
	Listener   *per_chat[2];
	const char *chats[] = {chat_b, chat_c};
	int			errors = 0;
	long		nb, nc;
	double		start;

	relay_begin(argc, argv, NTESTS);
	new_profile(c2, "customer", "relay test customer 2");
	new_profile(c3, "customer", "relay test customer 3");
	new_profile(cw, "customer", "relay test warm-up customer");
	new_profile(s2, "stylist", "relay test stylist 2");
	new_profile(sw, "stylist", "relay test warm-up stylist");
	new_profile(adm, "admin", "relay test admin");

	per_chat[0] = lc2 = listener_new("customer 2", relay_db, NULL, c2);
	per_chat[1] = lc3 = listener_new("customer 3", relay_db, NULL, c3);
	ls2 = listener_new("stylist 2", relay_db, NULL, s2);
	ladm = listener_new("admin", relay_db, NULL, adm);
	warm_up(ladm, cw, sw);
	open_chat(c2, s2, chat_b);
	open_chat(c3, s2, chat_c);

	/* 1-5: 8 concurrent senders in 2 chats */
	start = now_s();
	for (int i = 0; i < CONC_THREADS; i++)
	{
		Sender	   *s = &senders[i];

		s->chat = i < 4 ? chat_b : chat_c;
		s->actor = (i % 4) < 2 ? (i < 4 ? c2 : c3) : s2;
		s->nmsgs = CONC_MSGS;
		if (pthread_create(&s->thread, NULL, sender_main, s) != 0)
			bail("pthread_create failed");
	}
	for (;;)
	{
		int			sent = 0;

		for (int i = 0; i < CONC_THREADS; i++)
			sent += atomic_load(&senders[i].sent);
		if (sent == CONC_THREADS * CONC_MSGS || now_s() - start > 120)
			break;
		poll_listeners(20);
	}
	for (int i = 0; i < CONC_THREADS; i++)
	{
		pthread_join(senders[i].thread, NULL);
		errors += senders[i].errors;
		if (senders[i].errors)
			diag("sender %d: %d errors, the first: %s", i, senders[i].errors,
				 senders[i].first_error);
	}
	diag("8 senders sent %d messages in %.1f s", CONC_THREADS * CONC_MSGS, now_s() - start);
	{
		const char *p[] = {chat_b};
		const char *q[] = {chat_c};

		nb = must_long(setup, "SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid", 1, p);
		nc = must_long(setup, "SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid", 1, q);
	}
	ok(errors == 0 && nb == 4 * CONC_MSGS && nc == 4 * CONC_MSGS,
	   "8 concurrent senders in 2 chats: no error, %ld and %ld messages stored", nb, nc);

	/* each chat's customer, the stylist of both, the admin */
	{
		Listener   *who[] = {lc2, lc3, ls2, ladm};
		int			nwho = 4;
		double		wstart = now_s();

		for (;;)
		{
			int			all = 1;

			poll_listeners(50);
			for (int c = 0; c < 2; c++)
			{
				long		n = c == 0 ? nb : nc;

				if (count_ev(per_chat[c], "message", chats[c], -1, NULL) < n ||
					count_ev(ls2, "message", chats[c], -1, NULL) < n ||
					count_ev(ladm, "message", chats[c], -1, NULL) < n)
					all = 0;
			}
			if (all || now_s() - wstart > 20)
				break;
		}
		drain_for(300);
		for (int w = 0; w < nwho; w++)
		{
			Listener   *l = who[w];
			int			good = 1;
			char		detail[1024] = "";

			for (int c = 0; c < 2; c++)
			{
				SeqCheck	sc;
				char		part[400];
				char		missing[40];

				if ((l == lc2 && c == 1) || (l == lc3 && c == 0))
					continue;	/* not its chat */
				sc = check_seqs(l, chats[c], c == 0 ? nb : nc);
				missing[0] = '\0';
				if (sc.missing)
					snprintf(missing, sizeof(missing), " (seq %ld first)", sc.first_missing);
				snprintf(part, sizeof(part), "%schat %c: %d events, %d distinct, %d missing%s, "
						 "%d duplicates, %d out of order%s%s%s", detail[0] ? "; " : "", 'B' + c,
						 sc.got, sc.distinct, sc.missing, missing, sc.dups, sc.out_of_order,
						 sc.out_of_order ? " (" : "", sc.disorder, sc.out_of_order ? ")" : "");
				strncat(detail, part, sizeof(detail) - strlen(detail) - 1);
				if (sc.missing || sc.dups || sc.out_of_order || sc.got == 0)
					good = 0;
			}
			if ((l == lc2 && count_ev(l, "message", chat_c, -1, NULL) > 0) ||
				(l == lc3 && count_ev(l, "message", chat_b, -1, NULL) > 0))
			{
				good = 0;
				strncat(detail, "; events of the other chat", sizeof(detail) - strlen(detail) - 1);
			}
			ok(good, "%s saw every seq of its chat(s) once, in increasing order (%s)",
			   l->name, detail);
		}
	}

	/* 6: every payload of the run */
	check_all_payloads(NULL, 0);

	return relay_end();
}
