/*
 * main.c: the stylist_chat WebSocket gateway's settings, event loop and
 * signals.
 *
 *   stylist_chat_gateway [--config FILE] [--host 127.0.0.1] [--port 8765]
 *                        [--db CONNINFO] [--www DIR] [--origin URL]... ...
 *
 * Settings come from a config file (one "name = value" a line, the names
 * of the long flags, "#" starts a comment) and then from the flags, which
 * win.  The database is found from --db (a conninfo string or URI) and the
 * usual PG* variables.  The gateway runs in the foreground, logs to
 * stderr, and stops cleanly on SIGTERM or SIGINT: every client gets a
 * close frame (1001), then the connections end.
 *
 * The event loop is libev's (epoll on Linux), which libwebsockets joins as
 * a foreign loop; the signals are libev watchers, so that everything runs
 * in the loop and nothing in a signal handler.
 *
 * It speaks plain HTTP and WebSocket, no TLS: it listens on a loopback
 * address behind a reverse proxy that terminates TLS, and refuses any
 * other address unless --public says otherwise.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>

#include "gateway.h"

Settings	settings = {
	.host = "127.0.0.1",
	.port = 8765,
	.conninfo = "",
	.pool = 4,
	.max_in_flight = 256,
	.max_frame = 65536,
	.rate = 20,
	.burst = 40,
	.max_queue = 1048576,
	.ping_secs = 30,
	.pong_secs = 10,
	.auth_secs = 10,
	.max_connections = 20000,
	.max_per_profile = 16,
	.client_in_flight = 32,
	.recheck_secs = 60,
};

struct lws_context *gw_context;
static struct ev_loop *loop;

/*
 * Sent with every file served: the page may load scripts, styles and
 * images from this origin only and connect to nothing but it (its own
 * WebSocket included), may not be framed, and sends no Referer.
 */
static const struct lws_protocol_vhost_options security_headers[] = {
	{&security_headers[1], NULL, "content-security-policy:",
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
		"font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
	"frame-ancestors 'none'"},
	{&security_headers[2], NULL, "x-content-type-options:", "nosniff"},
	{&security_headers[3], NULL, "x-frame-options:", "deny"},
	{&security_headers[4], NULL, "referrer-policy:", "no-referrer"},
	{NULL, NULL, "cross-origin-opener-policy:", "same-origin"},
};
static ev_signal sig_term,
			sig_int;
static ev_timer stop_timer;
static int64_t stop_deadline;

/*
 * One line to stderr.  What a client wrote may end up in a message (an
 * unknown request type, say): control characters become '?', so that
 * nobody can forge a line of the log.
 */
void
gw_log(const char *fmt,...)
{
	char		when[40];
	char		line[1024];
	struct timespec ts;
	struct tm	tm;
	va_list		ap;
	char	   *p;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (p = line; *p != '\0'; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
	fprintf(stderr, "%s.%03ld UTC gateway: %s\n", when, ts.tv_nsec / 1000000, line);
}

/* for intervals (rate limits, pings, sweeps): never steps with the clock */
int64_t
gw_mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* the time of day, for tokens' expiry */
int64_t
gw_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* after SIGTERM: wait (up to a second) for the clients' close frames to go */
static void
on_stop_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	if (sockets_count() > 0 && gw_now_usec() < stop_deadline)
		return;
	ev_timer_stop(l, w);
	pg_stop();
	lws_context_destroy(gw_context);
	gw_context = NULL;
	ev_signal_stop(l, &sig_term);
	ev_signal_stop(l, &sig_int);
	ev_break(l, EVBREAK_ALL);
}

static void
on_signal(struct ev_loop *l, ev_signal *w, int revents)
{
	if (stop_deadline != 0)
		return;
	gw_log("stopping: closing %d clients", sockets_count());
	stop_deadline = gw_now_usec() + 1000000;
	sockets_shutdown();
	ev_timer_init(&stop_timer, on_stop_timer, 0.02, 0.02);
	ev_timer_start(l, &stop_timer);
}

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: stylist_chat_gateway [options]\n"
			"  --config FILE          settings, one \"name = value\" a line (the flags' names)\n"
			"  --host ADDR            address to listen on (127.0.0.1); loopback only unless --public\n"
			"  --port N               port (8765)\n"
			"  --db CONNINFO          the database (libpq conninfo or URI; PG* variables apply)\n"
			"  --www DIR              the web page's files (the www directory beside the binary)\n"
			"  --origin URL           an allowed Origin, repeatable (http://127.0.0.1:PORT, http://localhost:PORT)\n"
			"  --pool N               database connections for requests (4), plus one that listens\n"
			"  --max-in-flight N      requests in flight per database connection (256)\n"
			"  --max-frame BYTES      largest frame a client may send (65536)\n"
			"  --rate N               requests a second per client (20)\n"
			"  --burst N              requests a client may send at once (40)\n"
			"  --max-queue BYTES      unsent bytes per client before it is closed as slow (1048576)\n"
			"  --ping SECS            idle seconds before a ping (30)\n"
			"  --pong-timeout SECS    seconds after that without a pong (or any frame) before hanging up (10)\n"
			"  --auth-timeout SECS    time for the first frame, authenticate (10)\n"
			"  --max-connections N    clients at once (20000)\n"
			"  --max-per-profile N    connections of one profile at once (16)\n"
			"  --client-in-flight N   requests of one client the database has not answered yet (32)\n"
			"  --recheck SECS         how often a connected client's token is checked again (60)\n"
			"  --public               allow a non-loopback --host (put TLS in front of it)\n");
}

static int
int_value(const char *name, const char *v, long min, long max)
{
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || end == v || n < min || n > max)
	{
		fprintf(stderr, "stylist_chat_gateway: %s must be a whole number from %ld to %ld, not \"%s\"\n",
				name, min, max, v);
		exit(2);
	}
	return (int) n;
}

/* one setting, from a flag or the config file; false when the name is unknown */
static bool
set_option(const char *name, const char *v)
{
	if (strcmp(name, "host") == 0)
		settings.host = strdup(v);
	else if (strcmp(name, "port") == 0)
		settings.port = int_value(name, v, 1, 65535);
	else if (strcmp(name, "db") == 0)
		settings.conninfo = strdup(v);
	else if (strcmp(name, "www") == 0)
		settings.www = strdup(v);
	else if (strcmp(name, "origin") == 0)
	{
		if (settings.norigins >= (int) (sizeof(settings.origins) / sizeof(settings.origins[0])))
		{
			fprintf(stderr, "stylist_chat_gateway: at most 32 origins\n");
			exit(2);
		}
		settings.origins[settings.norigins++] = strdup(v);
	}
	else if (strcmp(name, "pool") == 0)
		settings.pool = int_value(name, v, 1, 64);
	else if (strcmp(name, "max-in-flight") == 0)
		settings.max_in_flight = int_value(name, v, 1, 100000);
	else if (strcmp(name, "max-frame") == 0)
		settings.max_frame = (size_t) int_value(name, v, 1024, 16 * 1024 * 1024);
	else if (strcmp(name, "rate") == 0)
		settings.rate = int_value(name, v, 1, 100000);
	else if (strcmp(name, "burst") == 0)
		settings.burst = int_value(name, v, 1, 100000);
	else if (strcmp(name, "max-queue") == 0)
		settings.max_queue = (size_t) int_value(name, v, 4096, INT_MAX);
	else if (strcmp(name, "ping") == 0)
		settings.ping_secs = int_value(name, v, 1, 3600);
	else if (strcmp(name, "pong-timeout") == 0)
		settings.pong_secs = int_value(name, v, 1, 3600);
	else if (strcmp(name, "auth-timeout") == 0)
		settings.auth_secs = int_value(name, v, 1, 3600);
	else if (strcmp(name, "max-connections") == 0)
		settings.max_connections = int_value(name, v, 1, 1000000);
	else if (strcmp(name, "max-per-profile") == 0)
		settings.max_per_profile = int_value(name, v, 1, 100000);
	else if (strcmp(name, "client-in-flight") == 0)
		settings.client_in_flight = int_value(name, v, 1, 10000);
	else if (strcmp(name, "recheck") == 0)
		settings.recheck_secs = int_value(name, v, 1, 86400);
	else if (strcmp(name, "public") == 0)
		settings.public_address = strcmp(v, "true") == 0 || strcmp(v, "on") == 0 || strcmp(v, "1") == 0;
	else
		return false;
	return true;
}

static void
read_config(const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[1024];
	int			lineno = 0;

	if (f == NULL)
	{
		fprintf(stderr, "stylist_chat_gateway: cannot read %s: %s\n", path, strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		char	   *p = line,
				   *eq,
				   *end;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f))
		{
			fprintf(stderr, "stylist_chat_gateway: %s:%d: line longer than %d bytes\n", path, lineno,
					(int) sizeof(line) - 2);
			exit(2);
		}
		if ((end = strchr(p, '#')) != NULL)
			*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*p == '\0')
			continue;
		eq = strchr(p, '=');
		if (eq == NULL)
		{
			fprintf(stderr, "stylist_chat_gateway: %s:%d: expected name = value\n", path, lineno);
			exit(2);
		}
		end = eq;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		eq++;
		while (*eq == ' ' || *eq == '\t')
			eq++;
		if (!set_option(p, eq))
		{
			fprintf(stderr, "stylist_chat_gateway: %s:%d: unknown setting \"%s\"\n", path, lineno, p);
			exit(2);
		}
	}
	fclose(f);
}

static bool
is_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
		strcmp(host, "localhost") == 0;
}

/* the www directory beside the binary */
static const char *
default_www(void)
{
	static char path[PATH_MAX];
	ssize_t		n = readlink("/proc/self/exe", path, sizeof(path) - 8);
	char	   *slash;

	if (n <= 0)
		return "www";
	path[n] = '\0';
	slash = strrchr(path, '/');
	strcpy(slash != NULL ? slash + 1 : path, "www");
	return path;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"host", required_argument, NULL, 0},
		{"port", required_argument, NULL, 0},
		{"db", required_argument, NULL, 0},
		{"www", required_argument, NULL, 0},
		{"origin", required_argument, NULL, 0},
		{"pool", required_argument, NULL, 0},
		{"max-in-flight", required_argument, NULL, 0},
		{"max-frame", required_argument, NULL, 0},
		{"rate", required_argument, NULL, 0},
		{"burst", required_argument, NULL, 0},
		{"max-queue", required_argument, NULL, 0},
		{"ping", required_argument, NULL, 0},
		{"pong-timeout", required_argument, NULL, 0},
		{"auth-timeout", required_argument, NULL, 0},
		{"max-connections", required_argument, NULL, 0},
		{"max-per-profile", required_argument, NULL, 0},
		{"client-in-flight", required_argument, NULL, 0},
		{"recheck", required_argument, NULL, 0},
		{"public", no_argument, NULL, 'P'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	static struct lws_protocols protocols[4];
	static struct lws_http_mount mount;
	struct lws_context_creation_info info;
	struct rlimit rl;
	struct lws_vhost *vhost;
	char		origin_buf[2][64];
	int			opt,
				idx;

	/* the config file first, wherever --config is, then the flags */
	for (idx = 1; idx < argc; idx++)
	{
		if (strcmp(argv[idx], "--config") == 0 && idx + 1 < argc)
			read_config(argv[idx + 1]);
		else if (strncmp(argv[idx], "--config=", 9) == 0)
			read_config(argv[idx] + 9);
	}
	while ((opt = getopt_long(argc, argv, "", longopts, &idx)) != -1)
	{
		if (opt == 0)
			set_option(longopts[idx].name, optarg);
		else if (opt == 'P')
			settings.public_address = true;
		else if (opt == 'h')
		{
			usage(stdout);
			return 0;
		}
		else if (opt != 'c')
		{
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
	{
		usage(stderr);
		return 2;
	}
	if (!settings.public_address && !is_loopback(settings.host))
	{
		fprintf(stderr, "stylist_chat_gateway: %s is not a loopback address; the gateway speaks no TLS\n"
				"hint: listen on loopback behind a reverse proxy that terminates TLS, or pass --public\n",
				settings.host);
		return 2;
	}
	if (settings.www == NULL)
		settings.www = default_www();
	if (settings.norigins == 0)
	{
		snprintf(origin_buf[0], sizeof(origin_buf[0]), "http://127.0.0.1:%d", settings.port);
		snprintf(origin_buf[1], sizeof(origin_buf[1]), "http://localhost:%d", settings.port);
		settings.origins[0] = origin_buf[0];
		settings.origins[1] = origin_buf[1];
		settings.norigins = 2;
	}

	/* a socket a client, and a few more */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR, NULL);

	/*
	 * One libev loop (epoll), ours, which lws joins: with lws's own poll()
	 * loop every wake-up scans every socket, which at a thousand clients
	 * was most of the gateway's time.
	 */
	loop = ev_default_loop(EVFLAG_AUTO);
	ev_signal_init(&sig_term, on_signal, SIGTERM);
	ev_signal_start(loop, &sig_term);
	ev_signal_init(&sig_int, on_signal, SIGINT);
	ev_signal_start(loop, &sig_int);

	protocols[0] = http_protocol;
	protocols[1] = chat_protocol;
	protocols[2] = pg_protocol;

	mount.mountpoint = "/";
	mount.mountpoint_len = 1;
	mount.origin = settings.www;
	mount.def = "index.html";
	mount.origin_protocol = LWSMPRO_FILE;

	memset(&info, 0, sizeof(info));
	info.port = settings.port;
	info.iface = settings.host;
	info.protocols = protocols;
	info.mounts = &mount;
	info.foreign_loops = (void **) &loop;
	info.headers = &security_headers[0];
	info.options = LWS_SERVER_OPTION_LIBEV | LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.vhost_name = "stylist_chat";

	gw_context = lws_create_context(&info);
	if (gw_context == NULL)
	{
		gw_log("could not listen on %s port %d", settings.host, settings.port);
		return 1;
	}
	vhost = lws_get_vhost_by_name(gw_context, "stylist_chat");
	gw_log("listening on http://%s:%d/ (WebSocket /ws, subprotocol stylist-chat), page from %s",
		   settings.host, settings.port, settings.www);
	pg_start(vhost, settings.conninfo, settings.pool, settings.max_in_flight);
	sockets_start();

	ev_run(loop, 0);
	gw_log("stopped");
	return 0;
}
