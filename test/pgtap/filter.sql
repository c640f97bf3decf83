-- test/pgtap/filter.sql: the filter of contact details and payment handles
-- (README, "Filtering contact details").
--
--   1. without a rule nothing is filtered;
--   2. a rule is checked when it is added: it compiles, has no
--      back-reference, is quick on hard long messages, and there are at
--      most 50;
--   3. a realistic set: phone numbers and e-mail addresses masked, payment
--      handles flagged, IBANs held; what each participant and an admin
--      sees; edits and deletes; a message several rules match;
--   4. held messages: pending for their sender, invisible to the other,
--      approved (sent then, with the next seq) or rejected (with a reason);
--   5. rules removed; erasure of a filtered sender; who may.
BEGIN;
\ir fixtures.psql
SELECT plan(75);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
CREATE FUNCTION pg_temp.send(body text, client uuid DEFAULT NULL, attachments jsonb DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
    SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), body, client_msg_id => client, attachments => attachments)
$$;
CREATE FUNCTION pg_temp.body(seq bigint) RETURNS text LANGUAGE sql AS $$
    SELECT body FROM chat.history(pg_temp.chat_of('alice', 'sam'), max_rows => 1000) h WHERE h.seq = $1
$$;

-- 1. no rule
SELECT is(pg_temp.send('call me on 0171 2345678'), 1::bigint, 'without a rule, a message goes through');
SELECT is(pg_temp.body(1), 'call me on 0171 2345678', 'as written');
SELECT is((SELECT count(*) FROM chat.filtered_messages), 0::bigint, 'and nothing is recorded');

-- 2. adding rules
SELECT throws_ok($$SELECT chat.add_filter_rule('phone', '[0-9]{8,}', 'mask')$$, '42501', 'only an admin may do this',
                 'alice may not add a rule');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(pg_temp.error_of($$SELECT chat.add_filter_rule('x', '(a', 'mask')$$),
          '2201B: invalid filter pattern (a: parentheses () not balanced (hint: Patterns are PostgreSQL regular expressions (the ~ operator); (?i) at the start ignores case.)',
          'a pattern that does not compile is refused, with the reason');
SELECT is(pg_temp.error_of($$SELECT chat.add_filter_rule('x', '(ab)\1', 'mask')$$),
          '2201B: filter pattern (ab)\1 has a back-reference (hint: Write the repeated part out, or leave it out.)',
          'a back-reference is refused');
SELECT is(pg_temp.error_of($$SELECT chat.add_filter_rule('x', '(((a{0,10}){0,10}){0,10}){0,10}b', 'mask')$$),
          '2201B: invalid filter pattern (((a{0,10}){0,10}){0,10}){0,10}b: regular expression is too complex (hint: Patterns are PostgreSQL regular expressions (the ~ operator); (?i) at the start ignores case.)',
          'a pattern whose automaton would blow up is refused');
SELECT matches(pg_temp.error_of($$SELECT chat.add_filter_rule('x', '(a?){1,255}a{255}x|(a?){1,255}a{255}y|(a?){1,255}a{255}z', 'mask')$$),
               '^2201B: filter pattern .* is too slow: [0-9]+ ms on a message of 4000 characters',
               'a pattern that crawls on a hard message of 4000 characters is refused');
SELECT throws_ok($$SELECT chat.add_filter_rule('x', '(?x) a b', 'mask')$$, '2201B',
                 'filter pattern (?x) a b has embedded options other than a leading (?i)',
                 'embedded options other than a leading (?i) are refused: the rules are joined into one pattern');
SELECT throws_ok($$SELECT chat.add_filter_rule('x', 'a(?i)b', 'mask')$$, '2201B', NULL, 'so is (?i) further on');
SELECT throws_ok($$SELECT chat.add_filter_rule('x', '', 'mask')$$, '2201B', NULL, 'an empty pattern is refused');
SELECT throws_ok($$SELECT chat.add_filter_rule('x', repeat('a', 301), 'mask')$$, '2201B', NULL, 'so is one of more than 300 characters');
SELECT throws_ok($$SELECT chat.add_filter_rule('x', 'a', 'block')$$, '22023', 'invalid filter action "block"', 'an unknown action is refused');
SELECT throws_ok($$SELECT chat.add_filter_rule(NULL, 'a', 'mask')$$, '22004', NULL, 'a rule needs a name');
SELECT is((SELECT count(*) FROM chat.filter_rules), 0::bigint, 'none of them was added');

-- 3. a realistic set
SELECT lives_ok($$SELECT chat.add_filter_rule('phone', '(\+|00)?[0-9][0-9 ./-]{6,}[0-9]', 'mask')$$, 'phone numbers: masked');
SELECT lives_ok($$SELECT chat.add_filter_rule('email', '(?i)[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}', 'mask')$$, 'e-mail addresses: masked');
SELECT lives_ok($$SELECT chat.add_filter_rule('payment', '(?i)paypal(\.me)?|venmo|revolut', 'flag')$$, 'payment handles: flagged');
SELECT lives_ok($$SELECT chat.add_filter_rule('iban', '(?i)\m[a-z]{2}[0-9]{2}( ?[a-z0-9]{4}){3,7}', 'hold')$$, 'IBANs: held');
SELECT throws_ok($$SELECT chat.add_filter_rule('phone', 'x', 'flag')$$, '23505', 'a filter rule named "phone" exists already',
                 'names are unique');
SELECT results_eq($$SELECT ci_pattern, cs_pattern FROM chat.filter_state$$,
    $$VALUES ('(?i)(?:[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,})|(?:paypal(\.me)?|venmo|revolut)|(?:\m[a-z]{2}[0-9]{2}( ?[a-z0-9]{4}){3,7})',
              '(?:(\+|00)?[0-9][0-9 ./-]{6,}[0-9])')$$,
    'the rules are joined into one pattern ignoring case and one that does not, which the send path tries first');

SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.send('call me on +49 171 2345678 or write to alice@example.com'), 2::bigint, 'a message with a phone number and an address is sent');
SELECT is(pg_temp.body(2), 'call me on [removed] or write to [removed]', 'alice sees it masked');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.body(2), 'call me on [removed] or write to [removed]', 'so does sam');
SELECT is((SELECT count(*) FROM chat.search(pg_temp.chat_of('alice', 'sam'), 'example')), 0::bigint, 'search does not find the address');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is((SELECT body FROM chat.admin_history(pg_temp.chat_of('alice', 'sam'), 'filter check') WHERE seq = 2),
          'call me on +49 171 2345678 or write to alice@example.com', 'an admin reads it as written');
SELECT results_eq($$SELECT rules FROM chat.filtered_messages WHERE seq = 2$$, $$VALUES ('{phone,email}'::text[])$$,
                  'the filter records which rules matched');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.send('pay me with PayPal, 0171 9999999'), 3::bigint, 'a message with a payment handle is sent');
SELECT is(pg_temp.body(3), 'pay me with PayPal, [removed]', 'flagged as written, masked where a mask rule matched');
SELECT results_eq(
    $$SELECT reporter_id, seq, reason, note, status FROM chat.reports$$,
    $$VALUES ('00000000-0000-0000-0000-000000000000'::uuid, 3::bigint, 'off_platform', 'filter: phone, payment', 'open')$$,
    'a report is filed by the filter for the admins');
SELECT is(chat.edit_message(pg_temp.chat_of('alice', 'sam'), 3, 'pay me with PayPal please')::text, '', 'alice edits it');
SELECT is((SELECT count(*) FROM chat.reports), 1::bigint, 'one report a message, whatever its edits');
SELECT results_eq($$SELECT rules, original_body FROM chat.filtered_messages WHERE seq = 3$$,
                  $$VALUES ('{payment}'::text[], 'pay me with PayPal please')$$, 'the record follows the edit');
SELECT is(chat.edit_message(pg_temp.chat_of('alice', 'sam'), 3, 'never mind')::text, '', 'an edit without anything the rules match');
SELECT is((SELECT count(*) FROM chat.filtered_messages WHERE seq = 3), 0::bigint, 'leaves no record');
SELECT is(chat.edit_message(pg_temp.chat_of('alice', 'sam'), 3, 'now 0171 1234567')::text, '', 'an edit with a phone number');
SELECT is(pg_temp.body(3), 'now [removed]', 'is masked');
SELECT throws_ok($$SELECT chat.edit_message(pg_temp.chat_of('alice', 'sam'), 3, 'IBAN DE89 3704 0044 0532 0130 00')$$, '55000', NULL,
                 'an edit a hold rule matches is refused: what was delivered cannot wait for a moderator');
SELECT is(pg_temp.body(3), 'now [removed]', 'and changes nothing');
SELECT lives_ok($$SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 3)$$, 'alice deletes it');
SELECT is((SELECT count(*) FROM chat.filtered_messages WHERE seq = 3), 0::bigint, 'and the text as written goes with it');

-- 4. held
SELECT is(pg_temp.send('my IBAN: DE89 3704 0044 0532 0130 00', 'cccccccc-0000-4000-8000-000000000001'), NULL,
          'a message with an IBAN is held: send_message() returns NULL');
SELECT is(pg_temp.send('my IBAN: DE89 3704 0044 0532 0130 00', 'cccccccc-0000-4000-8000-000000000001'), NULL,
          'its retry too, without holding it twice');
SELECT results_eq(
    $$SELECT held_id = (SELECT min(id) FROM chat.held_messages), body, status FROM chat.pending_messages(pg_temp.chat_of('alice', 'sam'))$$,
    $$VALUES (true, 'my IBAN: DE89 3704 0044 0532 0130 00', 'held')$$,
    'alice sees it pending, as she wrote it');
SELECT is((SELECT last_seq FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 3::bigint, 'it has no seq: the chat''s last is still 3');
SELECT is(pg_temp.send('and my photo', attachments => '[{"storage_key": "alice/iban.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]'), 4::bigint,
          'her next message is seq 4');
SELECT is(pg_temp.send('IBAN again, with a photo: GB33BUKB20201555555555',
                       attachments => '[{"storage_key": "alice/held.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]'),
          NULL, 'another held message, with an image');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT count(*) FROM chat.history(pg_temp.chat_of('alice', 'sam')) WHERE body ~ 'IBAN'), 0::bigint, 'sam sees neither');
SELECT is((SELECT count(*) FROM chat.pending_messages()), 0::bigint, 'nor are they his to see pending');
-- someone outside the chat asks for them by the chat: 42501, and not one
-- of its held messages is read first (alice's own call reads them)
SELECT pg_temp.rows_read('chat.held_messages') AS held_before \gset
SELECT chat.act_as(pg_temp.id('alice'));
SELECT count(*) FROM chat.pending_messages(pg_temp.chat_of('alice', 'sam'));
SELECT ok(pg_temp.rows_read('chat.held_messages') > :held_before, 'alice''s pending messages of the chat are read from its held ones');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT pg_temp.rows_read('chat.held_messages') AS held_before \gset
SELECT throws_ok($$SELECT * FROM chat.pending_messages(pg_temp.chat_of('alice', 'sam'))$$, '42501', NULL,
                 'ada, an admin but not in the chat, asks for its pending messages: 42501');
SELECT is(pg_temp.rows_read('chat.held_messages') - :held_before, 0::bigint, '... and not one of its held messages is read');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 3, 'nor are they unread (alice''s 2, 3 deleted, and 4)');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq(
    $$SELECT sender_id, rules, status FROM chat.admin_held_messages()$$,
    $$VALUES (pg_temp.id('alice'), '{phone,iban}'::text[], 'held'), (pg_temp.id('alice'), '{phone,iban}'::text[], 'held')$$,
    'admins see both in their queue, with the rules that matched (the phone rule matches an IBAN''s digits too)');
CREATE TEMP TABLE held AS SELECT held_id FROM chat.admin_held_messages() ORDER BY held_id;
SELECT is(chat.approve_held_message(pg_temp.chat_of('alice', 'sam'), (SELECT min(held_id) FROM held)), 5::bigint,
          'approve_held_message() sends the first now: seq 5');
SELECT results_eq(
    $$SELECT seq, sender_id, body, client_msg_id FROM chat.chat_messages WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 5$$,
    $$VALUES (5::bigint, pg_temp.id('alice'), 'my IBAN: DE[removed]', 'cccccccc-0000-4000-8000-000000000001'::uuid)$$,
    'as alice''s, masked where a mask rule matched, with her client_msg_id');
SELECT is((SELECT original_body FROM chat.filtered_messages WHERE seq = 5), 'my IBAN: DE89 3704 0044 0532 0130 00',
          'the filter keeps it as written, for admins');
SELECT throws_ok($$SELECT chat.approve_held_message(pg_temp.chat_of('alice', 'sam'), (SELECT min(held_id) FROM held))$$, '55000', NULL,
                 'a decided message is not approved again');
SELECT lives_ok($$SELECT chat.reject_held_message(pg_temp.chat_of('alice', 'sam'), (SELECT max(held_id) FROM held), 'no bank details, please')$$,
                'reject_held_message() rejects the second');
SELECT results_eq($$SELECT storage_key, reason FROM chat.orphaned_images$$, $$VALUES ('alice/held.jpg', 'rejected')$$,
                  'its image is queued for deletion');
SELECT throws_ok($$SELECT chat.reject_held_message(pg_temp.chat_of('alice', 'sam'), (SELECT max(held_id) FROM held), 'again')$$, '55000', NULL,
                 'and not rejected again');
SELECT throws_ok($$SELECT chat.approve_held_message(pg_temp.chat_of('alice', 'sam'), 999999)$$, '22023', NULL,
                 'an unknown held message: 22023');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.body(5), 'my IBAN: DE[removed]', 'sam reads the approved message');
SELECT is((SELECT unread_count FROM chat.get_chat(pg_temp.chat_of('alice', 'sam'))), 4, 'as one more unread');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT results_eq($$SELECT status, reason FROM chat.pending_messages()$$, $$VALUES ('rejected', 'no bank details, please')$$,
                  'alice sees the rejected one, and why');
SELECT is(pg_temp.send('my IBAN: DE89 3704 0044 0532 0130 00', 'cccccccc-0000-4000-8000-000000000001'), 5::bigint,
          'a retry of the approved one returns its seq');

-- 5. rules removed, erasure, who may
SELECT chat.act_as(pg_temp.id('ada'));
SELECT results_eq($$SELECT name, matched FROM chat.admin_filter_rules()$$,
                  $$VALUES ('phone', 2::bigint), ('email', 1), ('payment', 0), ('iban', 1)$$,
                  'admin_filter_rules() lists the rules, and what each matched');
SELECT is((SELECT count(*) FROM chat.erase_profile(pg_temp.id('alice'), 'erasure')) >= 1, true, 'alice is erased');
SELECT is((SELECT count(*) FROM chat.filtered_messages) + (SELECT count(*) FROM chat.held_messages WHERE body IS NOT NULL), 0::bigint,
          'and what the filter kept of her text goes with her');
SELECT is(chat.remove_filter_rule('phone') AND chat.remove_filter_rule('email') AND chat.remove_filter_rule('payment')
          AND chat.remove_filter_rule('iban'), true, 'the rules are removed');
SELECT is(chat.remove_filter_rule('phone'), false, 'once');
SELECT results_eq($$SELECT ci_pattern, cs_pattern FROM chat.filter_state$$, $$VALUES (NULL::text, NULL::text)$$,
                  'without a rule, nothing is joined');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.body(chat.send_message(pg_temp.chat_of('alice', 'sam'), 'call 0171 2345678')), 'call 0171 2345678',
          'without rules, nothing is filtered again');
SET LOCAL ROLE chat_user;
SELECT throws_ok($$SELECT chat.add_filter_rule('x', 'a', 'flag')$$, '42501', NULL, 'chat_user may not add rules');
SELECT throws_ok($$SELECT * FROM chat.admin_held_messages()$$, '42501', NULL, 'nor read the queue');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
