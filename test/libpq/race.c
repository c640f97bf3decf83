/*
 * race.c: chat.get_or_create_chat() is race-free.
 *
 * What it tests: 64 sessions that call chat.get_or_create_chat(customer,
 * stylist) at the same moment for a pair that has no chat yet all get the
 * same id, none of them gets an error, the id is chat.pair_chat_id() of the
 * pair, and exactly one row exists in chat.chats for the pair.
 *
 * How: one setup connection makes a fresh customer and stylist per round
 * (chat.upsert_profile).  64 more connections each act for the session as
 * one of the two (chat.act_as(id, true); even connections as the customer,
 * odd ones as the stylist).  Then all 64 calls are sent with
 * PQsendQueryParams before any result is read, and the results are
 * collected.  Rounds alternate between two ways of starting the race:
 *
 *   - gated: a gate connection holds LOCK TABLE chat.chats IN SHARE ROW
 *     EXCLUSIVE MODE while the 64 calls are sent, so that every call blocks
 *     just before its INSERT; the gate waits until pg_locks shows the
 *     callers queued, then commits, and all 64 INSERTs run at once;
 *   - free: no gate; the 64 backends race as the scheduler lets them.
 *
 * Each round uses a new pair, so that each round races the creation.
 * Usage: race DBNAME (host, port and user from PGHOST, PGPORT, PGUSER).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"
#include "tap.h"

#define NCONN 64
#define ROUNDS 10
#define TESTS_PER_ROUND 5
#define GATE_WAIT_SECONDS 15


static PGconn *
connect_db(const char *dbname, const char *appname)
{
	/* a hang (a deadlock that is not detected, say) becomes an error */
	const char *keys[] = {"dbname", "application_name", "options", NULL};
	const char *vals[] = {dbname, appname, "-c statement_timeout=30s", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 0);

	if (PQstatus(conn) != CONNECTION_OK)
		bail("cannot connect to %s: %s", dbname, PQerrorMessage(conn));
	return conn;
}

/* the single value of a setup query */
static long
must_long(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = must(conn, sql, nparams, params);
	long		v;

	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
		bail("setup query returned no value: %s", sql);
	v = atol(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

int
main(int argc, char **argv)
{
	PGconn	   *setup;
	PGconn	   *gate;
	PGconn	   *conns[NCONN];
	char		ids[NCONN][64];
	int			round;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DBNAME\n", argv[0]);
		return 2;
	}

	printf("1..%d\n", ROUNDS * TESTS_PER_ROUND);
	fflush(stdout);

	setup = connect_db(argv[1], "race setup");
	gate = connect_db(argv[1], "race gate");
	for (int i = 0; i < NCONN; i++)
		conns[i] = connect_db(argv[1], "race caller");

	for (round = 0; round < ROUNDS; round++)
	{
		int			gated = (round % 2 == 0);
		const char *how = gated ? "gated" : "free";
		char		customer[37];
		char		stylist[37];
		char		cname[64];
		char		sname[64];
		char		expected[64];
		int			errors = 0;
		int			answers = 0;
		int			extra = 0;
		int			same = 1;
		int			all_expected = 1;
		const char *first = NULL;
		long		rows_by_pair;
		long		rows_by_id;
		long		fresh;

		new_uuid(customer);
		new_uuid(stylist);
		snprintf(cname, sizeof(cname), "Race customer %d", round);
		snprintf(sname, sizeof(sname), "Race stylist %d", round);
		{
			const char *p[] = {customer, cname, stylist, sname};

			must_do(setup,
					"SELECT chat.upsert_profile($1::uuid, 'customer', $2), "
					"       chat.upsert_profile($3::uuid, 'stylist', $4)", 4, p);
		}
		{
			const char *p[] = {customer, stylist};
			PGresult   *res = must(setup, "SELECT chat.pair_chat_id($1::uuid, $2::uuid)", 2, p);

			snprintf(expected, sizeof(expected), "%s", PQgetvalue(res, 0, 0));
			PQclear(res);
		}
		for (int i = 0; i < NCONN; i++)
		{
			const char *p[] = {i % 2 == 0 ? customer : stylist};

			must_do(conns[i], "SELECT chat.act_as($1::uuid, true)", 1, p);
		}

		if (gated)
		{
			must_do(gate, "BEGIN", 0, NULL);
			must_do(gate, "LOCK TABLE chat.chats IN SHARE ROW EXCLUSIVE MODE", 0, NULL);
		}

		/* fire all 64 before reading any answer */
		for (int i = 0; i < NCONN; i++)
		{
			const char *p[] = {customer, stylist};

			ids[i][0] = '\0';
			if (!PQsendQueryParams(conns[i],
								   "SELECT chat.get_or_create_chat($1::uuid, $2::uuid)",
								   2, NULL, p, NULL, NULL, 0))
			{
				errors++;
				diag("round %d: connection %d: cannot send: %s", round, i,
					 PQerrorMessage(conns[i]));
			}
		}

		if (gated)
		{
			/* wait until the callers queue behind the gate, then open it */
			long		waiting = 0;
			time_t		start = time(NULL);

			while (time(NULL) - start < GATE_WAIT_SECONDS)
			{
				waiting = must_long(setup,
									"SELECT count(*) FROM pg_catalog.pg_locks "
									" WHERE locktype = 'relation' AND NOT granted "
									"   AND relation = 'chat.chats'::regclass "
									"   AND database = (SELECT oid FROM pg_catalog.pg_database "
									"                    WHERE datname = current_database())",
									0, NULL);
				if (waiting >= NCONN)
					break;
				usleep(10000);
			}
			diag("round %d: %ld of %d calls were waiting at the gate when it opened",
				 round, waiting, NCONN);
			must_do(gate, "COMMIT", 0, NULL);
		}

		for (int i = 0; i < NCONN; i++)
		{
			PGresult   *res;

			while ((res = PQgetResult(conns[i])) != NULL)
			{
				if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
				{
					if (ids[i][0] != '\0')
						extra++;
					snprintf(ids[i], sizeof(ids[i]), "%s", PQgetvalue(res, 0, 0));
					answers++;
				}
				else
				{
					const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

					errors++;
					if (errors <= 5)
						diag("round %d: connection %d (%s): %s %s", round, i,
							 i % 2 == 0 ? "customer" : "stylist",
							 state ? state : "-", PQresultErrorMessage(res));
				}
				PQclear(res);
			}
		}
		for (int i = 0; i < NCONN; i++)
		{
			if (ids[i][0] == '\0')
				continue;
			if (first == NULL)
				first = ids[i];
			if (strcmp(ids[i], first) != 0)
			{
				same = 0;
				diag("round %d: connection %d got %s, connection 0 got %s",
					 round, i, ids[i], first);
			}
			if (strcmp(ids[i], expected) != 0)
				all_expected = 0;
		}

		{
			const char *p[] = {customer, stylist};

			rows_by_pair = must_long(setup,
									 "SELECT count(*) FROM chat.chats "
									 " WHERE customer_id = $1::uuid AND stylist_id = $2::uuid",
									 2, p);
		}
		{
			const char *p[] = {expected};

			rows_by_id = must_long(setup,
								   "SELECT count(*) FROM chat.chats WHERE chat_id = $1::uuid",
								   1, p);
			fresh = must_long(setup,
							  "SELECT count(*) FROM chat.chats "
							  " WHERE chat_id = $1::uuid AND last_seq = 0 "
							  "   AND customer_read_seq = 0 AND customer_unread = 0 "
							  "   AND stylist_read_seq = 0 AND stylist_unread = 0",
							  1, p);
		}

		ok(errors == 0 && answers == NCONN && extra == 0,
		   "round %d (%s): %d concurrent get_or_create_chat calls raise no error "
		   "(%d answers, %d errors)", round, how, NCONN, answers, errors);
		ok(answers == NCONN && same,
		   "round %d (%s): all %d calls return the same chat id", round, how, NCONN);
		ok(answers > 0 && all_expected,
		   "round %d (%s): that id is chat.pair_chat_id(customer, stylist)", round, how);
		ok(rows_by_pair == 1 && rows_by_id == 1,
		   "round %d (%s): exactly one row in chat.chats for the pair "
		   "(%ld by pair, %ld by id)", round, how, rows_by_pair, rows_by_id);
		ok(fresh == 1,
		   "round %d (%s): the new chat has no messages and a zero read state", round, how);
	}

	for (int i = 0; i < NCONN; i++)
		PQfinish(conns[i]);
	PQfinish(gate);
	PQfinish(setup);

	if (failures)
		diag("%d of %d tests failed", failures, test_no);
	return failures == 0 ? 0 : 1;
}
