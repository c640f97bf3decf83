/*
 * pooler_clients.c: many clients of stylist_chat at once through a
 * transaction pooler, counting the transactions that acted for somebody
 * they did not name.
 *
 * Built and run by test/scripts/pooler.sh, which starts PgBouncer in
 * pool_mode = transaction in front of the server, so that consecutive
 * transactions of one client land on different server sessions and one
 * server session serves many clients.  A server session keeps whatever a
 * client left in it; an actor that outlived its transaction would act for
 * the next client's transaction there.
 *
 * Each line of CLIENTS_FILE is one client, a thread with a connection of
 * its own:   KIND PROFILE CHAT TOKEN   (TOKEN "-" for a service client)
 * PROFILE is the client's own profile, CHAT the chat it uses.  Kinds, on
 * the service login (a member of chat_service) or the end-user login (a
 * member of chat_user):
 *
 *   svc_session  before every third transaction, outside a transaction
 *                block:   SELECT chat.act_as(PROFILE, for_session => true)
 *   usr_session  before every third transaction, outside a transaction
 *                block:   SELECT chat.authenticate(TOKEN, for_session => true)
 *                and then SELECT chat.authenticate(TOKEN)
 *   svc_none,    never act, never authenticate
 *   usr_none
 *      Each transaction of these four names nobody:
 *        BEGIN; SELECT chat.current_actor(), pg_backend_pid();
 *        SELECT count(*) FROM chat.history(CHAT); COMMIT;
 *      which must see no actor and get SQLSTATE 28000 from history().
 *   svc_xact     BEGIN; SELECT chat.act_as(PROFILE);
 *   usr_xact     BEGIN; SELECT chat.authenticate(TOKEN);
 *      then SELECT chat.current_actor(), pg_backend_pid();
 *      SELECT chat.send_message(CHAT, 'pooled client N tx T'); COMMIT;
 *      which must act as PROFILE and store the message.
 *
 * A transaction "leaked" when it acted for anybody other than the profile
 * it named itself (nobody, for the first four kinds): current_actor() was
 * another profile, or history() did not give 28000.  A named transaction
 * that acted for nobody (its act_as or authenticate failed) is an error.  It leaked "as
 * another client" when the actor it saw was another client's profile.
 * The session-scoped calls are counted by their outcome (refused with
 * 42501, refused otherwise, accepted).  The threads connect, wait for each
 * other, then run, with a random pause of up to a millisecond between
 * transactions so that they interleave.
 *
 * Usage: pooler_clients -s SERVICE_CONNINFO -u ENDUSER_CONNINFO
 *                       [-n TRANSACTIONS] CLIENTS_FILE
 * (passwords from PGPASSFILE, as libpq does).  Output on stdout: a "# "
 * line per kind and the first leaks seen, then one line
 *   counts transactions=N leaked=N foreign=N svc_leaked=N usr_leaked=N
 *          named=N named_ok=N session_calls=N refused_42501=N refused_other=N accepted=N
 *          auth_ok=N errors=N server_sessions=N clients=N seconds=S
 * Exit status 0 when the clients ran (whatever they saw), 1 when they
 * could not (a connection failed).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define MAX_CLIENTS 256
#define MAX_PIDS 1024
#define MAX_EXAMPLES 6
#define TOKEN_LEN 512

typedef enum Kind
{
	SVC_SESSION,
	SVC_NONE,
	SVC_XACT,
	USR_SESSION,
	USR_NONE,
	USR_XACT,
	NKINDS
} Kind;

static const char *const kind_names[NKINDS] = {
	"svc_session", "svc_none", "svc_xact", "usr_session", "usr_none", "usr_xact"
};

typedef struct Counts
{
	long		transactions;
	long		leaked;			/* acted for somebody not named */
	long		foreign;		/* ... and that was another client */
	long		named;			/* transactions that named a profile */
	long		named_ok;		/* ... and acted as it, nobody else */
	long		session_calls;
	long		refused_42501;
	long		refused_other;
	long		accepted;
	long		auth_ok;		/* authenticate(token) outside a block */
	long		errors;			/* anything else that went wrong */
} Counts;

typedef struct Client
{
	int			index;
	Kind		kind;
	char		profile[40];
	char		chat[40];
	char		token[TOKEN_LEN];
	const char *conninfo;
	PGconn	   *conn;
	pthread_t	thread;
	unsigned int seed;
	Counts		counts;
} Client;

static Client clients[MAX_CLIENTS];
static int	nclients = 0;
static int	ntransactions = 40;
static pthread_barrier_t start_line;

/* the server sessions seen, and the first leaks, under one lock */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static long pids[MAX_PIDS];
static int	npids = 0;
static int	nexamples = 0;

static void
note_pid(const char *pid_text)
{
	long		pid = atol(pid_text);
	int			i;

	pthread_mutex_lock(&shared_lock);
	for (i = 0; i < npids && pids[i] != pid; i++)
		;
	if (i == npids && npids < MAX_PIDS)
		pids[npids++] = pid;
	pthread_mutex_unlock(&shared_lock);
}

/* whose profile is this, among the clients; -1 if nobody's */
static int
owner_of(const char *profile)
{
	for (int i = 0; i < nclients; i++)
		if (strcmp(clients[i].profile, profile) == 0)
			return i;
	return -1;
}

static void
example(Client *c, int t, const char *actor, const char *outcome)
{
	int			owner = owner_of(actor);
	char		whose[64];

	if (owner == c->index)
		snprintf(whose, sizeof(whose), "its own profile");
	else if (owner >= 0)
		snprintf(whose, sizeof(whose), "the profile of %s client %d",
				 kind_names[clients[owner].kind], owner);
	else
		snprintf(whose, sizeof(whose), "no client's profile");

	pthread_mutex_lock(&shared_lock);
	if (nexamples++ < MAX_EXAMPLES)
		printf("# leak: %s client %d, transaction %d: acted as %s (%s), %s\n",
			   kind_names[c->kind], c->index, t, actor[0] ? actor : "nobody", whose, outcome);
	fflush(stdout);
	pthread_mutex_unlock(&shared_lock);
}

/*
 * Run one statement; fill sqlstate ("00000" on success).  A lost
 * connection ends the program: the counts would mean nothing.
 */
static PGresult *
run(Client *c, const char *sql, int nparams, const char *const *params, char sqlstate[6])
{
	PGresult   *res = PQexecParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		strcpy(sqlstate, "00000");
	else
	{
		const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (PQstatus(c->conn) != CONNECTION_OK)
		{
			fprintf(stderr, "%s client %d: connection lost: %s\n",
					kind_names[c->kind], c->index, PQerrorMessage(c->conn));
			exit(1);
		}
		snprintf(sqlstate, 6, "%s", s ? s : "?????");
	}
	return res;
}

static void
run_void(Client *c, const char *sql, int nparams, const char *const *params, char sqlstate[6])
{
	PQclear(run(c, sql, nparams, params, sqlstate));
}

/* the session-scoped calls of the misusing kinds, outside a transaction block */
static void
misuse_session(Client *c)
{
	char		state[6];

	if (c->kind == SVC_SESSION)
	{
		const char *p[] = {c->profile};

		run_void(c, "SELECT chat.act_as($1::uuid, for_session => true)", 1, p, state);
	}
	else
	{
		const char *p[] = {c->token};

		run_void(c, "SELECT chat.authenticate($1, for_session => true)", 1, p, state);
	}
	c->counts.session_calls++;
	if (strcmp(state, "00000") == 0)
		c->counts.accepted++;
	else if (strcmp(state, "42501") == 0)
		c->counts.refused_42501++;
	else
		c->counts.refused_other++;

	if (c->kind == USR_SESSION)
	{
		const char *p[] = {c->token};

		/* acts for its own implicit transaction only */
		run_void(c, "SELECT chat.authenticate($1)", 1, p, state);
		if (strcmp(state, "00000") == 0)
			c->counts.auth_ok++;
		else
			c->counts.errors++;
	}
}

/* a transaction that names nobody: no actor, and history() gives 28000 */
static void
unnamed_transaction(Client *c, int t)
{
	char		state[6];
	char		actor[40] = "";
	char		history[64];
	PGresult   *res;
	const char *p[] = {c->chat};

	run_void(c, "BEGIN", 0, NULL, state);
	if (strcmp(state, "00000") != 0)
	{
		c->counts.errors++;
		return;
	}
	res = run(c, "SELECT chat.current_actor(), pg_backend_pid()", 0, NULL, state);
	if (strcmp(state, "00000") == 0 && PQntuples(res) == 1)
	{
		if (!PQgetisnull(res, 0, 0))
			snprintf(actor, sizeof(actor), "%s", PQgetvalue(res, 0, 0));
		note_pid(PQgetvalue(res, 0, 1));
	}
	else
		c->counts.errors++;
	PQclear(res);

	res = run(c, "SELECT count(*) FROM chat.history($1::uuid)", 1, p, state);
	if (strcmp(state, "00000") == 0)
		snprintf(history, sizeof(history), "history() gave %s rows", PQgetvalue(res, 0, 0));
	else
		snprintf(history, sizeof(history), "history() gave SQLSTATE %s", state);
	PQclear(res);
	run_void(c, "COMMIT", 0, NULL, state);

	c->counts.transactions++;
	if (actor[0] != '\0' || strcmp(history, "history() gave SQLSTATE 28000") != 0)
	{
		int			owner = actor[0] ? owner_of(actor) : -1;

		c->counts.leaked++;
		if (owner >= 0 && owner != c->index)
			c->counts.foreign++;
		example(c, t, actor, history);
	}
}

/* a transaction that names its own profile and sends a message as it */
static void
named_transaction(Client *c, int t)
{
	char		state[6];
	char		actor[40] = "";
	char		body[64];
	PGresult   *res;
	int			failed = 0;

	run_void(c, "BEGIN", 0, NULL, state);
	if (strcmp(state, "00000") != 0)
	{
		c->counts.errors++;
		return;
	}
	if (c->kind == SVC_XACT)
	{
		const char *p[] = {c->profile};

		run_void(c, "SELECT chat.act_as($1::uuid)", 1, p, state);
	}
	else
	{
		const char *p[] = {c->token};

		run_void(c, "SELECT chat.authenticate($1)", 1, p, state);
	}
	failed |= strcmp(state, "00000") != 0;

	res = run(c, "SELECT chat.current_actor(), pg_backend_pid()", 0, NULL, state);
	if (strcmp(state, "00000") == 0 && PQntuples(res) == 1)
	{
		if (!PQgetisnull(res, 0, 0))
			snprintf(actor, sizeof(actor), "%s", PQgetvalue(res, 0, 0));
		note_pid(PQgetvalue(res, 0, 1));
	}
	else
		failed = 1;
	PQclear(res);

	snprintf(body, sizeof(body), "pooled client %d tx %d", c->index, t);
	{
		const char *p[] = {c->chat, body};

		run_void(c, "SELECT chat.send_message($1::uuid, $2)", 2, p, state);
	}
	failed |= strcmp(state, "00000") != 0;
	run_void(c, "COMMIT", 0, NULL, state);
	failed |= strcmp(state, "00000") != 0;

	c->counts.transactions++;
	c->counts.named++;
	if (failed)
		c->counts.errors++;
	if (strcmp(actor, c->profile) == 0)
		c->counts.named_ok++;
	else if (actor[0] != '\0')
	{
		int			owner = owner_of(actor);

		c->counts.leaked++;
		if (owner >= 0 && owner != c->index)
			c->counts.foreign++;
		example(c, t, actor, "named its own profile");
	}
}

static void *
client_main(void *arg)
{
	Client	   *c = arg;

	pthread_barrier_wait(&start_line);
	for (int t = 0; t < ntransactions; t++)
	{
		if ((c->kind == SVC_SESSION || c->kind == USR_SESSION) && t % 3 == 0)
			misuse_session(c);
		if (c->kind == SVC_XACT || c->kind == USR_XACT)
			named_transaction(c, t);
		else
			unnamed_transaction(c, t);
		usleep(rand_r(&c->seed) % 1000);
	}
	return NULL;
}

static void
add(Counts *to, const Counts *from)
{
	to->transactions += from->transactions;
	to->leaked += from->leaked;
	to->foreign += from->foreign;
	to->named += from->named;
	to->named_ok += from->named_ok;
	to->session_calls += from->session_calls;
	to->refused_42501 += from->refused_42501;
	to->refused_other += from->refused_other;
	to->accepted += from->accepted;
	to->auth_ok += from->auth_ok;
	to->errors += from->errors;
}

static void
read_clients(const char *path, const char *service, const char *enduser)
{
	FILE	   *f = fopen(path, "r");
	char		line[1024];

	if (f == NULL)
	{
		perror(path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL)
	{
		Client	   *c = &clients[nclients];
		char		kind[32];
		int			k;

		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (nclients == MAX_CLIENTS)
		{
			fprintf(stderr, "at most %d clients\n", MAX_CLIENTS);
			exit(1);
		}
		if (sscanf(line, "%31s %39s %39s %511s", kind, c->profile, c->chat, c->token) != 4)
		{
			fprintf(stderr, "%s: bad line: %s", path, line);
			exit(1);
		}
		for (k = 0; k < NKINDS && strcmp(kind, kind_names[k]) != 0; k++)
			;
		if (k == NKINDS)
		{
			fprintf(stderr, "%s: unknown kind %s\n", path, kind);
			exit(1);
		}
		c->kind = (Kind) k;
		c->index = nclients;
		c->conninfo = k < USR_SESSION ? service : enduser;
		c->seed = (unsigned int) (time(NULL) ^ (nclients * 2654435761u));
		nclients++;
	}
	fclose(f);
}

int
main(int argc, char **argv)
{
	const char *service = NULL;
	const char *enduser = NULL;
	Counts		by_kind[NKINDS] = {{0}};
	Counts		total = {0};
	int			clients_of_kind[NKINDS] = {0};
	struct timespec t0,
				t1;
	int			opt;

	while ((opt = getopt(argc, argv, "s:u:n:")) != -1)
	{
		switch (opt)
		{
			case 's':
				service = optarg;
				break;
			case 'u':
				enduser = optarg;
				break;
			case 'n':
				ntransactions = atoi(optarg);
				break;
			default:
				optind = argc + 1;
				break;
		}
	}
	if (service == NULL || enduser == NULL || optind != argc - 1 || ntransactions < 1)
	{
		fprintf(stderr, "usage: %s -s SERVICE_CONNINFO -u ENDUSER_CONNINFO [-n TRANSACTIONS] CLIENTS_FILE\n",
				argv[0]);
		return 2;
	}
	read_clients(argv[optind], service, enduser);
	if (nclients == 0)
	{
		fprintf(stderr, "no clients\n");
		return 2;
	}

	for (int i = 0; i < nclients; i++)
	{
		clients[i].conn = PQconnectdb(clients[i].conninfo);
		if (PQstatus(clients[i].conn) != CONNECTION_OK)
		{
			fprintf(stderr, "client %d cannot connect: %s", i, PQerrorMessage(clients[i].conn));
			return 1;
		}
	}

	pthread_barrier_init(&start_line, NULL, (unsigned int) nclients + 1);
	for (int i = 0; i < nclients; i++)
		if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0)
		{
			fprintf(stderr, "cannot start a thread\n");
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_barrier_wait(&start_line);
	for (int i = 0; i < nclients; i++)
		pthread_join(clients[i].thread, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (int i = 0; i < nclients; i++)
	{
		add(&by_kind[clients[i].kind], &clients[i].counts);
		add(&total, &clients[i].counts);
		clients_of_kind[clients[i].kind]++;
		PQfinish(clients[i].conn);
	}
	for (int k = 0; k < NKINDS; k++)
	{
		const Counts *n = &by_kind[k];

		if (clients_of_kind[k] == 0)
			continue;
		printf("# %-11s %2d clients, %4ld transactions, %4ld acted for somebody not named "
			   "(%ld as another client)",
			   kind_names[k], clients_of_kind[k], n->transactions, n->leaked, n->foreign);
		if (n->session_calls > 0)
			printf("; %ld session-scoped calls: %ld refused with 42501, %ld refused otherwise, %ld accepted",
				   n->session_calls, n->refused_42501, n->refused_other, n->accepted);
		if (n->errors > 0)
			printf("; %ld errors", n->errors);
		printf("\n");
	}
	if (nexamples > MAX_EXAMPLES)
		printf("# ... and %d more leaks\n", nexamples - MAX_EXAMPLES);
	printf("counts transactions=%ld leaked=%ld foreign=%ld svc_leaked=%ld usr_leaked=%ld "
		   "named=%ld named_ok=%ld "
		   "session_calls=%ld refused_42501=%ld refused_other=%ld accepted=%ld "
		   "auth_ok=%ld errors=%ld server_sessions=%d clients=%d seconds=%.2f\n",
		   total.transactions, total.leaked, total.foreign,
		   by_kind[SVC_SESSION].leaked + by_kind[SVC_NONE].leaked + by_kind[SVC_XACT].leaked,
		   by_kind[USR_SESSION].leaked + by_kind[USR_NONE].leaked + by_kind[USR_XACT].leaked,
		   total.named, total.named_ok,
		   total.session_calls, total.refused_42501, total.refused_other, total.accepted,
		   total.auth_ok, total.errors, npids, nclients,
		   (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
