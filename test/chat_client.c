/*
 * chat_client.c: a real-time chat client of stylist_chat, over libpq.
 *
 * It receives, as one profile, every message sent to that profile, once
 * each, in real time and across connection losses, by following the client
 * protocol of stylist_chat:
 *
 *   1. connect, and act as the profile for the session:
 *        SELECT chat.act_as($1, true)
 *      (the login must be a superuser or a member of chat_service);
 *   2. LISTEN on the profile's private channel, in autocommit, so that the
 *      LISTEN is in force when the call returns:
 *        SELECT chat.listen()
 *   3. catch up on everything sent before that, acknowledging what it
 *      holds (README, "Acknowledged catch-up"):
 *        SELECT chat_id, seq, sender_id, body FROM chat.catch_up($1, 500)
 *      again and again until it returns no row, $1 being per chat the
 *      highest seq of the batches not yet acknowledged (NULL for none);
 *      a call that returns normally has acknowledged them;
 *   4. loop: wait on the connection's socket with select(), read what came
 *      (PQconsumeInput) and take the notifications (PQnotifies).  Each is a
 *      JSON event {"type","chat_id","seq","sender_id","ts"}, never the
 *      message text.  For a "message" event from the other participant
 *      whose seq is above the highest seq held for that chat, catch up
 *      again as in step 3.  Other events (edited,
 *      deleted, read, chat_created, typing) are printed as they come.
 *
 * Nothing committed after the LISTEN of step 2 is missed by notification,
 * nothing committed before it is missed by the catch-up of step 3; a
 * message that arrives both ways is recognised by its (chat_id, seq) in
 * the set of messages held, and printed once.  When the connection is lost
 * (the server restarts, the backend is terminated, a query fails) the
 * client reconnects with a short backoff (100 ms doubling up to 1 s) and
 * does 1-3 again, keeping the set of messages it holds.
 *
 * Usage:
 *   chat_client -d DBNAME -p PROFILE_UUID [-n COUNT] [-t TIMEOUT_S] [-q]
 * Host, port and user come from PGHOST, PGPORT, PGUSER (and the other
 * libpq variables); application_name is PGAPPNAME, or "chat_client".
 *
 * Output, on stdout, one line each, as they arrive:
 *   message chat=<uuid> seq=<n> from=<uuid> body=<text>
 *   event <type> chat=<uuid> seq=<n> from=<uuid>
 * The body is printed on one line: backslash, newline, carriage return,
 * tab and other control characters as \\ \n \r \t \xHH; a deleted message
 * has body=(deleted).  The notifications of the profile's own messages are
 * not printed.  At the end, always: "received <n> messages" (n distinct
 * messages), and on stderr how many rows catch_up offered that were held
 * already (the protocol promises none).  With -q, only that last line.  Reconnections and errors go
 * to stderr.
 *
 * Exit status: with -n, 0 as soon as COUNT distinct messages are held, 1
 * if TIMEOUT (default 30 s) comes first; without -n, 0 at TIMEOUT.  2 for a
 * usage error or an error that reconnecting cannot cure (no such profile,
 * not allowed to act as it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define FETCH_SQL "SELECT chat_id, seq, sender_id, body FROM chat.catch_up($1::jsonb, 500)"

/* the messages held: per chat, a bitmap of seqs */
typedef struct Chat
{
	char		id[37];
	long		max_seq;		/* the highest seq held */
	unsigned char *bits;
	long		nbits;
} Chat;

static Chat *chats = NULL;
static int	nchats = 0;
static long held = 0;

/*
 * What the client has stored and the server has not yet been told: per
 * chat, the highest seq of the last batch (catch_up's "received").
 */
typedef struct Position
{
	char		id[37];
	long		seq;
} Position;

static Position *pending = NULL;
static int	npending = 0;
static long offered_again = 0;	/* rows catch_up gave that were held already */

static const char *dbname = NULL;
static const char *profile = NULL;
static char me[64] = "";		/* the profile id, as the server writes it */
static long want = -1;			/* -n */
static int	quiet = 0;
static double deadline;
static long reconnects = 0;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
finish(int status)
{
	printf("received %ld messages\n", held);
	fflush(stdout);
	fprintf(stderr, "chat_client: %ld messages offered again\n", offered_again);
	exit(status);
}

static Chat *
chat_of(const char *id)
{
	for (int i = 0; i < nchats; i++)
		if (strcmp(chats[i].id, id) == 0)
			return &chats[i];
	chats = realloc(chats, (nchats + 1) * sizeof(Chat));
	if (!chats)
	{
		fprintf(stderr, "chat_client: out of memory\n");
		exit(2);
	}
	memset(&chats[nchats], 0, sizeof(Chat));
	snprintf(chats[nchats].id, sizeof(chats[nchats].id), "%s", id);
	return &chats[nchats++];
}

/* add (chat, seq) to the set; 1 if it was not there */
static int
hold(Chat *c, long seq)
{
	if (seq <= 0)
		return 0;
	if (seq >= c->nbits)
	{
		long		nbits = c->nbits ? c->nbits : 1024;
		unsigned char *bits;

		while (nbits <= seq)
			nbits *= 2;
		bits = realloc(c->bits, nbits / 8);
		if (!bits)
		{
			fprintf(stderr, "chat_client: out of memory\n");
			exit(2);
		}
		memset(bits + c->nbits / 8, 0, (nbits - c->nbits) / 8);
		c->bits = bits;
		c->nbits = nbits;
	}
	if (c->bits[seq / 8] & (1 << (seq % 8)))
		return 0;
	c->bits[seq / 8] |= (unsigned char) (1 << (seq % 8));
	if (seq > c->max_seq)
		c->max_seq = seq;
	held++;
	return 1;
}

/* a message body on one line */
static void
print_body(const char *s)
{
	for (; *s; s++)
	{
		unsigned char ch = (unsigned char) *s;

		switch (ch)
		{
			case '\\':
				fputs("\\\\", stdout);
				break;
			case '\n':
				fputs("\\n", stdout);
				break;
			case '\r':
				fputs("\\r", stdout);
				break;
			case '\t':
				fputs("\\t", stdout);
				break;
			default:
				if (ch < 0x20 || ch == 0x7f)
					printf("\\x%02x", ch);
				else
					putchar(ch);
		}
	}
}

/*
 * The value of a key of a flat JSON object, a string (without escapes, as
 * the relay writes them) or a number, into out; 0 if absent.
 */
static int
json_get(const char *json, const char *key, char *out, size_t outlen)
{
	char		pat[64];
	const char *p;
	size_t		n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	if (!p)
		return 0;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p == '"')
	{
		p++;
		while (*p && *p != '"' && n + 1 < outlen)
			out[n++] = *p++;
	}
	else
	{
		while (*p && *p != ',' && *p != '}' && *p != ' ' && n + 1 < outlen)
			out[n++] = *p++;
	}
	out[n] = '\0';
	return 1;
}

/* is this failure one that a new connection may cure? */
static int
transient(PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(conn) != CONNECTION_OK || state == NULL)
		return 1;
	/* connection exceptions, operator intervention (shutdown, terminate) */
	return strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
		strcmp(state, "53300") == 0;
}

/*
 * Run a query; its first successful result, or NULL.  *failed is set when
 * anything went wrong, even after a good result (the connection may be
 * lost after the rows came: the rows are good all the same).
 */
static PGresult *
run(PGconn *conn, const char *sql, int nparams, const char *const *params, int *failed,
	int *permanent)
{
	PGresult   *good = NULL;
	PGresult   *res;

	*failed = 0;
	if (permanent)
		*permanent = 0;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
	{
		fprintf(stderr, "chat_client: %s: %s", sql, PQerrorMessage(conn));
		*failed = 1;
		return NULL;
	}
	while ((res = PQgetResult(conn)) != NULL)
	{
		ExecStatusType st = PQresultStatus(res);

		if ((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) && good == NULL)
			good = res;
		else
		{
			if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
			{
				*failed = 1;
				if (permanent && !transient(conn, res))
					*permanent = 1;
				fprintf(stderr, "chat_client: %s: %s", sql, PQresultErrorMessage(res));
			}
			PQclear(res);
		}
		if (PQstatus(conn) != CONNECTION_OK)
		{
			*failed = 1;
			break;
		}
	}
	return good;
}

/* remember that chat id holds seq, unacknowledged: the highest per chat */
static void
remember(const char *id, long seq)
{
	for (int i = 0; i < npending; i++)
		if (strcmp(pending[i].id, id) == 0)
		{
			if (seq > pending[i].seq)
				pending[i].seq = seq;
			return;
		}
	pending = realloc(pending, (npending + 1) * sizeof(Position));
	if (!pending)
	{
		fprintf(stderr, "chat_client: out of memory\n");
		exit(2);
	}
	snprintf(pending[npending].id, sizeof(pending[npending].id), "%s", id);
	pending[npending++].seq = seq;
}

/* the positions to acknowledge as catch_up's JSON, or NULL for none */
static char *
pending_json(void)
{
	char	   *json;
	size_t		len = 0;

	if (npending == 0)
		return NULL;
	json = malloc(2 + npending * 80);
	if (!json)
	{
		fprintf(stderr, "chat_client: out of memory\n");
		exit(2);
	}
	json[len++] = '[';
	for (int i = 0; i < npending; i++)
		len += sprintf(json + len, "%s{\"chat_id\":\"%s\",\"seq\":%ld}",
					   i ? "," : "", pending[i].id, pending[i].seq);
	json[len++] = ']';
	json[len] = '\0';
	return json;
}

/*
 * Catch up until nothing is left; 0 when all went well.  Each call of
 * chat.catch_up() passes what the previous batches brought (stored: here,
 * held and printed) and returns the next batch: a call that returns
 * normally has acknowledged what it carried.  When the connection dies,
 * the positions stay (with any rows that did arrive) and go with the
 * first call after reconnecting: the server never counts as delivered
 * what the client does not hold, and never offers again what it held.
 */
static int
fetch_all(PGconn *conn)
{
	for (;;)
	{
		int			failed;
		char	   *json = pending_json();
		const char *p[] = {json};
		PGresult   *res = run(conn, FETCH_SQL, 1, p, &failed, NULL);
		int			rows = res ? PQntuples(res) : 0;

		free(json);
		if (!failed)
			npending = 0;		/* acknowledged */
		for (int i = 0; i < rows; i++)
		{
			Chat	   *c = chat_of(PQgetvalue(res, i, 0));
			long		seq = atol(PQgetvalue(res, i, 1));

			remember(c->id, seq);
			if (!hold(c, seq))
				offered_again++;
			else if (!quiet)
			{
				printf("message chat=%s seq=%ld from=%s body=", c->id, seq,
					   PQgetisnull(res, i, 2) ? "(none)" : PQgetvalue(res, i, 2));
				if (PQgetisnull(res, i, 3))
					fputs("(deleted)", stdout);
				else
					print_body(PQgetvalue(res, i, 3));
				putchar('\n');
			}
		}
		PQclear(res);
		if (want >= 0 && held >= want)
			finish(0);
		if (failed)
			return -1;
		if (rows == 0)
			return 0;
	}
}

/* steps 1-3 of the protocol: a connection ready for step 4, or NULL */
static PGconn *
session_start(void)
{
	const char *keys[] = {"dbname", "fallback_application_name", "connect_timeout", "options", NULL};
	const char *vals[] = {dbname, "chat_client", "5", "-c statement_timeout=20s", NULL};
	const char *p[] = {profile};
	PGconn	   *conn;
	PGresult   *res;
	int			failed;
	int			permanent;

	conn = PQconnectdbParams(keys, vals, 0);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "chat_client: cannot connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}

	res = run(conn, "SELECT $1::uuid::text FROM chat.act_as($1::uuid, true)",
			  1, p, &failed, &permanent);
	if (res && PQntuples(res) == 1)
		snprintf(me, sizeof(me), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (failed)
	{
		if (permanent)
			exit(2);
		PQfinish(conn);
		return NULL;
	}
	res = run(conn, "SELECT chat.listen()", 0, NULL, &failed, &permanent);
	PQclear(res);
	if (failed)
	{
		if (permanent)
			exit(2);
		PQfinish(conn);
		return NULL;
	}
	if (fetch_all(conn) != 0)
	{
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

static void
usage(const char *argv0)
{
	fprintf(stderr, "usage: %s -d DBNAME -p PROFILE_UUID [-n COUNT] [-t TIMEOUT_S] [-q]\n", argv0);
	exit(2);
}

int
main(int argc, char **argv)
{
	PGconn	   *conn = NULL;
	double		timeout = 30;
	long		backoff_ms = 0;
	int			opt;

	while ((opt = getopt(argc, argv, "d:p:n:t:q")) != -1)
	{
		switch (opt)
		{
			case 'd':
				dbname = optarg;
				break;
			case 'p':
				profile = optarg;
				break;
			case 'n':
				want = atol(optarg);
				break;
			case 't':
				timeout = atof(optarg);
				break;
			case 'q':
				quiet = 1;
				break;
			default:
				usage(argv[0]);
		}
	}
	if (!dbname || !profile || optind != argc || timeout <= 0)
		usage(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	deadline = now_s() + timeout;

	for (;;)
	{
		double		left = deadline - now_s();
		PGnotify   *n;
		int			need_fetch = 0;

		if (want >= 0 && held >= want)
			finish(0);
		if (left <= 0)
			finish(want >= 0 ? 1 : 0);

		if (conn == NULL)
		{
			if (backoff_ms > 0)
			{
				long		ms = backoff_ms < left * 1000 ? backoff_ms : (long) (left * 1000);

				usleep(ms * 1000);
				reconnects++;
				fprintf(stderr, "chat_client: reconnecting (%ld)\n", reconnects);
			}
			conn = session_start();
			if (conn == NULL)
			{
				backoff_ms = backoff_ms == 0 ? 100 : (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2);
				continue;
			}
			backoff_ms = 0;
		}

		/* what has come in already, then wait for more */
		while ((n = PQnotifies(conn)) != NULL)
		{
			char		type[32], chat[64], seq[32], from[64];

			if (json_get(n->extra, "type", type, sizeof(type)) &&
				json_get(n->extra, "chat_id", chat, sizeof(chat)) &&
				json_get(n->extra, "seq", seq, sizeof(seq)) &&
				json_get(n->extra, "sender_id", from, sizeof(from)))
			{
				if (strcmp(type, "message") == 0)
				{
					if (strcmp(from, me) != 0 && atol(seq) > chat_of(chat)->max_seq)
						need_fetch = 1;
				}
				else if (!quiet)
					printf("event %s chat=%s seq=%s from=%s\n", type, chat, seq, from);
			}
			else
				fprintf(stderr, "chat_client: unexpected payload: %s\n", n->extra);
			PQfreemem(n);
		}
		if (need_fetch)
		{
			if (fetch_all(conn) != 0)
			{
				PQfinish(conn);
				conn = NULL;
				backoff_ms = 100;
			}
			continue;			/* notifications may have come meanwhile */
		}

		{
			int			sock = PQsocket(conn);
			fd_set		rd;
			struct timeval tv;
			double		wait = left < 1.0 ? left : 1.0;
			int			r;

			if (sock < 0)
			{
				PQfinish(conn);
				conn = NULL;
				backoff_ms = 100;
				continue;
			}
			FD_ZERO(&rd);
			FD_SET(sock, &rd);
			tv.tv_sec = (long) wait;
			tv.tv_usec = (long) ((wait - (long) wait) * 1e6);
			r = select(sock + 1, &rd, NULL, NULL, &tv);
			if (r < 0 && errno != EINTR)
			{
				perror("chat_client: select");
				exit(2);
			}
			if (r > 0 && (!PQconsumeInput(conn) || PQstatus(conn) != CONNECTION_OK))
			{
				fprintf(stderr, "chat_client: connection lost: %s", PQerrorMessage(conn));
				PQfinish(conn);
				conn = NULL;
				backoff_ms = 100;
			}
		}
	}
}
