/*
 * listener.h: what the relay test programs (relay_*.c) share: the relayed
 * database and its setup, connections that LISTEN as profiles, the
 * notifications they receive and the checks made on them.
 *
 * The relay worker relays only in the database named by
 * stylist_chat.database (default postgres), so the relay tests run there.
 * relay_begin() reads that setting through argv[1] (the database test/run.sh
 * made for the program), connects a setup connection to the relayed
 * database, creates the extension there if missing and turns the admins of
 * earlier runs into customers (an admin hears every chat).  The programs run
 * one after another in that database and find the profiles, chats and
 * messages of the earlier ones there: each uses fresh random profile ids, so
 * that nothing collides, and relay_end() turns its admin back into a
 * customer.
 *
 * A Listener is a connection acting as a profile for the session
 * (chat.act_as(id, true)) that LISTENs through chat.listen(); every listener
 * is kept in one list.  The main thread reads their notifications
 * (poll_listeners: select() on every socket) while other threads send
 * (Sender), and keeps each notification as an Event: its channel and its
 * payload, parsed as the flat JSON object the relay sends (exactly type,
 * chat_id, seq, sender_id, ts), with whether it holds message text (every
 * body a test sends carries the run's random secret, or "SECRET").
 * wait_for() waits until listeners have such events, check_seqs() checks
 * that a listener got every message seq of a chat once and in order, and
 * check_all_payloads() makes the last test of each program: every payload
 * of the run is such JSON, without message text, on the listener's own
 * channel.
 *
 * Like tap.h, everything here is static inline, so that a program that does
 * not use some of it gets no warning for it.
 */
#ifndef STYLIST_CHAT_TEST_LISTENER_H
#define STYLIST_CHAT_TEST_LISTENER_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "tap.h"

#define MAX_LISTENERS 16

static char relay_db[128];		/* the database the worker serves */
static char secret[64];			/* in every body; never in a payload */
static PGconn *first;			/* to argv[1] */
static PGconn *setup;			/* to relay_db */
static int	planned;			/* the program's plan */

static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void
sleep_ms(long ms)
{
	usleep(ms * 1000);
}

/*
 * A connection to db, as user (NULL: PGUSER).  Notices are not shown: in a
 * database the worker does not serve, chat.relay_status() says so in one.
 */
static inline PGconn *
connect_as(const char *db, const char *user, const char *appname)
{
	const char *keys[] = {"dbname", "application_name", "options", user ? "user" : NULL, NULL};
	const char *vals[] = {db, appname, "-c statement_timeout=60s -c client_min_messages=warning",
	user, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(conn) != CONNECTION_OK)
		bail("cannot connect to %s as %s: %s", db, user ? user : "the default user",
			 PQerrorMessage(conn));
	return conn;
}

/* the one value of a query that must succeed, into out */
static inline char *
must_value(PGconn *conn, const char *sql, int nparams, const char *const *params,
		   char *out, size_t outlen)
{
	PGresult   *res = must(conn, sql, nparams, params);

	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0))
		out[0] = '\0';
	else
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return out;
}

static inline long
must_long(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	char		buf[64];

	return atol(must_value(conn, sql, nparams, params, buf, sizeof(buf)));
}

/*
 * Events, as received
 */
typedef struct Event
{
	char		relname[64];	/* the channel it came on */
	char		type[24];
	char		chat[40];
	long		seq;
	char		sender[40];
	int			valid;			/* exactly the five keys, with the right kinds */
	int			leaks;			/* the payload holds message text */
	size_t		len;
	char		payload[256];	/* the beginning, for diagnostics */
} Event;

/*
 * Parse a flat JSON object of string and number values; check that its
 * keys are exactly type, chat_id, seq, sender_id, ts.  sender_id may be
 * null (a booking card has no sender): the event's sender is then "".
 */
static inline int
parse_payload(const char *s, Event *e)
{
	int			seen = 0;		/* bits: type, chat_id, seq, sender_id, ts */
	const char *names[] = {"type", "chat_id", "seq", "sender_id", "ts"};

	while (*s == ' ')
		s++;
	if (*s++ != '{')
		return 0;
	for (;;)
	{
		char		key[32];
		char		val[128];
		int			is_string;
		int			is_null;
		int			k;
		size_t		n = 0;

		while (*s == ' ')
			s++;
		if (*s++ != '"')
			return 0;
		while (*s && *s != '"' && *s != '\\' && n + 1 < sizeof(key))
			key[n++] = *s++;
		key[n] = '\0';
		if (*s++ != '"')
			return 0;
		while (*s == ' ')
			s++;
		if (*s++ != ':')
			return 0;
		while (*s == ' ')
			s++;
		n = 0;
		is_null = 0;
		if (strncmp(s, "null", 4) == 0)
		{
			is_null = 1;		/* only sender_id, for a booking card */
			is_string = 1;
			s += 4;
		}
		else if (*s == '"')
		{
			is_string = 1;
			s++;
			while (*s && *s != '"' && *s != '\\' && n + 1 < sizeof(val))
				val[n++] = *s++;
			if (*s++ != '"')
				return 0;
		}
		else
		{
			is_string = 0;
			if (*s == '-')
				val[n++] = *s++;
			while (*s >= '0' && *s <= '9' && n + 1 < sizeof(val))
				val[n++] = *s++;
			if (n == 0 || (n == 1 && val[0] == '-'))
				return 0;
		}
		val[n] = '\0';

		for (k = 0; k < 5; k++)
			if (strcmp(key, names[k]) == 0)
				break;
		if (k == 5 || (seen & (1 << k)))
			return 0;			/* an unknown key, or one twice */
		seen |= 1 << k;
		if ((k == 2) == is_string)
			return 0;			/* seq is a number, the others strings */
		if (is_null && k != 3)
			return 0;			/* and only sender_id may be null */
		switch (k)
		{
			case 0:
				snprintf(e->type, sizeof(e->type), "%s", val);
				break;
			case 1:
				if (strlen(val) != 36)
					return 0;
				snprintf(e->chat, sizeof(e->chat), "%s", val);
				break;
			case 2:
				e->seq = atol(val);
				break;
			case 3:
				if (!is_null && strlen(val) != 36)
					return 0;
				snprintf(e->sender, sizeof(e->sender), "%s", val);
				break;
			case 4:
				if (n == 0)
					return 0;
				break;
		}
		while (*s == ' ')
			s++;
		if (*s == ',')
		{
			s++;
			continue;
		}
		if (*s++ != '}')
			return 0;
		while (*s == ' ')
			s++;
		return *s == '\0' && seen == 0x1f;
	}
}

/*
 * Listeners
 */
typedef struct Listener
{
	char		name[64];
	PGconn	   *conn;
	char		channel[64];	/* what chat.listen() returned; "" for none */
	Event	   *ev;
	int			nev;
	int			cap;
} Listener;

static Listener *listeners[MAX_LISTENERS];
static int	nlisteners = 0;

/* a connection acting as profile (if any) that LISTENs on its channel */
static inline Listener *
listener_new(const char *name, const char *db, const char *user, const char *profile)
{
	Listener   *l = calloc(1, sizeof(Listener));
	char		app[80];

	if (!l || nlisteners == MAX_LISTENERS)
		bail("too many listeners");
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(app, sizeof(app), "relay test %s", name);
	l->conn = connect_as(db, user, app);
	if (profile)
	{
		const char *p[] = {profile};

		must_do(l->conn, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_value(l->conn, "SELECT chat.listen()", 0, NULL, l->channel, sizeof(l->channel));
	}
	listeners[nlisteners++] = l;
	return l;
}

static inline void
take_notifications(Listener *l)
{
	PGnotify   *n;

	while ((n = PQnotifies(l->conn)) != NULL)
	{
		Event	   *e;

		if (l->nev == l->cap)
		{
			l->cap = l->cap ? l->cap * 2 : 256;
			l->ev = realloc(l->ev, l->cap * sizeof(Event));
			if (!l->ev)
				bail("out of memory");
		}
		e = &l->ev[l->nev++];
		memset(e, 0, sizeof(*e));
		e->seq = -1;
		snprintf(e->relname, sizeof(e->relname), "%s", n->relname);
		e->len = strlen(n->extra);
		snprintf(e->payload, sizeof(e->payload), "%s", n->extra);
		e->valid = parse_payload(n->extra, e);
		e->leaks = strstr(n->extra, secret) != NULL || strstr(n->extra, "SECRET") != NULL;
		PQfreemem(n);
	}
}

/* read what the listeners got, waiting up to ms for something */
static inline void
poll_listeners(long ms)
{
	fd_set		rd;
	int			maxfd = -1;
	struct timeval tv;

	FD_ZERO(&rd);
	for (int i = 0; i < nlisteners; i++)
	{
		int			fd = PQsocket(listeners[i]->conn);

		if (fd < 0)
			bail("listener %s lost its connection", listeners[i]->name);
		FD_SET(fd, &rd);
		if (fd > maxfd)
			maxfd = fd;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if (select(maxfd + 1, &rd, NULL, NULL, &tv) < 0 && errno != EINTR)
		bail("select: %s", strerror(errno));
	for (int i = 0; i < nlisteners; i++)
	{
		Listener   *l = listeners[i];

		if (FD_ISSET(PQsocket(l->conn), &rd) && !PQconsumeInput(l->conn))
			bail("listener %s: %s", l->name, PQerrorMessage(l->conn));
		take_notifications(l);
	}
}

/* events of a listener matching; NULL and -1 match anything */
static inline int
count_ev(Listener *l, const char *type, const char *chat, long seq, const char *sender)
{
	int			n = 0;

	for (int i = 0; i < l->nev; i++)
	{
		Event	   *e = &l->ev[i];

		if ((!type || strcmp(e->type, type) == 0) &&
			(!chat || strcmp(e->chat, chat) == 0) &&
			(seq < 0 || e->seq == seq) &&
			(!sender || strcmp(e->sender, sender) == 0))
			n++;
	}
	return n;
}

/* wait until each of the listeners has at least min such events; seconds taken or -1 */
static inline double
wait_for(Listener **ls, int nls, int min, const char *type, const char *chat, long seq,
		 const char *sender, double timeout)
{
	double		start = now_s();

	for (;;)
	{
		int			all = 1;

		poll_listeners(0);
		for (int i = 0; i < nls; i++)
			if (count_ev(ls[i], type, chat, seq, sender) < min)
				all = 0;
		if (all)
			return now_s() - start;
		if (now_s() - start > timeout)
			return -1;
		poll_listeners(50);
	}
}

/* keep reading for ms milliseconds */
static inline void
drain_for(long ms)
{
	double		end = now_s() + ms / 1000.0;

	while (now_s() < end)
		poll_listeners(50);
}

/*
 * The message seqs of one chat as a listener got them: whether they are
 * exactly 1..n in increasing order; counts of duplicates and of seqs that
 * came after a higher one.
 */
typedef struct SeqCheck
{
	int			got;			/* events */
	int			distinct;
	int			missing;		/* of 1..n */
	int			dups;
	int			out_of_order;
	long		first_missing;
	char		disorder[128];	/* where the order first broke */
} SeqCheck;

static inline SeqCheck
check_seqs(Listener *l, const char *chat, long n)
{
	SeqCheck	c = {0};
	int		   *times = calloc(n + 2, sizeof(int));
	long		prev = 0;

	if (!times)
		bail("out of memory");
	for (int i = 0; i < l->nev; i++)
	{
		Event	   *e = &l->ev[i];

		if (strcmp(e->type, "message") != 0 || strcmp(e->chat, chat) != 0)
			continue;
		c.got++;
		if (e->seq <= prev && c.out_of_order++ == 0)
		{
			int			from = i;

			/* this event and the few before it */
			for (int back = 0; back < 4 && from > 0; from--)
				if (strcmp(l->ev[from - 1].type, "message") == 0 &&
					strcmp(l->ev[from - 1].chat, chat) == 0)
					back++;
			snprintf(c.disorder, sizeof(c.disorder), "seqs");
			for (int j = from; j <= i; j++)
				if (strcmp(l->ev[j].type, "message") == 0 && strcmp(l->ev[j].chat, chat) == 0)
				{
					char		part[24];

					snprintf(part, sizeof(part), " %ld", l->ev[j].seq);
					strncat(c.disorder, part, sizeof(c.disorder) - strlen(c.disorder) - 1);
				}
		}
		if (e->seq > prev)
			prev = e->seq;
		if (e->seq >= 1 && e->seq <= n)
		{
			if (times[e->seq]++ > 0)
				c.dups++;
		}
		else
			c.dups++;			/* a seq that does not exist counts as wrong */
	}
	for (long s = 1; s <= n; s++)
	{
		if (times[s] > 0)
			c.distinct++;
		else
		{
			if (c.missing == 0)
				c.first_missing = s;
			c.missing++;
		}
	}
	free(times);
	return c;
}

/*
 * Profiles, chats, events, through the setup connection
 */
static inline void
profile(const char *id, const char *role, const char *name)
{
	const char *p[] = {id, role, name};

	must_do(setup, "SELECT chat.upsert_profile($1::uuid, $2, $3)", 3, p);
}

/* a profile with a fresh random id, into id */
static inline void
new_profile(char id[37], const char *role, const char *name)
{
	new_uuid(id);
	profile(id, role, name);
}

/* open a chat as its customer; its id into out */
static inline void
open_chat(const char *customer, const char *stylist, char out[40])
{
	const char *p[] = {customer, stylist};

	must_do(setup, "BEGIN", 0, NULL);
	must_do(setup, "SELECT chat.act_as($1::uuid)", 1, p);
	must_value(setup, "SELECT chat.get_or_create_chat($1::uuid, $2::uuid)", 2, p, out, 40);
	must_do(setup, "COMMIT", 0, NULL);
}

/* send as a profile, in a transaction of its own; the seq */
static inline long
send_as(PGconn *conn, const char *actor, const char *chat, const char *body)
{
	const char *p[] = {actor};
	const char *q[] = {chat, body};
	long		seq;

	must_do(conn, "BEGIN", 0, NULL);
	must_do(conn, "SELECT chat.act_as($1::uuid)", 1, p);
	seq = must_long(conn, "SELECT chat.send_message($1::uuid, $2)", 2, q);
	must_do(conn, "COMMIT", 0, NULL);
	return seq;
}

/* run a statement as a profile, in a transaction of its own */
static inline long
call_as(PGconn *conn, const char *actor, const char *sql, int nparams, const char *const *params)
{
	const char *p[] = {actor};
	long		v;

	must_do(conn, "BEGIN", 0, NULL);
	must_do(conn, "SELECT chat.act_as($1::uuid)", 1, p);
	v = must_long(conn, sql, nparams, params);
	must_do(conn, "COMMIT", 0, NULL);
	return v;
}

static inline long
events_relayed(void)
{
	return must_long(setup, "SELECT events_relayed FROM chat.relay_status()", 0, NULL);
}

/* the worker's pid, waiting up to timeout for one that is not old; 0 if none */
static inline int
running_worker(PGconn *conn, int old, double timeout)
{
	double		start = now_s();

	for (;;)
	{
		PGresult   *res = must(conn, "SELECT running, pid FROM chat.relay_status()", 0, NULL);
		int			pid = 0;

		if (strcmp(PQgetvalue(res, 0, 0), "t") == 0 && !PQgetisnull(res, 0, 1))
			pid = atoi(PQgetvalue(res, 0, 1));
		PQclear(res);
		if (pid != 0 && pid != old)
			return pid;
		if (now_s() - start > timeout)
			return 0;
		sleep_ms(20);
	}
}

/*
 * A sender thread: its own connection, acting as actor for the session,
 * sends nmsgs messages (each with a fresh client_msg_id and the secret in
 * its body) into chat, counting them in sent as it goes.
 */
typedef struct Sender
{
	pthread_t	thread;
	const char *actor;
	const char *chat;
	int			nmsgs;
	long		pause_us;		/* between messages */
	atomic_int	sent;
	int			errors;
	char		first_error[256];
} Sender;

static inline void *
sender_main(void *arg)
{
	Sender	   *s = arg;
	PGconn	   *conn = connect_as(relay_db, NULL, "relay test sender");
	const char *p[] = {s->actor};

	must_do(conn, "SELECT chat.act_as($1::uuid, true)", 1, p);
	for (int k = 0; k < s->nmsgs; k++)
	{
		char		body[128];
		char		key[37];
		const char *q[] = {s->chat, body, key};
		PGresult   *res;

		snprintf(body, sizeof(body), "message %d %s", k, secret);
		new_uuid(key);
		res = PQexecParams(conn, "SELECT chat.send_message($1::uuid, $2, NULL, $3::uuid)",
						   3, NULL, q, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (s->errors++ == 0)
				snprintf(s->first_error, sizeof(s->first_error), "%s", PQresultErrorMessage(res));
		}
		PQclear(res);
		atomic_fetch_add(&s->sent, 1);
		if (s->pause_us)
			usleep(s->pause_us);
	}
	PQfinish(conn);
	return NULL;
}

/*
 * The run
 */

/*
 * Print the plan, find the relayed database, prepare it (see the top of the
 * file) and choose the run's secret.  argv[1] is the program's own database.
 */
static inline void
relay_begin(int argc, char **argv, int ntests)
{
	char		buf[256];
	char		tok[37];

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DBNAME\n", argv[0]);
		exit(2);
	}
	planned = ntests;
	printf("1..%d\n", ntests);
	fflush(stdout);

	/* the database the worker serves */
	first = connect_as(argv[1], NULL, "relay test");
	must_value(first, "SELECT coalesce(current_setting('stylist_chat.database', true), 'postgres')",
			   0, NULL, relay_db, sizeof(relay_db));
	if (strcmp(must_value(first, "SELECT preloaded::text FROM chat.relay_status()", 0, NULL,
						  buf, sizeof(buf)), "true") != 0)
		bail("stylist_chat is not in shared_preload_libraries: no relay to test");
	diag("the relay worker serves database \"%s\"; the relay tests run there", relay_db);

	setup = connect_as(relay_db, NULL, "relay test setup");
	must_do(setup, "CREATE EXTENSION IF NOT EXISTS stylist_chat", 0, NULL);
	/* earlier runs' admins would get every event: make them customers */
	must_do(setup,
			"SELECT chat.upsert_profile(id, 'customer', display_name) FROM chat.profiles"
			" WHERE role = 'admin' AND display_name = 'relay test admin'", 0, NULL);

	new_uuid(tok);
	snprintf(secret, sizeof(secret), "SECRET-%.8s", tok);
}

/*
 * Warm-up: the worker relays in this database and knows the new admin (it
 * rereads the admins every second) once the admin hears a message of a
 * chat of customer cw and stylist sw.
 */
static inline void
warm_up(Listener *admin, const char *cw, const char *sw)
{
	char		chat_w[40];
	double		start = now_s();
	int			heard = 0;

	open_chat(cw, sw, chat_w);
	while (!heard && now_s() - start < 20)
	{
		send_as(setup, cw, chat_w, "warm-up");
		heard = wait_for(&admin, 1, 1, "message", chat_w, -1, NULL, 0.5) >= 0;
	}
	if (!heard)
		bail("the relay worker did not relay a message to the admin within 20 s");
	diag("warm-up: the admin heard the relay after %.1f s", now_s() - start);
}

/*
 * The last test of each program: every payload that the listeners (but
 * those in except, which listen on other names) received during the run is
 * JSON with exactly the five keys, without message text, under 8000 bytes,
 * on the listener's own channel.
 */
static inline void
check_all_payloads(Listener **except, int nexcept)
{
	int			total = 0, bad = 0;

	for (int i = 0; i < nlisteners; i++)
	{
		Listener   *l = listeners[i];
		int			skip = 0;

		for (int k = 0; k < nexcept; k++)
			if (l == except[k])
				skip = 1;
		if (skip)
			continue;
		for (int j = 0; j < l->nev; j++)
		{
			Event	   *e = &l->ev[j];

			total++;
			if (!e->valid || e->leaks || e->len >= 8000 || strcmp(e->relname, l->channel) != 0)
			{
				if (bad++ < 3)
					diag("%s got on %s: %s", l->name, e->relname, e->payload);
			}
		}
	}
	ok(total > 0 && bad == 0,
	   "all %d payloads of the run were JSON with exactly the five keys, without message "
	   "text, under 8000 bytes, on the listener's own channel (%d were not)", total, bad);
}

/*
 * Close the listeners, make the run's admins customers again; the exit
 * status: 0 only when every planned test ran and passed.
 */
static inline int
relay_end(void)
{
	for (int i = 0; i < nlisteners; i++)
		if (listeners[i]->conn)
			PQfinish(listeners[i]->conn);	/* NULL: closed already */
	must_do(setup,
			"SELECT chat.upsert_profile(id, 'customer', display_name) FROM chat.profiles"
			" WHERE role = 'admin' AND display_name = 'relay test admin'", 0, NULL);
	PQfinish(setup);
	PQfinish(first);
	if (failures)
		diag("%d of %d tests failed", failures, test_no);
	return failures == 0 && test_no == planned ? 0 : 1;
}

#endif							/* STYLIST_CHAT_TEST_LISTENER_H */
