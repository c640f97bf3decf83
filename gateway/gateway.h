/*
 * gateway.h: what the files of the WebSocket gateway share.
 *
 *   main.c      settings (flags and config file), the event loop, signals
 *   requests.c  the requests a client may make: their arguments and SQL
 *   frame.c     a client's frame read into a request; the frames we send
 *   pg.c        the database: a pool of pipelined connections and one
 *               listening connection, driven by the event loop
 *   sockets.c   the WebSocket side: identity, limits, queues, routing
 *
 * One thread, one libwebsockets event loop: nothing here is locked.
 */
#ifndef STYLIST_CHAT_GATEWAY_H
#define STYLIST_CHAT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- requests.c ---- */

typedef enum
{
	ARG_UUID,					/* a JSON string, cast to uuid by the SQL */
	ARG_TEXT,					/* a JSON string */
	ARG_TIME,					/* a JSON string, cast to timestamptz */
	ARG_INT,					/* a whole JSON number */
	ARG_BOOL,					/* true or false */
	ARG_JSON					/* any JSON value, passed as jsonb */
} ArgKind;

typedef struct
{
	const char *name;
	ArgKind		kind;
	bool		required;
} ArgSpec;

#define MAX_ARGS 6

typedef enum
{
	REQ_AUTHENTICATE,
	REQ_STATUS,
	REQ_SQL						/* every other request: a statement of the pool */
} RequestClass;

typedef struct
{
	const char *name;			/* the frame's "type" */
	RequestClass class;
	int			nargs;
	ArgSpec		args[MAX_ARGS];
	const char *sql;			/* one text column: the answer's "data" */
} RequestSpec;

extern const RequestSpec request_specs[];
extern const int n_request_specs;

/* the statement that opens every request's transaction, and authenticate's */
#define SQL_AUTHENTICATE	"SELECT chat.authenticate($1)"
#define SQL_WHOAMI			"SELECT pg_catalog.json_build_array(chat.current_actor(), chat.listen_channel())::text"

/* ---- frame.c ---- */

#define MAX_ID_LEN		64		/* a client's request id, as JSON text */
#define MAX_TOKEN_LEN	200

typedef struct
{
	const RequestSpec *spec;	/* NULL when the frame was refused */
	char		id[MAX_ID_LEN + 3];		/* the id as JSON ("null" when absent) */
	char	   *values[MAX_ARGS];		/* text of each argument, NULL for SQL NULL */
	char		token[MAX_TOKEN_LEN + 1];	/* authenticate's */
	/* a refusal: */
	const char *sqlstate;
	char		message[256];
} Request;

extern bool frame_parse(const char *data, size_t len, Request *req);
extern void request_free(Request *req);
extern char *frame_result(const Request *req, const char *data);
extern char *frame_error(const char *id, const char *request, const char *sqlstate,
						 const char *message, const char *hint);
extern char *frame_event(const char *payload, size_t len);
extern int	token_expiry(const char *token, int64_t *unix_usec);

/* ---- pg.c ---- */

struct lws_context;
struct lws_vhost;
struct lws_protocols;

extern const struct lws_protocols pg_protocol;

/* a request's answer: data, or sqlstate, message and hint; always called once */
typedef void (*pg_done_fn) (void *arg, const char *data, const char *sqlstate,
							const char *message, const char *hint);

extern void pg_start(struct lws_vhost *vhost, const char *conninfo, int pool_size,
					 int max_in_flight);
extern void pg_stop(void);
extern int	pg_pick(int hint);
extern bool pg_request(int conn, const char *token, const RequestSpec *spec,
					   char *const *values, pg_done_fn done, void *arg,
					   const char **sqlstate);
extern bool pg_listen(const char *channel, bool on);
extern bool pg_listener_ready(void);
extern int	pg_connections(void);

/* ---- sockets.c (what pg.c calls back) ---- */

extern void sockets_notify(const char *channel, const char *payload, size_t len);
extern void sockets_listen_done(const char *channel);
extern void sockets_listener_ready(bool up);
extern void sockets_start(void);
extern void sockets_shutdown(void);
extern char *sockets_status(void);
extern int	sockets_count(void);

extern const struct lws_protocols http_protocol;
extern const struct lws_protocols chat_protocol;

/* ---- main.c ---- */

typedef struct
{
	const char *host;
	int			port;
	const char *conninfo;
	const char *www;
	const char *origins[32];
	int			norigins;
	int			pool;
	int			max_in_flight;
	size_t		max_frame;
	int			rate;
	int			burst;
	size_t		max_queue;
	int			ping_secs;
	int			pong_secs;
	int			auth_secs;
	int			max_connections;
	int			max_per_profile;
	int			client_in_flight;
	int			recheck_secs;
	bool		public_address;
} Settings;

extern Settings settings;
extern struct lws_context *gw_context;

extern void gw_log(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern int64_t gw_now_usec(void);
extern int64_t gw_mono_usec(void);

#endif
