/*
 * relay.c: the relay worker delivers every chat event, in order, to the
 * right private channels and to nobody else, and survives being killed.
 *
 * The worker relays only in the database named by stylist_chat.database
 * (default postgres), so the relay tests run there: the test reads that
 * setting through argv[1], connects to that database, creates the
 * extension there if missing, and uses fresh random profile ids, so that a
 * rerun does not collide with an earlier one.  LISTEN connections act as
 * profiles and LISTEN through chat.listen(); the main thread consumes their
 * notifications (select() on every socket) while other threads send.
 *
 * What it tests:
 *   - chat.listen_channel(): "chat_" and 40 hex digits, different for each
 *     profile, the same in two sessions of one profile and equal to what
 *     chat.listen() listens on;
 *   - a new chat (chat_created), a message, an edit, a delete, a read mark
 *     (type "read", seq = the new read mark, sender_id = the reader) reach
 *     the customer's, the stylist's and an admin's channel; the message's
 *     payload is JSON with exactly type, chat_id, seq, sender_id, ts, with
 *     the right values, no body text, under 8000 bytes;
 *     relay_status().events_relayed grows;
 *   - hidden: an admin's hide_message reaches the three channels;
 *   - typing: two calls within a second make one event, one more call a
 *     second later makes a second event;
 *   - a message rolled back (a whole transaction, or a savepoint) is never
 *     relayed, while one in a released savepoint is; a rolled-back message
 *     whose seq is then reused by a message of the other participant is
 *     relayed once, as that message;
 *   - 8 concurrent senders (threads; two customers and two stylist
 *     connections per chat) in 2 chats: every listener sees every seq of
 *     each of its chats once, in increasing order;
 *   - the worker killed 3 times (pg_terminate_backend) while one sender
 *     sends 2000 messages in one chat: the stylist's and the admin's
 *     listeners end up with every seq 1..2000 (duplicates and order are
 *     reported as diagnostics), the chat's watermark reaches 2000, and the
 *     worker runs again afterwards;
 *   - channel privacy: a profile in no chat and a LOGIN role without any
 *     grant (regress_eavesdropper) LISTEN on every name they can build
 *     from the ids they know (chat and profile ids with and without
 *     dashes, in both cases, with prefixes chat_, chat-, ...; the third
 *     profile's own channel with other suffixes; well-known names) while
 *     the traffic above flows: they receive nothing, although a NOTIFY on
 *     one of those names reaches them; the role cannot get a channel name
 *     (listen_channel, chat.secrets, chat._channel_name are denied);
 *   - every payload received during the whole run is such JSON, without
 *     any message text, under 8000 bytes, on the listener's own channel;
 *   - in argv[1], when it is not the worker's database: a message waits
 *     (relay_status().backlog counts it) and no notification comes.
 *
 * Usage: relay DBNAME (a database with stylist_chat installed; host, port
 * and a superuser from PGHOST, PGPORT, PGUSER; the library preloaded).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "tap.h"

#define NTESTS 31

#define CONC_THREADS 8			/* 4 per chat */
#define CONC_MSGS 150			/* per thread */
#define KILL_MSGS 2000
#define NKILLS 3
#define MAX_LISTENERS 16
#define MAX_GUESSES 512


static char relay_db[128];		/* the database the worker serves */
static char secret[64];			/* in every body; never in a payload */

static void
skip(const char *fmt,...)
{
	va_list		ap;

	test_no++;
	printf("ok %d # SKIP ", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
sleep_ms(long ms)
{
	usleep(ms * 1000);
}

static PGconn *
connect_as(const char *db, const char *user, const char *appname)
{
	const char *keys[] = {"dbname", "application_name", "options", user ? "user" : NULL, NULL};
	const char *vals[] = {db, appname, "-c statement_timeout=60s", user, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(conn) != CONNECTION_OK)
		bail("cannot connect to %s as %s: %s", db, user ? user : "the default user",
			 PQerrorMessage(conn));
	return conn;
}

/* the one value of a query that must succeed, into out */
static char *
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

static long
must_long(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	char		buf[64];

	return atol(must_value(conn, sql, nparams, params, buf, sizeof(buf)));
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
 * keys are exactly type, chat_id, seq, sender_id, ts.
 */
static int
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
		if (*s == '"')
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
				if (strlen(val) != 36)
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
static Listener *
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

static void
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
static void
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
static int
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
static double
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
static void
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

static SeqCheck
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
 * Profiles, chats
 */
static PGconn *setup;

static void
profile(const char *id, const char *role, const char *name)
{
	const char *p[] = {id, role, name};

	must_do(setup, "SELECT chat.upsert_profile($1::uuid, $2, $3)", 3, p);
}

/* open a chat as its customer; its id into out */
static void
open_chat(const char *customer, const char *stylist, char out[40])
{
	const char *p[] = {customer, stylist};

	must_do(setup, "BEGIN", 0, NULL);
	must_do(setup, "SELECT chat.act_as($1::uuid)", 1, p);
	must_value(setup, "SELECT chat.get_or_create_chat($1::uuid, $2::uuid)", 2, p, out, 40);
	must_do(setup, "COMMIT", 0, NULL);
}

/* send as a profile, in a transaction of its own; the seq */
static long
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
static long
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

static long
events_relayed(void)
{
	return must_long(setup, "SELECT events_relayed FROM chat.relay_status()", 0, NULL);
}

/*
 * Concurrent senders
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

static void *
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

/* the worker's pid, waiting up to timeout for one that is not old; 0 if none */
static int
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

int
main(int argc, char **argv)
{
	PGconn	   *first;
	char		buf[256];
	char		c1[37], c2[37], c3[37], c4[37], s1[37], s2[37], s3[37], sr[37], adm[37], x[37];
	char		cw[37], sw[37];
	char		chat_a[40], chat_b[40], chat_c[40], chat_d[40], chat_r[40], chat_w[40];
	Listener   *lc1, *ls1, *ladm, *lx, *leaves, *lc2, *lc3, *ls2, *ls3;
	static char guesses[MAX_GUESSES][64];
	int			nguesses = 0;
	long		x_listening, e_listening;
	double		t;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DBNAME\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", NTESTS);
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
	must_do(setup, "SET client_min_messages = warning", 0, NULL);
	must_do(setup, "CREATE EXTENSION IF NOT EXISTS stylist_chat", 0, NULL);
	/* earlier runs' admins would get every event: make them customers */
	must_do(setup,
			"SELECT chat.upsert_profile(id, 'customer', display_name) FROM chat.profiles"
			" WHERE role = 'admin' AND display_name = 'relay test admin'", 0, NULL);
	must_do(setup,
			"DO $$ BEGIN"
			" IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'regress_eavesdropper') THEN"
			"   CREATE ROLE regress_eavesdropper LOGIN;"
			" END IF; END $$", 0, NULL);

	{
		char		tok[37];

		new_uuid(tok);
		snprintf(secret, sizeof(secret), "SECRET-%.8s", tok);
	}
	new_uuid(c1);
	new_uuid(c2);
	new_uuid(c3);
	new_uuid(c4);
	new_uuid(s1);
	new_uuid(s2);
	new_uuid(s3);
	new_uuid(sr);
	new_uuid(adm);
	new_uuid(x);
	new_uuid(cw);
	new_uuid(sw);
	profile(c1, "customer", "relay test customer 1");
	profile(c2, "customer", "relay test customer 2");
	profile(c3, "customer", "relay test customer 3");
	profile(c4, "customer", "relay test customer 4");
	profile(x, "customer", "relay test bystander");
	profile(cw, "customer", "relay test warm-up customer");
	profile(s1, "stylist", "relay test stylist 1");
	profile(s2, "stylist", "relay test stylist 2");
	profile(s3, "stylist", "relay test stylist 3");
	profile(sr, "stylist", "relay test stylist R");
	profile(sw, "stylist", "relay test warm-up stylist");
	profile(adm, "admin", "relay test admin");

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
		if (strcmp(lc1->channel, names[0]) != 0 || strcmp(ls1->channel, names[5]) != 0 ||
			strcmp(ladm->channel, names[8]) != 0 || strcmp(lx->channel, names[4]) != 0)
		{
			stable = 0;
			diag("chat.listen() returned channels other than listen_channel()");
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

	/*
	 * Warm-up: the worker relays in this database and knows the new admin
	 * (it rereads the admins every second) once the admin hears a message.
	 */
	open_chat(cw, sw, chat_w);
	{
		double		start = now_s();
		int			heard = 0;

		while (!heard && now_s() - start < 20)
		{
			send_as(setup, cw, chat_w, "warm-up");
			heard = wait_for(&ladm, 1, 1, "message", chat_w, -1, NULL, 0.5) >= 0;
		}
		if (!heard)
			bail("the relay worker did not relay a message to the admin within 20 s");
		diag("warm-up: the admin heard the relay after %.1f s", now_s() - start);
	}

	/* 4: a new chat */
	{
		Listener   *three[] = {lc1, ls1, ladm};

		open_chat(c1, s1, chat_a);
		t = wait_for(three, 3, 1, "chat_created", chat_a, 0, c1, 5);
		ok(t >= 0, "chat_created (seq 0, sender_id = the customer who opened it) reached the "
		   "customer, the stylist and the admin (%.3f s)", t);
	}
	open_chat(c1, sr, chat_r);
	open_chat(c2, s2, chat_b);
	open_chat(c3, s2, chat_c);
	open_chat(c4, s3, chat_d);

	/* 5-7: a message, its payload, the counter */
	{
		Listener   *three[] = {lc1, ls1, ladm};
		long		before = events_relayed();
		char		body[128];
		long		seq;
		int			once = 1, payload_ok = 1;

		snprintf(body, sizeof(body), "hello %s", secret);
		seq = send_as(setup, c1, chat_a, body);
		t = wait_for(three, 3, 1, "message", chat_a, seq, c1, 5);
		drain_for(200);
		for (int i = 0; i < 3; i++)
		{
			Listener   *l = three[i];

			if (count_ev(l, "message", chat_a, seq, NULL) != 1)
				once = 0;
			for (int j = 0; j < l->nev; j++)
			{
				Event	   *e = &l->ev[j];

				if (strcmp(e->type, "message") != 0 || e->seq != seq || strcmp(e->chat, chat_a) != 0)
					continue;
				if (!e->valid || e->leaks || e->len >= 8000 || strcmp(e->sender, c1) != 0 ||
					strcmp(e->relname, l->channel) != 0)
				{
					payload_ok = 0;
					diag("%s got on %s: %s", l->name, e->relname, e->payload);
				}
			}
		}
		ok(t >= 0 && once, "a message reached the customer's, the stylist's and the admin's "
		   "channel, once each (%.3f s)", t);
		ok(t >= 0 && payload_ok,
		   "its payload is JSON with exactly type, chat_id, seq, sender_id, ts, the right values, "
		   "no message text, under 8000 bytes, on the listener's own channel");
		{
			long		after = events_relayed();

			ok(after > before, "relay_status().events_relayed grew: %ld, then %ld", before, after);
		}

		/* 8-11: edit, delete, read, hide */
		{
			const char *p[] = {chat_a, NULL, NULL};
			char		seqtxt[32];
			char		newbody[128];
			long		readmark;

			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			snprintf(newbody, sizeof(newbody), "hello again %s", secret);
			p[1] = seqtxt;
			p[2] = newbody;
			call_as(setup, c1, "SELECT 0 FROM chat.edit_message($1::uuid, $2::bigint, $3)", 3, p);
			t = wait_for(three, 3, 1, "edited", chat_a, seq, c1, 5);
			ok(t >= 0, "an edit (type edited, the message's seq, sender_id = the editor) "
			   "reached the three channels (%.3f s)", t);

			seq = send_as(setup, c1, chat_a, "to be deleted");
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			call_as(setup, c1, "SELECT 0 FROM chat.delete_message($1::uuid, $2::bigint)", 2, p);
			t = wait_for(three, 3, 1, "deleted", chat_a, seq, c1, 5);
			ok(t >= 0, "a delete (type deleted, the message's seq, sender_id = the sender) "
			   "reached the three channels (%.3f s)", t);

			send_as(setup, c1, chat_a, "one more");
			readmark = call_as(setup, s1, "SELECT chat.mark_read($1::uuid)", 1, p);
			t = wait_for(three, 3, 1, "read", chat_a, readmark, s1, 5);
			ok(t >= 0 && readmark >= 3, "a read mark (type read, seq = the new read mark %ld, "
			   "sender_id = the reader) reached the three channels (%.3f s)", readmark, t);

			/* a moderator hides a message: the participants hear of it */
			seq = send_as(setup, c1, chat_a, "to be hidden");
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			p[2] = "relay test: hidden";
			call_as(setup, adm, "SELECT 0 FROM chat.hide_message($1::uuid, $2::bigint, $3)", 3, p);
			t = wait_for(three, 3, 1, "hidden", chat_a, seq, adm, 5);
			ok(t >= 0, "a hide (type hidden, the message's seq, sender_id = the admin) "
			   "reached the three channels (%.3f s)", t);
		}
	}

	/* 12-13: typing */
	{
		Listener   *three[] = {lc1, ls1, ladm};
		const char *p[] = {c1};
		const char *q[] = {chat_a};
		long		marker;
		int			one = 1, two = 1;

		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
		/* the queue is in order: once the marker is here, the typing events are too */
		marker = send_as(setup, s1, chat_a, "marker after typing");
		t = wait_for(three, 3, 1, "message", chat_a, marker, NULL, 5);
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "typing", chat_a, -1, c1) != 1)
			{
				one = 0;
				diag("%s got %d typing events", three[i]->name,
					 count_ev(three[i], "typing", chat_a, -1, c1));
			}
		ok(t >= 0 && one, "two typing() calls within a second made one typing event "
		   "(sender_id = the typist) on each of the three channels");

		sleep_ms(1100);
		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
		t = wait_for(three, 3, 2, "typing", chat_a, -1, c1, 5);
		drain_for(100);
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "typing", chat_a, -1, c1) != 2)
				two = 0;
		ok(t >= 0 && two, "one more typing() call a second later made a second event (%.3f s)", t);
	}

	/* 13-14: rolled back */
	{
		Listener   *two[] = {lc1, ladm};
		Listener   *three[] = {lc1, ls1, ladm};
		const char *pc[] = {c1};
		const char *ps[] = {s1};
		const char *qr[] = {chat_r, "rolled back " "SECRET"};
		const char *qa[] = {chat_a, "kept"};
		long		released, kept, marker, reused_c, reused_s;
		int			r_events, fine = 1;

		/* a whole transaction */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "ROLLBACK", 0, NULL);
		/* a savepoint rolled back, one released, in a transaction that commits */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		must_do(setup, "SAVEPOINT a", 0, NULL);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "SAVEPOINT b", 0, NULL);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "ROLLBACK TO SAVEPOINT a", 0, NULL);
		must_do(setup, "SAVEPOINT c", 0, NULL);
		released = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "RELEASE SAVEPOINT c", 0, NULL);
		kept = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "COMMIT", 0, NULL);
		marker = send_as(setup, s1, chat_a, "marker after rollbacks");
		t = wait_for(two, 2, 1, "message", chat_a, marker, s1, 5);
		r_events = count_ev(lc1, "message", chat_r, -1, NULL) + count_ev(ladm, "message", chat_r, -1, NULL);
		for (int i = 0; i < 2; i++)
			if (count_ev(two[i], "message", chat_a, released, c1) != 1 ||
				count_ev(two[i], "message", chat_a, kept, c1) != 1)
				fine = 0;
		ok(t >= 0 && r_events == 0 && fine &&
		   must_long(setup, "SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid", 1, qr) == 0,
		   "messages rolled back (a transaction, a savepoint) were never relayed (%d events), "
		   "those of a released savepoint and of the committed transaction were, once each",
		   r_events);

		/* a rolled-back seq reused by the other participant */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		reused_c = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "ROLLBACK", 0, NULL);
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, ps);
		reused_s = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "COMMIT", 0, NULL);
		t = wait_for(three, 3, 1, "message", chat_a, reused_s, s1, 5);
		drain_for(200);
		fine = 1;
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "message", chat_a, reused_s, NULL) != 1)
				fine = 0;
		ok(t >= 0 && fine && reused_c == reused_s,
		   "seq %ld, rolled back by the customer and then taken by the stylist, was relayed "
		   "once, as the stylist's", reused_s);
	}

	/* 15-19: 8 concurrent senders in 2 chats */
	{
		static Sender senders[CONC_THREADS];
		Listener   *per_chat[] = {lc2, lc3};
		const char *chats[] = {chat_b, chat_c};
		int			errors = 0;
		long		nb, nc;
		double		start = now_s();

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
							 sc.got, sc.distinct, sc.missing, missing,  sc.dups, sc.out_of_order,
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
	}

	/* 20-24: the worker killed while one sender sends 2000 messages */
	{
		static Sender sender;
		static Killer killer;
		Listener   *two[] = {ls3, ladm};
		double		start, sent_done = 0, complete = -1;
		SeqCheck	sc[2];
		const char *p[] = {chat_d};
		long		watermark = -1;

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
	}

	/* 25-28: nobody else heard anything */
	{
		int			x_heard = 0;
		char		state1[6], state2[6], state3[6];
		char		sql[160];
		char	   *ident;

		drain_for(300);
		x_heard = lx->nev;
		for (int i = 0; i < lx->nev && i < 3; i++)
			diag("the bystander got on %s: %s", lx->ev[i].relname, lx->ev[i].payload);
		ok(x_heard == 0 && x_listening == nguesses + 1,
		   "a profile in no chat, listening on its own channel and %d guessed names (%ld "
		   "channels), heard nothing of the traffic: %d notifications", nguesses, x_listening,
		   x_heard);
		for (int i = 0; i < leaves->nev && i < 3; i++)
			diag("the eavesdropper got on %s: %s", leaves->ev[i].relname, leaves->ev[i].payload);
		ok(leaves->nev == 0 && e_listening == nguesses,
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

	/* 29: every payload of the run */
	{
		int			total = 0, bad = 0;

		for (int i = 0; i < nlisteners; i++)
		{
			Listener   *l = listeners[i];

			if (l == leaves || l == lx)
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

	/* 30: a database the worker does not serve */
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

	/* clean up what outlives the run */
	for (int i = 0; i < nlisteners; i++)
		PQfinish(listeners[i]->conn);
	{
		const char *p[] = {adm};

		must_do(setup, "SELECT chat.upsert_profile($1::uuid, 'customer', 'relay test admin')",
				1, p);
	}
	{
		double		wstart = now_s();

		/* the role goes once its session has ended */
		while (now_s() - wstart < 5 &&
			   must_long(setup, "SELECT count(*) FROM pg_stat_activity"
						 " WHERE usename = 'regress_eavesdropper'", 0, NULL) > 0)
			sleep_ms(50);
		must_do(setup, "DROP ROLE IF EXISTS regress_eavesdropper", 0, NULL);
	}
	PQfinish(setup);
	PQfinish(first);
	if (failures)
		diag("%d of %d tests failed", failures, test_no);
	return failures == 0 && test_no == NTESTS ? 0 : 1;
}
