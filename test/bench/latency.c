/*
 * latency.c: delivery latency of chat messages, from the sender's COMMIT to
 * a listener's receipt of the relay's notification.
 *
 * What it measures: for every message sent during the run, the time from
 * the moment the sender's COMMIT returned to the moment a listener
 * connection received its notification; it prints p50, p99 and max in ms,
 * the messages sent and the achieved rate.  A latency can be slightly
 * negative: the relay may notify before the sender has read its COMMIT
 * reply.
 *
 * How: one process, one clock (CLOCK_MONOTONIC), one libpq connection per
 * thread (PGHOST, PGPORT, PGUSER; database from argv).
 *   - The listener thread acts as the benchmark's admin for its session,
 *     LISTENs on the admin's channel (chat.listen(); an admin's channel gets
 *     every chat's events) and stamps each notification when
 *     PQconsumeInput() hands it over, keyed by the payload's chat_id and
 *     seq.
 *   - N sender threads, each in its own chat (the benchmark customer NN,
 *     NN = thread number, with the benchmark stylist; see setup.sql), each
 *     run transactions of four round trips: BEGIN; SELECT chat.act_as(..);
 *     SELECT chat.send_message(..) (which returns the seq); COMMIT; and
 *     stamp the time when COMMIT returns, keyed by (chat, seq).  With a
 *     RATE each sender is paced at RATE messages/s on a fixed schedule
 *     (a late sender catches up); with RATE 0 they send flat out.
 *   - After SECONDS the senders stop; the listener waits up to 5 s more
 *     for the last notifications.  A message never received is counted as
 *     missing, and left out of the percentiles.
 *
 * Usage: latency DBNAME NSENDERS RATE_PER_SENDER SECONDS
 * Output: one line,
 *   "sent N received N missing N rate R p50 X p99 X max X" (ms)
 * Exit status 0 unless something failed (an SQL error, a lost connection).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

#define MAX_SENDERS 32
#define ADMIN_ID	"ad000000-0000-4000-8000-000000000001"
#define STYLIST_ID	"5e000000-0000-4000-8000-000000000001"
#define CUSTOMER_FMT "c0000000-0000-4000-8000-%012d"
#define BODY		"Hi! Could we move my appointment to 3pm tomorrow? Thanks a lot"

typedef struct Sender
{
	int			no;
	pthread_t	thread;
	char		customer[37];
	char		chat_id[37];
	long long	base_seq;		/* the chat's last seq before the run */
	long		cap;
	long		sent;
	double	   *commit_at;		/* [seq - base_seq - 1] */
	double	   *received_at;	/* [seq - base_seq - 1], 0 = not yet */
} Sender;

static const char *dbname;
static int	nsenders;
static double rate;
static double seconds;
static Sender senders[MAX_SENDERS];
static double start_at;
static atomic_int senders_done = 0;
static atomic_int failed = 0;
static atomic_long total_received = 0;
static long duplicates = 0;
static long unknown = 0;
static pthread_barrier_t ready;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn = PQsetdbLogin(NULL, NULL, NULL, NULL, dbname, NULL, NULL);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "latency: %s", PQerrorMessage(conn));
		exit(1);
	}
	return conn;
}

/* run sql; on error report it and return NULL */
static PGresult *
run(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "latency: %s: %s", sql, PQerrorMessage(conn));
		PQclear(res);
		atomic_store(&failed, 1);
		return NULL;
	}
	return res;
}

static void
sleep_until(double t)
{
	struct timespec ts;

	ts.tv_sec = (time_t) t;
	ts.tv_nsec = (long) ((t - (double) ts.tv_sec) * 1e9);
	if (ts.tv_nsec >= 1000000000L)
	{
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *
sender_main(void *arg)
{
	Sender	   *s = arg;
	PGconn	   *conn = connect_db();
	PGresult   *res;
	char		act_sql[128];
	const char *params[2];
	double		next;
	double		end;

	snprintf(act_sql, sizeof(act_sql), "SELECT chat.act_as('%s')", s->customer);
	res = PQprepare(conn, "send",
					"SELECT chat.send_message($1::uuid, $2::text)", 2, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "latency: prepare: %s", PQerrorMessage(conn));
		atomic_store(&failed, 1);
	}
	PQclear(res);
	params[0] = s->chat_id;
	params[1] = BODY;

	pthread_barrier_wait(&ready);
	next = start_at;
	end = start_at + seconds;

	while (!atomic_load(&failed) && s->sent < s->cap)
	{
		long long	seq;
		double		t;

		if (rate > 0)
		{
			/* stagger the senders across one period */
			double		due = next + (double) s->no / (nsenders * rate);

			if (due >= end)
				break;
			sleep_until(due);
			next += 1.0 / rate;
		}
		else if (now_s() >= end)
			break;

		if ((res = run(conn, "BEGIN")) == NULL)
			break;
		PQclear(res);
		if ((res = run(conn, act_sql)) == NULL)
			break;
		PQclear(res);
		res = PQexecPrepared(conn, "send", 2, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "latency: send_message: %s", PQerrorMessage(conn));
			PQclear(res);
			atomic_store(&failed, 1);
			break;
		}
		seq = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		if ((res = run(conn, "COMMIT")) == NULL)
			break;
		t = now_s();
		PQclear(res);

		if (seq != s->base_seq + s->sent + 1)
		{
			fprintf(stderr, "latency: chat %s: seq %lld, expected %lld\n",
					s->chat_id, seq, s->base_seq + s->sent + 1);
			atomic_store(&failed, 1);
			break;
		}
		s->commit_at[s->sent++] = t;
	}
	atomic_fetch_add(&senders_done, 1);
	PQfinish(conn);
	return NULL;
}

/* the value of "key": in a JSON payload, as text (up to a quote or comma) */
static int
json_field(const char *payload, const char *key, char *out, size_t outlen)
{
	char		pat[32];
	const char *p;
	size_t		n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(payload, pat)) == NULL)
		return 0;
	p += strlen(pat);
	if (*p == '"')
		p++;
	while (*p && *p != '"' && *p != ',' && *p != '}' && n + 1 < outlen)
		out[n++] = *p++;
	out[n] = '\0';
	return n > 0;
}

static void
record(const char *payload, double t)
{
	char		chat_id[40];
	char		seqtext[24];
	long long	seq;
	int			i;

	if (!json_field(payload, "chat_id", chat_id, sizeof(chat_id)) ||
		!json_field(payload, "seq", seqtext, sizeof(seqtext)))
	{
		unknown++;
		return;
	}
	seq = atoll(seqtext);
	for (i = 0; i < nsenders; i++)
	{
		Sender	   *s = &senders[i];
		long		k = (long) (seq - s->base_seq - 1);

		if (strcmp(s->chat_id, chat_id) != 0)
			continue;
		if (k < 0 || k >= s->cap)
		{
			unknown++;
			return;
		}
		if (s->received_at[k] != 0)
			duplicates++;
		else
		{
			s->received_at[k] = t;
			atomic_fetch_add(&total_received, 1);
		}
		return;
	}
	unknown++;
}

static void *
listener_main(void *arg)
{
	PGconn	   *conn = connect_db();
	PGresult   *res;
	char		sql[128];
	double		grace_end = 0;

	(void) arg;
	snprintf(sql, sizeof(sql), "SELECT chat.act_as('%s', true)", ADMIN_ID);
	if ((res = run(conn, sql)) != NULL)
		PQclear(res);
	if ((res = run(conn, "SELECT chat.listen()")) != NULL)
		PQclear(res);
	pthread_barrier_wait(&ready);

	while (!atomic_load(&failed))
	{
		struct pollfd pfd;
		PGnotify   *n;

		if (atomic_load(&senders_done) == nsenders)
		{
			long		sent = 0;
			int			i;

			for (i = 0; i < nsenders; i++)
				sent += senders[i].sent;
			if (atomic_load(&total_received) >= sent)
				break;
			if (grace_end == 0)
				grace_end = now_s() + 5;
			else if (now_s() > grace_end)
				break;
		}
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("latency: poll");
			atomic_store(&failed, 1);
			break;
		}
		if (!PQconsumeInput(conn))
		{
			fprintf(stderr, "latency: listener: %s", PQerrorMessage(conn));
			atomic_store(&failed, 1);
			break;
		}
		if ((n = PQnotifies(conn)) != NULL)
		{
			double		t = now_s();

			do
			{
				record(n->extra, t);
				PQfreemem(n);
			} while ((n = PQnotifies(conn)) != NULL);
		}
	}
	PQfinish(conn);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	pthread_t	listener;
	double		first = 0,
				last = 0;
	double	   *lat;
	long		nlat = 0,
				sent = 0,
				missing = 0;
	int			i;

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s DBNAME NSENDERS RATE_PER_SENDER SECONDS\n", argv[0]);
		return 2;
	}
	dbname = argv[1];
	nsenders = atoi(argv[2]);
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	if (nsenders < 1 || nsenders > MAX_SENDERS || rate < 0 || seconds <= 0)
	{
		fprintf(stderr, "latency: 1 to %d senders, a rate >= 0, seconds > 0\n", MAX_SENDERS);
		return 2;
	}

	/* each sender's chat and where its numbering stands */
	conn = connect_db();
	for (i = 0; i < nsenders; i++)
	{
		Sender	   *s = &senders[i];
		char		sql[256];
		PGresult   *res;

		s->no = i;
		snprintf(s->customer, sizeof(s->customer), CUSTOMER_FMT, i);
		snprintf(sql, sizeof(sql),
				 "SELECT chat_id, last_seq FROM chat.chats"
				 " WHERE chat_id = chat.pair_chat_id('%s', '%s')", s->customer, STYLIST_ID);
		res = run(conn, sql);
		if (res == NULL || PQntuples(res) != 1)
		{
			fprintf(stderr, "latency: no chat for customer %s (run setup.sql)\n", s->customer);
			return 1;
		}
		snprintf(s->chat_id, sizeof(s->chat_id), "%s", PQgetvalue(res, 0, 0));
		s->base_seq = atoll(PQgetvalue(res, 0, 1));
		PQclear(res);
		s->cap = rate > 0 ? (long) (rate * seconds) + 16 : 200000;
		s->commit_at = calloc(s->cap, sizeof(double));
		s->received_at = calloc(s->cap, sizeof(double));
		if (s->commit_at == NULL || s->received_at == NULL)
		{
			fprintf(stderr, "latency: out of memory\n");
			return 1;
		}
	}
	PQfinish(conn);

	pthread_barrier_init(&ready, NULL, nsenders + 2);
	pthread_create(&listener, NULL, listener_main, NULL);
	for (i = 0; i < nsenders; i++)
		pthread_create(&senders[i].thread, NULL, sender_main, &senders[i]);
	start_at = now_s() + 0.2;	/* set before the barrier releases anybody */
	pthread_barrier_wait(&ready);
	for (i = 0; i < nsenders; i++)
		pthread_join(senders[i].thread, NULL);
	pthread_join(listener, NULL);
	if (atomic_load(&failed))
		return 1;

	for (i = 0; i < nsenders; i++)
		sent += senders[i].sent;
	lat = malloc((sent + 1) * sizeof(double));
	if (lat == NULL)
		return 1;
	for (i = 0; i < nsenders; i++)
	{
		Sender	   *s = &senders[i];
		long		k;

		for (k = 0; k < s->sent; k++)
		{
			if (first == 0 || s->commit_at[k] < first)
				first = s->commit_at[k];
			if (s->commit_at[k] > last)
				last = s->commit_at[k];
			if (s->received_at[k] == 0)
				missing++;
			else
				lat[nlat++] = (s->received_at[k] - s->commit_at[k]) * 1000;
		}
	}
	if (nlat == 0)
	{
		fprintf(stderr, "latency: nothing received\n");
		return 1;
	}
	qsort(lat, nlat, sizeof(double), cmp_double);
	printf("sent %ld received %ld missing %ld rate %.0f p50 %.3f p99 %.3f max %.3f\n",
		   sent, nlat, missing, last > first ? sent / (last - first) : 0.0,
		   lat[(long) (0.50 * (nlat - 1))], lat[(long) (0.99 * (nlat - 1))], lat[nlat - 1]);
	if (duplicates || unknown)
		fprintf(stderr, "latency: %ld duplicate and %ld unexpected notifications\n",
				duplicates, unknown);
	return 0;
}
