/*
 * Retention: messages older than stylist_chat.retention (off by default:
 * messages are kept) are redacted by chat.apply_retention(), which a
 * scheduler runs (pg_cron: README, "Retention"); and the images whose
 * message is gone, queued for the application to delete their bytes.
 *
 * A run goes round the chats in chat_id order, from where the last run
 * stopped (chat.retention_state), visiting at most batch_size chats and
 * redacting at most batch_size messages.  In a chat it goes on from the
 * seq up to which it redacted before (chat.retention_marks): within a
 * chat seq order is time order, so the messages past the policy are the
 * ones from that mark up to the first message that is not, and a run
 * reads no more of a chat than it redacts.  A chat on legal hold is
 * skipped, and so is, until the next run, a chat whose row a sender holds
 * locked: sends never wait for retention, and retention never waits for
 * them.  Runs take turns: a run that finds another under way returns at
 * once.
 *
 * Redacted: a participant's message becomes a tombstone (no body, no
 * images, deleted_at set), kept in its place; booking cards, which are
 * the platform's records, are not.  A message the filter held
 * (chat.held_messages) past the policy is emptied too, rejected if it
 * still waited (decided by the nil UUID: nobody), its images queued; it
 * counts among the redacted messages of the run.  What the other participant had not
 * read of it is no longer unread.  Clients see it when they read the
 * history again (no event is relayed for years-old messages).
 *
 * On a Citus cluster a run takes the same steps, each statement on one
 * chat (sent whole to its node) or on a reference table: the chats it may
 * visit are read from every shard at once; the held messages past the
 * policy are taken from every shard, then checked and locked one by one
 * on their chats' nodes.
 */

CREATE OR REPLACE FUNCTION chat._retention_interval()
RETURNS interval
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    v_text text := btrim(coalesce(current_setting('stylist_chat.retention', true), ''));
    v interval;
BEGIN
    IF v_text IN ('', 'off') THEN
        RETURN NULL;
    END IF;
    BEGIN
        v := v_text::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
        RAISE EXCEPTION 'stylist_chat.retention is not an interval: "%"', v_text
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Set it to an interval such as ''3 years'', or to '''' (the default) to keep messages.';
    END;
    IF v < interval '1 day' THEN
        RAISE EXCEPTION 'stylist_chat.retention must be at least 1 day, not %', v
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A shorter retention would redact conversations under way.';
    END IF;
    RETURN v;
END
$$;

COMMENT ON FUNCTION chat._retention_interval() IS
'The retention period (stylist_chat.retention), or NULL when it is off; 22023 when it is not an interval of at least 1 day. Internal.';
REVOKE ALL ON FUNCTION chat._retention_interval() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.apply_retention(batch_size integer DEFAULT 10000,
                                                OUT redacted_messages bigint, OUT redacted_images bigint,
                                                OUT chats_visited bigint, OUT held_chats bigint,
                                                OUT busy_chats bigint, OUT round_complete boolean)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    p_batch integer := chat._check_batch_size($1);
    v_keep interval := chat._retention_interval();
    v_cutoff timestamptz;
    v_after uuid;
    v_chat uuid;
    v_mark bigint;
    v_first timestamptz;
    v_upto bigint;
    v_scanned integer;
    v_n bigint;
    v_i bigint;
    v_held_chats uuid[];
    v_held_ids bigint[];
    v_next uuid[];
    v_k integer := 0;
    v_seqs bigint[];
    v_h record;
    v_distributed boolean := chat._distributed();
    v_now timestamptz := now();     -- a value: on Citus the statements run on the nodes
    v_mode text;
BEGIN
    PERFORM chat._require_writable('apply_retention');
    redacted_messages := 0; redacted_images := 0; chats_visited := 0;
    held_chats := 0; busy_chats := 0; round_complete := false;
    IF v_keep IS NULL THEN
        RAISE NOTICE 'stylist_chat.retention is off: messages are kept';
        RETURN;
    END IF;
    v_cutoff := v_now - v_keep;

    -- one run at a time: another under way has the row (which install
    -- and update make; made again here should it be missing)
    INSERT INTO chat.retention_state DEFAULT VALUES ON CONFLICT DO NOTHING;
    SELECT s.after_chat INTO v_after FROM chat.retention_state s FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RAISE NOTICE 'another run of chat.apply_retention() is under way';
        RETURN;
    END IF;
    v_after := coalesce(v_after, '00000000-0000-0000-0000-000000000000');
    IF v_distributed THEN
        -- on a Citus cluster, one connection a node until the end of the
        -- run: Citus changes a reference table with foreign keys to it
        -- (retention_state, below) only after statements that used no more
        v_mode := current_setting('citus.multi_shard_modify_mode');
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    -- the chats this run may visit, in order, by one statement (on a Citus
    -- cluster, one that reads every shard once)
    SELECT coalesce(array_agg(x.chat_id ORDER BY x.chat_id), '{}') INTO v_next
      FROM (SELECT c.chat_id FROM chat.chats c WHERE c.chat_id > v_after
             ORDER BY c.chat_id LIMIT p_batch) x;

    LOOP
        IF chats_visited >= p_batch OR redacted_messages >= p_batch THEN
            EXIT;
        END IF;
        v_k := v_k + 1;
        IF v_k > cardinality(v_next) THEN
            round_complete := true;
            v_after := NULL;
            EXIT;
        END IF;
        v_chat := v_next[v_k];
        chats_visited := chats_visited + 1;
        v_mark := coalesce((SELECT k.redacted_seq FROM chat.retention_marks k WHERE k.chat_id = v_chat),
                           -9223372036854775808);
        -- the chat's next message after the mark: past the policy?
        SELECT m.created_at INTO v_first FROM chat.chat_messages m
         WHERE m.chat_id = v_chat AND m.seq > v_mark ORDER BY m.seq LIMIT 1;
        IF NOT FOUND OR v_first >= v_cutoff THEN
            v_after := v_chat;
            CONTINUE;
        END IF;
        IF chat._held(v_chat) THEN
            held_chats := held_chats + 1;
            v_after := v_chat;
            CONTINUE;
        END IF;
        PERFORM FROM chat.chats c WHERE c.chat_id = v_chat FOR NO KEY UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            busy_chats := busy_chats + 1;
            v_after := v_chat;
            CONTINUE;
        END IF;

        -- the messages past the policy from the mark, as many as the run
        -- has room for (a prefix of the chat in seq order)
        SELECT max(x.seq), count(*) INTO v_upto, v_scanned
          FROM (SELECT m.seq, m.created_at FROM chat.chat_messages m
                 WHERE m.chat_id = v_chat AND m.seq > v_mark
                 ORDER BY m.seq
                 LIMIT p_batch - redacted_messages) x
         WHERE x.created_at < v_cutoff;

        -- the participants' messages among them: tombstones (booking
        -- cards stay)
        SELECT coalesce(array_agg(m.seq), '{}') INTO v_seqs
          FROM chat.chat_messages m
         WHERE m.chat_id = v_chat AND m.seq > v_mark AND m.seq <= v_upto AND m.kind = 'text';
        SELECT cardinality(t.redacted), jsonb_array_length(t.images) INTO v_n, v_i
          FROM chat._to_tombstones(v_chat, v_seqs, 'retention') t;

        INSERT INTO chat.retention_marks AS k (chat_id, redacted_seq)
        VALUES (v_chat, v_upto)
        ON CONFLICT (chat_id) DO UPDATE SET redacted_seq = excluded.redacted_seq;
        redacted_messages := redacted_messages + v_n;
        redacted_images := redacted_images + v_i;
        -- a chat left half-way is where the next run starts
        IF v_scanned >= p_batch - (redacted_messages - v_n) THEN
            EXIT;
        END IF;
        v_after := v_chat;
    END LOOP;

    -- messages the filter held (src/sql/filter.sql) past the policy, as
    -- many as the run has room for: emptied, rejected if they still wait,
    -- their images queued; not in a chat on legal hold
    IF v_distributed THEN
        -- on a Citus cluster rows are locked on one node at a time, and a
        -- statement sent to the nodes calls no function that reads the
        -- cluster's tables: the candidates from every shard, then each
        -- checked and locked on its chat's node (those whose chat was put
        -- on hold, or that were locked or emptied, meanwhile leave the run
        -- less done than its room)
        FOR v_h IN
            SELECT h.chat_id, h.id FROM chat.held_messages h
             WHERE h.held_at < v_cutoff
               AND (h.body IS NOT NULL OR h.filtered_body IS NOT NULL OR h.attachments IS NOT NULL)
               AND NOT EXISTS (SELECT FROM chat.legal_holds l
                                WHERE l.chat_id = h.chat_id AND l.released_at IS NULL)
             ORDER BY h.held_at, h.chat_id, h.id
             LIMIT greatest(p_batch - redacted_messages, 0)
        LOOP
            CONTINUE WHEN chat._held(v_h.chat_id);
            PERFORM FROM chat.held_messages h
             WHERE h.chat_id = v_h.chat_id AND h.id = v_h.id
               AND (h.body IS NOT NULL OR h.filtered_body IS NOT NULL OR h.attachments IS NOT NULL)
               FOR UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;
            SELECT redacted_messages + e.emptied, redacted_images + e.images INTO redacted_messages, redacted_images
              FROM chat._empty_held_messages(ARRAY[v_h.chat_id], ARRAY[v_h.id], '00000000-0000-0000-0000-000000000000',
                                             'past the retention period', 'retention') e;
        END LOOP;
    ELSE
        SELECT array_agg(h.chat_id), array_agg(h.id) INTO v_held_chats, v_held_ids
          FROM (SELECT h.chat_id, h.id FROM chat.held_messages h
                 WHERE h.held_at < v_cutoff
                   AND (h.body IS NOT NULL OR h.filtered_body IS NOT NULL OR h.attachments IS NOT NULL)
                   AND NOT chat._held(h.chat_id)
                 ORDER BY h.held_at
                 LIMIT greatest(p_batch - redacted_messages, 0)
                   FOR UPDATE SKIP LOCKED) h;
        SELECT redacted_messages + e.emptied, redacted_images + e.images INTO redacted_messages, redacted_images
          FROM chat._empty_held_messages(v_held_chats, v_held_ids, '00000000-0000-0000-0000-000000000000',
                                         'past the retention period', 'retention') e;
    END IF;

    UPDATE chat.retention_state s
       SET after_chat = CASE WHEN v_after = '00000000-0000-0000-0000-000000000000' THEN NULL ELSE v_after END,
           last_run_at = v_now,
           last_run = jsonb_build_object('cutoff', v_cutoff, 'redacted_messages', redacted_messages,
                                         'redacted_images', redacted_images, 'chats_visited', chats_visited,
                                         'held_chats', held_chats, 'busy_chats', busy_chats,
                                         'round_complete', round_complete);
    IF v_distributed THEN
        PERFORM set_config('citus.multi_shard_modify_mode', v_mode, true);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.apply_retention(integer) IS
'Redacts the participants'' messages older than stylist_chat.retention (off by default), going round the chats from where the last run stopped: at most batch_size chats visited and batch_size messages redacted a run; chats on legal hold are skipped, chats a sender holds locked are left for the next run. Their images are queued for deletion (chat.take_orphaned_images()). Returns what it did; for a scheduler (pg_cron) as much as for chat_service.';
REVOKE ALL ON FUNCTION chat.apply_retention(integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.apply_retention(integer) TO chat_service;

CREATE OR REPLACE FUNCTION chat.retention_status(OUT retention interval, OUT cutoff timestamptz,
                                                 OUT last_run_at timestamptz, OUT last_run jsonb,
                                                 OUT round_at uuid)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    retention := chat._retention_interval();
    cutoff := now() - retention;
    SELECT s.last_run_at, s.last_run, s.after_chat INTO last_run_at, last_run, round_at
      FROM chat.retention_state s;
END
$$;

COMMENT ON FUNCTION chat.retention_status() IS
'The retention period (NULL: off) and the time before which messages are redacted, when the last run of chat.apply_retention() was and what it did, and the chat after which the next run goes on (NULL: from the first).';
REVOKE ALL ON FUNCTION chat.retention_status() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.retention_status() TO chat_service;

CREATE OR REPLACE FUNCTION chat.take_orphaned_images(max_rows integer DEFAULT 100)
RETURNS TABLE (storage_key text, chat_id uuid, seq bigint, "position" integer, reason text,
               orphaned_at timestamptz)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    p_max integer := chat._check_max_rows($1);
    v_taken integer := 0;
    v_held bigint[] := '{}';
    v_seen integer;
    c record;
    t record;
BEGIN
    PERFORM chat._require_writable('take_orphaned_images');
    IF chat._distributed() THEN
        /*
         * On a Citus cluster no statement over every shard takes locks:
         * the oldest candidates come unlocked from every shard, then each
         * is locked on its chat's node, or passed over for the rest of the
         * call when another taker holds it, and removed.
         */
        LOOP
            v_seen := 0;
            FOR c IN SELECT o.chat_id, o.id FROM chat.orphaned_images o
                      WHERE o.id <> ALL (v_held)
                      ORDER BY o.orphaned_at, o.id
                      LIMIT p_max - v_taken + 16
            LOOP
                v_seen := v_seen + 1;
                PERFORM FROM chat.orphaned_images o
                 WHERE o.chat_id = c.chat_id AND o.id = c.id
                   FOR UPDATE SKIP LOCKED;
                IF NOT FOUND THEN
                    v_held := v_held || c.id;
                    CONTINUE;
                END IF;
                DELETE FROM chat.orphaned_images o
                 WHERE o.chat_id = c.chat_id AND o.id = c.id
                RETURNING o.storage_key, o.chat_id, o.seq, o.position, o.reason, o.orphaned_at INTO t;
                storage_key := t.storage_key;
                chat_id := t.chat_id;
                seq := t.seq;
                "position" := t.position;
                reason := t.reason;
                orphaned_at := t.orphaned_at;
                RETURN NEXT;
                v_taken := v_taken + 1;
                EXIT WHEN v_taken >= p_max;
            END LOOP;
            EXIT WHEN v_taken >= p_max OR v_seen = 0;
        END LOOP;
        RETURN;
    END IF;
    -- the oldest first; rows another taker holds are left to it
    RETURN QUERY
    WITH taken AS (
        SELECT o.chat_id, o.id FROM chat.orphaned_images o
         ORDER BY o.id
         LIMIT p_max
           FOR UPDATE SKIP LOCKED
    ), gone AS (
        DELETE FROM chat.orphaned_images o
         USING taken t
         WHERE o.chat_id = t.chat_id AND o.id = t.id
        RETURNING o.id, o.storage_key, o.chat_id, o.seq, o.position, o.reason, o.orphaned_at
    )
    SELECT g.storage_key, g.chat_id, g.seq, g.position::integer, g.reason, g.orphaned_at
      FROM gone g ORDER BY g.id;
END
$$;

COMMENT ON FUNCTION chat.take_orphaned_images(integer) IS
'For the application''s deleter: takes up to max_rows (1 to 1000) storage keys of images whose message was deleted, erased or redacted, oldest first, and removes them from the queue. Delete the bytes in the same transaction before it commits: a rollback puts the keys back. Concurrent takers get different keys.';
REVOKE ALL ON FUNCTION chat.take_orphaned_images(integer) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.take_orphaned_images(integer) TO chat_service;
