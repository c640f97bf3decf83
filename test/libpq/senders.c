/*
 * senders.c: 16 concurrent senders in one chat keep its numbering and its
 * read state exact.
 *
 * What it tests, in one chat of a customer and a stylist:
 *   - 16 sender threads (one PGconn each; even threads act as the customer,
 *     odd ones as the stylist) each send 200 messages with
 *     chat.send_message(chat_id, body, NULL, client_msg_id), concurrently.
 *     Message k of a thread:
 *       * most carry a fresh random client_msg_id;
 *       * k % 10 == 5: no client_msg_id (the path without the idempotency
 *         lookup);
 *       * k % 10 == 3: a client_msg_id shared with another thread acting as
 *         the same participant, which sends the same message at about the
 *         same time (two devices sending one message): both must get the
 *         same seq and only one row is stored;
 *       * k % 7 == 0: retried at once with the same client_msg_id, and
 *         k % 11 == 0: retried again after the thread's last message; each
 *         retry must return the first seq;
 *       * k % 20 == 9 (not retried): deleted right after it is sent, with
 *         chat.delete_message, which changes the other's unread counter;
 *   - in three phases: 1. every thread sends its messages 0-99; 2. only the
 *     stylist threads send 100-199; 3. only the customer threads send
 *     100-199.  In phases 2 and 3 the receiver never sends, so a wrong
 *     unread counter is not reset to 0 by a send of its own and stays;
 *   - meanwhile 4 threads (2 per participant) call chat.mark_read forwards
 *     (NULL, or a seq between the read mark and the last seq) and backwards
 *     (a seq below the read mark), until 3/4 of the phase's messages are
 *     sent (so that unread messages pile up): no error, and the mark each
 *     returns never moves backwards and is at least the seq asked for;
 *   - meanwhile a monitor thread reads the chat row and its messages in one
 *     statement (one snapshot) again and again: last_seq and both read seqs
 *     never decrease, seq is gapless (count = max = last_seq), and both
 *     unread counters equal the count of non-deleted messages of the other
 *     participant after that participant's read seq, in every snapshot;
 *   - at the end of each phase (all threads paused): that read-state
 *     invariant, for both participants;
 *   - at the end: no error anywhere; rows = distinct messages; seq is
 *     exactly 1..N (count(*) = max(seq) = N, count(DISTINCT seq) = N);
 *     chats.last_seq = N; each client_msg_id has one row; every message
 *     has the sender, body, client_msg_id and deletion it was sent with;
 *     each thread's new messages got increasing seqs.
 *
 * How: pthreads, released together at the start of each phase by a barrier;
 * the checks are SQL on the base tables through the setup connection (the
 * runner connects as a superuser).  UUIDs come from getrandom().
 * Usage: senders DBNAME (host, port and user from PGHOST, PGPORT, PGUSER).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "tap.h"

#define NSENDERS 16
#define NMSGS 200
#define NREADERS 4
#define NPHASES 3
#define NTESTS 22

/* the schedule of message k of a thread (see the top of the file) */
#define IS_SHARED(k)		((k) % 10 == 3)
#define HAS_NO_KEY(k)		((k) % 10 == 5)
#define RETRY_AT_ONCE(k)	((k) % 7 == 0 && !HAS_NO_KEY(k))
#define RETRY_LATER(k)		((k) % 11 == 0 && !HAS_NO_KEY(k))
#define IS_DELETED(k)		((k) % 20 == 9 && !IS_SHARED(k) && !RETRY_AT_ONCE(k) && !RETRY_LATER(k))

/* the thread that sends the same shared messages as thread t */
#define PARTNER(t)			((t) ^ 2)


static const char *dbname;
static char customer[37];
static char stylist[37];
static char chat_id[64];
static char shared_keys[NSENDERS][NMSGS][37];
/* every sender and reader thread and main meet at the start and end of each phase */
static pthread_barrier_t phase_start;
static pthread_barrier_t phase_end;
/* how many threads send in each phase, and how many have not finished it */
static const int phase_senders[NPHASES] = {NSENDERS, NSENDERS / 2, NSENDERS / 2};
static atomic_int active[NPHASES] = {NSENDERS, NSENDERS / 2, NSENDERS / 2};
/* how many messages have been sent in each phase (retries not counted) */
static atomic_int sent_in_phase[NPHASES];
static int	current_phase;		/* written before phase_start only */
static const char *const phase_names[NPHASES] = {
	"phase 1 (both send)", "phase 2 (stylists send)", "phase 3 (customers send)"
};
/* set by main when every phase is over */
static atomic_int all_done = 0;

static PGconn *
connect_db(const char *appname)
{
	/* a hang (a deadlock that is not detected, say) becomes an error */
	const char *keys[] = {"dbname", "application_name", "options", NULL};
	const char *vals[] = {dbname, appname, "-c statement_timeout=30s", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(conn) != CONNECTION_OK)
		bail("cannot connect to %s: %s", dbname, PQerrorMessage(conn));
	return conn;
}

/*
 * A call that may fail: the single value it returns (NULL when it returns
 * SQL NULL or has no row) into out; false, with a diagnostic for the first
 * few failures, when it fails.
 */
static int
try_call(PGconn *conn, const char *who, int *errors, const char *sql,
		 int nparams, const char *const *params, char *out, size_t outlen)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		(*errors)++;
		if (*errors <= 3)
			diag("%s: %s: %s %s", who, sql, state ? state : "-",
				 PQresultErrorMessage(res));
		PQclear(res);
		return 0;
	}
	if (out)
	{
		if (PQntuples(res) >= 1 && !PQgetisnull(res, 0, 0))
			snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
		else
			out[0] = '\0';
	}
	PQclear(res);
	return 1;
}

/*
 * Senders
 */
typedef struct Sent
{
	char		key[37];		/* client_msg_id, "" for none */
	char		body[64];
	long		seq;			/* 0 when the send failed */
	int			deleted;
} Sent;

typedef struct Sender
{
	pthread_t	thread;
	int			t;
	Sent		sent[NMSGS];
	int			calls;
	int			errors;
	int			retries_now;
	int			retries_now_bad;
	int			retries_later;
	int			retries_later_bad;
	int			order_bad;
	int			deletes;
} Sender;

static Sender senders[NSENDERS];

static long
send_one(PGconn *conn, Sender *s, const char *who, const char *body, const char *key)
{
	const char *p[] = {chat_id, body, key[0] ? key : NULL};
	char		out[64];

	s->calls++;
	if (!try_call(conn, who, &s->errors,
				  "SELECT chat.send_message($1::uuid, $2, NULL, $3::uuid)",
				  3, p, out, sizeof(out)))
		return 0;
	return atol(out);
}

/* send messages from..to-1 of the thread's schedule */
static void
send_range(PGconn *conn, Sender *s, const char *who, int from, int to, long *last_new)
{
	int			t = s->t;

	for (int k = from; k < to; k++)
	{
		Sent	   *m = &s->sent[k];

		if (IS_SHARED(k))
		{
			/* the same message as the partner thread sends at its step k */
			snprintf(m->key, sizeof(m->key), "%s", shared_keys[t & ~2][k]);
			snprintf(m->body, sizeof(m->body), "shared by senders %d and %d, message %d",
					 t & ~2, (t & ~2) | 2, k);
		}
		else
		{
			if (HAS_NO_KEY(k))
				m->key[0] = '\0';
			else
				new_uuid(m->key);
			snprintf(m->body, sizeof(m->body), "sender %d, message %d", t, k);
		}

		m->seq = send_one(conn, s, who, m->body, m->key);
		atomic_fetch_add(&sent_in_phase[current_phase], 1);
		if (m->seq == 0)
			continue;

		/* a new message is numbered after the thread's previous one */
		if (!IS_SHARED(k))
		{
			if (m->seq <= *last_new)
			{
				s->order_bad++;
				diag("%s: message %d got seq %ld after seq %ld", who, k, m->seq, *last_new);
			}
			*last_new = m->seq;
		}

		if (RETRY_AT_ONCE(k))
		{
			long		again = send_one(conn, s, who, m->body, m->key);

			s->retries_now++;
			if (again != m->seq)
			{
				s->retries_now_bad++;
				diag("%s: retry of message %d returned seq %ld, the first send %ld",
					 who, k, again, m->seq);
			}
		}

		if (IS_DELETED(k))
		{
			const char *p[] = {chat_id, NULL};
			char		seq[32];

			snprintf(seq, sizeof(seq), "%ld", m->seq);
			p[1] = seq;
			s->calls++;
			if (try_call(conn, who, &s->errors,
						 "SELECT chat.delete_message($1::uuid, $2::bigint)",
						 2, p, NULL, 0))
			{
				m->deleted = 1;
				s->deletes++;
			}
		}
	}
}

/* retry some messages again, long after they were sent */
static void
retry_later(PGconn *conn, Sender *s, const char *who)
{
	for (int k = 0; k < NMSGS; k++)
	{
		Sent	   *m = &s->sent[k];
		long		again;

		if (!RETRY_LATER(k) || m->seq == 0)
			continue;
		again = send_one(conn, s, who, m->body, m->key);
		s->retries_later++;
		if (again != m->seq)
		{
			s->retries_later_bad++;
			diag("%s: late retry of message %d returned seq %ld, the first send %ld",
				 who, k, again, m->seq);
		}
	}
}

static void *
sender_main(void *arg)
{
	Sender	   *s = arg;
	int			t = s->t;
	const char *actor = t % 2 == 0 ? customer : stylist;
	int			my_phase = t % 2 == 0 ? 2 : 1;
	char		who[64];
	PGconn	   *conn;
	long		last_new = 0;

	snprintf(who, sizeof(who), "sender %d (%s)", t, t % 2 == 0 ? "customer" : "stylist");
	conn = connect_db(who);
	{
		const char *p[] = {actor};

		must_do(conn, "SELECT chat.act_as($1::uuid, true)", 1, p);
	}

	for (int phase = 0; phase < NPHASES; phase++)
	{
		pthread_barrier_wait(&phase_start);
		if (phase == 0)
		{
			send_range(conn, s, who, 0, NMSGS / 2, &last_new);
			atomic_fetch_sub(&active[phase], 1);
		}
		else if (phase == my_phase)
		{
			send_range(conn, s, who, NMSGS / 2, NMSGS, &last_new);
			retry_later(conn, s, who);
			atomic_fetch_sub(&active[phase], 1);
		}
		pthread_barrier_wait(&phase_end);
	}

	PQfinish(conn);
	return NULL;
}

/*
 * Readers: mark_read forwards and backwards while the senders send
 */
typedef struct Reader
{
	pthread_t	thread;
	int			r;
	int			calls;
	int			errors;
	int			bad;
	int			backwards;
} Reader;

static Reader readers[NREADERS];

static void *
reader_main(void *arg)
{
	Reader	   *rd = arg;
	const char *actor = rd->r % 2 == 0 ? customer : stylist;
	char		who[64];
	PGconn	   *conn;
	unsigned int seed = (unsigned int) time(NULL) ^ (unsigned int) (rd->r * 7919);
	long		prev = 0;

	snprintf(who, sizeof(who), "reader %d (%s)", rd->r, rd->r % 2 == 0 ? "customer" : "stylist");
	conn = connect_db(who);
	{
		const char *p[] = {actor};

		must_do(conn, "SELECT chat.act_as($1::uuid, true)", 1, p);
	}
	for (int phase = 0; phase < NPHASES; phase++)
	{
		pthread_barrier_wait(&phase_start);
		/*
		 * stop when 3/4 of the phase's messages are sent, so that unread
		 * messages pile up before the phase ends
		 */
		for (int i = 0; atomic_load(&sent_in_phase[phase]) < phase_senders[phase] * (NMSGS / 2) * 3 / 4
			 && atomic_load(&active[phase]) > 0; i++)
		{
			const char *p[] = {chat_id, NULL};
			char		up_to[32];
			char		out[64];
			long		floor_seq = prev;	/* the least mark the call may return */
			long		got;

			if (i % 3 != 0)
			{
				/* where the chat and our mark are now */
				PGresult   *res;
				const char *gp[] = {chat_id};
				long		last_seq;
				long		read_seq;
				long		want;

				res = PQexecParams(conn,
								   "SELECT last_seq, last_read_seq FROM chat.get_chat($1::uuid)",
								   1, NULL, gp, NULL, NULL, 0);
				rd->calls++;
				if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
				{
					rd->errors++;
					if (rd->errors <= 3)
						diag("%s: get_chat: %s", who, PQresultErrorMessage(res));
					PQclear(res);
					continue;
				}
				last_seq = atol(PQgetvalue(res, 0, 0));
				read_seq = atol(PQgetvalue(res, 0, 1));
				PQclear(res);
				if (read_seq > 0 && i % 3 == 1)
				{
					/* backwards: below the mark, which must stay where it is */
					want = (long) (rand_r(&seed) % read_seq);
					rd->backwards++;
				}
				else
				{
					/* forwards: between the mark and the last message */
					want = read_seq + (long) (rand_r(&seed) % (last_seq - read_seq + 1));
				}
				if (read_seq > floor_seq)
					floor_seq = read_seq;
				if (want > floor_seq)
					floor_seq = want;
				snprintf(up_to, sizeof(up_to), "%ld", want);
				p[1] = up_to;
			}

			rd->calls++;
			if (!try_call(conn, who, &rd->errors,
						  "SELECT chat.mark_read($1::uuid, $2::bigint)", 2, p, out, sizeof(out)))
				continue;
			got = atol(out);
			if (got < floor_seq)
			{
				rd->bad++;
				if (rd->bad <= 3)
					diag("%s: mark_read(%s) returned %ld, below %ld (the previous answer "
						 "%ld, or the mark or seq seen before the call)",
						 who, p[1] ? p[1] : "NULL", got, floor_seq, prev);
			}
			prev = got;
			usleep(200);
		}

		pthread_barrier_wait(&phase_end);
	}

	PQfinish(conn);
	return NULL;
}

/*
 * Monitor: the chat row and its messages, one snapshot at a time
 */
static const char *state_sql =
"SELECT c.last_seq, c.customer_read_seq, c.stylist_read_seq,"
"       c.customer_unread = (SELECT count(*) FROM chat.chat_messages m"
"                             WHERE m.chat_id = c.chat_id AND m.sender_id = c.stylist_id"
"                               AND m.seq > c.customer_read_seq AND m.deleted_at IS NULL),"
"       c.stylist_unread = (SELECT count(*) FROM chat.chat_messages m"
"                            WHERE m.chat_id = c.chat_id AND m.sender_id = c.customer_id"
"                              AND m.seq > c.stylist_read_seq AND m.deleted_at IS NULL),"
"       (SELECT count(*) = c.last_seq AND coalesce(max(m.seq), 0) = c.last_seq"
"          FROM chat.chat_messages m WHERE m.chat_id = c.chat_id),"
"       c.customer_unread, c.stylist_unread"
"  FROM chat.chats c WHERE c.chat_id = $1::uuid";

typedef struct Monitor
{
	pthread_t	thread;
	int			snapshots;
	int			errors;
	int			decreased;
	int			unread_bad;
	int			gaps;
	int			with_unread;	/* snapshots with a non-zero counter */
} Monitor;

static Monitor monitor;

static void *
monitor_main(void *arg)
{
	Monitor    *mo = arg;
	PGconn	   *conn = connect_db("monitor");
	long		prev[3] = {0, 0, 0};
	const char *names[3] = {"last_seq", "customer_read_seq", "stylist_read_seq"};

	while (!atomic_load(&all_done))
	{
		const char *p[] = {chat_id};
		PGresult   *res = PQexecParams(conn, state_sql, 1, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		{
			mo->errors++;
			if (mo->errors <= 3)
				diag("monitor: %s", PQresultErrorMessage(res));
			PQclear(res);
			continue;
		}
		mo->snapshots++;
		for (int i = 0; i < 3; i++)
		{
			long		v = atol(PQgetvalue(res, 0, i));

			if (v < prev[i])
			{
				mo->decreased++;
				diag("monitor: %s went from %ld down to %ld", names[i], prev[i], v);
			}
			prev[i] = v;
		}
		if (strcmp(PQgetvalue(res, 0, 3), "t") != 0 || strcmp(PQgetvalue(res, 0, 4), "t") != 0)
		{
			mo->unread_bad++;
			if (mo->unread_bad <= 3)
				diag("monitor: unread counters wrong at last_seq %s: customer %s (%s), stylist %s (%s)",
					 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 3),
					 PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 4));
		}
		if (atol(PQgetvalue(res, 0, 6)) > 0 || atol(PQgetvalue(res, 0, 7)) > 0)
			mo->with_unread++;
		if (strcmp(PQgetvalue(res, 0, 5), "t") != 0)
		{
			mo->gaps++;
			if (mo->gaps <= 3)
				diag("monitor: seq not 1..last_seq at last_seq %s", PQgetvalue(res, 0, 0));
		}
		PQclear(res);
		usleep(1000);
	}
	PQfinish(conn);
	return NULL;
}

/* append to a growing string */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_add(Buf *b, const char *s)
{
	size_t		n = strlen(s);

	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->data = realloc(b->data, b->cap);
		if (!b->data)
			bail("out of memory");
	}
	memcpy(b->data + b->len, s, n + 1);
	b->len += n;
}

static long
long_at(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? -1 : atol(PQgetvalue(res, 0, col));
}

int
main(int argc, char **argv)
{
	PGconn	   *setup;
	int			errors = 0;
	int			calls = 0;
	int			now = 0, now_bad = 0, later = 0, later_bad = 0;
	int			order_bad = 0;
	int			deletes = 0;
	int			shared = 0, shared_bad = 0;
	int			expected_rows = 0;
	int			expected_keys = 0;
	int			r_calls = 0, r_errors = 0, r_bad = 0, r_back = 0;
	Buf			seqs = {0}, senders_arr = {0}, bodies = {0}, keys = {0};
	PGresult   *res;
	int			read_ok[NPHASES][2];
	char		read_state[NPHASES][2][128];

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DBNAME\n", argv[0]);
		return 2;
	}
	dbname = argv[1];
	printf("1..%d\n", NTESTS);
	fflush(stdout);

	/* a customer, a stylist and their chat */
	setup = connect_db("senders setup");
	new_uuid(customer);
	new_uuid(stylist);
	{
		const char *p[] = {customer, stylist};

		must_do(setup,
				"SELECT chat.upsert_profile($1::uuid, 'customer', 'Senders customer'), "
				"       chat.upsert_profile($2::uuid, 'stylist', 'Senders stylist')", 2, p);
		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, p);
		res = must(setup, "SELECT chat.get_or_create_chat($1::uuid, $2::uuid)", 2, p);
		snprintf(chat_id, sizeof(chat_id), "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
	}
	for (int t = 0; t < NSENDERS; t++)
		for (int k = 0; k < NMSGS; k++)
			new_uuid(shared_keys[t][k]);

	if (pthread_barrier_init(&phase_start, NULL, NSENDERS + NREADERS + 1) != 0 ||
		pthread_barrier_init(&phase_end, NULL, NSENDERS + NREADERS + 1) != 0)
		bail("pthread_barrier_init failed");
	for (int t = 0; t < NSENDERS; t++)
	{
		senders[t].t = t;
		if (pthread_create(&senders[t].thread, NULL, sender_main, &senders[t]) != 0)
			bail("pthread_create failed");
	}
	for (int r = 0; r < NREADERS; r++)
	{
		readers[r].r = r;
		if (pthread_create(&readers[r].thread, NULL, reader_main, &readers[r]) != 0)
			bail("pthread_create failed");
	}
	if (pthread_create(&monitor.thread, NULL, monitor_main, &monitor) != 0)
		bail("pthread_create failed");

	/* at the end of each phase, with every sender and reader paused: the read state */
	for (int phase = 0; phase < NPHASES; phase++)
	{
		const char *p[] = {chat_id};

		current_phase = phase;
		pthread_barrier_wait(&phase_start);
		pthread_barrier_wait(&phase_end);
		res = must(setup, state_sql, 1, p);
		for (int who = 0; who < 2; who++)
		{
			read_ok[phase][who] = strcmp(PQgetvalue(res, 0, 3 + who), "t") == 0;
			snprintf(read_state[phase][who], sizeof(read_state[phase][who]),
					 "unread %s, read_seq %s, last_seq %s",
					 PQgetvalue(res, 0, 6 + who), PQgetvalue(res, 0, 1 + who),
					 PQgetvalue(res, 0, 0));
		}
		PQclear(res);
	}
	atomic_store(&all_done, 1);

	for (int t = 0; t < NSENDERS; t++)
		pthread_join(senders[t].thread, NULL);
	for (int r = 0; r < NREADERS; r++)
		pthread_join(readers[r].thread, NULL);
	pthread_join(monitor.thread, NULL);

	/* what the threads saw */
	for (int t = 0; t < NSENDERS; t++)
	{
		Sender	   *s = &senders[t];

		errors += s->errors;
		calls += s->calls;
		now += s->retries_now;
		now_bad += s->retries_now_bad;
		later += s->retries_later;
		later_bad += s->retries_later_bad;
		order_bad += s->order_bad;
		deletes += s->deletes;

		for (int k = 0; k < NMSGS; k++)
		{
			Sent	   *m = &s->sent[k];
			char		item[128];

			if (IS_SHARED(k))
			{
				if (t & 2)
					continue;	/* counted once, by the lower thread */
				shared++;
				if (m->seq != senders[PARTNER(t)].sent[k].seq)
				{
					shared_bad++;
					diag("senders %d and %d sent message %d with one client_msg_id: seq %ld and %ld",
						 t, PARTNER(t), k, m->seq, senders[PARTNER(t)].sent[k].seq);
				}
			}
			expected_rows++;
			if (m->key[0])
				expected_keys++;

			buf_add(&seqs, seqs.len ? "," : "{");
			snprintf(item, sizeof(item), "%ld", m->seq);
			buf_add(&seqs, item);
			buf_add(&senders_arr, senders_arr.len ? "," : "{");
			buf_add(&senders_arr, t % 2 == 0 ? customer : stylist);
			buf_add(&bodies, bodies.len ? "," : "{");
			if (m->deleted)
				buf_add(&bodies, "NULL");
			else
			{
				snprintf(item, sizeof(item), "\"%s\"", m->body);
				buf_add(&bodies, item);
			}
			buf_add(&keys, keys.len ? "," : "{");
			buf_add(&keys, m->key[0] ? m->key : "NULL");
		}
	}
	buf_add(&seqs, "}");
	buf_add(&senders_arr, "}");
	buf_add(&bodies, "}");
	buf_add(&keys, "}");
	for (int r = 0; r < NREADERS; r++)
	{
		r_calls += readers[r].calls;
		r_errors += readers[r].errors;
		r_bad += readers[r].bad;
		r_back += readers[r].backwards;
	}
	diag("%d sender calls, %d distinct messages expected (%d with a client_msg_id), "
		 "%d deleted; %d mark_read/get_chat calls (%d backwards); %d monitor snapshots",
		 calls, expected_rows, expected_keys, deletes, r_calls, r_back, monitor.snapshots);

	/* 1-5: the senders */
	ok(errors == 0, "%d concurrent senders: no error in %d calls (%d errors)",
	   NSENDERS, calls, errors);
	ok(now > 0 && now_bad == 0,
	   "%d immediate retries with the same client_msg_id returned the first seq (%d did not)",
	   now, now_bad);
	ok(later > 0 && later_bad == 0,
	   "%d late retries with the same client_msg_id returned the first seq (%d did not)",
	   later, later_bad);
	ok(shared > 0 && shared_bad == 0,
	   "%d messages sent by two connections of one participant with one client_msg_id "
	   "got one seq (%d did not)", shared, shared_bad);
	ok(order_bad == 0,
	   "each connection's new messages got increasing seqs (%d out of order)", order_bad);

	/* 6-11: what is stored */
	{
		const char *p[] = {chat_id};

		res = must(setup,
				   "SELECT count(*), count(DISTINCT seq), min(seq), max(seq),"
				   "       (SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid),"
				   "       count(client_msg_id), count(DISTINCT client_msg_id),"
				   "       count(*) FILTER (WHERE deleted_at IS NOT NULL)"
				   "  FROM chat.chat_messages WHERE chat_id = $1::uuid", 1, p);
	}
	{
		long		rows = long_at(res, 0);
		long		dseq = long_at(res, 1);
		long		minseq = long_at(res, 2);
		long		maxseq = long_at(res, 3);
		long		last_seq = long_at(res, 4);
		long		nkeys = long_at(res, 5);
		long		dkeys = long_at(res, 6);
		long		ndeleted = long_at(res, 7);

		ok(rows == expected_rows,
		   "the chat holds one row per distinct message: %ld rows, %d expected",
		   rows, expected_rows);
		ok(rows > 0 && rows == maxseq && rows == dseq && minseq == 1,
		   "seq is exactly 1..N: count(*) %ld, count(DISTINCT seq) %ld, min %ld, max %ld",
		   rows, dseq, minseq, maxseq);
		ok(last_seq == expected_rows && last_seq == maxseq,
		   "chats.last_seq = N: %ld, expected %d", last_seq, expected_rows);
		ok(nkeys == expected_keys && dkeys == nkeys,
		   "each client_msg_id has one row: %ld with one, %ld distinct, %d expected",
		   nkeys, dkeys, expected_keys);
		ok(ndeleted == deletes && deletes > 0,
		   "%ld messages are tombstones, %d were deleted", ndeleted, deletes);
		PQclear(res);
	}
	{
		const char *p[] = {chat_id, seqs.data, senders_arr.data, bodies.data, keys.data};
		long		matched;

		res = must(setup,
				   "SELECT count(*) FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::uuid[])"
				   "       AS x(seq, sender_id, body, client_msg_id)"
				   "  JOIN chat.chat_messages m ON m.chat_id = $1::uuid AND m.seq = x.seq"
				   " WHERE m.sender_id = x.sender_id"
				   "   AND m.body IS NOT DISTINCT FROM x.body"
				   "   AND m.client_msg_id IS NOT DISTINCT FROM x.client_msg_id"
				   "   AND (m.deleted_at IS NOT NULL) = (x.body IS NULL)", 5, p);
		matched = long_at(res, 0);
		PQclear(res);
		ok(matched == expected_rows,
		   "every message is stored at the seq its sender got, with its sender, body, "
		   "client_msg_id and deletion: %ld of %d", matched, expected_rows);
	}

	/* 12-17: the read state at the end of each phase */
	for (int phase = 0; phase < NPHASES; phase++)
	{
		ok(read_ok[phase][0],
		   "after %s: customer_unread = non-deleted stylist messages after "
		   "customer_read_seq (%s)", phase_names[phase], read_state[phase][0]);
		ok(read_ok[phase][1],
		   "after %s: stylist_unread = non-deleted customer messages after "
		   "stylist_read_seq (%s)", phase_names[phase], read_state[phase][1]);
	}

	/* 18-19: the readers */
	ok(r_calls > 0 && r_errors == 0,
	   "concurrent mark_read/get_chat: no error in %d calls (%d errors)", r_calls, r_errors);
	ok(r_calls > 0 && r_back > 0 && r_bad == 0,
	   "mark_read never moved a read mark backwards, and reached the seq asked for "
	   "(%d bad answers, %d backward calls)", r_bad, r_back);

	/* 20-22: the monitor */
	ok(monitor.snapshots >= 10 && monitor.errors == 0 && monitor.decreased == 0,
	   "last_seq and both read seqs never decreased over %d snapshots "
	   "(%d decreases, %d errors)", monitor.snapshots, monitor.decreased, monitor.errors);
	ok(monitor.snapshots >= 10 && monitor.with_unread > 0 && monitor.unread_bad == 0,
	   "both unread counters matched the messages in every snapshot (%d did not; "
	   "%d had unread messages)", monitor.unread_bad, monitor.with_unread);
	ok(monitor.snapshots >= 10 && monitor.gaps == 0,
	   "seq was 1..last_seq in every snapshot (%d were not)", monitor.gaps);

	free(seqs.data);
	free(senders_arr.data);
	free(bodies.data);
	free(keys.data);
	PQfinish(setup);
	if (failures)
		diag("%d of %d tests failed", failures, test_no);
	return failures == 0 ? 0 : 1;
}
