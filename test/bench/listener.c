/*
 * listener.c: a LISTEN/NOTIFY consumer for the benchmark; counts the
 * notifications it receives on one channel.
 *
 * What it measures: nothing by itself.  It is the real-time subscriber of
 * the throughput runs (test/bench/run.sh): the relay's notifications (on an
 * admin's channel, which gets every chat's events) and the naive trigger's
 * must be consumed by somebody, as in production, and the count it prints
 * checks that every message sent was delivered exactly once.
 *
 * How: one libpq connection (PGHOST, PGPORT, PGUSER; database from argv)
 * runs LISTEN "CHANNEL", prints "listening" on stdout and flushes, then
 * waits on the socket with poll() and drains PQnotifies() after every
 * PQconsumeInput().  On SIGTERM or SIGINT it keeps draining until nothing
 * has arrived for 200 ms (so that notifications already committed and on
 * their way are counted), then prints the count as "received N" and exits;
 * it also stops after MAX_SECONDS.
 *
 * With "stall" as a fourth argument it LISTENs and then never reads, until
 * SIGTERM or MAX_SECONDS: a subscriber that has stopped reading its
 * socket (test/scripts/stalled_listener.sh), whose backend fills the
 * socket's buffers and then blocks.
 *
 * Usage: listener DBNAME CHANNEL [MAX_SECONDS [stall]]   (default 3600)
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

static volatile sig_atomic_t stop = 0;

static void
on_signal(int signo)
{
	(void) signo;
	stop = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	char	   *channel;
	char	   *sql;
	double		max_seconds = 3600;
	double		deadline;
	double		quiet_until = 0;
	long long	received = 0;
	struct sigaction sa;

	if (argc < 3 || argc > 5 || (argc == 5 && strcmp(argv[4], "stall") != 0))
	{
		fprintf(stderr, "usage: %s DBNAME CHANNEL [MAX_SECONDS [stall]]\n", argv[0]);
		return 2;
	}
	if (argc >= 4)
		max_seconds = atof(argv[3]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: poll() returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	conn = PQsetdbLogin(NULL, NULL, NULL, NULL, argv[1], NULL, NULL);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "listener: %s", PQerrorMessage(conn));
		return 1;
	}
	channel = PQescapeIdentifier(conn, argv[2], strlen(argv[2]));
	sql = malloc(strlen(channel) + 16);
	if (channel == NULL || sql == NULL)
	{
		fprintf(stderr, "listener: out of memory\n");
		return 1;
	}
	sprintf(sql, "LISTEN %s", channel);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		fprintf(stderr, "listener: %s", PQerrorMessage(conn));
		return 1;
	}
	PQclear(res);
	printf("listening\n");
	fflush(stdout);

	deadline = now_s() + max_seconds;
	if (argc == 5)
	{
		/* stalled: read nothing, ever */
		while (!stop && now_s() < deadline)
			poll(NULL, 0, 100);
		printf("received 0\n");
		PQfinish(conn);
		return 0;
	}
	for (;;)
	{
		struct pollfd pfd;
		double		t = now_s();
		double		left = deadline - t;
		PGnotify   *n;
		int			rc;

		if (stop && quiet_until == 0)
			quiet_until = t + 0.2;
		if (quiet_until != 0 && quiet_until - t < left)
			left = quiet_until - t;
		if (left <= 0)
			break;
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, left > 1 ? 1000 : (int) (left * 1000) + 1);
		if (rc < 0)
		{
			if (errno == EINTR)
				continue;
			perror("listener: poll");
			return 1;
		}
		if (rc == 0)
			continue;
		if (!PQconsumeInput(conn))
		{
			fprintf(stderr, "listener: %s", PQerrorMessage(conn));
			return 1;
		}
		while ((n = PQnotifies(conn)) != NULL)
		{
			received++;
			PQfreemem(n);
			if (quiet_until != 0)
				quiet_until = now_s() + 0.2;
		}
	}

	printf("received %lld\n", received);
	fflush(stdout);
	PQfreemem(channel);
	free(sql);
	PQfinish(conn);
	return 0;
}
