/*
 * relay_events.c: the relay worker delivers each kind of chat event, with
 * the right payload, to the customer's, the stylist's and an admin's
 * private channels.
 *
 * In the database the worker serves (see listener.h), with fresh random
 * profiles: one chat of a customer and a stylist, and an admin; a listener
 * for each of the three profiles.
 *
 * What it tests:
 *   - a new chat (chat_created, seq 0, sender_id = the customer who opened
 *     it) reaches the three channels;
 *   - a message reaches them once each; its payload is JSON with exactly
 *     type, chat_id, seq, sender_id, ts, with the right values, no body
 *     text, under 8000 bytes, on the listener's own channel;
 *     relay_status().events_relayed grows;
 *   - an edit (type edited), a delete (type deleted), a read mark (type
 *     read, seq = the new read mark, sender_id = the reader) and an admin's
 *     hide_message (type hidden, sender_id = the admin) reach the three
 *     channels;
 *   - a pin (type pinned) and an unpin (type unpinned) of a message, with
 *     its seq and sender_id = the participant who pinned or unpinned, reach
 *     the three channels;
 *   - a reaction (type reaction, the message's seq, sender_id = who
 *     reacted) reaches the three channels;
 *   - a booking of the pair posts a booking card: a message event whose
 *     sender_id is null;
 *   - the customer grants, then revokes, portfolio consent for an image
 *     (type consent, the image's message's seq, sender_id = the customer):
 *     each reaches the three channels;
 *   - typing: two calls within a second make one event, one more call a
 *     second later makes a second event;
 *   - archive, mute, unmute, unarchive and clear_history change only the
 *     actor's view: the only event of them is clear_history's read mark
 *     (type read, seq = the seq cleared up to, sender_id = the actor);
 *   - every payload received during the run is such JSON, without any
 *     message text, under 8000 bytes, on the listener's own channel.
 *
 * Usage: relay_events DBNAME (a database with stylist_chat installed; host,
 * port and a superuser from PGHOST, PGPORT, PGUSER; the library preloaded).
 * Output: TAP.  Exit status 0 only when every test passed.
 */
#include "listener.h"

#define NTESTS 18

int
main(int argc, char **argv)
{
	char		c1[37], s1[37], adm[37], cw[37], sw[37];
	char		chat_a[40];
	Listener   *lc1, *ls1, *ladm;
	Listener   *three[3];
	double		t;

	relay_begin(argc, argv, NTESTS);
	new_profile(c1, "customer", "relay test customer 1");
	new_profile(cw, "customer", "relay test warm-up customer");
	new_profile(s1, "stylist", "relay test stylist 1");
	new_profile(sw, "stylist", "relay test warm-up stylist");
	new_profile(adm, "admin", "relay test admin");

	three[0] = lc1 = listener_new("customer 1", relay_db, NULL, c1);
	three[1] = ls1 = listener_new("stylist 1", relay_db, NULL, s1);
	three[2] = ladm = listener_new("admin", relay_db, NULL, adm);
	warm_up(ladm, cw, sw);

	/* 1: a new chat */
	open_chat(c1, s1, chat_a);
	t = wait_for(three, 3, 1, "chat_created", chat_a, 0, c1, 5);
	ok(t >= 0, "chat_created (seq 0, sender_id = the customer who opened it) reached the "
	   "customer, the stylist and the admin (%.3f s)", t);

	/* 2-4: a message, its payload, the counter */
	{
		long		before = events_relayed();
		char		body[128];
		long		seq;
		int			once = 1, payload_ok = 1;

		snprintf(body, sizeof(body), "hello %s", secret);
		seq = send_as(setup, c1, chat_a, body);
		t = wait_for(three, 3, 1, "message", chat_a, seq, c1, 5);
		drain_for(200);
		for (int i = 0; i < 3; i++)
		{
			Listener   *l = three[i];

			if (count_ev(l, "message", chat_a, seq, NULL) != 1)
				once = 0;
			for (int j = 0; j < l->nev; j++)
			{
				Event	   *e = &l->ev[j];

				if (strcmp(e->type, "message") != 0 || e->seq != seq || strcmp(e->chat, chat_a) != 0)
					continue;
				if (!e->valid || e->leaks || e->len >= 8000 || strcmp(e->sender, c1) != 0 ||
					strcmp(e->relname, l->channel) != 0)
				{
					payload_ok = 0;
					diag("%s got on %s: %s", l->name, e->relname, e->payload);
				}
			}
		}
		ok(t >= 0 && once, "a message reached the customer's, the stylist's and the admin's "
		   "channel, once each (%.3f s)", t);
		ok(t >= 0 && payload_ok,
		   "its payload is JSON with exactly type, chat_id, seq, sender_id, ts, the right values, "
		   "no message text, under 8000 bytes, on the listener's own channel");
		{
			long		after = events_relayed();

			ok(after > before, "relay_status().events_relayed grew: %ld, then %ld", before, after);
		}

		/* 5-8: edit, delete, read, hide */
		{
			const char *p[] = {chat_a, NULL, NULL};
			char		seqtxt[32];
			char		newbody[128];
			long		readmark;

			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			snprintf(newbody, sizeof(newbody), "hello again %s", secret);
			p[1] = seqtxt;
			p[2] = newbody;
			call_as(setup, c1, "SELECT 0 FROM chat.edit_message($1::uuid, $2::bigint, $3)", 3, p);
			t = wait_for(three, 3, 1, "edited", chat_a, seq, c1, 5);
			ok(t >= 0, "an edit (type edited, the message's seq, sender_id = the editor) "
			   "reached the three channels (%.3f s)", t);

			seq = send_as(setup, c1, chat_a, "to be deleted");
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			call_as(setup, c1, "SELECT 0 FROM chat.delete_message($1::uuid, $2::bigint)", 2, p);
			t = wait_for(three, 3, 1, "deleted", chat_a, seq, c1, 5);
			ok(t >= 0, "a delete (type deleted, the message's seq, sender_id = the sender) "
			   "reached the three channels (%.3f s)", t);

			send_as(setup, c1, chat_a, "one more");
			readmark = call_as(setup, s1, "SELECT chat.mark_read($1::uuid)", 1, p);
			t = wait_for(three, 3, 1, "read", chat_a, readmark, s1, 5);
			ok(t >= 0 && readmark >= 3, "a read mark (type read, seq = the new read mark %ld, "
			   "sender_id = the reader) reached the three channels (%.3f s)", readmark, t);

			/* a moderator hides a message: the participants hear of it */
			seq = send_as(setup, c1, chat_a, "to be hidden");
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			p[2] = "relay test: hidden";
			call_as(setup, adm, "SELECT 0 FROM chat.hide_message($1::uuid, $2::bigint, $3)", 3, p);
			t = wait_for(three, 3, 1, "hidden", chat_a, seq, adm, 5);
			ok(t >= 0, "a hide (type hidden, the message's seq, sender_id = the admin) "
			   "reached the three channels (%.3f s)", t);

			/* 9-10: the stylist pins a message, then unpins it */
			seq = send_as(setup, c1, chat_a, "to be pinned");
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			call_as(setup, s1, "SELECT 0 FROM chat.pin($1::uuid, $2::bigint)", 2, p);
			t = wait_for(three, 3, 1, "pinned", chat_a, seq, s1, 5);
			ok(t >= 0, "a pin (type pinned, the message's seq, sender_id = who pinned it) "
			   "reached the three channels (%.3f s)", t);
			call_as(setup, s1, "SELECT 0 FROM chat.unpin($1::uuid, $2::bigint)", 2, p);
			t = wait_for(three, 3, 1, "unpinned", chat_a, seq, s1, 5);
			ok(t >= 0, "an unpin (type unpinned, the message's seq, sender_id = who unpinned it) "
			   "reached the three channels (%.3f s)", t);

			/* 11: the customer reacts to a message */
			p[2] = "\xf0\x9f\x91\x8d";	/* thumbs up */
			call_as(setup, c1, "SELECT 0 FROM chat.react($1::uuid, $2::bigint, $3)", 3, p);
			t = wait_for(three, 3, 1, "reaction", chat_a, seq, c1, 5);
			ok(t >= 0, "a reaction (type reaction, the message's seq, sender_id = who reacted) "
			   "reached the three channels (%.3f s)", t);

			/* 12: a booking of the pair posts a card, which has no sender */
			{
				char		booking[37];
				const char *b[] = {booking, c1, s1};
				long		card;

				new_uuid(booking);
				must_do(setup, "SELECT chat.upsert_booking($1::uuid, $2::uuid, $3::uuid, "
						"'relay test booking', now() + interval '1 day', 'pending')", 3, b);
				card = must_long(setup, "SELECT last_seq FROM chat.chats WHERE chat_id = $1::uuid",
								 1, p);
				t = wait_for(three, 3, 1, "message", chat_a, card, "", 5);
				ok(t >= 0, "a booking card (type message, its seq %ld, sender_id null) reached "
				   "the three channels (%.3f s)", card, t);
			}

			/* 13-14: the customer grants, then revokes, portfolio consent */
			seq = call_as(setup, s1, "SELECT chat.send_message($1::uuid, 'the result', NULL, NULL, "
						  "'[{\"storage_key\": \"relay/result.jpg\", \"content_type\": \"image/jpeg\", "
						  "\"byte_size\": 1, \"width\": 1, \"height\": 1}]')", 1, p);
			snprintf(seqtxt, sizeof(seqtxt), "%ld", seq);
			call_as(setup, c1, "SELECT 0 FROM chat.grant_portfolio_consent($1::uuid, $2::bigint, 1)", 2, p);
			t = wait_for(three, 3, 1, "consent", chat_a, seq, c1, 5);
			ok(t >= 0, "a grant of portfolio consent (type consent, the image's seq, sender_id = "
			   "the customer) reached the three channels (%.3f s)", t);
			call_as(setup, c1, "SELECT 0 FROM chat.revoke_portfolio_consent($1::uuid, $2::bigint, 1)", 2, p);
			t = wait_for(three, 3, 2, "consent", chat_a, seq, c1, 5);
			ok(t >= 0, "its revocation (a second consent event) reached the three channels (%.3f s)", t);
		}
	}

	/* 15-16: typing */
	{
		const char *p[] = {c1};
		const char *q[] = {chat_a};
		long		marker;
		int			one = 1, two = 1;

		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
		/* the queue is in order: once the marker is here, the typing events are too */
		marker = send_as(setup, s1, chat_a, "marker after typing");
		t = wait_for(three, 3, 1, "message", chat_a, marker, NULL, 5);
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "typing", chat_a, -1, c1) != 1)
			{
				one = 0;
				diag("%s got %d typing events", three[i]->name,
					 count_ev(three[i], "typing", chat_a, -1, c1));
			}
		ok(t >= 0 && one, "two typing() calls within a second made one typing event "
		   "(sender_id = the typist) on each of the three channels");

		sleep_ms(1100);
		must_do(setup, "SELECT chat.act_as($1::uuid, true)", 1, p);
		must_do(setup, "SELECT chat.typing($1::uuid)", 1, q);
		must_do(setup, "SELECT chat.reset_actor()", 0, NULL);
		t = wait_for(three, 3, 2, "typing", chat_a, -1, c1, 5);
		drain_for(100);
		for (int i = 0; i < 3; i++)
			if (count_ev(three[i], "typing", chat_a, -1, c1) != 2)
				two = 0;
		ok(t >= 0 && two, "one more typing() call a second later made a second event (%.3f s)", t);
	}

	/* 17: the inbox controls of the customer */
	{
		const char *p[] = {chat_a};
		int			before[3], before_read[3];
		long		cleared, marker;
		int			only_read = 1;

		for (int i = 0; i < 3; i++)
		{
			before[i] = count_ev(three[i], NULL, chat_a, -1, c1);
			before_read[i] = count_ev(three[i], "read", chat_a, -1, c1);
		}
		call_as(setup, c1, "SELECT 0 FROM chat.archive($1::uuid)", 1, p);
		call_as(setup, c1, "SELECT 0 FROM chat.mute($1::uuid)", 1, p);
		call_as(setup, c1, "SELECT 0 FROM chat.unmute($1::uuid)", 1, p);
		call_as(setup, c1, "SELECT 0 FROM chat.unarchive($1::uuid)", 1, p);
		cleared = call_as(setup, c1, "SELECT chat.clear_history($1::uuid)", 1, p);
		/* the queue is in order: once the marker is here, anything before it is too */
		marker = send_as(setup, s1, chat_a, "marker after the inbox controls");
		t = wait_for(three, 3, 1, "message", chat_a, marker, NULL, 5);
		for (int i = 0; i < 3; i++)
		{
			int			all = count_ev(three[i], NULL, chat_a, -1, c1) - before[i];
			int			reads = count_ev(three[i], "read", chat_a, -1, c1) - before_read[i];

			if (all != 1 || reads != 1 || count_ev(three[i], "read", chat_a, cleared, c1) != 1)
			{
				only_read = 0;
				diag("%s got %d events of the customer, %d of them read", three[i]->name, all, reads);
			}
		}
		ok(t >= 0 && only_read, "archive, mute, unmute, unarchive, clear_history: one event on each "
		   "channel, clear_history's read mark %ld", cleared);
	}

	/* 18: every payload of the run */
	drain_for(300);
	check_all_payloads(NULL, 0);

	return relay_end();
}
