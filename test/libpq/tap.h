/*
 * tap.h: what the libpq test clients share: TAP output, random UUIDs, and
 * queries that must succeed.
 *
 * Included by each C file of test/libpq (each a program of its own, built alone
 * by test/run.sh).  Output is serialised by one mutex, so any thread may
 * report.  The functions are static inline so that a program that does not
 * use one of them gets no warning for it.
 */
#ifndef STYLIST_CHAT_TEST_TAP_H
#define STYLIST_CHAT_TEST_TAP_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "libpq-fe.h"

static int	test_no = 0;
static int	failures = 0;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

/* one TAP test: "ok N - ..." or "not ok N - ..." */
static inline void
ok(int cond, const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&out_lock);
	test_no++;
	if (!cond)
		failures++;
	printf("%sok %d - ", cond ? "" : "not ", test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* a diagnostic; each of its lines (server messages have several) behind "# " */
static inline void
diag(const char *fmt,...)
{
	va_list		ap;
	char		buf[4096];
	char	   *line;
	char	   *save = NULL;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&out_lock);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		printf("# %s\n", line);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

/* give up: the runner counts the tests a plan announced and never ran */
static inline void
bail(const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&out_lock);
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

/* a random (version 4) UUID in text form */
static inline void
new_uuid(char out[37])
{
	unsigned char b[16];
	size_t		got = 0;

	while (got < sizeof(b))
	{
		ssize_t		n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno != EINTR)
			bail("getrandom: %s", strerror(errno));
		if (n > 0)
			got += (size_t) n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
			 b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* a query that must succeed; bail out otherwise */
static inline PGresult *
must(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		bail("query failed: %s: %s", sql, PQerrorMessage(conn));
	return res;
}

static inline void
must_do(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	PQclear(must(conn, sql, nparams, params));
}

#endif							/* STYLIST_CHAT_TEST_TAP_H */
