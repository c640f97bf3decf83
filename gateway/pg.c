/*
 * pg.c: the gateway's database connections, driven by the event loop.
 *
 * A pool of a few connections runs the clients' requests, and one more
 * connection LISTENs.  Every connection is non-blocking; its socket is
 * handed to libwebsockets (a duplicate of it, adopted as a raw
 * descriptor: lws closes its copy, libpq its own), which calls us when it
 * can be read or written.
 *
 * Pool connections are in libpq's pipeline mode.  A request is sent as
 * two prepared statements and a Sync: chat.authenticate(token), then the
 * request's statement (requests.c).  Both run in the one implicit
 * transaction that the Sync ends, so the actor the token names lasts for
 * that request only, and the request costs one round trip.  Many requests
 * may be in flight on a connection; their results come back in the order
 * sent, so each is a queue entry that counts the results it has read:
 *
 *	result of authenticate, NULL, result of the statement, NULL, SYNC
 *
 * When authenticate fails, the statement's result is PIPELINE_ABORTED and
 * the error of authenticate is the answer.  The statements are prepared
 * once per connection, in a pipeline of their own sent right after it
 * opens (the requests that follow queue behind it).
 *
 * The listening connection runs one LISTEN or UNLISTEN at a time, so that
 * sockets.c learns when a channel is listened to (its LISTEN committed)
 * before it tells a client it is authenticated, and hands every
 * notification to sockets.c.
 *
 * A connection that fails is closed, its requests are answered with 08006
 * (the client may retry: sends are idempotent by client_msg_id), and it
 * is opened again after a back-off of 0.1 s doubling to 2 s.  Opening is
 * blocking (PQconnectdb, with connect_timeout 2): a local database
 * answers within milliseconds, and a server that is down refuses at once.
 * When the listening connection comes back, sockets.c LISTENs again on
 * every channel and tells every client to catch up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <libwebsockets.h>

#include "gateway.h"

typedef struct Pending
{
	struct Pending *next;
	int			nq;				/* statements of this pipeline */
	int			got;			/* results read (each followed by NULL) */
	bool		after_result;	/* a result read, its NULL not yet */
	char	   *data;			/* the statement's text result */
	char		sqlstate[6];
	char	   *message;
	char	   *hint;
	pg_done_fn	done;			/* NULL: the setup, or a client gone */
	void	   *arg;
} Pending;

typedef struct ListenOp
{
	struct ListenOp *next;
	char		channel[64];
	bool		on;
	bool		failed;
} ListenOp;

typedef struct Conn
{
	int			index;			/* 0..pool-1, or -1 for the listener */
	PGconn	   *conn;
	struct lws *wsi;
	bool		live;
	bool		failing;		/* lost, its close under way (conn_fail) */
	int			in_flight;
	Pending    *head,
			   *tail;
	ListenOp   *ops,
			   *ops_tail;		/* the listener's queue; the head is in flight */
	bool		op_sent;
	int			backoff_ms;
	lws_sorted_usec_list_t retry;
} Conn;

static Conn *pool;
static int	pool_size;
static int	max_in_flight;
static Conn listener;
static struct lws_vhost *vhost;
static char *conninfo;
static bool stopping;

static void conn_open(Conn *c);
static void conn_lost(Conn *c, const char *why);
static void conn_fail(Conn *c, const char *why);

static void
retry_cb(lws_sorted_usec_list_t *sul)
{
	Conn	   *c = lws_container_of(sul, Conn, retry);

	conn_open(c);
}

static void
schedule_retry(Conn *c)
{
	if (stopping)
		return;
	c->backoff_ms = c->backoff_ms == 0 ? 100 : (c->backoff_ms * 2 > 2000 ? 2000 : c->backoff_ms * 2);
	lws_sul_schedule(gw_context, 0, &c->retry, retry_cb, (lws_usec_t) c->backoff_ms * 1000);
}

static void
flush(Conn *c)
{
	int			r = PQflush(c->conn);

	if (r < 0)
		conn_fail(c, PQerrorMessage(c->conn));
	else if (r > 0 && c->wsi != NULL)
		lws_callback_on_writable(c->wsi);
}

static void
prepare_all(Conn *c)
{
	Pending    *p = calloc(1, sizeof(Pending));
	int			i;

	if (p == NULL)
	{
		conn_fail(c, "out of memory");
		return;
	}
	p->nq = 1;
	if (!PQsendPrepare(c->conn, "auth", SQL_AUTHENTICATE, 0, NULL))
		goto fail;
	for (i = 0; i < n_request_specs; i++)
	{
		char		name[16];

		if (request_specs[i].sql == NULL)
			continue;
		snprintf(name, sizeof(name), "q%d", i);
		if (!PQsendPrepare(c->conn, name, request_specs[i].sql, 0, NULL))
			goto fail;
		p->nq++;
	}
	if (!PQpipelineSync(c->conn))
		goto fail;
	c->head = c->tail = p;
	c->in_flight = 1;
	flush(c);
	return;
fail:
	free(p);
	conn_fail(c, PQerrorMessage(c->conn));
}

static void
conn_open(Conn *c)
{
	const char *keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
	const char *vals[] = {conninfo, "2", "stylist_chat_gateway", NULL};
	lws_adopt_desc_t ad;
	int			fd;

	if (stopping)
		return;
	c->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c->conn) != CONNECTION_OK)
	{
		gw_log("database connection %d failed: %s", c->index, PQerrorMessage(c->conn));
		PQfinish(c->conn);
		c->conn = NULL;
		schedule_retry(c);
		return;
	}
	if (PQsetnonblocking(c->conn, 1) != 0 ||
		(c->index >= 0 && !PQenterPipelineMode(c->conn)) ||
		(fd = dup(PQsocket(c->conn))) < 0)
	{
		gw_log("database connection %d: %s", c->index, PQerrorMessage(c->conn));
		PQfinish(c->conn);
		c->conn = NULL;
		schedule_retry(c);
		return;
	}
	memset(&ad, 0, sizeof(ad));
	ad.vh = vhost;
	ad.type = LWS_ADOPT_RAW_FILE_DESC;
	ad.fd.filefd = fd;
	ad.vh_prot_name = "pg";
	ad.opaque = c;
	c->wsi = lws_adopt_descriptor_vhost_via_info(&ad);
	if (c->wsi == NULL)
	{
		close(fd);				/* lws closes only sockets it fails to adopt */
		gw_log("database connection %d: the event loop did not take its socket", c->index);
		PQfinish(c->conn);
		c->conn = NULL;
		schedule_retry(c);
		return;
	}
	c->live = true;
	c->failing = false;
	c->backoff_ms = 0;
	gw_log("database connection %d open", c->index);
	if (c->index >= 0)
		prepare_all(c);
	else
		sockets_listener_ready(true);
}

static void
pending_free(Pending *p)
{
	free(p->data);
	free(p->message);
	free(p->hint);
	free(p);
}

/* close a connection, answer what it had in flight, and open it again later */
static void
conn_lost(Conn *c, const char *why)
{
	Pending    *p;
	ListenOp   *op;

	if (!c->live)
		return;
	gw_log("database connection %d lost: %s", c->index, why != NULL ? why : "");
	c->live = false;
	c->failing = false;
	if (c->wsi != NULL)
	{
		lws_set_opaque_user_data(c->wsi, NULL);
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		c->wsi = NULL;
	}
	PQfinish(c->conn);
	c->conn = NULL;
	while ((p = c->head) != NULL)
	{
		c->head = p->next;
		if (p->done != NULL)
			p->done(p->arg, NULL, "08006", "the connection to the database was lost",
					"Retry: a send with the same client_msg_id is stored at most once.");
		pending_free(p);
	}
	c->tail = NULL;
	c->in_flight = 0;
	while ((op = c->ops) != NULL)
	{
		c->ops = op->next;
		free(op);
	}
	c->ops_tail = NULL;
	c->op_sent = false;
	if (c->index < 0)
		sockets_listener_ready(false);
	schedule_retry(c);
}

/*
 * A connection found broken in the middle of our own work (a flush, a
 * send, a failed LISTEN): it is taken out of use at once and closed from
 * its own close callback, so that no request is answered, and no channel
 * re-listened, while a caller is still in the middle of its loop.
 */
static void
conn_fail(Conn *c, const char *why)
{
	if (!c->live || c->failing)
		return;
	if (c->wsi == NULL)
	{
		conn_lost(c, why);
		return;
	}
	gw_log("database connection %d failed: %s", c->index, why != NULL ? why : "");
	c->failing = true;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void
keep_error(Pending *p, const PGresult *res)
{
	const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);

	if (p->sqlstate[0] != '\0')
		return;
	snprintf(p->sqlstate, sizeof(p->sqlstate), "%s", st != NULL ? st : "XX000");
	p->message = strdup(msg != NULL ? msg : PQresultErrorMessage(res));
	p->hint = hint != NULL ? strdup(hint) : NULL;
}

/* read what a pool connection has: results, in the order of the queue */
static void
pool_read(Conn *c)
{
	while (c->live && !c->failing && c->head != NULL && !PQisBusy(c->conn))
	{
		Pending    *p = c->head;
		PGresult   *res = PQgetResult(c->conn);
		ExecStatusType st;

		if (res == NULL)
		{
			/* a NULL ends a statement's results; any other is no progress */
			if (!p->after_result)
			{
				if (PQstatus(c->conn) == CONNECTION_BAD)
					conn_fail(c, PQerrorMessage(c->conn));
				break;
			}
			p->after_result = false;
			p->got++;
			continue;
		}
		st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			c->head = p->next;
			if (c->head == NULL)
				c->tail = NULL;
			c->in_flight--;
			if (p->done == NULL && p->sqlstate[0] != '\0')
			{
				gw_log("database connection %d: preparing statements failed: %s", c->index,
					   p->message);
				pending_free(p);
				conn_fail(c, "its statements could not be prepared");
				continue;
			}
			if (p->done != NULL)
			{
				if (p->sqlstate[0] != '\0')
					p->done(p->arg, NULL, p->sqlstate, p->message, p->hint);
				else
					p->done(p->arg, p->data != NULL ? p->data : "null", NULL, NULL, NULL);
			}
			pending_free(p);
			continue;
		}
		if (st == PGRES_FATAL_ERROR)
			keep_error(p, res);
		else if (st == PGRES_TUPLES_OK && p->got == p->nq - 1 && p->data == NULL &&
				 PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			p->data = strdup(PQgetvalue(res, 0, 0));
		if (p->got < p->nq)
			p->after_result = true;
		PQclear(res);
	}
}

static void
listener_send(Conn *c)
{
	char		sql[200];
	char	   *q;

	if (!c->live || c->op_sent || c->ops == NULL)
		return;
	q = PQescapeIdentifier(c->conn, c->ops->channel, strlen(c->ops->channel));
	if (q == NULL)
	{
		conn_fail(c, PQerrorMessage(c->conn));
		return;
	}
	snprintf(sql, sizeof(sql), "%s %s", c->ops->on ? "LISTEN" : "UNLISTEN", q);
	PQfreemem(q);
	if (!PQsendQuery(c->conn, sql))
	{
		conn_fail(c, PQerrorMessage(c->conn));
		return;
	}
	c->op_sent = true;
	flush(c);
}

/* read what the listener has: notifications, and the end of its command */
static void
listener_read(Conn *c)
{
	PGnotify   *n;

	while (c->live && !c->failing && c->op_sent && !PQisBusy(c->conn))
	{
		PGresult   *res = PQgetResult(c->conn);

		if (res == NULL)
		{
			ListenOp   *op = c->ops;

			if (op->failed)
			{
				/* its clients must not hear "authenticated": LISTEN again, all of it */
				conn_fail(c, "a LISTEN failed");
				break;
			}
			c->op_sent = false;
			c->ops = op->next;
			if (c->ops == NULL)
				c->ops_tail = NULL;
			if (op->on)
				sockets_listen_done(op->channel);
			free(op);
			listener_send(c);
			continue;
		}
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			gw_log("listening connection: %s", PQresultErrorMessage(res));
			c->ops->failed = true;
		}
		PQclear(res);
	}
	while (c->live && (n = PQnotifies(c->conn)) != NULL)
	{
		sockets_notify(n->relname, n->extra, strlen(n->extra));
		PQfreemem(n);
	}
}

static void
conn_input(Conn *c)
{
	if (c->failing)
		return;
	if (!PQconsumeInput(c->conn))
	{
		conn_lost(c, PQerrorMessage(c->conn));
		return;
	}
	if (c->index >= 0)
		pool_read(c);
	else
		listener_read(c);
}

static int
pg_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	Conn	   *c = lws_get_opaque_user_data(wsi);

	switch (reason)
	{
		case LWS_CALLBACK_RAW_RX_FILE:
			if (c == NULL || c->wsi != wsi)
				return -1;
			conn_input(c);
			break;
		case LWS_CALLBACK_RAW_WRITEABLE_FILE:
			if (c == NULL || c->wsi != wsi)
				return -1;
			flush(c);
			/* and what libpq already holds (read while it flushed) */
			if (c->live && !c->failing)
			{
				if (c->index >= 0)
					pool_read(c);
				else
					listener_read(c);
			}
			break;
		case LWS_CALLBACK_RAW_CLOSE_FILE:
			if (c != NULL && c->wsi == wsi)
			{
				c->wsi = NULL;
				conn_lost(c, "the event loop closed its socket");
			}
			break;
		default:
			break;
	}
	return 0;
}

const struct lws_protocols pg_protocol = {"pg", pg_callback, 0, 0, 0, NULL, 0};

void
pg_start(struct lws_vhost *vh, const char *ci, int size, int max_flight)
{
	int			i;

	vhost = vh;
	conninfo = strdup(ci != NULL ? ci : "");
	pool_size = size;
	max_in_flight = max_flight;
	pool = calloc(size, sizeof(Conn));
	for (i = 0; i < size; i++)
	{
		pool[i].index = i;
		conn_open(&pool[i]);
	}
	listener.index = -1;
	conn_open(&listener);
}

void
pg_stop(void)
{
	int			i;

	stopping = true;
	for (i = 0; i < pool_size; i++)
	{
		lws_sul_cancel(&pool[i].retry);
		conn_lost(&pool[i], "stopping");
	}
	lws_sul_cancel(&listener.retry);
	conn_lost(&listener, "stopping");
}

/* a live pool connection, hint's if it is live */
int
pg_pick(int hint)
{
	int			i;

	for (i = 0; i < pool_size; i++)
	{
		int			k = (hint + i) % pool_size;

		if (pool[k].live && !pool[k].failing)
			return k;
	}
	return -1;
}

bool
pg_request(int k, const char *token, const RequestSpec *spec, char *const *values,
		   pg_done_fn done, void *arg, const char **sqlstate)
{
	Conn	   *c;
	Pending    *p;
	char		name[16];

	if (k < 0 || k >= pool_size || !pool[k].live || pool[k].failing)
	{
		*sqlstate = "08006";
		return false;
	}
	c = &pool[k];
	if (c->in_flight >= max_in_flight)
	{
		*sqlstate = "53300";
		return false;
	}
	p = calloc(1, sizeof(Pending));
	if (p == NULL)
	{
		*sqlstate = "53200";
		return false;
	}
	p->nq = 2;
	p->done = done;
	p->arg = arg;
	snprintf(name, sizeof(name), "q%d", (int) (spec - request_specs));
	if (!PQsendQueryPrepared(c->conn, "auth", 1, &token, NULL, NULL, 0) ||
		!PQsendQueryPrepared(c->conn, name, spec->class == REQ_AUTHENTICATE ? 0 : spec->nargs,
							 (const char *const *) values,
							 NULL, NULL, 0) ||
		!PQpipelineSync(c->conn))
	{
		free(p);
		conn_fail(c, PQerrorMessage(c->conn));
		*sqlstate = "08006";
		return false;
	}
	if (c->tail != NULL)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	c->in_flight++;
	/*
	 * Neither flushing nor reading here may answer this request: the caller
	 * has not yet recorded it.  A broken connection is closed later
	 * (conn_fail), and answers come from the loop.
	 */
	flush(c);
	if (c->live && !c->failing)
		lws_callback_on_writable(c->wsi);	/* reads what libpq may already hold */
	return true;
}

/* LISTEN or UNLISTEN a channel, in turn; sockets_listen_done() follows a LISTEN */
bool
pg_listen(const char *channel, bool on)
{
	ListenOp   *op;

	if (!listener.live || listener.failing)
		return false;			/* sockets_listener_ready() will LISTEN again */
	op = calloc(1, sizeof(ListenOp));
	if (op == NULL)
	{
		conn_fail(&listener, "out of memory");
		return false;
	}
	snprintf(op->channel, sizeof(op->channel), "%s", channel);
	op->on = on;
	if (listener.ops_tail != NULL)
		listener.ops_tail->next = op;
	else
		listener.ops = op;
	listener.ops_tail = op;
	listener_send(&listener);
	return true;
}

bool
pg_listener_ready(void)
{
	return listener.live && !listener.failing;
}

int
pg_connections(void)
{
	int			i,
				n = listener.live ? 1 : 0;

	for (i = 0; i < pool_size; i++)
		n += pool[i].live ? 1 : 0;
	return n;
}
