-- test/pgtap/schema.sql: the shape of the chat schema, as the install script
-- promises it.  Every check looks at the catalogs, but one that writes a
-- pair's rows and rolls them back.
BEGIN;
SELECT plan(101);

-- The extension lives in schema chat and cannot be moved out of it.
SELECT has_schema('chat', 'schema chat exists');
SELECT is((SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'stylist_chat'),
          'chat', 'the extension is installed in schema chat');
SELECT is((SELECT extrelocatable FROM pg_extension WHERE extname = 'stylist_chat'),
          false, 'the extension is not relocatable');

-- Exactly these tables and views; nothing else is stored in the schema.
SELECT tables_are('chat', ARRAY['profiles', 'bookings', 'chats', 'chat_messages', 'media',
                                'relay_watermark', 'secrets', 'audit_entries',
                                'token_revocations', 'used_tokens', 'reports', 'pins', 'reactions',
                                'portfolio_consents', 'notifications', 'notification_preferences',
                                'kpi_chats', 'kpi_chat_months', 'kpi_days', 'kpi_stylist_days',
                                'kpi_responses', 'kpi_stylist_responses', 'kpi_pairs', 'kpi_bookings',
                                'kpi_booking_chats', 'kpi_reactivations', 'legacy_messages',
                                'legacy_imports', 'legacy_plan', 'legal_holds', 'privacy_requests',
                                'orphaned_images', 'retention_marks', 'retention_state', 'filter_rules',
                                'filter_state', 'filtered_messages', 'held_messages', 'caught_up'],
                  'schema chat has exactly its thirty-nine tables');
SELECT views_are('chat', ARRAY['my_chats', 'my_messages', 'my_media', 'admin_chats', 'admin_messages',
                               'audit_log', 'admin_blocks', 'admin_reports', '_message_rows'],
                 'schema chat has exactly the eight views and the internal _message_rows');

-- The columns of each table.
SELECT columns_are('chat', 'profiles',
    ARRAY['id', 'role', 'display_name', 'created_at', 'updated_at', 'erased_at'],
    'chat.profiles has its columns');
SELECT columns_are('chat', 'bookings',
    ARRAY['id', 'customer_id', 'customer_role', 'stylist_id', 'stylist_role', 'service',
          'starts_at', 'status', 'created_at', 'updated_at'],
    'chat.bookings has its columns');
SELECT columns_are('chat', 'chats',
    ARRAY['chat_id', 'customer_id', 'customer_role', 'stylist_id', 'stylist_role', 'created_at',
          'last_seq', 'last_message_at', 'customer_read_seq', 'customer_unread',
          'stylist_read_seq', 'stylist_unread', 'customer_delivered_seq', 'stylist_delivered_seq',
          'customer_blocked_at', 'stylist_blocked_at', 'customer_archived_seq', 'stylist_archived_seq',
          'customer_muted_until', 'stylist_muted_until', 'customer_cleared_seq', 'stylist_cleared_seq',
          'activity_minute'],
    'chat.chats has its columns');
SELECT columns_are('chat', 'chat_messages',
    ARRAY['chat_id', 'seq', 'sender_id', 'body', 'booking_id', 'client_msg_id',
          'attachment_count', 'created_at', 'edited_at', 'deleted_at',
          'hidden_at', 'hidden_by', 'hidden_reason', 'reply_to_seq', 'kind', 'card',
          'reaction_count'],
    'chat.chat_messages has its columns');
SELECT columns_are('chat', 'media',
    ARRAY['chat_id', 'seq', 'position', 'storage_key', 'content_type', 'byte_size',
          'width', 'height', 'created_at'],
    'chat.media has its columns');
SELECT columns_are('chat', 'reports',
    ARRAY['chat_id', 'id', 'reporter_id', 'seq', 'reason', 'note', 'status', 'created_at',
          'resolved_at', 'resolved_by', 'resolution_note'],
    'chat.reports has its columns');
SELECT columns_are('chat', 'pins',
    ARRAY['chat_id', 'seq', 'pinned_by', 'note', 'pinned_at', 'expires_at'],
    'chat.pins has its columns');
SELECT columns_are('chat', 'reactions',
    ARRAY['chat_id', 'seq', 'profile_id', 'emoji', 'created_at'],
    'chat.reactions has its columns');
SELECT columns_are('chat', 'portfolio_consents',
    ARRAY['chat_id', 'id', 'stylist_id', 'seq', 'position', 'storage_key', 'granted_at', 'granted_by',
          'revoked_at', 'revoked_by'],
    'chat.portfolio_consents has its columns');
SELECT columns_are('chat', 'kpi_chats',
    ARRAY['chat_id', 'stylist_id', 'noted_seq', 'first_message_at', 'last_message_at',
          'waiting_side', 'waiting_since'],
    'chat.kpi_chats has its columns');
SELECT columns_are('chat', 'kpi_chat_months',
    ARRAY['chat_id', 'month', 'stylist_id', 'first_day', 'day_bits', 'messages'],
    'chat.kpi_chat_months has its columns');
SELECT columns_are('chat', 'kpi_days', ARRAY['day', 'customer_messages', 'stylist_messages'],
    'chat.kpi_days has its columns');
SELECT columns_are('chat', 'kpi_stylist_days',
    ARRAY['stylist_id', 'day', 'customer_messages', 'stylist_messages'],
    'chat.kpi_stylist_days has its columns');
SELECT columns_are('chat', 'kpi_responses', ARRAY['day', 'side', 'bucket', 'responses'],
    'chat.kpi_responses has its columns');
SELECT columns_are('chat', 'kpi_stylist_responses',
    ARRAY['stylist_id', 'day', 'side', 'bucket', 'responses'],
    'chat.kpi_stylist_responses has its columns');
SELECT columns_are('chat', 'kpi_pairs', ARRAY['chat_id', 'customer_id', 'stylist_id', 'booking_days'],
    'chat.kpi_pairs has its columns');
SELECT columns_are('chat', 'kpi_bookings',
    ARRAY['chat_id', 'booking_id', 'stylist_id', 'starts_at', 'repeat', 'rebooked', 'chat_before'],
    'chat.kpi_bookings has its columns');
SELECT columns_are('chat', 'kpi_booking_chats', ARRAY['chat_id', 'booking_id', 'stylist_id', 'starts_at', 'rebooked'],
    'chat.kpi_booking_chats has its columns');
SELECT columns_are('chat', 'kpi_reactivations', ARRAY['chat_id', 'at', 'stylist_id', 'customer_id', 'booked'],
    'chat.kpi_reactivations has its columns');
SELECT columns_are('chat', 'legacy_messages',
    ARRAY['legacy_id', 'legacy_thread_id', 'booking_id', 'sender_id', 'body', 'sent_at', 'attachments', 'staged_id'],
    'chat.legacy_messages has its columns, the loaded ones first (COPY with a column list)');
SELECT columns_are('chat', 'legal_holds',
    ARRAY['chat_id', 'id', 'reason', 'placed_at', 'placed_by', 'released_at', 'released_by', 'release_reason'],
    'chat.legal_holds has its columns');
SELECT columns_are('chat', 'privacy_requests', ARRAY['profile_id', 'id', 'at', 'actor_id', 'action', 'reason', 'summary'],
    'chat.privacy_requests has its columns');
SELECT columns_are('chat', 'orphaned_images',
    ARRAY['chat_id', 'id', 'seq', 'position', 'storage_key', 'reason', 'orphaned_at'],
    'chat.orphaned_images has its columns');
SELECT columns_are('chat', 'retention_marks', ARRAY['chat_id', 'redacted_seq'], 'chat.retention_marks has its columns');
SELECT columns_are('chat', 'retention_state', ARRAY['only_row', 'after_chat', 'last_run_at', 'last_run'],
    'chat.retention_state has its columns');
SELECT columns_are('chat', 'filter_rules', ARRAY['id', 'name', 'pattern', 'action', 'created_at', 'created_by'],
    'chat.filter_rules has its columns');
SELECT columns_are('chat', 'filter_state', ARRAY['only_row', 'ci_pattern', 'cs_pattern'],
    'chat.filter_state has its columns');
SELECT columns_are('chat', 'filtered_messages', ARRAY['chat_id', 'seq', 'rules', 'original_body', 'filtered_at'],
    'chat.filtered_messages has its columns');
SELECT columns_are('chat', 'held_messages',
    ARRAY['chat_id', 'id', 'sender_id', 'body', 'filtered_body', 'booking_id', 'client_msg_id', 'attachments',
          'reply_to_seq', 'rules', 'held_at', 'status', 'decided_at', 'decided_by', 'reason', 'seq'],
    'chat.held_messages has its columns');
SELECT columns_are('chat', 'legacy_imports', ARRAY['chat_id', 'seq', 'legacy_id', 'legacy_thread_id', 'imported_at'],
    'chat.legacy_imports has its columns');
SELECT columns_are('chat', 'legacy_plan', ARRAY['chat_id', 'sent_at', 'staged_id', 'customer_id', 'stylist_id',
                                                  'legacy_id', 'legacy_thread_id', 'booking_id', 'sender_id',
                                                  'body', 'attachments'],
    'chat.legacy_plan has its columns');
SELECT columns_are('chat', 'token_revocations', ARRAY['profile_id', 'revoked_at'],
    'chat.token_revocations has its columns');
SELECT columns_are('chat', 'used_tokens', ARRAY['token_id', 'expires_at'],
    'chat.used_tokens has its columns');

-- An admin reads message text only through admin_history(), which records
-- the read: the view of every message has no text.
SELECT columns_are('chat', 'admin_messages',
    ARRAY['chat_id', 'seq', 'sender_id', 'booking_id', 'client_msg_id', 'attachment_count',
          'created_at', 'edited_at', 'deleted_at', 'hidden_at', 'hidden_by', 'hidden_reason'],
    'chat.admin_messages has its columns, and no body');
SELECT hasnt_column('chat', 'admin_messages', 'body', 'chat.admin_messages has no body column');

-- Identifiers are uuids; seq is a bigint.
SELECT col_type_is('chat', 'profiles', 'id', 'uuid', 'profiles.id is a uuid');
SELECT col_type_is('chat', 'chats', 'chat_id', 'uuid', 'chats.chat_id is a uuid');
SELECT col_type_is('chat', 'chat_messages', 'seq', 'bigint', 'chat_messages.seq is a bigint');

-- The primary keys.
SELECT col_is_pk('chat', 'profiles', ARRAY['id'], 'profiles: primary key (id)');
SELECT col_is_pk('chat', 'bookings', ARRAY['id'], 'bookings: primary key (id)');
SELECT col_is_pk('chat', 'chats', ARRAY['chat_id'], 'chats: primary key (chat_id)');
SELECT col_is_pk('chat', 'chat_messages', ARRAY['chat_id', 'seq'],
                 'chat_messages: primary key (chat_id, seq)');
SELECT col_is_pk('chat', 'media', ARRAY['chat_id', 'seq', 'position'],
                 'media: primary key (chat_id, seq, position)');
SELECT col_is_pk('chat', 'pins', ARRAY['chat_id', 'seq'], 'pins: primary key (chat_id, seq)');
SELECT col_is_pk('chat', 'reactions', ARRAY['chat_id', 'seq', 'profile_id', 'emoji'],
                 'reactions: primary key (chat_id, seq, profile_id, emoji)');
SELECT col_is_pk('chat', 'portfolio_consents', ARRAY['chat_id', 'id'],
                 'portfolio_consents: primary key (chat_id, id)');
SELECT is(pg_get_indexdef('chat.portfolio_consents_in_force_key'::regclass),
          'CREATE UNIQUE INDEX portfolio_consents_in_force_key ON chat.portfolio_consents USING btree (chat_id, seq, "position") WHERE (revoked_at IS NULL)',
          'portfolio_consents: at most one consent in force per image');
SELECT col_is_pk('chat', 'token_revocations', ARRAY['profile_id'],
                 'token_revocations: primary key (profile_id)');
SELECT col_is_fk('chat', 'token_revocations', ARRAY['profile_id'],
                 'token_revocations: profile_id references a profile');
SELECT col_is_pk('chat', 'used_tokens', ARRAY['token_id'], 'used_tokens: primary key (token_id)');
SELECT has_index('chat', 'used_tokens', 'used_tokens_expires_at_idx', ARRAY['expires_at'],
                 'used_tokens: indexed by expires_at, to drop the expired');
-- Search: a GIN index of the folded words and the chat of every message
-- that is not deleted.
SELECT is((SELECT pg_get_indexdef(i.indexrelid) || ' / ' || pg_get_expr(i.indpred, i.indrelid)
             FROM pg_index i WHERE i.indexrelid = 'chat.chat_messages_search_idx'::regclass),
          'CREATE INDEX chat_messages_search_idx ON chat.chat_messages USING gin (chat._search_vector(chat_id, body)) WHERE (deleted_at IS NULL) / (deleted_at IS NULL)',
          'chat_messages: a GIN index of chat._search_vector(chat_id, body) where not deleted');
SELECT is((SELECT string_agg(p.oid::regprocedure::text || ' ' || p.provolatile::text
                             || CASE WHEN p.proisstrict THEN ' strict' ELSE '' END || ' ' || l.lanname,
                             ', ' ORDER BY p.oid::regprocedure::text)
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.pronamespace = 'chat'::regnamespace
              AND p.proname IN ('_search_text', '_search_words', '_search_vector',
                                '_search_chat_lexeme', '_search_drop_runs')),
          'chat._search_chat_lexeme(uuid) i strict c, chat._search_text(text) i strict c, chat._search_vector(uuid,text) i strict c, chat._search_words(text) i strict c',
          'the functions behind the search index are immutable, strict C functions (no body to inline at every write)');

-- Every chat-owned table (one with a chat_id column) has chat_id leading
-- its primary key, so that all of a chat co-locates under one key.
SELECT results_eq(
    $$SELECT c.relname::text COLLATE "default"
        FROM pg_class c
       WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r'
         AND EXISTS (SELECT FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = 'chat_id' AND NOT a.attisdropped)
       ORDER BY 1$$,
    $$VALUES ('audit_entries'), ('chat_messages'), ('chats'), ('filtered_messages'), ('held_messages'), ('kpi_booking_chats'), ('kpi_bookings'), ('kpi_chat_months'), ('kpi_chats'), ('kpi_pairs'), ('kpi_reactivations'), ('legacy_imports'), ('legacy_plan'), ('legal_holds'), ('media'), ('notifications'), ('orphaned_images'), ('pins'), ('portfolio_consents'), ('reactions'), ('relay_watermark'), ('reports'), ('retention_marks')$$,
    'the chat-owned tables are chats, chat_messages, filtered_messages, held_messages, kpi_booking_chats, kpi_bookings, kpi_chat_months, kpi_chats, kpi_pairs, kpi_reactivations, legacy_imports, legacy_plan, legal_holds, media, orphaned_images, retention_marks, notifications, pins, portfolio_consents, reactions, relay_watermark, audit_entries and reports');
SELECT is(
    (SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
       FROM pg_class c
      WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'r'
        AND EXISTS (SELECT FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attname = 'chat_id' AND NOT a.attisdropped)
        AND NOT EXISTS (SELECT FROM pg_index i
                          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                         WHERE i.indrelid = c.oid AND i.indisprimary AND a.attname = 'chat_id')),
    '{}'::text[],
    'every chat-owned table has chat_id leading its primary key');

-- One chat per pair: chat_id, the primary key, is tied to the pair by a
-- check constraint; no other unique constraint, which a table distributed
-- by chat_id could not keep.
SELECT is((SELECT array_agg(pg_get_constraintdef(oid) ORDER BY conname) FROM pg_constraint
            WHERE conrelid = 'chat.chats'::regclass AND contype IN ('u', 'p', 'x')),
          ARRAY['PRIMARY KEY (chat_id)'],
          'chats: the primary key (chat_id) is its one unique constraint');
SELECT ok(EXISTS (SELECT FROM pg_constraint
                   WHERE conrelid = 'chat.chats'::regclass AND contype = 'c'
                     AND pg_get_constraintdef(oid) LIKE '%chat_id = chat.pair_chat_id(customer_id, stylist_id)%'),
          'chats: chat_id is checked to be chat.pair_chat_id(customer_id, stylist_id)');
-- ... so that a second row of a pair is refused, under its id or another
SAVEPOINT pair;
SELECT chat.upsert_profile('c1000000-0000-4000-8000-0000000000a1', 'customer', 'Pair A'),
       chat.upsert_profile('51000000-0000-4000-8000-0000000000a1', 'stylist', 'Pair B');
INSERT INTO chat.chats (chat_id, customer_id, stylist_id)
VALUES (chat.pair_chat_id('c1000000-0000-4000-8000-0000000000a1', '51000000-0000-4000-8000-0000000000a1'),
        'c1000000-0000-4000-8000-0000000000a1', '51000000-0000-4000-8000-0000000000a1');
SELECT throws_ok($$INSERT INTO chat.chats (chat_id, customer_id, stylist_id)
                   VALUES (chat.pair_chat_id('c1000000-0000-4000-8000-0000000000a1', '51000000-0000-4000-8000-0000000000a1'),
                           'c1000000-0000-4000-8000-0000000000a1', '51000000-0000-4000-8000-0000000000a1')$$,
                 '23505', NULL, 'chats: a second row of a pair is refused by the primary key');
SELECT throws_ok($$INSERT INTO chat.chats (chat_id, customer_id, stylist_id)
                   VALUES ('9dfc89c4-3391-48ae-b02f-0a6ac608fd2e',
                           'c1000000-0000-4000-8000-0000000000a1', '51000000-0000-4000-8000-0000000000a1')$$,
                 '23514', NULL, '... and under another id by the check constraint');
ROLLBACK TO SAVEPOINT pair;

-- An idempotency key is unique within its chat.
SELECT ok(EXISTS (SELECT FROM pg_index i
                   WHERE i.indrelid = 'chat.chat_messages'::regclass AND i.indisunique
                     AND pg_get_indexdef(i.indexrelid) LIKE '%(chat_id, client_msg_id)%'),
          'chat_messages: (chat_id, client_msg_id) is unique');

-- Every view that others may read is a security barrier, so that a
-- caller's leaky function never sees rows the view's own filter removes.
SELECT ok('security_barrier=true' = ANY (reloptions), format('view chat.%s is a security barrier', relname))
  FROM pg_class
 WHERE oid IN ('chat.my_chats'::regclass, 'chat.my_messages'::regclass, 'chat.my_media'::regclass,
               'chat.admin_chats'::regclass, 'chat.admin_messages'::regclass,
               'chat.audit_log'::regclass, 'chat.admin_blocks'::regclass,
               'chat.admin_reports'::regclass)
 ORDER BY relname;
SELECT is(
    (SELECT coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
       FROM pg_class c
      WHERE c.relnamespace = 'chat'::regnamespace AND c.relkind = 'v'
        AND NOT coalesce('security_barrier=true' = ANY (c.reloptions), false)
        AND EXISTS (SELECT FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
                     WHERE a.grantee <> c.relowner)),
    '{}'::text[],
    'no view of schema chat that others may read lacks security_barrier');
-- The internal view of messages as the API returns them is the owner's
-- only: the SECURITY DEFINER functions read it.
SELECT is(
    (SELECT coalesce(array_agg(a.grantee::regrole::text || ':' || a.privilege_type), '{}')
       FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
      WHERE c.oid = 'chat._message_rows'::regclass AND a.grantee <> c.relowner),
    '{}'::text[],
    'the internal view chat._message_rows is granted to nobody');

-- The keys: row level security with no policy, so that only the owner
-- reads them, even roles that may read every table (pg_read_all_data).
SELECT is((SELECT relrowsecurity FROM pg_class WHERE oid = 'chat.secrets'::regclass), true,
          'chat.secrets has row level security enabled');
SELECT is((SELECT count(*)::int FROM pg_policy WHERE polrelid = 'chat.secrets'::regclass), 0,
          'chat.secrets has no policy');

-- Every function of schema chat is documented with a comment, and so is
-- every table and view.
SELECT is(
    (SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY 1), '{}')
       FROM pg_proc p
      WHERE p.pronamespace = 'chat'::regnamespace
        AND obj_description(p.oid, 'pg_proc') IS NULL),
    '{}'::text[],
    'every function in schema chat has a comment');
SELECT is(
    (SELECT coalesce(array_agg(relname::text ORDER BY relname), '{}')
       FROM pg_class
      WHERE relnamespace = 'chat'::regnamespace AND relkind IN ('r', 'v')
        AND obj_description(oid, 'pg_class') IS NULL),
    '{}'::text[],
    'every table and view in schema chat has a comment');

-- Every SECURITY DEFINER function pins its search_path to trusted schemas,
-- with pg_temp last, so a caller cannot plant objects it would resolve.
SELECT ok((SELECT count(*) FROM pg_proc
            WHERE pronamespace = 'chat'::regnamespace AND prosecdef) > 0,
          'schema chat has SECURITY DEFINER functions');
SELECT is(
    (SELECT coalesce(array_agg(p.oid::regprocedure::text ORDER BY 1), '{}')
       FROM pg_proc p
      WHERE p.pronamespace = 'chat'::regnamespace AND p.prosecdef
        AND NOT EXISTS (SELECT FROM unnest(p.proconfig) AS s
                         WHERE s ~ '^search_path=.*pg_temp"?$'
                           AND s !~ '(public|\$user)')),
    '{}'::text[],
    'every SECURITY DEFINER function in schema chat pins search_path (trusted schemas, pg_temp last)');

-- The identity functions are C, not definers, and the actor is read-only
-- to the planner within a statement.
SELECT is((SELECT l.lanname || ' ' || p.prosecdef || ' ' || coalesce(array_to_string(p.proconfig, ','), '-')
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'chat.send_message(uuid,text,uuid,uuid,jsonb,bigint)'::regprocedure)
          || ' / ' ||
          (SELECT l.lanname || ' ' || p.prosecdef || ' ' || array_to_string(p.proconfig, ',')
             FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
            WHERE p.oid = 'chat._send_message_sql(uuid,text,uuid,uuid,jsonb,bigint)'::regprocedure),
          'c false - / plpgsql true search_path=pg_catalog, pg_temp,lock_timeout=2s',
          'chat.send_message is C, writing as the tables'' owner itself, without SET clause (send_path.sh: it waits 2 s for a lock); its PL/pgSQL path is SECURITY DEFINER');
SELECT isnt_definer('chat', 'act_as', ARRAY['uuid', 'boolean'],
                    'chat.act_as is not SECURITY DEFINER (it checks the calling user)');
SELECT volatility_is('chat', 'current_actor', ARRAY[]::name[], 'stable',
                     'chat.current_actor is STABLE');

-- The application backend's role and the end users' role exist, cannot
-- log in, and are no superusers.
SELECT has_role('chat_service', 'role chat_service exists');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'chat_service'), false,
          'role chat_service is NOLOGIN');
SELECT isnt_superuser('chat_service', 'role chat_service is not a superuser');
SELECT has_role('chat_user', 'role chat_user exists');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'chat_user'), false,
          'role chat_user is NOLOGIN');
SELECT isnt_superuser('chat_user', 'role chat_user is not a superuser');

-- The relay's status names the database the worker serves.
SELECT is(
    (SELECT array_agg(n ORDER BY o)
       FROM pg_proc p, unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(n, m, o)
      WHERE p.oid = 'chat.relay_status()'::regprocedure),
    ARRAY['preloaded', 'running', 'pid', 'started_at', 'events_relayed', 'last_relay_at',
          'queued', 'dropped', 'backlog', 'relayed_database', 'relays_this_database',
          'notify_queue_usage', 'failed_cycles', 'last_error', 'last_error_at',
          'bookkeeper_pid', 'notes_waiting', 'standby'],
    'chat.relay_status() returns its eighteen columns, 1.0''s eight first, then the notification queue, the worker''s errors, the bookkeeper and whether the server is a standby');

-- pg_dump keeps the data of the seven data tables, the audit id sequence
-- and the token revocations (extension configuration tables), not the keys
-- in chat.secrets nor the spent login tokens.
SELECT results_eq(
    $$SELECT c::regclass::text
        FROM pg_extension e, unnest(e.extconfig) AS c
       WHERE e.extname = 'stylist_chat'
       ORDER BY 1$$,
    $$VALUES ('chat.audit_entries'), ('chat.audit_entries_id_seq'), ('chat.bookings'),
             ('chat.chat_messages'), ('chat.chats'), ('chat.filter_rules'), ('chat.filter_rules_id_seq'),
             ('chat.filtered_messages'), ('chat.held_messages'), ('chat.held_messages_id_seq'),
             ('chat.kpi_booking_chats'), ('chat.kpi_bookings'), ('chat.kpi_chat_months'), ('chat.kpi_chats'), ('chat.kpi_days'),
             ('chat.kpi_pairs'), ('chat.kpi_reactivations'), ('chat.kpi_responses'),
             ('chat.kpi_stylist_days'), ('chat.kpi_stylist_responses'), ('chat.legacy_imports'),
             ('chat.legacy_messages'), ('chat.legacy_messages_staged_id_seq'), ('chat.legal_holds'),
             ('chat.legal_holds_id_seq'), ('chat.media'),
             ('chat.notification_preferences'), ('chat.notifications'), ('chat.notifications_id_seq'),
             ('chat.orphaned_images'), ('chat.orphaned_images_id_seq'), ('chat.pins'),
             ('chat.portfolio_consents'), ('chat.portfolio_consents_id_seq'), ('chat.privacy_requests'),
             ('chat.privacy_requests_id_seq'), ('chat.profiles'),
             ('chat.reactions'), ('chat.relay_watermark'), ('chat.reports'), ('chat.reports_id_seq'),
             ('chat.retention_marks'),
             ('chat.token_revocations')$$,
    'pg_extension.extconfig lists the seven data tables, the audit id sequence, the token revocations, the pins, the reactions, the reports and their id sequence, the portfolio consents and their id sequence, the notifications and their id sequence, the notification preferences, the ten KPI rollups, the legacy messages staged, their sequence and those imported (not the plan of an import: work state), the legal holds and the privacy requests with their sequences, the orphaned images and their sequence, the retention marks (not the retention state: work state), and the filter''s rules, its records and the held messages, with their sequences');
SELECT is((SELECT array_length(extcondition, 1) FROM pg_extension WHERE extname = 'stylist_chat'), 43,
          'each of them is dumped whole (one empty filter each)');

-- The chat id of a pair: a pure function of (customer, stylist) ...
SELECT is_strict('chat', 'pair_chat_id', ARRAY['uuid', 'uuid'], 'chat.pair_chat_id is STRICT');
SELECT volatility_is('chat', 'pair_chat_id', ARRAY['uuid', 'uuid'], 'immutable',
                     'chat.pair_chat_id is IMMUTABLE');
SELECT is(chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
          chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
          'pair_chat_id is deterministic');
-- ... that never changes between releases (existing chats keep their id):
-- the namespace is fixed.
SELECT is(chat.pair_chat_id('00000000-0000-0000-0000-000000000001', '00000000-0000-0000-0000-000000000002'),
          'b3e1c262-7fbd-57a7-ad8a-42fcba016419'::uuid,
          'pair_chat_id gives the published id for a known pair');
-- ... a name-based UUID: version 5 (13th hex digit), RFC 4122 variant ...
SELECT is(substr(chat.pair_chat_id('11111111-1111-4111-8111-111111111111',
                                   '22222222-2222-4222-8222-222222222222')::text, 15, 1),
          '5', 'pair_chat_id is a version 5 UUID');
SELECT ok(substr(chat.pair_chat_id('11111111-1111-4111-8111-111111111111',
                                   '22222222-2222-4222-8222-222222222222')::text, 20, 1) IN ('8', '9', 'a', 'b'),
          'pair_chat_id has the RFC 4122 variant');
-- ... in which the order of the pair matters.
SELECT isnt(chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
            chat.pair_chat_id('22222222-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111'),
            'pair_chat_id is order-sensitive');
SELECT isnt(chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222'),
            chat.pair_chat_id('11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222223'),
            'pair_chat_id differs for a different stylist');

SELECT * FROM finish();
ROLLBACK;
