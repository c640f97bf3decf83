/*
 * sockets.c: the WebSocket side of the gateway.
 *
 * A client's life: it connects to /ws with the subprotocol stylist-chat
 * (an Origin it sends must be on the allow-list); its first frame must be
 * authenticate, within --auth-timeout seconds.  The token goes to the
 * database (pg.c); the answer names the profile and its channel.  The
 * client joins its Profile, the set of sockets of one person, which holds
 * the LISTEN on that channel: the first socket of a profile has the
 * listening connection LISTEN, and only when that LISTEN has committed is
 * the client told "authenticated", so that what it catches up afterwards
 * and the events it gets from then on leave no gap.  A Profile without
 * sockets is kept for a minute (a client reconnecting finds its channel
 * listened to), then UNLISTENed and freed.
 *
 * Every later request runs with the token the client presented; when the
 * database refuses it (expired, revoked), and when its expiry comes, the
 * client is told "expired" and has --grace seconds to authenticate again
 * as the same profile, else it is closed (4001).
 *
 * Limits that keep one client from costing the others: a frame larger
 * than --max-frame closes the socket (1009); requests beyond --rate a
 * second (bursts of --burst) are refused with 53400, and a client refused
 * more than --rate times within a second is closed (4003); frames wait in
 * a queue per client while its socket cannot take them, and a client
 * whose queue holds more than --max-queue bytes is closed (4002): the
 * gateway's memory does not grow with a client that does not read (and
 * one that does not take its close frame within 5 s is cut off).  A
 * client idle for --ping seconds is pinged, and one that sends nothing,
 * not even the pong, for --pong-timeout seconds more is cut off.
 *
 * A notification (pg.c) is looked up by channel, rebuilt as an event
 * frame (frame.c), and queued to each authenticated socket of the
 * profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libwebsockets.h>

#include "gateway.h"

#define PROFILE_BUCKETS 4096
#define SWEEP_USEC		(60 * LWS_USEC_PER_SEC)
#define GRACE_USEC		(30 * LWS_USEC_PER_SEC)

typedef enum
{
	C_NEW,						/* no token yet */
	C_AUTHING,					/* authenticate sent to the database */
	C_WAIT_LISTEN,				/* authenticated, its channel's LISTEN not yet committed */
	C_READY,
	C_EXPIRED					/* told "expired": only authenticate is taken */
} ClientState;

typedef struct OutFrame
{
	struct OutFrame *next;
	size_t		len;
	unsigned char buf[];		/* LWS_PRE bytes, then the frame */
} OutFrame;

struct Profile;
struct ReqCtx;

typedef struct Client
{
	struct lws *wsi;
	uint64_t	serial;
	ClientState state;
	struct Profile *profile;
	struct Client *prev_in_profile,
			   *next_in_profile;
	struct Client *prev_all,
			   *next_all;		/* every client, for the shutdown */
	char	   *token;
	int64_t		expires_usec;
	int			conn_hint;
	OutFrame   *out_head,
			   *out_tail;
	size_t		out_bytes;
	double		allowance;		/* the rate limit's bucket */
	int64_t		allowance_at;
	int			refused;		/* refused in the current second */
	int64_t		refused_since;
	char	   *rx;				/* a frame being assembled from fragments */
	size_t		rx_len;
	struct ReqCtx *reqs;		/* requests in flight */
	lws_sorted_usec_list_t timer;
	int			close_code;
	const char *close_reason;
	int64_t		last_seen;		/* the last frame or pong from the client */
	bool		ping_wanted;	/* a ping to send when the socket can take it */
	bool		ping_sent;
	char		peer[48];
	char		auth_id[MAX_ID_LEN + 3];	/* the pending authenticate's id */
	bool		auth_in_flight;
	bool		check_in_flight;	/* a recheck of the token (revocation) */
	int			in_flight;		/* its requests the database has not answered */
	bool		discarding;		/* reading the rest of an oversized message */
	ClientState auth_from;		/* the state before it, kept if it fails */
} Client;

typedef struct Profile
{
	struct Profile *next;		/* hash chain */
	char		channel[64];
	char		id[40];
	Client	   *clients;
	int			nclients;
	int			listens_pending;
	bool		listening;
	bool		resync;
	int64_t		idle_since;
} Profile;

typedef struct ReqCtx
{
	struct ReqCtx *prev,
			   *next;
	Client	   *client;			/* NULL once the client is gone */
	const RequestSpec *spec;
	char		id[MAX_ID_LEN + 3];
	char	   *token;			/* authenticate's */
	bool		check;			/* the gateway's own recheck of the token */
} ReqCtx;

static Profile *profiles[PROFILE_BUCKETS];
static int	nprofiles;
static lws_sorted_usec_list_t sweep_timer;
static lws_sorted_usec_list_t keepalive_timer;
static bool sweep_scheduled;
static uint64_t serials;
static Client *all_clients;

static struct
{
	long long	connections;
	long long	connections_total;
	long long	frames_in;
	long long	frames_out;
	long long	requests;
	long long	errors;
	long long	events_routed;
	long long	events_ignored;
	long long	dropped_slow_consumers;
	long long	rate_limited;
	long long	closed_floods;
	long long	closed_oversized;
} stats;

static void client_close(Client *c, int code, const char *reason);
static void recheck(Client *c);
static void answer(void *arg, const char *data, const char *sqlstate, const char *message,
				   const char *hint);

/* ---- profiles ---- */

static unsigned
bucket_of(const char *channel)
{
	unsigned	h = 5381;

	while (*channel)
		h = h * 33 + (unsigned char) *channel++;
	return h % PROFILE_BUCKETS;
}

static Profile *
profile_find(const char *channel)
{
	Profile    *p;

	for (p = profiles[bucket_of(channel)]; p != NULL; p = p->next)
		if (strcmp(p->channel, channel) == 0)
			return p;
	return NULL;
}

static void
profile_free(Profile *p)
{
	Profile   **pp = &profiles[bucket_of(p->channel)];

	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	nprofiles--;
	free(p);
}

static void
listen_profile(Profile *p)
{
	if (pg_listen(p->channel, true))
		p->listens_pending++;
}

/* UNLISTEN and free the profiles that have had no socket for a minute */
static void
sweep_cb(lws_sorted_usec_list_t *sul)
{
	int64_t		now = gw_mono_usec();
	int			i;

	sweep_scheduled = false;
	for (i = 0; i < PROFILE_BUCKETS; i++)
	{
		Profile    *p = profiles[i];

		while (p != NULL)
		{
			Profile    *next = p->next;

			if (p->nclients == 0 && p->listens_pending == 0 && now - p->idle_since >= SWEEP_USEC)
			{
				if (p->listening)
					pg_listen(p->channel, false);
				profile_free(p);
			}
			p = next;
		}
	}
	if (nprofiles > 0)
	{
		sweep_scheduled = true;
		lws_sul_schedule(gw_context, 0, &sweep_timer, sweep_cb, SWEEP_USEC);
	}
}

static void
profile_leave(Client *c)
{
	Profile    *p = c->profile;

	if (p == NULL)
		return;
	if (c->prev_in_profile != NULL)
		c->prev_in_profile->next_in_profile = c->next_in_profile;
	else
		p->clients = c->next_in_profile;
	if (c->next_in_profile != NULL)
		c->next_in_profile->prev_in_profile = c->prev_in_profile;
	c->profile = NULL;
	if (--p->nclients == 0)
	{
		p->idle_since = gw_mono_usec();
		if (!sweep_scheduled)
		{
			sweep_scheduled = true;
			lws_sul_schedule(gw_context, 0, &sweep_timer, sweep_cb, SWEEP_USEC);
		}
	}
}

/* a token's memory is wiped before it is freed */
static void
free_token(char *token)
{
	if (token != NULL)
	{
		explicit_bzero(token, strlen(token));
		free(token);
	}
}

/* ---- sending ---- */

/* queue a copy of a frame of len bytes for the client */
static void
enqueue_copy(Client *c, const char *text, size_t len)
{
	OutFrame   *f;

	if (c->close_code != 0)
		return;
	if (c->out_bytes > settings.max_queue)
	{
		stats.dropped_slow_consumers++;
		gw_log("client %llu: slow consumer, %zu bytes queued: closing",
			   (unsigned long long) c->serial, c->out_bytes);
		client_close(c, 4002, "slow consumer");
		return;
	}
	f = malloc(sizeof(OutFrame) + LWS_PRE + len);
	if (f == NULL)
	{
		client_close(c, 1011, "out of memory");
		return;
	}
	f->next = NULL;
	f->len = len;
	memcpy(f->buf + LWS_PRE, text, len);
	if (c->out_tail != NULL)
		c->out_tail->next = f;
	else
		c->out_head = f;
	c->out_tail = f;
	c->out_bytes += len;
	lws_callback_on_writable(c->wsi);
}

/* queue a frame made for the client, and free it (NULL: out of memory) */
static void
enqueue(Client *c, char *text)
{
	if (text == NULL)
	{
		client_close(c, 1011, "out of memory");
		return;
	}
	enqueue_copy(c, text, strlen(text));
	free(text);
}

#define enqueue_literal(c, s) enqueue_copy((c), (s), sizeof(s) - 1)

static void
send_error(Client *c, const char *id, const char *request, const char *sqlstate,
		   const char *message, const char *hint)
{
	stats.errors++;
	gw_log("client %llu: %s %s: %s", (unsigned long long) c->serial,
		   request != NULL ? request : "frame", sqlstate, message);
	enqueue(c, frame_error(id, request, sqlstate, message, hint));
}

static void
client_close(Client *c, int code, const char *reason)
{
	if (c->close_code != 0)
		return;
	c->close_code = code;
	c->close_reason = reason;
	lws_callback_on_writable(c->wsi);
	/* a client that does not read may never take the close frame */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

static void
send_authenticated(Client *c)
{
	char		buf[256];
	char		when[32];
	time_t		secs = (time_t) (c->expires_usec / 1000000);
	struct tm	tm;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(buf, sizeof(buf),
			 "{\"type\":\"authenticated\",\"id\":%s,\"profile_id\":\"%s\",\"expires_at\":\"%s\"}",
			 c->auth_id, c->profile->id, when);
	enqueue_copy(c, buf, strlen(buf));
}

/* ---- timers: the first frame's deadline, the token's expiry, the grace after it ---- */

static void
timer_cb(lws_sorted_usec_list_t *sul)
{
	Client	   *c = lws_container_of(sul, Client, timer);

	switch (c->state)
	{
		case C_NEW:
		case C_AUTHING:
			client_close(c, 1008, "authenticate first");
			break;
		case C_READY:
			if (gw_now_usec() < c->expires_usec)
			{
				recheck(c);
				break;
			}
			/* fall through */
		case C_WAIT_LISTEN:
			c->state = C_EXPIRED;
			c->auth_from = C_EXPIRED;	/* a refresh in flight that fails leaves it so */
			enqueue_literal(c, "{\"type\":\"expired\"}");
			lws_sul_schedule(gw_context, 0, &c->timer, timer_cb, GRACE_USEC);
			break;
		case C_EXPIRED:
			client_close(c, 4001, "token expired");
			break;
	}
}

/* the token's next check: at its expiry, or --recheck seconds from now if sooner */
static void
schedule_check(Client *c)
{
	int64_t		left = c->expires_usec - gw_now_usec();
	int64_t		every = (int64_t) settings.recheck_secs * LWS_USEC_PER_SEC;

	lws_sul_schedule(gw_context, 0, &c->timer, timer_cb, left < 1 ? 1 : left < every ? left : every);
}

static void
expire_now(Client *c)
{
	if (c->state != C_READY)
		return;
	c->state = C_EXPIRED;
	c->auth_from = C_EXPIRED;
	enqueue_literal(c, "{\"type\":\"expired\"}");
	lws_sul_schedule(gw_context, 0, &c->timer, timer_cb, GRACE_USEC);
}

/* ---- answers from the database ---- */

static void
authenticated(Client *c, ReqCtx *r, const char *data)
{
	json_t	   *a = json_loads(data, 0, NULL);
	const char *id = json_string_value(json_array_get(a, 0));
	const char *channel = json_string_value(json_array_get(a, 1));
	Profile    *p;
	int64_t		expires;

	if (id == NULL || channel == NULL || strlen(id) > 36 || strlen(channel) > 63 ||
		token_expiry(r->token, &expires) != 0)
	{
		json_decref(a);
		c->state = c->auth_from;
		send_error(c, r->id, "authenticate", "28000", "invalid token", NULL);
		return;
	}
	if (c->profile != NULL && strcmp(c->profile->id, id) != 0)
	{
		json_decref(a);
		send_error(c, r->id, "authenticate", "28000",
				   "this connection acts for another profile",
				   "Open a new connection to act for another profile.");
		client_close(c, 4001, "another profile");
		return;
	}
	free_token(c->token);
	c->token = r->token;
	r->token = NULL;
	c->expires_usec = expires;
	snprintf(c->auth_id, sizeof(c->auth_id), "%s", r->id);
	schedule_check(c);

	if (c->profile == NULL)
	{
		p = profile_find(channel);
		if (p == NULL)
		{
			p = calloc(1, sizeof(Profile));
			if (p == NULL)
			{
				json_decref(a);
				client_close(c, 1011, "out of memory");
				return;
			}
			snprintf(p->channel, sizeof(p->channel), "%s", channel);
			snprintf(p->id, sizeof(p->id), "%s", id);
			p->next = profiles[bucket_of(channel)];
			profiles[bucket_of(channel)] = p;
			nprofiles++;
			if (pg_listener_ready())
				listen_profile(p);
		}
		if (p->nclients >= settings.max_per_profile)
		{
			json_decref(a);
			send_error(c, r->id, "authenticate", "53300", "too many connections of this profile",
					   "Close another connection of this profile first.");
			client_close(c, 4004, "too many connections of this profile");
			return;
		}
		c->profile = p;
		c->next_in_profile = p->clients;
		c->prev_in_profile = NULL;
		if (p->clients != NULL)
			p->clients->prev_in_profile = c;
		p->clients = c;
		p->nclients++;
		gw_log("client %llu: authenticated as %s", (unsigned long long) c->serial, id);
	}
	json_decref(a);
	if (c->profile->listening)
	{
		c->state = C_READY;
		send_authenticated(c);
	}
	else
		c->state = C_WAIT_LISTEN;
}

static void
answer(void *arg, const char *data, const char *sqlstate, const char *message, const char *hint)
{
	ReqCtx	   *r = arg;
	Client	   *c = r->client;

	if (c != NULL)
	{
		if (r->prev != NULL)
			r->prev->next = r->next;
		else
			c->reqs = r->next;
		if (r->next != NULL)
			r->next->prev = r->prev;
		c->in_flight--;

		if (r->check)
		{
			c->check_in_flight = false;
			if (sqlstate != NULL && strcmp(sqlstate, "28000") == 0)
			{
				gw_log("client %llu: its token is no longer accepted", (unsigned long long) c->serial);
				expire_now(c);
			}
			else if (c->state == C_READY)
				schedule_check(c);
		}
		else if (r->spec->class == REQ_AUTHENTICATE)
		{
			c->auth_in_flight = false;
			if (sqlstate != NULL)
			{
				/* a refused token changes nothing: a valid one stays in use */
				c->state = c->auth_from;
				send_error(c, r->id, "authenticate", sqlstate, message, hint);
			}
			else
				authenticated(c, r, data);
		}
		else if (sqlstate != NULL)
		{
			send_error(c, r->id, r->spec->name, sqlstate, message, hint);
			if (strcmp(sqlstate, "28000") == 0)
				expire_now(c);
		}
		else
		{
			Request		req;

			memset(&req, 0, sizeof(req));
			req.spec = r->spec;
			snprintf(req.id, sizeof(req.id), "%s", r->id);
			enqueue(c, frame_result(&req, data));
		}
	}
	free_token(r->token);
	free(r);
}

/* a request sent to the database, answered by answer(); forgotten when the client goes */
static void
track_request(Client *c, ReqCtx *r)
{
	r->client = c;
	r->prev = NULL;
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prev = r;
	c->reqs = r;
	c->in_flight++;
}

/*
 * Ask the database whether the client's token still holds (it may have
 * been revoked, or its key rotated out), so that a socket that only
 * listens stops hearing events within --recheck seconds of that.
 */
static void
recheck(Client *c)
{
	ReqCtx	   *r;
	const char *sqlstate;
	int			k;
	char	   *none[MAX_ARGS] = {NULL};

	if (c->check_in_flight || c->close_code != 0)
		return;
	r = calloc(1, sizeof(ReqCtx));
	k = pg_pick(c->conn_hint);
	if (r == NULL || k < 0 ||
		!pg_request(k, c->token, &request_specs[0], none, answer, r, &sqlstate))
	{
		/* the database is away: try again later, the token's expiry still holds */
		free(r);
		schedule_check(c);
		return;
	}
	r->spec = &request_specs[0];
	r->check = true;
	strcpy(r->id, "null");
	track_request(c, r);
	c->check_in_flight = true;
}

/* ---- requests ---- */

/* the rate limit: true when the request may go on */
static bool
rate_ok(Client *c)
{
	int64_t		now = gw_mono_usec();

	c->allowance += (double) (now - c->allowance_at) * settings.rate / 1e6;
	c->allowance_at = now;
	if (c->allowance > settings.burst)
		c->allowance = settings.burst;
	if (c->allowance >= 1.0)
	{
		c->allowance -= 1.0;
		return true;
	}
	if (now - c->refused_since > 1000000)
	{
		c->refused_since = now;
		c->refused = 0;
	}
	c->refused++;
	stats.rate_limited++;
	if (c->refused > settings.rate)
	{
		stats.closed_floods++;
		gw_log("client %llu: flood: closing", (unsigned long long) c->serial);
		client_close(c, 4003, "flood");
	}
	return false;
}

static void
handle_frame(Client *c, const char *data, size_t len)
{
	Request		req;
	ReqCtx	   *r;
	const char *sqlstate;
	int			k;

	stats.frames_in++;
	/* read first, so that a refusal names the request it refuses */
	if (!frame_parse(data, len, &req))
	{
		if (rate_ok(c))
			send_error(c, req.id, NULL, req.sqlstate, req.message, NULL);
		else if (c->close_code == 0)
			send_error(c, req.id, NULL, "53400", "too many requests",
					   "Send at most the gateway's rate of requests a second.");
		return;
	}
	if (!rate_ok(c))
	{
		if (c->close_code == 0)
			send_error(c, req.id, req.spec->name, "53400", "too many requests",
					   "Send at most the gateway's rate of requests a second.");
		request_free(&req);
		return;
	}
	stats.requests++;

	if (req.spec->class == REQ_AUTHENTICATE)
	{
		if (c->auth_in_flight || c->state == C_WAIT_LISTEN)
		{
			send_error(c, req.id, "authenticate", "08P01", "an authentication is in progress", NULL);
			request_free(&req);
			return;
		}
	}
	else if (c->state != C_READY)
	{
		send_error(c, req.id, req.spec->name, "28000",
				   c->state == C_EXPIRED ? "the token has expired" : "not authenticated",
				   "Send {\"type\":\"authenticate\",\"token\":...} with a fresh token.");
		request_free(&req);
		return;
	}
	if (req.spec->class == REQ_STATUS)
	{
		char	   *s = sockets_status();

		enqueue(c, s != NULL ? frame_result(&req, s) : NULL);
		free(s);
		request_free(&req);
		return;
	}

	if (c->in_flight >= settings.client_in_flight)
	{
		send_error(c, req.id, req.spec->name, "53300", "too many requests in flight on this connection",
				   "Wait for answers before sending more.");
		request_free(&req);
		return;
	}
	r = calloc(1, sizeof(ReqCtx));
	if (r == NULL)
	{
		send_error(c, req.id, req.spec->name, "53200", "out of memory", NULL);
		request_free(&req);
		return;
	}
	r->spec = req.spec;
	snprintf(r->id, sizeof(r->id), "%s", req.id);
	if (req.spec->class == REQ_AUTHENTICATE)
		r->token = strdup(req.token);

	k = pg_pick(c->conn_hint);
	if (k < 0 || !pg_request(k, req.spec->class == REQ_AUTHENTICATE ? req.token : c->token,
							 req.spec, req.values, answer, r, &sqlstate))
	{
		send_error(c, req.id, req.spec->name, k < 0 ? "08006" : sqlstate,
				   (k < 0 || strcmp(sqlstate, "08006") == 0) ? "the database is not reachable"
				   : strcmp(sqlstate, "53300") == 0 ? "the gateway's database connections are saturated"
				   : "out of memory", "Retry in a moment.");
		free_token(r->token);
		free(r);
		request_free(&req);
		return;
	}
	if (req.spec->class == REQ_AUTHENTICATE)
	{
		c->auth_in_flight = true;
		c->auth_from = c->state;
		if (c->state == C_NEW)
			c->state = C_AUTHING;
	}
	track_request(c, r);
	request_free(&req);
}

/* ---- libwebsockets ---- */

static bool
origin_allowed(struct lws *wsi)
{
	char		origin[256];
	int			i;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return true;			/* not a browser: Origin protects browsers only */
	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) >= (int) sizeof(origin) ||
		lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) < 0)
		return false;
	for (i = 0; i < settings.norigins; i++)
		if (strcmp(origin, settings.origins[i]) == 0)
			return true;
	return false;
}

static int
chat_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	Client	   *c = user;

	switch (reason)
	{
		case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
			{
				char		uri[64];

				if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 ||
					strcmp(uri, "/ws") != 0)
					return 1;
				if (!origin_allowed(wsi))
				{
					char		origin[128] = "";

					lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN);
					gw_log("refused a connection from origin %s", origin);
					return 1;
				}
				if (stats.connections >= settings.max_connections)
				{
					gw_log("refused a connection: %d connections", settings.max_connections);
					return 1;
				}
				return 0;
			}
		case LWS_CALLBACK_ESTABLISHED:
			memset(c, 0, sizeof(*c));
			c->wsi = wsi;
			c->serial = ++serials;
			c->state = C_NEW;
			c->allowance = settings.burst;
			c->allowance_at = gw_mono_usec();
			c->conn_hint = (int) (c->serial % (uint64_t) (settings.pool > 0 ? settings.pool : 1));
			strcpy(c->auth_id, "null");
			c->last_seen = c->allowance_at;
			lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
			c->next_all = all_clients;
			if (all_clients != NULL)
				all_clients->prev_all = c;
			all_clients = c;
			stats.connections++;
			stats.connections_total++;
			gw_log("client %llu: open from %s", (unsigned long long) c->serial, c->peer);
			lws_sul_schedule(gw_context, 0, &c->timer, timer_cb,
							 (lws_usec_t) settings.auth_secs * LWS_USEC_PER_SEC);
			break;

		case LWS_CALLBACK_RECEIVE_PONG:
			c->last_seen = gw_mono_usec();
			c->ping_sent = false;
			break;

		case LWS_CALLBACK_RECEIVE:
			c->last_seen = gw_mono_usec();
			c->ping_sent = false;
			if (c->close_code != 0)
			{
				/*
				 * The close frame waits for the end of an oversized message:
				 * closing with its rest unread would reset the connection,
				 * and the client would never read why.
				 */
				if (c->discarding && lws_is_final_fragment(wsi) &&
					lws_remaining_packet_payload(wsi) == 0)
				{
					c->discarding = false;
					lws_callback_on_writable(wsi);
				}
				break;
			}
			if (c->rx_len + len > settings.max_frame ||
				(lws_is_first_fragment(wsi) &&
				 len + lws_remaining_packet_payload(wsi) > settings.max_frame))
			{
				stats.closed_oversized++;
				gw_log("client %llu: a frame over %zu bytes: closing",
					   (unsigned long long) c->serial, settings.max_frame);
				free(c->rx);
				c->rx = NULL;
				c->rx_len = 0;
				/* the rest is read and dropped, then the close goes (5 s at most) */
				c->discarding = !(lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0);
				client_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
				break;
			}
			if (lws_frame_is_binary(wsi))
			{
				/* each fragment of it: a client that sends them learns why */
				if (lws_is_first_fragment(wsi))
				{
					stats.frames_in++;
					if (rate_ok(c))
						send_error(c, "null", NULL, "08P01", "frames must be text (JSON)", NULL);
				}
				break;
			}
			if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) && c->rx == NULL)
			{
				handle_frame(c, in, len);
				break;
			}
			{
				char	   *grown = realloc(c->rx, c->rx_len + len + 1);

				if (grown == NULL)
					return -1;
				c->rx = grown;
				memcpy(c->rx + c->rx_len, in, len);
				c->rx_len += len;
			}
			if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0)
			{
				handle_frame(c, c->rx, c->rx_len);
				free(c->rx);
				c->rx = NULL;
				c->rx_len = 0;
			}
			break;

		case LWS_CALLBACK_SERVER_WRITEABLE:
			/* a closing client gets what was queued first, but a slow one */
			if (c->close_code != 0 && !c->discarding &&
				(c->out_head == NULL || c->close_code == 4002))
			{
				lws_close_reason(wsi, (enum lws_close_status) c->close_code,
								 (unsigned char *) c->close_reason, strlen(c->close_reason));
				return -1;
			}
			if (c->ping_wanted)
			{
				unsigned char ping[LWS_PRE + 4];

				/* a payload: libwebsockets passes on no empty pong */
				memcpy(ping + LWS_PRE, "ping", 4);
				c->ping_wanted = false;
				c->ping_sent = true;
				if (lws_write(wsi, ping + LWS_PRE, 4, LWS_WRITE_PING) < 4)
					return -1;
				if (c->out_head != NULL)
					lws_callback_on_writable(wsi);
				break;
			}
			if (c->out_head != NULL)
			{
				OutFrame   *f = c->out_head;

				if (lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT) < (int) f->len)
					return -1;
				c->out_head = f->next;
				if (c->out_head == NULL)
					c->out_tail = NULL;
				c->out_bytes -= f->len;
				free(f);
				stats.frames_out++;
				if (c->out_head != NULL || c->close_code != 0)
					lws_callback_on_writable(wsi);
			}
			break;

		case LWS_CALLBACK_CLOSED:
			{
				ReqCtx	   *r;
				OutFrame   *f;

				/* a handshake refused in FILTER_PROTOCOL_CONNECTION: never a client */
				if (c->wsi == NULL)
					break;

				gw_log("client %llu: closed%s%s%s", (unsigned long long) c->serial,
					   c->profile != NULL ? " (" : "", c->profile != NULL ? c->profile->id : "",
					   c->profile != NULL ? ")" : "");
				stats.connections--;
				if (c->prev_all != NULL)
					c->prev_all->next_all = c->next_all;
				else
					all_clients = c->next_all;
				if (c->next_all != NULL)
					c->next_all->prev_all = c->prev_all;
				lws_sul_cancel(&c->timer);
				profile_leave(c);
				for (r = c->reqs; r != NULL; r = r->next)
					r->client = NULL;
				c->reqs = NULL;
				while ((f = c->out_head) != NULL)
				{
					c->out_head = f->next;
					free(f);
				}
				free(c->rx);
				free_token(c->token);
				c->rx = NULL;
				c->token = NULL;
				break;
			}
		default:
			break;
	}
	return 0;
}

/*
 * Plain HTTP: the mount serves the page's files.  A WebSocket that asked
 * for no subprotocol (or another one) lands here and is refused.
 */
static int
http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION)
		return 1;
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols http_protocol = {"http", http_callback, 0, 0, 0, NULL, 0};
const struct lws_protocols chat_protocol = {"stylist-chat", chat_callback, sizeof(Client), 4096, 0, NULL, 0};

/*
 * Once a second: ping a client idle for --ping seconds, and hang up on one
 * that has sent nothing, not even a pong, for --pong-timeout more.
 */
static void
keepalive_cb(lws_sorted_usec_list_t *sul)
{
	int64_t		now = gw_mono_usec();
	int64_t		ping = (int64_t) settings.ping_secs * 1000000;
	int64_t		dead = ping + (int64_t) settings.pong_secs * 1000000;
	Client	   *c;

	for (c = all_clients; c != NULL; c = c->next_all)
	{
		if (now - c->last_seen > dead)
		{
			gw_log("client %llu: no pong for %d s: closing", (unsigned long long) c->serial,
				   settings.pong_secs);
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		}
		else if (now - c->last_seen > ping && !c->ping_sent && !c->ping_wanted)
		{
			c->ping_wanted = true;
			lws_callback_on_writable(c->wsi);
		}
	}
	lws_sul_schedule(gw_context, 0, &keepalive_timer, keepalive_cb, LWS_USEC_PER_SEC);
}

void
sockets_start(void)
{
	lws_sul_schedule(gw_context, 0, &keepalive_timer, keepalive_cb, LWS_USEC_PER_SEC);
}

/* ---- what pg.c tells us ---- */

void
sockets_notify(const char *channel, const char *payload, size_t len)
{
	Profile    *p = profile_find(channel);
	char	   *frame;
	size_t		flen;
	Client	   *c;

	if (p == NULL)
		return;
	frame = frame_event(payload, len);
	if (frame == NULL)
	{
		stats.events_ignored++;
		return;
	}
	flen = strlen(frame);
	for (c = p->clients; c != NULL; c = c->next_in_profile)
		if (c->state == C_READY)
		{
			enqueue_copy(c, frame, flen);
			stats.events_routed++;
		}
	free(frame);
}

void
sockets_listen_done(const char *channel)
{
	Profile    *p = profile_find(channel);
	Client	   *c;

	if (p == NULL || p->listens_pending == 0 || --p->listens_pending > 0)
		return;
	p->listening = true;
	for (c = p->clients; c != NULL; c = c->next_in_profile)
	{
		if (c->state == C_WAIT_LISTEN)
		{
			c->state = C_READY;
			send_authenticated(c);
		}
		else if (c->state == C_READY && p->resync)
			enqueue_literal(c, "{\"type\":\"resync\"}");
	}
	p->resync = false;
}

/*
 * The listening connection is lost (up = false): nothing is listened to.
 * It is back (up = true): LISTEN again on every profile's channel; its
 * clients are told to catch up once that has committed.
 */
void
sockets_listener_ready(bool up)
{
	int			i;

	for (i = 0; i < PROFILE_BUCKETS; i++)
	{
		Profile    *p = profiles[i];

		while (p != NULL)
		{
			Profile    *next = p->next;

			if (!up)
			{
				if (p->listening)
					p->resync = true;
				p->listening = false;
				p->listens_pending = 0;
			}
			else if (p->nclients == 0)
				profile_free(p);
			else
				listen_profile(p);
			p = next;
		}
	}
}

void
sockets_shutdown(void)
{
	Client	   *c;

	for (c = all_clients; c != NULL; c = c->next_all)
		client_close(c, 1001, "the gateway stops");
}

int
sockets_count(void)
{
	return (int) stats.connections;
}

char *
sockets_status(void)
{
	char	   *s = malloc(640);

	if (s != NULL)
		snprintf(s, 640,
				 "{\"connections\":%lld,\"connections_total\":%lld,\"frames_in\":%lld,"
				 "\"frames_out\":%lld,\"requests\":%lld,\"errors\":%lld,\"events_routed\":%lld,"
				 "\"events_ignored\":%lld,\"dropped_slow_consumers\":%lld,\"rate_limited\":%lld,"
				 "\"closed_floods\":%lld,\"closed_oversized\":%lld,\"profiles\":%d,"
				 "\"db_connections\":%d}",
				 stats.connections, stats.connections_total, stats.frames_in, stats.frames_out,
				 stats.requests, stats.errors, stats.events_routed, stats.events_ignored,
				 stats.dropped_slow_consumers, stats.rate_limited, stats.closed_floods,
				 stats.closed_oversized, nprofiles, pg_connections());
	return s;
}
