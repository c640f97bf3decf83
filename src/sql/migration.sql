/*
 * Migration of booking-based chats: the platform's old chat kept one
 * thread per booking; here a customer and a stylist have one chat.
 *
 * The application loads the old messages into chat.legacy_messages (the
 * staging table: legacy id, legacy thread id, booking, sender, body, sent
 * at, attachments as JSON), then an admin runs
 * CALL chat.consolidate_legacy(dry_run => false).
 *
 * Which pair.  A thread belongs to the pair of the booking that its
 * earliest row naming a known booking names; the bookings must be loaded
 * first (chat.upsert_booking()).  A row naming a booking of another pair,
 * or sent by somebody who is not one of the pair, is not imported.
 *
 * Where.  A chat's seqs from 1 up are what was sent in it; clients hold
 * them, so they never change.  Imported messages go below: the newest at
 * the seq under the chat's lowest (0 in a chat without imports), older
 * ones further down, each with its original time (created_at) and its
 * booking.  So a chat reads in time order from its oldest imported
 * message to its newest message, seqs held by clients stay valid, and
 * imported messages are below every read and delivery mark: nobody's
 * inbox counts them unread, chat.catch_up() and chat.undelivered() do not
 * hand them out again, the relay worker never notifies them.  They are
 * read with chat.history(), which pages on below seq 1.  A row later than
 * the chat's lowest message (the pair already talked here before that
 * time, or a row loaded after its pair's history was imported) cannot be
 * put in time order and is reported as out_of_order, not imported.
 *
 * A chat's "nothing cleared" is its lowest seq - 1: an import lowers a
 * participant's cleared seq with it while it is that (0 when no message
 * was imported), and leaves a history the participant cleared cleared.
 *
 * Batches.  chat.consolidate_legacy() is a procedure: it classifies every
 * staged row once into chat.legacy_plan (a transaction of its own), then
 * imports the plan a batch at a time, newest first in each chat, each
 * batch a transaction that locks the chats it writes to until it commits.
 * A cancel or a crash loses at most the batch under way; a new run
 * classifies again and imports what is missing: chat.legacy_imports
 * records each legacy id imported, which is never imported twice.  Runs
 * take turns a step at a time (a lock on chat.legacy_plan, which nobody
 * but the owner can take: an advisory lock anybody could hold to stall
 * it).  The plan holds the rows as they were checked, so that a change
 * of the staging table during a run cannot slip an unchecked row in.  A
 * chat whose row somebody holds locked (a send not yet committed, an idle
 * transaction) is left for a later batch; when nothing else is left, a
 * batch waits for it up to 10 s and then stops the run (55P03).
 */

CREATE OR REPLACE FUNCTION chat._legacy_content_problem(body text, attachments jsonb)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    n integer;
BEGIN
    -- the checks of chat.send_message(), their errors turned into a report
    BEGIN
        n := chat._check_attachments(attachments);
    EXCEPTION WHEN invalid_parameter_value THEN
        RETURN ARRAY['invalid_attachment', SQLERRM];
    END;
    BEGIN
        PERFORM chat._check_body(body, n);
    EXCEPTION WHEN invalid_parameter_value OR null_value_not_allowed
                   OR string_data_right_truncation THEN
        RETURN ARRAY['invalid_body', SQLERRM];
    END;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION chat._legacy_content_problem(text, jsonb) IS
'What is wrong with a legacy message''s body or attachments by the checks of send_message(), as {problem, detail}, or NULL. Internal.';
REVOKE ALL ON FUNCTION chat._legacy_content_problem(text, jsonb) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._legacy_classified()
RETURNS TABLE (staged_id bigint, legacy_id text, legacy_thread_id text, chat_id uuid,
               customer_id uuid, stylist_id uuid, sent_at timestamptz, imported boolean,
               problem text, detail text, booking_id uuid, sender_id uuid, body text,
               attachments jsonb)
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    WITH staged AS (
        SELECT s.*, row_number() OVER (PARTITION BY s.legacy_id ORDER BY s.staged_id) AS copy,
               min(s.staged_id) OVER (PARTITION BY s.legacy_id) AS first_staged,
               -- the checks of body and attachments; the common case, a
               -- line of text, needs no call
               CASE WHEN s.attachments IS NULL AND s.body IS NOT NULL
                         AND char_length(s.body) BETWEEN 1 AND 4000
                         AND btrim(s.body, E' \t\n\r') <> '' THEN NULL
                    ELSE chat._legacy_content_problem(s.body, s.attachments) END AS content
          FROM chat.legacy_messages s
    ), threads AS (
        -- a thread's pair: the pair of the booking of its earliest row
        -- that names a known one
        SELECT DISTINCT ON (s.legacy_thread_id) s.legacy_thread_id, b.customer_id, b.stylist_id,
               chat.pair_chat_id(b.customer_id, b.stylist_id) AS chat_id
          FROM chat.legacy_messages s
          JOIN chat.bookings b ON b.id = s.booking_id
         WHERE s.legacy_thread_id IS NOT NULL
         ORDER BY s.legacy_thread_id, s.sent_at, s.staged_id
    ), lowest AS (
        -- each chat's lowest message: nothing later goes below it
        SELECT p.chat_id, l.seq, l.created_at
          FROM (SELECT DISTINCT t.chat_id FROM threads t) p
          JOIN LATERAL (SELECT m.seq, m.created_at FROM chat.chat_messages m
                         WHERE m.chat_id = p.chat_id
                         ORDER BY m.seq LIMIT 1) l ON true
    )
    SELECT s.staged_id, s.legacy_id, s.legacy_thread_id, t.chat_id, t.customer_id, t.stylist_id,
           s.sent_at, i.imported, x.problem, x.detail, s.booking_id, s.sender_id, s.body,
           s.attachments
      FROM staged s
      LEFT JOIN threads t ON t.legacy_thread_id = s.legacy_thread_id
      LEFT JOIN chat.bookings b ON b.id = s.booking_id
      LEFT JOIN chat.profiles sp ON sp.id = s.sender_id
      LEFT JOIN lowest lo ON lo.chat_id = t.chat_id
      CROSS JOIN LATERAL (SELECT s.copy = 1 AND EXISTS (SELECT FROM chat.legacy_imports li
                                                          WHERE li.legacy_id = s.legacy_id)
                                 AS imported) i
      -- the first problem found, in this order; none for a row imported
      LEFT JOIN LATERAL (
          SELECT CASE
                   WHEN s.legacy_id IS NULL OR s.legacy_thread_id IS NULL
                        OR s.sender_id IS NULL OR s.sent_at IS NULL THEN 'missing_field'
                   WHEN s.copy > 1 THEN 'duplicate_legacy_id'
                   WHEN s.sent_at > now() THEN 'invalid_time'
                   WHEN s.booking_id IS NOT NULL AND b.id IS NULL THEN 'unknown_booking'
                   WHEN t.chat_id IS NULL THEN 'unknown_pair'
                   WHEN b.id IS NOT NULL AND (b.customer_id, b.stylist_id) <> (t.customer_id, t.stylist_id)
                        THEN 'booking_of_another_pair'
                   WHEN sp.id IS NULL THEN 'unknown_profile'
                   WHEN s.sender_id NOT IN (t.customer_id, t.stylist_id) THEN 'sender_not_in_pair'
                   WHEN s.content IS NOT NULL THEN s.content[1]
                   WHEN s.sent_at > lo.created_at THEN 'out_of_order'
                 END AS problem,
                 CASE
                   WHEN s.legacy_id IS NULL OR s.legacy_thread_id IS NULL
                        OR s.sender_id IS NULL OR s.sent_at IS NULL
                        THEN concat_ws(', ', CASE WHEN s.legacy_id IS NULL THEN 'legacy_id' END,
                                       CASE WHEN s.legacy_thread_id IS NULL THEN 'legacy_thread_id' END,
                                       CASE WHEN s.sender_id IS NULL THEN 'sender_id' END,
                                       CASE WHEN s.sent_at IS NULL THEN 'sent_at' END) || ' missing'
                   WHEN s.copy > 1 THEN format('legacy id %s is also staged row %s, which is the one imported',
                                               s.legacy_id, s.first_staged)
                   WHEN s.sent_at > now() THEN format('sent_at %s is in the future', s.sent_at)
                   WHEN s.booking_id IS NOT NULL AND b.id IS NULL
                        THEN format('booking %s is not in chat.bookings: load it with chat.upsert_booking() first',
                                    s.booking_id)
                   WHEN t.chat_id IS NULL
                        THEN format('no row of thread %s names a known booking, so its customer and stylist are unknown',
                                    s.legacy_thread_id)
                   WHEN b.id IS NOT NULL AND (b.customer_id, b.stylist_id) <> (t.customer_id, t.stylist_id)
                        THEN format('booking %s is of customer %s and stylist %s; thread %s is of customer %s and stylist %s',
                                    b.id, b.customer_id, b.stylist_id, s.legacy_thread_id, t.customer_id, t.stylist_id)
                   WHEN sp.id IS NULL THEN format('sender %s is not a profile: load it with chat.upsert_profile() first',
                                                  s.sender_id)
                   WHEN s.sender_id NOT IN (t.customer_id, t.stylist_id)
                        THEN format('sender %s is neither customer %s nor stylist %s of thread %s',
                                    s.sender_id, t.customer_id, t.stylist_id, s.legacy_thread_id)
                   WHEN s.content IS NOT NULL THEN s.content[2]
                   WHEN s.sent_at > lo.created_at
                        THEN format('sent_at %s is later than message %s of the chat (%s): imported history goes below it, in time order',
                                    s.sent_at, lo.seq, lo.created_at)
                 END AS detail
           WHERE NOT i.imported
      ) x ON true
$$;

COMMENT ON FUNCTION chat._legacy_classified() IS
'Every staged legacy message with its pair''s chat, whether it is imported, and otherwise the first problem that stops its import (NULL: none), and what is imported of it. Internal.';
REVOKE ALL ON FUNCTION chat._legacy_classified() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.legacy_report()
RETURNS TABLE (customer_id uuid, stylist_id uuid, chat_id uuid, threads bigint, messages bigint,
               imported bigint, to_import bigint, problems bigint, first_sent_at timestamptz,
               last_sent_at timestamptz)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
BEGIN
    PERFORM chat._require_admin();
    PERFORM chat._refuse_on_citus('legacy_report');
    RETURN QUERY
    SELECT k.customer_id, k.stylist_id, k.chat_id, count(DISTINCT k.legacy_thread_id),
           count(*), count(*) FILTER (WHERE k.imported),
           count(*) FILTER (WHERE NOT k.imported AND k.problem IS NULL),
           count(*) FILTER (WHERE k.problem IS NOT NULL),
           min(k.sent_at), max(k.sent_at)
      FROM chat._legacy_classified() k
     GROUP BY k.customer_id, k.stylist_id, k.chat_id
     ORDER BY k.customer_id, k.stylist_id;
END
$$;

COMMENT ON FUNCTION chat.legacy_report() IS
'For admins: per customer-stylist pair (NULLs: rows whose pair is unknown), the staged legacy messages and threads, how many are imported, how many chat.consolidate_legacy() would import, and how many it cannot (chat.legacy_problems() says why). Writes nothing.';
REVOKE ALL ON FUNCTION chat.legacy_report() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.legacy_report() TO chat_service;

CREATE OR REPLACE FUNCTION chat.legacy_problems()
RETURNS TABLE (staged_id bigint, legacy_id text, legacy_thread_id text, customer_id uuid,
               stylist_id uuid, problem text, detail text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
BEGIN
    PERFORM chat._require_admin();
    PERFORM chat._refuse_on_citus('legacy_problems');
    RETURN QUERY
    SELECT k.staged_id, k.legacy_id, k.legacy_thread_id, k.customer_id, k.stylist_id,
           k.problem, k.detail
      FROM chat._legacy_classified() k
     WHERE k.problem IS NOT NULL
     ORDER BY k.staged_id;
END
$$;

COMMENT ON FUNCTION chat.legacy_problems() IS
'For admins: every staged legacy message that chat.consolidate_legacy() does not import, with the problem (missing_field, duplicate_legacy_id, invalid_time, unknown_booking, unknown_pair, booking_of_another_pair, unknown_profile, sender_not_in_pair, invalid_body, invalid_attachment, out_of_order) and what it is. Writes nothing.';
REVOKE ALL ON FUNCTION chat.legacy_problems() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.legacy_problems() TO chat_service;

CREATE OR REPLACE FUNCTION chat._consolidate_start(dry_run boolean, batch_size integer,
                                                   OUT pairs bigint, OUT messages bigint,
                                                   OUT already_imported bigint, OUT problems bigint)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
-- its statements cost enough to be compiled, which takes longer (about
-- 0.7 s) than running them
SET jit = off
AS $$
BEGIN
    PERFORM chat._require_admin();
    PERFORM chat._refuse_on_citus('consolidate_legacy');
    PERFORM chat._require_arg(dry_run, 'dry_run');
    PERFORM chat._check_batch_size(batch_size);
    -- runs take turns, a step at a time: one plans while none imports (a
    -- lock on a table of the owner's, which nobody else can take)
    IF NOT dry_run THEN
        LOCK TABLE chat.legacy_plan IN EXCLUSIVE MODE;
        DELETE FROM chat.legacy_plan;
    END IF;
    WITH k AS MATERIALIZED (
        SELECT * FROM chat._legacy_classified()
    ), plan AS (
        -- what is imported, as it is now
        INSERT INTO chat.legacy_plan (chat_id, sent_at, staged_id, customer_id, stylist_id,
                                      legacy_id, legacy_thread_id, booking_id, sender_id, body,
                                      attachments)
        SELECT k.chat_id, k.sent_at, k.staged_id, k.customer_id, k.stylist_id, k.legacy_id,
               k.legacy_thread_id, k.booking_id, k.sender_id, k.body, k.attachments
          FROM k
         WHERE NOT dry_run AND NOT k.imported AND k.problem IS NULL
    )
    SELECT count(DISTINCT k.chat_id) FILTER (WHERE NOT k.imported AND k.problem IS NULL),
           count(*) FILTER (WHERE NOT k.imported AND k.problem IS NULL),
           count(*) FILTER (WHERE k.imported),
           count(*) FILTER (WHERE k.problem IS NOT NULL)
      INTO pairs, messages, already_imported, problems
      FROM k;
    IF NOT dry_run THEN
        -- statistics, so that the batches read it by its primary key
        ANALYZE chat.legacy_plan;
    END IF;
END
$$;

COMMENT ON FUNCTION chat._consolidate_start(boolean, integer) IS
'The first step of chat.consolidate_legacy(): checks the caller and the arguments, classifies every staged row and, unless a dry run, plans the import of the good ones as they are now. Returns the totals. Internal.';
REVOKE ALL ON FUNCTION chat._consolidate_start(boolean, integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._consolidate_start(boolean, integer) TO chat_service;

CREATE OR REPLACE FUNCTION chat._consolidate_batch(batch_size integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10s'
-- its statements cost enough to be compiled, which takes longer (about
-- 0.7 s) than running them
SET jit = off
AS $$
DECLARE
    -- the batch: these chats' plan rows; of the last, only its rows from
    -- (v_cut_at, v_cut_id) up when it did not fit whole
    v_chats uuid[] := '{}';
    v_cut_at timestamptz := '-infinity';
    v_cut_id bigint := 0;
    v_rows record;
    v_after uuid;
    v_count integer := 0;
    v_wait integer;
    r record;
BEGIN
    PERFORM chat._require_admin();
    PERFORM chat._check_batch_size(batch_size);
    LOCK TABLE chat.legacy_plan IN EXCLUSIVE MODE;

    /*
     * The batch: the chats of the plan in order, each locked (or made:
     * a new chat is ours until we commit), and their rows newest first,
     * so that a chat cut between two batches goes on below what the first
     * put in.  A chat that somebody holds locked (a send not yet
     * committed) is left for a later batch rather than waited for; when
     * only such chats are left, the batch waits for the first of them up
     * to lock_timeout (10 s), then gives up (55P03).
     */
    FOR v_wait IN 0..1 LOOP
        -- (the second time round, every chat left was locked: wait for
        -- the first, up to lock_timeout)
        v_after := 'ffffffff-ffff-ffff-ffff-ffffffffffff';     -- above every chat id
        LOOP
            -- the plan's next chat, found in its primary key
            SELECT p.chat_id, p.customer_id, p.stylist_id INTO r
              FROM chat.legacy_plan p
             WHERE p.chat_id < v_after
             ORDER BY p.chat_id DESC
             LIMIT 1;
            EXIT WHEN NOT FOUND;
            v_after := r.chat_id;
            IF v_wait = 0 THEN
                PERFORM FROM chat.chats c WHERE c.chat_id = r.chat_id FOR NO KEY UPDATE SKIP LOCKED;
            ELSE
                BEGIN
                    PERFORM FROM chat.chats c WHERE c.chat_id = r.chat_id FOR NO KEY UPDATE;
                EXCEPTION WHEN lock_not_available THEN
                    RAISE EXCEPTION 'the chats left to import into stay locked by other transactions'
                        USING ERRCODE = 'lock_not_available',
                              DETAIL = format('%s legacy messages of %s chats are left; chat %s was locked for %s.',
                                              (SELECT count(*) FROM chat.legacy_plan),
                                              (SELECT count(DISTINCT p.chat_id) FROM chat.legacy_plan p),
                                              r.chat_id, current_setting('lock_timeout')),
                              HINT = 'A transaction that sent a message holds its chat until it ends; run chat.consolidate_legacy() again later.';
                END;
            END IF;
            IF NOT FOUND THEN
                CONTINUE WHEN EXISTS (SELECT FROM chat.chats c WHERE c.chat_id = r.chat_id);
                -- a new chat is ours until this batch commits
                PERFORM chat._open_chat(r.customer_id, r.stylist_id);
            END IF;
            -- its newest rows, as many as the batch has room for
            SELECT count(*) AS n, (array_agg(q.sent_at ORDER BY q.sent_at, q.staged_id))[1] AS cut_at,
                   (array_agg(q.staged_id ORDER BY q.sent_at, q.staged_id))[1] AS cut_id
              INTO v_rows
              FROM (SELECT p.sent_at, p.staged_id FROM chat.legacy_plan p
                     WHERE p.chat_id = r.chat_id
                     ORDER BY p.sent_at DESC, p.staged_id DESC
                     LIMIT batch_size - v_count) q;
            v_chats := v_chats || r.chat_id;
            v_count := v_count + v_rows.n;
            IF v_count >= batch_size THEN
                v_cut_at := v_rows.cut_at;
                v_cut_id := v_rows.cut_id;
            END IF;
            EXIT WHEN v_count >= batch_size OR v_wait = 1;
        END LOOP;
        EXIT WHEN v_count > 0;
    END LOOP;
    IF v_count = 0 THEN
        RETURN 0;
    END IF;

    WITH b AS (
        SELECT p.*
          FROM chat.legacy_plan p
         WHERE p.chat_id = ANY (v_chats)
           AND (p.chat_id <> v_chats[cardinality(v_chats)] OR (p.sent_at, p.staged_id) >= (v_cut_at, v_cut_id))
    ), base AS (
        -- below the chat's lowest message, and never above 0
        SELECT x.chat_id,
               least(coalesce((SELECT min(m.seq) FROM chat.chat_messages m WHERE m.chat_id = x.chat_id), 1), 1) AS base
          FROM unnest(v_chats) AS x(chat_id)
    ), numbered AS (
        SELECT b.*, base.base,
               base.base - row_number() OVER (PARTITION BY b.chat_id ORDER BY b.sent_at DESC, b.staged_id DESC) AS seq,
               -- checked when planned (an array of 0 to 10 images)
               coalesce(jsonb_array_length(b.attachments), 0) AS attachment_count
          FROM b JOIN base ON base.chat_id = b.chat_id
    ), msgs AS (
        INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, booking_id, attachment_count,
                                        created_at)
        SELECT n.chat_id, n.seq, n.sender_id, coalesce(n.body, ''),   -- only with images: checked
               n.booking_id, n.attachment_count, n.sent_at
          FROM numbered n
    ), media AS (
        INSERT INTO chat.media (chat_id, seq, position, storage_key, content_type, byte_size,
                                width, height, created_at)
        SELECT n.chat_id, n.seq, a.ord, a.e->>'storage_key', a.e->>'content_type',
               (a.e->>'byte_size')::numeric::bigint, (a.e->>'width')::numeric::integer,
               (a.e->>'height')::numeric::integer, n.sent_at
          FROM numbered n
          CROSS JOIN LATERAL jsonb_array_elements(n.attachments) WITH ORDINALITY AS a(e, ord)
         WHERE n.attachment_count > 0
    ), imports AS (
        INSERT INTO chat.legacy_imports (chat_id, seq, legacy_id, legacy_thread_id)
        SELECT n.chat_id, n.seq, n.legacy_id, n.legacy_thread_id
          FROM numbered n
    ), done AS (
        DELETE FROM chat.legacy_plan p
         WHERE p.chat_id = ANY (v_chats)
           AND (p.chat_id <> v_chats[cardinality(v_chats)] OR (p.sent_at, p.staged_id) >= (v_cut_at, v_cut_id))
    ), heads AS (
        -- a participant's "nothing cleared" moves down with the lowest
        -- seq; the chat's last activity is its newest imported message
        -- until something is sent in it
        UPDATE chat.chats c
           SET customer_cleared_seq = CASE WHEN c.customer_cleared_seq = n.base - 1
                                           THEN n.low - 1 ELSE c.customer_cleared_seq END,
               stylist_cleared_seq = CASE WHEN c.stylist_cleared_seq = n.base - 1
                                          THEN n.low - 1 ELSE c.stylist_cleared_seq END,
               last_message_at = coalesce(c.last_message_at, n.newest)
          FROM (SELECT n.chat_id, n.base, min(n.seq) AS low, max(n.sent_at) AS newest
                  FROM numbered n GROUP BY n.chat_id, n.base) n
         WHERE c.chat_id = n.chat_id
    )
    SELECT count(*) INTO v_count FROM numbered;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION chat._consolidate_batch(integer) IS
'One batch of chat.consolidate_legacy(): imports the next batch_size planned legacy messages below their chats'' lowest seqs, leaving chats others hold locked for later, and returns how many (0: none left; 55P03 when only chats locked for 10 s are left). Internal.';
REVOKE ALL ON FUNCTION chat._consolidate_batch(integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat._consolidate_batch(integer) TO chat_service;

-- A procedure, so that each batch commits: it runs with the caller's
-- rights (transaction control forbids SECURITY DEFINER and SET), and each
-- step it calls checks that the actor is an admin.  An actor chosen for a
-- transaction ends with it: the procedure chooses it again after each
-- commit (as_admin, or the actor it was called with), which act_as allows
-- only a caller who may choose one
CREATE OR REPLACE PROCEDURE chat.consolidate_legacy(dry_run boolean DEFAULT true,
                                                    batch_size integer DEFAULT 10000,
                                                    as_admin uuid DEFAULT NULL,
                                                    INOUT pairs bigint DEFAULT NULL,
                                                    INOUT messages bigint DEFAULT NULL,
                                                    INOUT already_imported bigint DEFAULT NULL,
                                                    INOUT problems bigint DEFAULT NULL,
                                                    INOUT batches integer DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_actor uuid;
    v_n integer;
BEGIN
    -- (act_as checks that the caller may choose an actor)
    IF as_admin IS NOT NULL THEN
        PERFORM chat.act_as(as_admin);
    END IF;
    v_actor := chat.current_actor();
    SELECT s.pairs, s.messages, s.already_imported, s.problems
      INTO pairs, messages, already_imported, problems
      FROM chat._consolidate_start(dry_run, batch_size) s;
    batches := 0;
    IF dry_run THEN
        RETURN;
    END IF;
    messages := 0;
    LOOP
        COMMIT;
        -- an actor chosen for the transaction ends with it: the same again
        IF chat.current_actor() IS DISTINCT FROM v_actor THEN
            PERFORM chat.act_as(v_actor);
        END IF;
        v_n := chat._consolidate_batch(batch_size);
        EXIT WHEN v_n = 0;
        messages := messages + v_n;
        batches := batches + 1;
    END LOOP;
    IF messages > 0 THEN
        RAISE NOTICE 'imported % legacy messages in % batches', messages, batches
            USING HINT = 'chat.rebuild_kpis() counts them in the KPIs.';
    END IF;
END
$$;

COMMENT ON PROCEDURE chat.consolidate_legacy(boolean, integer, uuid, bigint, bigint, bigint, bigint, integer) IS
'For admins: imports the staged legacy messages (chat.legacy_messages) into their pairs'' chats, below each chat''s lowest seq, in time order, batch_size at a time, each batch committed. The actor is the session''s, or as_admin (for callers that may act_as), chosen again in each transaction. Returns the pairs and messages to import (dry run, the default: nothing is written) or imported, those imported before, those with a problem (chat.legacy_problems()), and the batches. Idempotent and resumable: run it again after a cancel or a crash. CALL it outside a transaction block.';
REVOKE ALL ON PROCEDURE chat.consolidate_legacy(boolean, integer, uuid, bigint, bigint, bigint, bigint, integer)
  FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON PROCEDURE chat.consolidate_legacy(boolean, integer, uuid, bigint, bigint, bigint, bigint, integer)
  TO chat_service;
