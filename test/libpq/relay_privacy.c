/*
 * relay_privacy.c: the relay worker notifies each event only on the private
 * channels of those entitled to it; nobody else, however they guess, hears
 * anything, and a database the worker does not serve is not relayed.
 *
 * In the database the worker serves (see listener.h), with fresh random
 * profiles: four customers, four stylists and an admin in five chats (one
 * customer has two stylists, one stylist two customers), a bystander
 * profile in no chat, and a LOGIN role without any grant
 * (regress_eavesdropper, dropped at the end).  Listeners act as eight of
 * the profiles; the bystander and the eavesdropper also LISTEN on every
 * name they can build from the ids they know.  Then traffic flows in every
 * chat: each kind of event (chat_created, message, edited, deleted, read,
 * hidden, typing), a rolled-back message, 4 concurrent senders, and the
 * worker killed once and the chats busy again after it restarts.
 *
 * What it tests:
 *   - chat.listen_channel(): "chat_" and 40 hex digits, different for each
 *     of 9 profiles, the same in two sessions of one profile and equal to
 *     what chat.listen() listens on;
 *   - channel privacy: the bystander and the eavesdropper LISTEN on every
 *     name they can build from the ids they know (chat and profile ids with
 *     and without dashes, in both cases, with prefixes chat_, chat-, ...;
 *     the bystander's own channel with other suffixes; well-known names)
 *     while the traffic flows (and reaches the admin): they receive
 *     nothing, although a NOTIFY on one of those names reaches them; the
 *     role cannot get a channel name (listen_channel, chat.secrets,
 *     chat._channel_name are denied);
 *   - every payload the profiles' listeners received during the run is
 *     JSON with exactly type, chat_id, seq, sender_id, ts, without any
 *     message text, under 8000 bytes, on the listener's own channel;
 *   - in argv[1], when it is not the worker's database: a message waits
 *     (relay_status().backlog counts it) and no notification comes.
 *
 * Usage: relay_privacy DBNAME (a database with stylist_chat installed;
 * host, port and a superuser from PGHOST, PGPORT, PGUSER; the library
 * preloaded).  Output: TAP.  Exit status 0 only when every test passed.
 */
#include "listener.h"

#define NTESTS 9

#define MAX_GUESSES 512
#define NCHATS 5
#define CONC_THREADS 4			/* 2 per chat, in two chats */
#define CONC_MSGS 100			/* per thread */

static void
skip(const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&out_lock);
	test_no++;
	printf("ok %d # SKIP ", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* the SQLSTATE of a statement that should fail, "" if it did not */
static void
sqlstate_of(PGconn *conn, const char *sql, char out[6])
{
	PGresult   *res = PQexec(conn, sql);
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	snprintf(out, 6, "%s", PQresultStatus(res) == PGRES_FATAL_ERROR && st ? st : "");
	PQclear(res);
}

/* add a channel name to guess, once */
static int
add_guess(char guesses[][64], int n, const char *name)
{
	if (n >= MAX_GUESSES || strlen(name) == 0 || strlen(name) > 63)
		return n;
	for (int i = 0; i < n; i++)
		if (strcmp(guesses[i], name) == 0)
			return n;
	snprintf(guesses[n], 64, "%s", name);
	return n + 1;
}

/* LISTEN on every guess; how many channels the session then listens on */
static long
listen_all(PGconn *conn, char guesses[][64], int n)
{
	for (int i = 0; i < n; i++)
	{
		char	   *ident = PQescapeIdentifier(conn, guesses[i], strlen(guesses[i]));
		char		sql[128];

		if (!ident)
			bail("PQescapeIdentifier: %s", PQerrorMessage(conn));
		snprintf(sql, sizeof(sql), "LISTEN %s", ident);
		PQfreemem(ident);
		must_do(conn, sql, 0, NULL);
	}
	return must_long(conn, "SELECT count(*) FROM pg_listening_channels()", 0, NULL);
}

/*
 * The traffic: in each chat of a pair (customer, stylist), every kind of
 * event and a rolled-back message; then concurrent senders in chats 1 and
 * 2; then the worker killed, and one more message in each chat once it
 * runs again.  Whether the admin heard each chat's last message.
 */
static int
traffic(const char *pairs[NCHATS][2], char chats[NCHATS][40], const char *adm, Listener *ladm)
{
	static Sender senders[CONC_THREADS];
	char		body[128];
	int			delivered = 0;
	int			pid, newpid;
	double		start;

	for (int i = 0; i < NCHATS; i++)
	{
		const char *cust = pairs[i][0];
		const char *styl = pairs[i][1];
		const char *pc[] = {cust};
		const char *p[] = {chats[i], NULL, NULL};
		char		seqtxt[32];
		long		seq;

		open_chat(cust, styl, chats[i]);
		snprintf(body, sizeof(body), "hello %s", secret);
		seq = send_as(setup, cust, chats[i], body);
		snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
		snprintf(body, sizeof(body), "hello again %s", secret);
		p[1] = seqtxt;
		p[2] = body;
		call_as(setup, cust, "SELECT 0 FROM chat.edit_message($1::uuid, $2::bigint, $3)", 3, p);
		snprintf(body, sizeof(body), "to be deleted %s", secret);
		seq = send_as(setup, cust, chats[i], body);
		snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
		call_as(setup, cust, "SELECT 0 FROM chat.delete_message($1::uuid, $2::bigint)", 2, p);
		snprintf(body, sizeof(body), "a reply %s", secret);
		send_as(setup, styl, chats[i], body);
		call_as(setup, styl, "SELECT chat.mark_read($1::uuid)", 1, p);
		snprintf(body, sizeof(body), "to be hidden %s", secret);
		seq = send_as(setup, cust, chats[i], body);
		snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
		p[2] = "relay test: hidden";
		call_as(setup, adm, "SELECT 0 FROM chat.hide_message($1::uuid, $2::bigint, $3)", 3, p);
		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, pc);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, p);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
		snprintf(body, sizeof(body), "rolled back %s", secret);
		p[1] = body;
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, p);
		must_do(setup, "ROLLBACK", 0, NULL);
		poll_listeners(0);
	}

	/* concurrent senders: in chats 1 and 2, each participant twice */
	start = now_s();
	for (int i = 0; i < CONC_THREADS; i++)
	{
		Sender	   *s = &senders[i];
		int			c = 1 + i / 2;

		s->chat = chats[c];
		s->actor = pairs[c][i % 2];
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
		if (senders[i].errors)
			diag("sender %d: %d errors, the first: %s", i, senders[i].errors,
				 senders[i].first_error);
	}

	/* the worker killed; the chats busy again once a new one runs */
	pid = running_worker(setup, 0, 10);
	if (pid != 0)
	{
		char		pidtxt[16];
		const char *p[] = {pidtxt};

		snprintf(pidtxt, sizeof(pidtxt), "%d", pid);
		must_do(setup, "SELECT pg_terminate_backend($1::int)", 1, p);
	}
	start = now_s();
	newpid = running_worker(setup, pid, 10);
	diag("the worker (pid %d) was killed; a new one (pid %d) ran %.2f s later",
		 pid, newpid, now_s() - start);
	for (int i = 0; i < NCHATS; i++)
	{
		long		marker;

		snprintf(body, sizeof(body), "after the restart %s", secret);
		marker = send_as(setup, pairs[i][1], chats[i], body);
		if (wait_for(&ladm, 1, 1, "message", chats[i], marker, pairs[i][1], 10) >= 0)
			delivered++;
	}
	drain_for(300);
	return delivered == NCHATS;
}

int
main(int argc, char **argv)
{
	char		c1[37], c2[37], c3[37], c4[37], s1[37], s2[37], s3[37], sr[37], adm[37], x[37];
	char		cw[37], sw[37];
	char		chats[NCHATS][40];
	Listener   *lc1, *ls1, *ladm, *lx, *leaves, *lc2, *lc3, *ls2, *ls3;
	static char guesses[MAX_GUESSES][64];
	int			nguesses = 0;
	long		x_listening, e_listening;
	int			heard_by_admin;
	int			participants_got = 0;

	relay_begin(argc, argv, NTESTS);
	must_do(setup,
			"DO $$ BEGIN"
			" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_eavesdropper') THEN"
			"   CREATE ROLE regress_eavesdropper LOGIN;"
			" END IF; END $$", 0, NULL);
	new_profile(c1, "customer", "relay test customer 1");
	new_profile(c2, "customer", "relay test customer 2");
	new_profile(c3, "customer", "relay test customer 3");
	new_profile(c4, "customer", "relay test customer 4");
	new_profile(x, "customer", "relay test bystander");
	new_profile(cw, "customer", "relay test warm-up customer");
	new_profile(s1, "stylist", "relay test stylist 1");
	new_profile(s2, "stylist", "relay test stylist 2");
	new_profile(s3, "stylist", "relay test stylist 3");
	new_profile(sr, "stylist", "relay test stylist R");
	new_profile(sw, "stylist", "relay test warm-up stylist");
	new_profile(adm, "admin", "relay test admin");

	/* 1-3: channel names */
	{
		const char *ids[] = {c1, c2, c3, c4, x, s1, s2, s3, adm};
		char		names[9][64];
		int			form_ok = 1, distinct = 1, stable = 1;
		PGconn	   *other = connect_as(relay_db, NULL, "relay test channels");

		for (int i = 0; i < 9; i++)
		{
			const char *p[] = {ids[i]};
			char		again[64];
			const char *h;

			must_do(setup, "BEGIN", 0, NULL);
			must_do(setup, "SELECT chat.act_as($1::uuid)", 1, p);
			must_value(setup, "SELECT chat.listen_channel()", 0, NULL, names[i], 64);
			must_do(setup, "COMMIT", 0, NULL);
			must_do(other, "BEGIN", 0, NULL);
			must_do(other, "SELECT chat.act_as($1::uuid)", 1, p);
			must_value(other, "SELECT chat.listen_channel()", 0, NULL, again, sizeof(again));
			must_do(other, "COMMIT", 0, NULL);
			if (strcmp(again, names[i]) != 0)
			{
				stable = 0;
				diag("profile %s: listen_channel() %s, then %s in another session",
					 ids[i], names[i], again);
			}
			h = names[i] + 5;
			if (strncmp(names[i], "chat_", 5) != 0 || strlen(h) != 40 ||
				strspn(h, "0123456789abcdef") != 40)
			{
				form_ok = 0;
				diag("profile %s: listen_channel() is \"%s\"", ids[i], names[i]);
			}
			for (int j = 0; j < i; j++)
				if (strcmp(names[i], names[j]) == 0)
				{
					distinct = 0;
					diag("profiles %s and %s share the channel %s", ids[i], ids[j], names[i]);
				}
		}
		PQfinish(other);

		/* the listeners; chat.listen() must listen on listen_channel() */
		lc1 = listener_new("customer 1", relay_db, NULL, c1);
		ls1 = listener_new("stylist 1", relay_db, NULL, s1);
		ladm = listener_new("admin", relay_db, NULL, adm);
		lc2 = listener_new("customer 2", relay_db, NULL, c2);
		lc3 = listener_new("customer 3", relay_db, NULL, c3);
		ls2 = listener_new("stylist 2", relay_db, NULL, s2);
		ls3 = listener_new("stylist 3", relay_db, NULL, s3);
		lx = listener_new("bystander", relay_db, NULL, x);
		{
			Listener   *ls[] = {lc1, lc2, lc3, lx, ls1, ls2, ls3, ladm};
			int			at[] = {0, 1, 2, 4, 5, 6, 7, 8};	/* in names */

			for (int i = 0; i < 8; i++)
				if (strcmp(ls[i]->channel, names[at[i]]) != 0)
				{
					stable = 0;
					diag("chat.listen() returned %s for %s, listen_channel() %s",
						 ls[i]->channel, ls[i]->name, names[at[i]]);
				}
		}
		ok(form_ok, "listen_channel() is chat_ and 40 lower-case hex digits, for 9 profiles");
		ok(distinct, "listen_channel() differs for each of 9 profiles");
		ok(stable, "listen_channel() is the same in two sessions of a profile, and is what "
		   "chat.listen() listens on");
	}

	/* the eavesdropper, and the bystander's guesses */
	leaves = listener_new("eavesdropper", relay_db, "regress_eavesdropper", NULL);
	{
		const char *known[] = {c1, c2, c3, c4, s1, s2, s3, sr, adm, x, cw, sw};
		const char *prefixes[] = {"", "chat_", "chat-", "CHAT_", "chat:", "chat."};
		const char *wellknown[] = {"chat", "chats", "chat_messages", "messages", "message",
			"stylist_chat", "stylist_chat_relay", "relay", "chat_relay", "chat_events",
			"events", "notifications", "chat_all", "chat_admin", "admin", "chat_service",
		"typing", "chat_typing"};
		char		own[64];
		int			nknown = 0;

		snprintf(own, sizeof(own), "%s", lx->channel);
		for (size_t i = 0; i < sizeof(wellknown) / sizeof(wellknown[0]); i++)
			nguesses = add_guess(guesses, nguesses, wellknown[i]);
		/* the chat ids are known once the chats exist: made here the same way */
		{
			char		ids[24][40];

			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				snprintf(ids[nknown++], 40, "%s", known[i]);
			{
				const char *pairs[][2] = {{c1, s1}, {c2, s2}, {c3, s2}, {c4, s3}, {c1, sr}, {cw, sw}};

				for (size_t i = 0; i < 6; i++)
				{
					const char *p[] = {pairs[i][0], pairs[i][1]};

					must_value(setup, "SELECT chat.pair_chat_id($1::uuid, $2::uuid)", 2, p,
							   ids[nknown++], 40);
				}
			}
			for (int i = 0; i < nknown; i++)
			{
				char		forms[4][40];
				int			n = 0;

				snprintf(forms[0], 40, "%.39s", ids[i]);
				for (const char *q = ids[i]; *q; q++)
					if (*q != '-')
						forms[1][n++] = *q;
				forms[1][n] = '\0';
				for (int f = 0; f < 2; f++)
				{
					snprintf(forms[f + 2], 40, "%.39s", forms[f]);
					for (char *q = forms[f + 2]; *q; q++)
						if (*q >= 'a' && *q <= 'f')
							*q = *q - 'a' + 'A';
				}
				for (int f = 0; f < 4; f++)
					for (size_t pi = 0; pi < sizeof(prefixes) / sizeof(prefixes[0]); pi++)
					{
						char		name[80];

						snprintf(name, sizeof(name), "%.10s%.39s", prefixes[pi], forms[f]);
						nguesses = add_guess(guesses, nguesses, name);
					}
			}
		}
		/* the bystander's own channel, bent */
		{
			char		name[80];
			const char *hex = own + 5;

			snprintf(name, sizeof(name), "%s", own);
			name[strlen(name) - 1] = name[strlen(name) - 1] == '0' ? '1' : '0';
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "%.*s", (int) strlen(own) - 1, own);
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "%s0", own);
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "chat-%s", hex);
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "%s", hex);
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "CHAT_%s", hex);
			nguesses = add_guess(guesses, nguesses, name);
			snprintf(name, sizeof(name), "%s", own);
			for (char *q = name + 5; *q; q++)
				if (*q >= 'a' && *q <= 'f')
					*q = *q - 'a' + 'A';
			nguesses = add_guess(guesses, nguesses, name);
			for (int i = 0; i < 3; i++)
			{
				snprintf(name, sizeof(name), "%s_%d", own, i);
				nguesses = add_guess(guesses, nguesses, name);
			}
		}
		x_listening = listen_all(lx->conn, guesses, nguesses);
		e_listening = listen_all(leaves->conn, guesses, nguesses);
		diag("the bystander and the eavesdropper LISTEN on %d guessed names each", nguesses);
	}

	/* the traffic, in the same chats as the guesses */
	warm_up(ladm, cw, sw);
	{
		const char *pairs[NCHATS][2] = {{c1, s1}, {c2, s2}, {c3, s2}, {c4, s3}, {c1, sr}};

		heard_by_admin = traffic(pairs, chats, adm, ladm);
	}
	for (int i = 0; i < nlisteners; i++)
		if (listeners[i] != lx && listeners[i] != leaves)
			participants_got += listeners[i]->nev;
	diag("the profiles' listeners got %d notifications; the admin heard the last message "
		 "of each chat: %s", participants_got, heard_by_admin ? "yes" : "no");

	/* 4-7: nobody else heard anything */
	{
		int			x_heard = 0;
		char		state1[6], state2[6], state3[6];
		char		sql[160];
		char	   *ident;

		drain_for(300);
		x_heard = lx->nev;
		for (int i = 0; i < lx->nev && i < 3; i++)
			diag("the bystander got on %s: %s", lx->ev[i].relname, lx->ev[i].payload);
		ok(heard_by_admin && x_heard == 0 && x_listening == nguesses + 1,
		   "a profile in no chat, listening on its own channel and %d guessed names (%ld "
		   "channels), heard nothing of the traffic: %d notifications", nguesses, x_listening,
		   x_heard);
		for (int i = 0; i < leaves->nev && i < 3; i++)
			diag("the eavesdropper got on %s: %s", leaves->ev[i].relname, leaves->ev[i].payload);
		ok(heard_by_admin && leaves->nev == 0 && e_listening == nguesses,
		   "a LOGIN role without grants, listening on %ld guessed names, heard nothing: "
		   "%d notifications", e_listening, leaves->nev);

		sqlstate_of(leaves->conn, "SELECT chat.listen_channel()", state1);
		sqlstate_of(leaves->conn, "SELECT key FROM chat.secrets", state2);
		snprintf(sql, sizeof(sql), "SELECT chat._channel_name('\\x%s'::bytea, '%s')",
				 "00000000000000000000000000000000000000000000000000000000000000000000", x);
		sqlstate_of(leaves->conn, sql, state3);
		ok(strcmp(state1, "42501") == 0 && strcmp(state2, "42501") == 0 &&
		   strcmp(state3, "42501") == 0,
		   "the role cannot get a channel name: listen_channel() %s, chat.secrets %s, "
		   "chat._channel_name() %s", state1, state2, state3);

		/* the control: its LISTENs do work */
		ident = PQescapeIdentifier(setup, guesses[nguesses - 1], strlen(guesses[nguesses - 1]));
		snprintf(sql, sizeof(sql), "NOTIFY %s, 'control'", ident);
		PQfreemem(ident);
		must_do(setup, sql, 0, NULL);
		{
			double		wstart = now_s();

			while ((leaves->nev == 0 || lx->nev == 0) && now_s() - wstart < 5)
				poll_listeners(50);
		}
		ok(leaves->nev == 1 && lx->nev == 1 && strcmp(leaves->ev[0].payload, "control") == 0,
		   "control: a NOTIFY on one of the guessed names reached both (%d, %d)",
		   leaves->nev, lx->nev);
	}

	/* 8: every payload of the run, but those on guessed names */
	{
		Listener   *guessing[] = {lx, leaves};

		check_all_payloads(guessing, 2);
	}

	/* 9: a database the worker does not serve */
	if (strcmp(argv[1], relay_db) == 0)
		skip("argv[1] is the worker's database");
	else
	{
		char		oc[37], os[37], ochat[40], chan[64];
		long		before, after;
		PGconn	   *o = connect_as(argv[1], NULL, "relay test other db");
		PGconn	   *ol = connect_as(argv[1], NULL, "relay test other db listener");
		const char *p[] = {NULL, NULL};
		double		wstart;
		int			heard = 0;
		PGnotify   *n;

		new_uuid(oc);
		new_uuid(os);
		p[0] = oc;
		p[1] = os;
		must_do(o, "SELECT chat.upsert_profile($1::uuid, 'customer', 'relay test'),"
				" chat.upsert_profile($2::uuid, 'stylist', 'relay test')", 2, p);
		must_do(o, "BEGIN", 0, NULL);
		must_do(o, "SELECT chat.act_as($1::uuid)", 1, p);
		must_value(o, "SELECT chat.get_or_create_chat($1::uuid, $2::uuid)", 2, p, ochat, sizeof(ochat));
		must_do(o, "COMMIT", 0, NULL);
		p[0] = os;
		must_do(ol, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_value(ol, "SELECT chat.listen()", 0, NULL, chan, sizeof(chan));
		before = must_long(o, "SELECT backlog FROM chat.relay_status()", 0, NULL);
		{
			const char *q[] = {oc};
			const char *r[] = {ochat, "elsewhere"};

			must_do(o, "BEGIN", 0, NULL);
			must_do(o, "SELECT chat.act_as($1::uuid)", 1, q);
			must_do(o, "SELECT chat.send_message($1::uuid, $2)", 2, r);
			must_do(o, "COMMIT", 0, NULL);
		}
		wstart = now_s();
		while (now_s() - wstart < 2)
		{
			fd_set		rd;
			struct timeval tv = {0, 100000};

			FD_ZERO(&rd);
			FD_SET(PQsocket(ol), &rd);
			if (select(PQsocket(ol) + 1, &rd, NULL, NULL, &tv) > 0)
				PQconsumeInput(ol);
			while ((n = PQnotifies(ol)) != NULL)
			{
				heard++;
				PQfreemem(n);
			}
		}
		after = must_long(o, "SELECT backlog FROM chat.relay_status()", 0, NULL);
		ok(after == before + 1 && heard == 0,
		   "in database %s, which the worker does not serve, a message waits: backlog %ld, "
		   "then %ld; %d notifications", argv[1], before, after, heard);
		PQfinish(ol);
		PQfinish(o);
	}

	/* the role goes once its session has ended */
	PQfinish(leaves->conn);
	leaves->conn = NULL;
	{
		double		wstart = now_s();

		while (now_s() - wstart < 5 &&
			   must_long(setup, "SELECT count(*) FROM pg_stat_activity"
						 " WHERE usename = 'regress_eavesdropper'", 0, NULL) > 0)
			sleep_ms(50);
		must_do(setup, "DROP ROLE IF EXISTS regress_eavesdropper", 0, NULL);
	}
	return relay_end();
}
