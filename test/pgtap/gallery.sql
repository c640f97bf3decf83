-- test/pgtap/gallery.sql: the gallery of a chat's images and portfolio
-- consent, rule by rule.
BEGIN;
\ir fixtures.psql
SELECT plan(87);

SET client_min_messages = warning;
SELECT chat.upsert_profile(pg_temp.id('alice'), 'customer', 'Alice');
SELECT chat.upsert_profile(pg_temp.id('sam'), 'stylist', 'Sam');
SELECT chat.upsert_profile(pg_temp.id('carol'), 'customer', 'Carol');
SELECT chat.upsert_profile(pg_temp.id('sue'), 'stylist', 'Sue');
SELECT chat.upsert_profile(pg_temp.id('ada'), 'admin', 'Ada');
SELECT chat.upsert_booking(pg_temp.id('b1'), pg_temp.id('alice'), pg_temp.id('sam'), 'Balayage',
                           '2030-01-01 10:00+00', 'confirmed');

-- images, as a message's attachments: key k, n of them named k-1 ... k-n
CREATE FUNCTION pg_temp.images(k text, n integer) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_object('storage_key', k || '-' || i, 'content_type', 'image/jpeg',
                                        'byte_size', 1000 + i, 'width', 640, 'height', 480 + i) ORDER BY i)
      FROM generate_series(1, n) i
$$;
-- the storage keys of a chat's gallery, read page by page with pages of
-- size n, following (seq, position) of each page's last image
CREATE FUNCTION pg_temp.paged(c uuid, n integer) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    keys text[] := '{}';
    b_seq bigint;
    b_pos integer;
    r record;
    got integer;
BEGIN
    LOOP
        got := 0;
        FOR r IN SELECT * FROM chat.gallery(c, b_seq, n, b_pos) LOOP
            keys := keys || r.storage_key;
            b_seq := r.seq;
            b_pos := r.position;
            got := got + 1;
        END LOOP;
        EXIT WHEN got < n;
    END LOOP;
    RETURN keys;
END
$$;
CREATE FUNCTION pg_temp.keys(c uuid) RETURNS text[]
LANGUAGE sql AS $$ SELECT array_agg(storage_key) FROM chat.gallery(c, max_rows => 1000) $$;
CREATE FUNCTION pg_temp.portfolio_keys(stylist text) RETURNS text[]
LANGUAGE sql AS $$ SELECT coalesce(array_agg(storage_key), '{}') FROM chat.portfolio(pg_temp.id(stylist)) $$;

-- alice and sam: 1 three images of alice's (with the booking), 2 two of
-- sam's (the finished look), 3 text, 4 one image, 5 one of sam's, 6 four
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'like these', pg_temp.id('b1'), NULL, pg_temp.images('a1', 3));
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), '', NULL, NULL, pg_temp.images('s2', 2));
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'love it');
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), '', NULL, NULL, pg_temp.images('a4', 1));
SELECT chat.act_as(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'before', NULL, NULL, pg_temp.images('s5', 1));
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.send_message(pg_temp.chat_of('alice', 'sam'), 'next time', NULL, NULL, pg_temp.images('a6', 4));
-- carol with sam, and carol with sue
SELECT chat.act_as(pg_temp.id('carol'));
SELECT chat.chat_with(pg_temp.id('sam'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sam'), '', NULL, NULL, pg_temp.images('cs', 1));
SELECT chat.chat_with(pg_temp.id('sue'));
SELECT chat.send_message(pg_temp.chat_of('carol', 'sue'), '', NULL, NULL, pg_temp.images('cu', 2));

-- The gallery: every image of the chat, newest first (by seq, then
-- position), the same for both participants.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.keys(pg_temp.chat_of('alice', 'sam')),
          '{a6-4,a6-3,a6-2,a6-1,s5-1,a4-1,s2-2,s2-1,a1-3,a1-2,a1-1}'::text[],
          'the gallery lists every image of the chat, newest first');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.keys(pg_temp.chat_of('alice', 'sam')),
          '{a6-4,a6-3,a6-2,a6-1,s5-1,a4-1,s2-2,s2-1,a1-3,a1-2,a1-1}'::text[],
          'the stylist sees the same gallery');
SELECT results_eq($$SELECT seq, position, sender_id, booking_id, byte_size, width, height, portfolio_consent
                      FROM chat.gallery(pg_temp.chat_of('alice', 'sam')) WHERE seq IN (1, 2) ORDER BY seq, position$$,
                  $$VALUES (1::bigint, 1, pg_temp.id('alice'), pg_temp.id('b1'), 1001::bigint, 640, 481, false),
                           (1, 2, pg_temp.id('alice'), pg_temp.id('b1'), 1002, 640, 482, false),
                           (1, 3, pg_temp.id('alice'), pg_temp.id('b1'), 1003, 640, 483, false),
                           (2, 1, pg_temp.id('sam'), NULL, 1001, 640, 481, false),
                           (2, 2, pg_temp.id('sam'), NULL, 1002, 640, 482, false)$$,
                  'each image comes with its message''s seq, its position, the sender, the booking and its metadata');
SELECT is((SELECT bool_and(g.created_at = m.created_at)
             FROM chat.gallery(pg_temp.chat_of('alice', 'sam')) g
             JOIN chat.chat_messages m ON m.chat_id = pg_temp.chat_of('alice', 'sam') AND m.seq = g.seq),
          true, 'created_at is the time its message was sent');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.keys(pg_temp.chat_of('carol', 'sam')), '{cs-1}'::text[],
          'each chat has its own gallery: sam''s chat with carol shows only its image');

-- Paging: a page may end inside a message; the next starts at the last
-- image's (seq, position).  Every page size gives every image once.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.paged(pg_temp.chat_of('alice', 'sam'), n), pg_temp.keys(pg_temp.chat_of('alice', 'sam')),
          format('pages of %s give every image once, in order', n))
  FROM unnest('{1,2,3,5,11,50}'::integer[]) n;
SELECT is((SELECT array_agg(storage_key) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 6, 3, 2)),
          '{a6-1,s5-1,a4-1}'::text[],
          'before_seq 6, before_position 2: the rest of message 6, then the older messages');
SELECT is((SELECT array_agg(storage_key) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 2)),
          '{a1-3,a1-2,a1-1}'::text[],
          'before_seq alone: the images of the messages before it');
SELECT is((SELECT count(*) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 6, 50, 1)), 7::bigint,
          'before_position 1: nothing more of that message');

-- Bad input: one line, a SQLSTATE.
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), max_rows => 0)$$),
          '22023: max_rows must be between 1 and 1000, not 0', 'max_rows 0');
SELECT is((SELECT count(*) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 0)), 0::bigint,
          'before_seq 0: nothing, in a chat without imported history (below seq 1)');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), before_position => 2)$$),
          '22023: before_position must be between 1 and 10 and come with before_seq (hint: Pass the seq and position of the last image of the previous page.)',
          'before_position without before_seq');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 6, 50, 11)$$),
          '22023: before_position must be between 1 and 10 and come with before_seq (hint: Pass the seq and position of the last image of the previous page.)',
          'before_position 11');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(NULL)$$), '22004: chat_id must not be null', 'a NULL chat_id');

-- Outsiders get the one 42501, without an actor 28000, and read nothing
-- of the chat on the way: its images are read only once its row says the
-- actor takes part (the participant reads them, for comparison).
SELECT pg_temp.rows_read('chat.media') AS media_before \gset
SELECT count(*) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'));
SELECT ok(pg_temp.rows_read('chat.media') > :media_before, 'a participant''s gallery reads the chat''s images');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT pg_temp.rows_read('chat.media') AS media_before \gset
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))$$),
          pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.id('made-up chat'))$$),
          'someone else''s gallery is refused as for a chat that does not exist');
SELECT is(pg_temp.rows_read('chat.media') - :media_before, 0::bigint, '... and not one of its images is read');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'), 6, 1000, 1)$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'with paging arguments too');
SELECT chat.act_as(pg_temp.id('ada'));
SELECT is(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an admin is no participant either');
SELECT chat.reset_actor();
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))$$), 6), '28000:',
          'without an actor: 28000');

-- Consent: the customer grants it for any image of the chat, hers or the
-- stylist's; granting again is a no-op.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT lives_ok($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$,
                'the customer grants consent for one of her images');
SELECT lives_ok($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 2, 1)$$,
                'and for one the stylist sent');
SELECT lives_ok($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$,
                'granting again');
SELECT is((SELECT count(*) FROM chat.portfolio_consents WHERE chat_id = pg_temp.chat_of('alice', 'sam')), 2::bigint,
          'granting again made no second consent');
SELECT is((SELECT array_agg(storage_key ORDER BY seq, position) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))
            WHERE portfolio_consent),
          '{a1-2,s2-1}'::text[], 'the gallery says which images have consent in force');

-- Only the customer: the stylist gets 42501 with its own message, an
-- outsider the one 42501, nobody 28000.
SELECT chat.act_as(pg_temp.id('sam'));
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 1)$$),
          '42501: only the customer of the chat may grant portfolio consent (hint: Consent to show an image publicly is the customer''s to give and to take back.)',
          'the stylist cannot grant consent for the customer');
SELECT is(pg_temp.error_of($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$),
          '42501: only the customer of the chat may revoke portfolio consent (hint: Consent to show an image publicly is the customer''s to give and to take back.)',
          'nor revoke it');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 1)$$),
          pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.id('made-up chat'), 1, 1)$$),
          'an outsider''s grant is refused as for a chat that does not exist');
SELECT is(pg_temp.error_of($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an outsider''s revocation too');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 99)$$),
          '42501: chat <id> does not exist or you are not one of its participants (hint: Open a chat with chat.chat_with() or chat.get_or_create_chat().)',
          'an outsider learns nothing of the images from bad arguments');
SELECT chat.reset_actor();
SELECT is(left(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 1)$$), 6), '28000:',
          'without an actor: 28000');

-- Bad input, and images that cannot be shown.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 99, 1)$$),
          '22023: message 99 does not exist in chat <id>', 'a message that does not exist');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 3, 1)$$),
          '22023: message 3 of chat <id> has no image at position 1 (hint: chat.gallery() lists the images of a chat with their seq and position.)',
          'a message without images');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 4)$$),
          '22023: message 1 of chat <id> has no image at position 4 (hint: chat.gallery() lists the images of a chat with their seq and position.)',
          'a position past the message''s images');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 0)$$),
          '22023: position must be between 1 and 10, not 0 (hint: The position of an image within its message, as chat.gallery() lists it.)',
          'position 0');
SELECT is(pg_temp.error_of($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 11)$$),
          '22023: position must be between 1 and 10, not 11 (hint: The position of an image within its message, as chat.gallery() lists it.)',
          'position 11, when revoking too');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), NULL, 1)$$),
          '22004: seq must not be null', 'a NULL seq');
SELECT is(pg_temp.error_of($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, NULL)$$),
          '22004: position must not be null', 'a NULL position');
SELECT is((SELECT count(*) FROM chat.portfolio_consents), 2::bigint, 'the refused calls wrote nothing');

-- The portfolio: newest consent first, for chat_service, without the
-- customer, the chat or the message.
SELECT is(pg_temp.portfolio_keys('sam'), '{s2-1,a1-2}'::text[], 'sam''s portfolio, newest consent first');
SELECT is((SELECT array_agg(a.n::text ORDER BY a.i) FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(n, m, i)
            WHERE p.oid = 'chat.portfolio(uuid,bigint,integer)'::regprocedure AND a.m = 't'),
          '{consent_id,granted_at,storage_key,content_type,byte_size,width,height}'::text[],
          'portfolio() returns the image and the consent time, and no more');
SELECT is((SELECT count(*) FROM chat.portfolio(pg_temp.id('sam')) p
            WHERE row_to_json(p)::text ~* concat_ws('|', pg_temp.id('alice'), pg_temp.chat_of('alice', 'sam'), 'alice')),
          0::bigint, 'nothing in the portfolio names the customer or the chat');
SELECT results_eq($$SELECT storage_key FROM chat.portfolio(pg_temp.id('sam'), max_rows => 1)
                    UNION ALL
                    SELECT storage_key FROM chat.portfolio(pg_temp.id('sam'),
                        (SELECT consent_id FROM chat.portfolio(pg_temp.id('sam'), max_rows => 1)), 1)$$,
                  $$VALUES ('s2-1'), ('a1-2')$$,
                  'pages of the portfolio follow the last consent_id');
SELECT chat.reset_actor();
SELECT is(pg_temp.portfolio_keys('sam'), '{s2-1,a1-2}'::text[], 'the portfolio needs no actor');
SELECT chat.act_as(pg_temp.id('carol'));
SELECT is(pg_temp.portfolio_keys('sam'), '{s2-1,a1-2}'::text[], 'and is the same whoever acts');
SELECT is(pg_temp.portfolio_keys('sue'), '{}'::text[], 'another stylist''s portfolio is empty');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.portfolio(pg_temp.id('alice'))$$),
          '22023: profile <id> is not a stylist', 'a customer has no portfolio');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.portfolio(NULL)$$), '22004: stylist_id must not be null',
          'a NULL stylist_id');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.portfolio(pg_temp.id('sam'), 0)$$),
          '22023: before_consent_id must be positive, not 0 (hint: Pass the consent_id of the last image of the previous page, or NULL for the newest.)',
          'before_consent_id 0');
SELECT is(pg_temp.error_of($$SELECT * FROM chat.portfolio(pg_temp.id('sam'), NULL, 1001)$$),
          '22023: max_rows must be between 1 and 1000, not 1001', 'max_rows 1001');

-- Who may read it: chat_service any stylist's; an end user only their own,
-- through my_portfolio().
SELECT ok(has_function_privilege('chat_service', 'chat.portfolio(uuid,bigint,integer)', 'EXECUTE')
          AND NOT has_function_privilege('chat_user', 'chat.portfolio(uuid,bigint,integer)', 'EXECUTE'),
          'portfolio(stylist_id) is for chat_service, not for end users');
CREATE ROLE regress_gallery_user IN ROLE chat_user;
SET ROLE regress_gallery_user;
SELECT is(left(pg_temp.error_of($$SELECT * FROM chat.portfolio(pg_temp.id('sam'))$$), 6), '42501:',
          'an end user reading a stylist''s portfolio gets 42501');
RESET ROLE;
SELECT chat.act_as(pg_temp.id('sam'));
SELECT results_eq($$SELECT storage_key, chat_id, seq, position FROM chat.my_portfolio()$$,
                  $$VALUES ('s2-1', pg_temp.chat_of('alice', 'sam'), 2::bigint, 1),
                           ('a1-2', pg_temp.chat_of('alice', 'sam'), 1::bigint, 2)$$,
                  'the stylist reads their own portfolio, with where each image comes from');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.error_of($$SELECT * FROM chat.my_portfolio()$$),
          '42501: only a stylist has a portfolio (hint: A customer sees which of their images are in a portfolio in chat.gallery().)',
          'a customer has no portfolio of her own');

-- Revocation takes effect at once; revoking what is not granted is a
-- no-op.  Every grant and revocation is kept, with who and when.
SELECT lives_ok($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$,
                'the customer revokes a consent');
SELECT is(pg_temp.portfolio_keys('sam'), '{s2-1}'::text[], 'the revoked image left the portfolio at once');
SELECT is((SELECT portfolio_consent FROM chat.gallery(pg_temp.chat_of('alice', 'sam')) WHERE seq = 1 AND position = 2),
          false, 'and the gallery says so');
SELECT lives_ok($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2)$$, 'revoking again');
SELECT lives_ok($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 1)$$,
                'revoking what was never granted');
SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 2);
SELECT results_eq($$SELECT granted_by, revoked_by, revoked_at IS NOT NULL, storage_key
                      FROM chat.portfolio_consents
                     WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 1 ORDER BY id$$,
                  $$VALUES (pg_temp.id('alice'), pg_temp.id('alice'), true, 'a1-2'),
                           (pg_temp.id('alice'), NULL, false, 'a1-2')$$,
                  'the evidence: the first grant and its revocation, and the new grant');
SELECT is(pg_temp.portfolio_keys('sam'), '{a1-2,s2-1}'::text[], 'granted anew, the image is back, as the newest');

-- A hidden or deleted message's image leaves the portfolio at once; its
-- consent is kept.
SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 4, 1);
SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 5, 1);
SELECT is(pg_temp.portfolio_keys('sam'), '{s5-1,a4-1,a1-2,s2-1}'::text[], 'two more images in the portfolio');
SELECT chat.delete_message(pg_temp.chat_of('alice', 'sam'), 4);
SELECT chat.act_as(pg_temp.id('ada'));
SELECT chat.hide_message(pg_temp.chat_of('alice', 'sam'), 5, 'test');
SELECT is(pg_temp.portfolio_keys('sam'), '{a1-2,s2-1}'::text[], 'the deleted and the hidden image left the portfolio');
SELECT chat.act_as(pg_temp.id('alice'));
SELECT is(pg_temp.keys(pg_temp.chat_of('alice', 'sam')),
          '{a6-4,a6-3,a6-2,a6-1,s2-2,s2-1,a1-3,a1-2,a1-1}'::text[],
          'and the gallery: the deleted message''s image is gone, the hidden one''s not shown');
SELECT is((SELECT count(*) FROM chat.portfolio_consents
            WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq IN (4, 5) AND revoked_at IS NULL),
          2::bigint, 'their consents are kept as they were');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 4, 1)$$),
          '55000: message 4 of chat <id> is deleted (hint: The images of a deleted or hidden message cannot go into a portfolio.)',
          'a deleted message''s image cannot be granted');
SELECT is(pg_temp.error_of($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 5, 1)$$),
          '55000: message 5 of chat <id> is hidden (hint: The images of a deleted or hidden message cannot go into a portfolio.)',
          'nor a hidden message''s');
SELECT lives_ok($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 4, 1)$$,
                'the consent of a deleted image can still be revoked');
SELECT is((SELECT storage_key || ' ' || (revoked_by = pg_temp.id('alice')) FROM chat.portfolio_consents
            WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 4),
          'a4-1 true', 'the evidence of a deleted image names it and its revocation');
-- A revocation is never dated before its grant, even when the revoking
-- transaction began before the granting one committed (here the grant is
-- dated a second ahead, as if it had).
INSERT INTO chat.portfolio_consents (chat_id, stylist_id, seq, position, storage_key, granted_at, granted_by)
VALUES (pg_temp.chat_of('alice', 'sam'), pg_temp.id('sam'), 1, 3, 'a1-3', now() + interval '1 second', pg_temp.id('alice'));
SELECT lives_ok($$SELECT chat.revoke_portfolio_consent(pg_temp.chat_of('alice', 'sam'), 1, 3)$$,
                'a consent granted after the revoking transaction began is revoked');
SELECT is((SELECT revoked_at = granted_at FROM chat.portfolio_consents
            WHERE chat_id = pg_temp.chat_of('alice', 'sam') AND seq = 1 AND position = 3),
          true, 'its revocation is dated at its grant, not before');
SELECT ok(NOT EXISTS (SELECT FROM pg_constraint
                       WHERE conrelid = 'chat.portfolio_consents'::regclass AND contype = 'f'
                         AND confrelid <> 'chat.chats'::regclass),
          'no foreign key ties the evidence to messages or media: deleting them keeps it');

-- Consent is per chat: carol's consent in her chat with sue is sue's
-- portfolio, not sam's.  A blocked chat still takes consent.
SELECT chat.act_as(pg_temp.id('sue'));
SELECT chat.block(pg_temp.chat_of('carol', 'sue'));
SELECT chat.act_as(pg_temp.id('carol'));
SELECT lives_ok($$SELECT chat.grant_portfolio_consent(pg_temp.chat_of('carol', 'sue'), 1, 2)$$,
                'consent is granted in a blocked chat too');
SELECT is(pg_temp.portfolio_keys('sue'), '{cu-2}'::text[], 'sue''s portfolio has carol''s image');
SELECT is(pg_temp.portfolio_keys('sam'), '{a1-2,s2-1}'::text[], 'sam''s does not');

-- The evidence is append-only: nothing but a revocation changes a row,
-- not even for the extension owner; only the owner deletes.
SELECT is(pg_temp.error_of($$UPDATE chat.portfolio_consents SET granted_by = pg_temp.id('sam')$$),
          '42501: portfolio consents are evidence: a consent is only ever revoked, once',
          'a consent''s grant cannot be rewritten');
SELECT is(pg_temp.error_of($$UPDATE chat.portfolio_consents SET revoked_at = NULL, revoked_by = NULL WHERE revoked_at IS NOT NULL$$),
          '42501: portfolio consents are evidence: a consent is only ever revoked, once',
          'nor a revocation undone');
CREATE ROLE regress_gallery_su SUPERUSER;
SET ROLE regress_gallery_su;
SELECT is(pg_temp.error_of($$DELETE FROM chat.portfolio_consents$$),
          '42501: portfolio consents are evidence: they are not deleted',
          'a superuser who is not the extension owner cannot delete the evidence');
SELECT is(pg_temp.error_of($$TRUNCATE chat.portfolio_consents$$),
          '42501: portfolio consents are evidence: they are not deleted',
          'nor truncate it');
RESET ROLE;

-- Clearing one's history clears one's gallery, not the other's, nor the
-- portfolio.
SELECT chat.act_as(pg_temp.id('alice'));
SELECT chat.clear_history(pg_temp.chat_of('alice', 'sam'));
SELECT is((SELECT count(*) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
          'after clear_history the customer''s gallery is empty');
SELECT chat.act_as(pg_temp.id('sam'));
SELECT isnt((SELECT count(*) FROM chat.gallery(pg_temp.chat_of('alice', 'sam'))), 0::bigint,
            'the stylist still sees the images');
SELECT is(pg_temp.portfolio_keys('sam'), '{a1-2,s2-1}'::text[], 'and the portfolio is as it was');

SELECT * FROM finish();
ROLLBACK;
