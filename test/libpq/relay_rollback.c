/*
 * relay_rollback.c: the relay worker relays what commits and nothing that
 * rolls back.
 *
 * In the database the worker serves (see listener.h), with fresh random
 * profiles: a customer with two stylists (chats A and R), and an admin;
 * listeners for the customer, the first stylist and the admin.
 *
 * What it tests:
 *   - a message rolled back (a whole transaction, or a savepoint) is never
 *     relayed and leaves chat R's last_seq at 0, while one in a released
 *     savepoint and one of the committing transaction are, once each;
 *   - a rolled-back message whose seq is then reused by a message of the
 *     other participant is relayed once, as that message;
 *   - every payload received during the run is JSON with exactly type,
 *     chat_id, seq, sender_id, ts, without any message text, under 8000
 *     bytes, on the listener's own channel.
 *
 * Usage: relay_rollback DBNAME (a database with stylist_chat installed;
 * host, port and a superuser from PGHOST, PGPORT, PGUSER; the library
 * preloaded).  Output: TAP.  Exit status 0 only when every test passed.
 */
#include "listener.h"

#define NTESTS 3

int
main(int argc, char **argv)
{
	char		c1[37], s1[37], sr[37], adm[37], cw[37], sw[37];
	char		chat_a[40], chat_r[40];
	Listener   *lc1, *ls1, *ladm;
	double		t;

	relay_begin(argc, argv, NTESTS);
	new_profile(c1, "customer", "relay test customer 1");
	new_profile(cw, "customer", "relay test warm-up customer");
	new_profile(s1, "stylist", "relay test stylist 1");
	new_profile(sr, "stylist", "relay test stylist R");
	new_profile(sw, "stylist", "relay test warm-up stylist");
	new_profile(adm, "admin", "relay test admin");

	lc1 = listener_new("customer 1", relay_db, NULL, c1);
	ls1 = listener_new("stylist 1", relay_db, NULL, s1);
	ladm = listener_new("admin", relay_db, NULL, adm);
	warm_up(ladm, cw, sw);
	open_chat(c1, s1, chat_a);
	open_chat(c1, sr, chat_r);
	send_as(setup, c1, chat_a, "before the rollbacks");

	/* 1-2: rolled back */
	{
		Listener   *two[] = {lc1, ladm};
		Listener   *three[] = {lc1, ls1, ladm};
		const char *pc[] = {c1};
		const char *ps[] = {s1};
		const char *qr[] = {chat_r, "rolled back " "SECRET"};
		const char *qa[] = {chat_a, "kept"};
		long		released, kept, marker, reused_c, reused_s;
		int			r_events, fine = 1;

		/* a whole transaction */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "ROLLBACK", 0, NULL);
		/* a savepoint rolled back, one released, in a transaction that commits */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		must_do(setup, "SAVEPOINT a", 0, NULL);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "SAVEPOINT b", 0, NULL);
		must_do(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qr);
		must_do(setup, "ROLLBACK TO SAVEPOINT a", 0, NULL);
		must_do(setup, "SAVEPOINT c", 0, NULL);
		released = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "RELEASE SAVEPOINT c", 0, NULL);
		kept = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "COMMIT", 0, NULL);
		marker = send_as(setup, s1, chat_a, "marker after rollbacks");
		t = wait_for(two, 2, 1, "message", chat_a, marker, s1, 5);
		r_events = count_ev(lc1, "message", chat_r, -1, NULL) + count_ev(ladm, "message", chat_r, -1, NULL);
		for (int i = 0; i < 2; i++)
			if (count_ev(two[i], "message", chat_a, released, c1) != 1 ||
				count_ev(two[i], "message", chat_a, kept, c1) != 1)
				fine = 0;
		ok(t >= 0 && r_events == 0 && fine &&
		   must_long(setup, "SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid", 1, qr) == 0,
		   "messages rolled back (a transaction, a savepoint) were never relayed (%d events), "
		   "those of a released savepoint and of the committed transaction were, once each",
		   r_events);

		/* a rolled-back seq reused by the other participant */
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, pc);
		reused_c = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "ROLLBACK", 0, NULL);
		must_do(setup, "BEGIN", 0, NULL);
		must_do(setup, "SELECT chat.act_as($1::uuid)", 1, ps);
		reused_s = must_long(setup, "SELECT chat.send_message($1::uuid, $2)", 2, qa);
		must_do(setup, "COMMIT", 0, NULL);
		t = wait_for(three, 3, 1, "message", chat_a, reused_s, s1, 5);
		drain_for(200);
		fine = 1;
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "message", chat_a, reused_s, NULL) != 1)
				fine = 0;
		ok(t >= 0 && fine && reused_c == reused_s,
		   "seq %ld, rolled back by the customer and then taken by the stylist, was relayed "
		   "once, as the stylist's", reused_s);
	}

	/* 3: every payload of the run */
	drain_for(300);
	check_all_payloads(NULL, 0);

	return relay_end();
}
