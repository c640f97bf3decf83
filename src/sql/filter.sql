/*
 * The filter of contact details and payment handles: admins' rules,
 * regular expressions matched against each participant's message as it
 * is sent (chat.send_message()) or edited (chat.edit_message()).  Off
 * while there is no rule: the send path then asks one question, whether
 * chat.filter_rules has a row, and nothing else.
 *
 * Actions.  'flag': the message goes through as written and a report is
 * filed for the admins (reason off_platform, from the filter: reporter
 * the nil UUID; one a message).  'mask': each match is replaced by
 * '[removed]' in what both participants see (and what search finds); the
 * text as written is kept for admins (chat.admin_history()).  'hold': the
 * message is not sent: send_message() returns NULL and keeps it in
 * chat.held_messages, where the sender sees it pending
 * (chat.pending_messages()) and admins decide (chat.admin_held_messages(),
 * approve_held_message(), reject_held_message()).  A held message has no
 * seq: seqs are what both participants see, without a gap; approved, it
 * is sent then, as its sender, with the chat's next seq, and relayed,
 * notified and counted as any message.  A message several rules match
 * gets every one's action (held, it is sent with its masks).  An edit a
 * hold rule matches is refused: what was delivered cannot wait.  What matched is recorded
 * in chat.filtered_messages: the rules' names and the text as written.
 * Booking cards and imported history are not filtered.
 *
 * Joined first.  The rules' patterns are kept joined into one (two: those
 * led by (?i), under one (?i), and the others), chat.filter_state, by a
 * trigger on chat.filter_rules (which also makes it again as a dump is
 * restored); the send path tries a message against them, and only a
 * message one of them matches goes through each rule.  So a pattern may
 * start with (?i) and have no other embedded option.
 *
 * Bounded cost.  A rule is checked when it is added: it must compile
 * (PostgreSQL's regular expressions), be at most 300 characters, have no
 * back-reference (the one construct whose matching can be exponential),
 * and match and replace within 50 ms on each of a set of 4000-character
 * messages built to be hard (runs of one character, of digits, of
 * near-matches, of separators): a rule whose automaton would blow up
 * ("regular expression is too complex") or crawl is refused then, not
 * found out by a sender; and the rules joined with it must pass the same
 * tests.  At most 50 rules.
 */

CREATE OR REPLACE FUNCTION chat._filter_probes()
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    -- messages of the greatest length, built to be hard for patterns
    SELECT ARRAY[repeat('a', 4000), repeat('9', 4000), repeat(' ', 4000), repeat('a9', 2000),
                 repeat('+49 30 1234 ', 333) || 'abcd', repeat('a.b@c ', 666) || 'abcd',
                 repeat('DE89 3704 ', 400), repeat('@insta_', 571) || 'abc',
                 repeat('ab', 2000), repeat('aab', 1333) || 'a',
                 (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 125) i)]
$$;

COMMENT ON FUNCTION chat._filter_probes() IS
'The 4000-character messages a new filter rule must handle quickly. Internal.';
REVOKE ALL ON FUNCTION chat._filter_probes() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._filter_state_sync()
RETURNS trigger
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    -- each rule's pattern as a group, those led by (?i) under one (?i)
    INSERT INTO chat.filter_state AS s (only_row, ci_pattern, cs_pattern)
    SELECT true,
           '(?i)' || string_agg('(?:' || substr(f.pattern, 5) || ')', '|' ORDER BY f.id)
               FILTER (WHERE left(f.pattern, 4) = '(?i)'),
           string_agg('(?:' || f.pattern || ')', '|' ORDER BY f.id)
               FILTER (WHERE left(f.pattern, 4) <> '(?i)')
      FROM chat.filter_rules f
    ON CONFLICT (only_row) DO UPDATE SET ci_pattern = excluded.ci_pattern, cs_pattern = excluded.cs_pattern;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION chat._filter_state_sync() IS
'Joins the filter''s rules into chat.filter_state after each change of chat.filter_rules (a restore of it too). Internal.';
REVOKE ALL ON FUNCTION chat._filter_state_sync() FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE TRIGGER filter_rules_state
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON chat.filter_rules
    FOR EACH STATEMENT EXECUTE FUNCTION chat._filter_state_sync();

CREATE OR REPLACE FUNCTION chat._filter_matches(body text)
RETURNS boolean
LANGUAGE sql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
    -- the send path's test: false without a rule, and for a message no
    -- rule matches
    SELECT coalesce(body ~ s.ci_pattern, false) OR coalesce(body ~ s.cs_pattern, false)
      FROM chat.filter_state s
$$;

COMMENT ON FUNCTION chat._filter_matches(text) IS
'Whether any rule of the filter matches a message body (its joined patterns, chat.filter_state): false without a rule. Internal.';
REVOKE ALL ON FUNCTION chat._filter_matches(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._filter(body text, OUT filtered text, OUT rules text[], OUT flag boolean,
                                        OUT hold boolean)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    r record;
BEGIN
    filtered := body;
    rules := '{}';
    flag := false;
    hold := false;
    FOR r IN SELECT f.name, f.pattern, f.action FROM chat.filter_rules f ORDER BY f.id LOOP
        -- every rule looks at the text as written
        IF body ~ r.pattern THEN
            rules := rules || r.name;
            CASE r.action
                WHEN 'mask' THEN filtered := left(regexp_replace(filtered, r.pattern, '[removed]', 'g'), 4000);
                WHEN 'flag' THEN flag := true;
                ELSE hold := true;
            END CASE;
        END IF;
    END LOOP;
END
$$;

COMMENT ON FUNCTION chat._filter(text) IS
'A message body through the filter''s rules: the text to store (matches of mask rules replaced by [removed]), the names of the rules that matched, and whether one is a flag rule, a hold rule. Internal.';
REVOKE ALL ON FUNCTION chat._filter(text) FROM PUBLIC, chat_service, chat_user;

-- report_id: the report's id, when the caller took it from the sequence
-- (chat._send_message_sql() does, for chat._store_message(), which on a
-- Citus cluster runs on the chat's node, whose own copy of the sequence
-- would give ids that another node gives too); else taken here
CREATE OR REPLACE FUNCTION chat._filter_record(chat_id uuid, seq bigint, body text, rules text[], flag boolean,
                                               report_id bigint DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
BEGIN
    INSERT INTO chat.filtered_messages AS f (chat_id, seq, rules, original_body, filtered_at)
    VALUES ($1, $2, $4, $3, now())
    ON CONFLICT ON CONSTRAINT filtered_messages_pkey
    DO UPDATE SET rules = excluded.rules, original_body = excluded.original_body, filtered_at = excluded.filtered_at;
    IF flag THEN
        -- one report a message, from the filter
        report_id := coalesce(report_id, nextval(pg_get_serial_sequence('chat.reports', 'id')));
        INSERT INTO chat.reports (id, chat_id, reporter_id, seq, reason, note) OVERRIDING SYSTEM VALUE
        SELECT report_id, $1, '00000000-0000-0000-0000-000000000000', $2, 'off_platform',
               left('filter: ' || array_to_string($4, ', '), 1000)
         WHERE NOT EXISTS (SELECT FROM chat.reports x
                            WHERE x.chat_id = $1 AND x.seq = $2
                              AND x.reporter_id = '00000000-0000-0000-0000-000000000000');
    END IF;
END
$$;

COMMENT ON FUNCTION chat._filter_record(uuid, bigint, text, text[], boolean, bigint) IS
'Records what the filter found in a message (the rules, the text as written) and, for a flag rule, files the filter''s report (with report_id as its id, when given). Internal.';
REVOKE ALL ON FUNCTION chat._filter_record(uuid, bigint, text, text[], boolean, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.add_filter_rule(name text, pattern text, action text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_name text := chat._check_text($1, 'name', 100);
    p_pattern text := chat._require_arg($2, 'pattern');
    p_action text := chat._require_arg($3, 'action');
    v_probe text;
    v_t0 timestamptz;
    v_ms numeric;
    v_id bigint;
BEGIN
    PERFORM chat._require_writable('add_filter_rule');
    IF p_action NOT IN ('flag', 'mask', 'hold') THEN
        RAISE EXCEPTION 'invalid filter action "%"', p_action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The action is flag (report it), mask (replace what matched) or hold (an admin decides).';
    END IF;
    IF char_length(p_pattern) NOT BETWEEN 1 AND 300 THEN
        RAISE EXCEPTION 'a filter pattern has 1 to 300 characters, not %', char_length(p_pattern)
            USING ERRCODE = 'invalid_regular_expression';
    END IF;
    IF substring(p_pattern FROM '^\(\?([a-z]+)\)') <> 'i' OR substr(p_pattern, 2) ~ '\(\?[a-z]+\)'
       OR p_pattern ~ '^\*\*\*' THEN
        RAISE EXCEPTION 'filter pattern % has embedded options other than a leading (?i)', p_pattern
            USING ERRCODE = 'invalid_regular_expression',
                  HINT = 'A pattern may start with (?i) to ignore case; the rules are joined into one pattern, where other options would apply to all.';
    END IF;
    IF p_pattern ~ '\\[1-9]' THEN
        RAISE EXCEPTION 'filter pattern % has a back-reference', p_pattern
            USING ERRCODE = 'invalid_regular_expression',
                  DETAIL = 'Matching a back-reference can take exponential time.',
                  HINT = 'Write the repeated part out, or leave it out.';
    END IF;
    IF (SELECT count(*) FROM chat.filter_rules) >= 50 THEN
        RAISE EXCEPTION 'there are 50 filter rules already'
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Every message goes through every rule: merge rules into one pattern with |.';
    END IF;
    -- it compiles, and it is quick on hard messages of the greatest length
    FOREACH v_probe IN ARRAY chat._filter_probes() LOOP
        v_t0 := clock_timestamp();
        BEGIN
            PERFORM v_probe ~ p_pattern, regexp_replace(v_probe, p_pattern, '[removed]', 'g');
        EXCEPTION WHEN invalid_regular_expression THEN
            RAISE EXCEPTION 'invalid filter pattern %: %', p_pattern,
                            regexp_replace(SQLERRM, '^invalid regular expression: ', '')
                USING ERRCODE = 'invalid_regular_expression',
                      HINT = 'Patterns are PostgreSQL regular expressions (the ~ operator); (?i) at the start ignores case.';
        END;
        v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
        IF v_ms > 50 THEN
            RAISE EXCEPTION 'filter pattern % is too slow: % ms on a message of 4000 characters', p_pattern, round(v_ms)
                USING ERRCODE = 'invalid_regular_expression',
                      DETAIL = 'Every message goes through every rule as it is sent; a rule may take at most 50 ms on the hardest message.',
                      HINT = 'Nested or long counted repetitions ({n,m} inside {n,m}) are the usual cause.';
        END IF;
    END LOOP;
    INSERT INTO chat.filter_rules (name, pattern, action, created_by)
    VALUES (p_name, p_pattern, p_action, v_admin)
    RETURNING id INTO v_id;
    -- and the rules joined into one, as the send path tries them first
    FOREACH v_probe IN ARRAY chat._filter_probes() LOOP
        v_t0 := clock_timestamp();
        BEGIN
            PERFORM chat._filter_matches(v_probe);
        EXCEPTION WHEN invalid_regular_expression THEN
            RAISE EXCEPTION 'filter pattern % cannot join the other rules: %', p_pattern,
                            regexp_replace(SQLERRM, '^invalid regular expression: ', '')
                USING ERRCODE = 'invalid_regular_expression',
                      HINT = 'The rules are joined into one pattern; remove or simplify one.';
        END;
        v_ms := extract(epoch FROM clock_timestamp() - v_t0) * 1000;
        IF v_ms > 50 THEN
            RAISE EXCEPTION 'with filter pattern %, the rules joined are too slow: % ms on a message of 4000 characters', p_pattern, round(v_ms)
                USING ERRCODE = 'invalid_regular_expression',
                      HINT = 'Remove or simplify a rule.';
        END IF;
    END LOOP;
    RETURN v_id;
EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION 'a filter rule named "%" exists already', p_name
        USING ERRCODE = 'unique_violation',
              HINT = 'Remove it first with chat.remove_filter_rule(), or choose another name.';
END
$$;

COMMENT ON FUNCTION chat.add_filter_rule(text, text, text) IS
'For admins: adds a rule to the filter of contact details: a name, a PostgreSQL regular expression ((?i) at the start ignores case) and an action, flag (a report is filed), mask (what matched is replaced by [removed]; the original is kept for admins) or hold (the message waits for an admin: chat.approve_held_message(), chat.reject_held_message()). A pattern that does not compile, has a back-reference, or is slow on hard 4000-character messages is refused (2201B). Returns the rule''s id.';
REVOKE ALL ON FUNCTION chat.add_filter_rule(text, text, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.add_filter_rule(text, text, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.remove_filter_rule(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    PERFORM chat._require_writable('remove_filter_rule');
    PERFORM chat._require_admin();
    DELETE FROM chat.filter_rules f WHERE f.name = chat._require_arg($1, 'name');
    RETURN FOUND;
END
$$;

COMMENT ON FUNCTION chat.remove_filter_rule(text) IS
'For admins: removes a filter rule by name; false when there is none. Messages it matched stay as they are.';
REVOKE ALL ON FUNCTION chat.remove_filter_rule(text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.remove_filter_rule(text) TO chat_service;

CREATE OR REPLACE FUNCTION chat.admin_filter_rules()
RETURNS TABLE (id bigint, name text, pattern text, action text, created_at timestamptz, created_by uuid,
               matched bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_admin();
    RETURN QUERY
    -- the matches counted in one pass over the filtered messages (on a
    -- Citus cluster, one query of every shard) and joined to the rules
    SELECT f.id, f.name, f.pattern, f.action, f.created_at, f.created_by, coalesce(n.matched, 0)
      FROM chat.filter_rules f
      LEFT JOIN (SELECT r.name, count(*) AS matched
                   FROM chat.filtered_messages m, unnest(m.rules) AS r(name)
                  GROUP BY r.name) n ON n.name = f.name
     ORDER BY f.id;
END
$$;

COMMENT ON FUNCTION chat.admin_filter_rules() IS
'For admins: the filter''s rules, and how many messages each has matched.';
REVOKE ALL ON FUNCTION chat.admin_filter_rules() FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_filter_rules() TO chat_service;

CREATE OR REPLACE FUNCTION chat._held_to_decide(chat_id uuid, held_id bigint)
RETURNS chat.held_messages
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_h chat.held_messages;
BEGIN
    SELECT * INTO v_h FROM chat.held_messages h WHERE h.chat_id = $1 AND h.id = $2 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'held message % of chat % does not exist', $2, $1
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'chat.admin_held_messages() lists the messages that wait.';
    END IF;
    IF v_h.status <> 'held' THEN
        RAISE EXCEPTION 'held message % of chat % was % already', $2, $1, v_h.status
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN v_h;
END
$$;

COMMENT ON FUNCTION chat._held_to_decide(uuid, bigint) IS
'Locks a held message that waits for a decision, with the errors for one that does not exist or was decided. Internal.';
REVOKE ALL ON FUNCTION chat._held_to_decide(uuid, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.approve_held_message(chat_id uuid, held_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_id bigint := chat._require_arg($2, 'held_id');
    v_h chat.held_messages;
    v_seq bigint;
BEGIN
    PERFORM chat._require_writable('approve_held_message');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('approve_held_message', $1, jsonb_build_array($2))::bigint;
    END IF;
    v_h := chat._held_to_decide(p_chat, p_id);
    -- decided first: the send below sees the approval under way, and does
    -- not filter the message again
    UPDATE chat.held_messages h
       SET status = 'approved', decided_at = now(), decided_by = v_admin
     WHERE h.chat_id = p_chat AND h.id = p_id;
    -- sent now, as its sender, as it was filtered when it was held: its
    -- seq, relay event, notification and unread count are a send's
    PERFORM chat.act_as(v_h.sender_id);
    v_seq := chat.send_message(p_chat, v_h.filtered_body, v_h.booking_id, v_h.client_msg_id,
                               v_h.attachments, v_h.reply_to_seq);
    PERFORM chat.act_as(v_admin);
    PERFORM chat._filter_record(p_chat, v_seq, v_h.body, v_h.rules, false);
    -- the text lives in the message now (and, as written, in the filter's
    -- record of it)
    UPDATE chat.held_messages h
       SET seq = v_seq, body = NULL, filtered_body = NULL, attachments = NULL
     WHERE h.chat_id = p_chat AND h.id = p_id;
    RETURN v_seq;
END
$$;

COMMENT ON FUNCTION chat.approve_held_message(uuid, bigint) IS
'For admins: approves a message a hold rule held: it is sent now, as its sender wrote it (mask rules applied), with the next seq of the chat, which is returned; relayed, notified and counted as any message. 55000 when it was decided already or the chat is blocked.';
REVOKE ALL ON FUNCTION chat.approve_held_message(uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.approve_held_message(uuid, bigint) TO chat_service;

CREATE OR REPLACE FUNCTION chat.reject_held_message(chat_id uuid, held_id bigint, reason text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_id bigint := chat._require_arg($2, 'held_id');
    p_reason text := chat._check_text($3, 'reason', 500);
    v_h chat.held_messages;
BEGIN
    PERFORM chat._require_writable('reject_held_message');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        PERFORM chat._on_chat('reject_held_message', $1, jsonb_build_array($2, $3));
        RETURN;
    END IF;
    v_h := chat._held_to_decide(p_chat, p_id);
    -- its images: the application deletes the bytes
    INSERT INTO chat.orphaned_images (chat_id, seq, position, storage_key, reason)
    SELECT p_chat, NULL, a.ord, a.e->>'storage_key', 'rejected'
      FROM jsonb_array_elements(coalesce(v_h.attachments, '[]')) WITH ORDINALITY AS a(e, ord);
    -- the text stays, for the moderators, as the record of what was refused
    UPDATE chat.held_messages h
       SET status = 'rejected', decided_at = now(), decided_by = v_admin, reason = p_reason,
           filtered_body = NULL, attachments = NULL
     WHERE h.chat_id = p_chat AND h.id = p_id;
END
$$;

COMMENT ON FUNCTION chat.reject_held_message(uuid, bigint, text) IS
'For admins: rejects a message a hold rule held, with a reason the sender sees (chat.pending_messages()): it is never sent; its images are queued for deletion (chat.take_orphaned_images()); its text stays as the record.';
REVOKE ALL ON FUNCTION chat.reject_held_message(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.reject_held_message(uuid, bigint, text) TO chat_service;

CREATE OR REPLACE FUNCTION chat._empty_held_messages(chat_ids uuid[], ids bigint[], decided_by uuid,
                                                     reason text, image_reason text,
                                                     OUT emptied bigint, OUT images bigint)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
DECLARE
    v_now timestamptz := now();     -- a value: on Citus the statement runs on the chat's node
BEGIN
    -- (the caller holds the rows) those with content lose it; one that
    -- still waits is rejected, for the reason given; images are queued.
    -- Every table is read for the chats of chat_ids: on a Citus cluster,
    -- called for one chat, the statement is sent whole to its node
    WITH old AS (
        SELECT h.chat_id, h.id, h.attachments
          FROM ROWS FROM (unnest($1), unnest($2)) AS x (chat_id, id)
          JOIN chat.held_messages h ON h.chat_id = x.chat_id AND h.id = x.id
         WHERE h.chat_id = ANY ($1)
           AND (h.body IS NOT NULL OR h.filtered_body IS NOT NULL OR h.attachments IS NOT NULL)
    ), done AS (
        UPDATE chat.held_messages h
           SET body = NULL, filtered_body = NULL, attachments = NULL,
               status = CASE WHEN h.status = 'held' THEN 'rejected' ELSE h.status END,
               decided_at = coalesce(h.decided_at, v_now), decided_by = coalesce(h.decided_by, $3),
               reason = CASE WHEN h.status = 'held' THEN $4 ELSE h.reason END
          FROM old o WHERE h.chat_id = ANY ($1) AND h.chat_id = o.chat_id AND h.id = o.id
        RETURNING 1
    ), queued AS (
        INSERT INTO chat.orphaned_images (chat_id, seq, position, storage_key, reason)
        SELECT o.chat_id, NULL, a.ord, a.e->>'storage_key', $5
          FROM old o
          CROSS JOIN LATERAL jsonb_array_elements(coalesce(o.attachments, '[]')) WITH ORDINALITY AS a(e, ord)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM queued) INTO emptied, images;
END
$$;

COMMENT ON FUNCTION chat._empty_held_messages(uuid[], bigint[], uuid, text, text) IS
'Empties held messages (chat_ids, ids) for an erasure or retention: their text and images go (queued for deletion, image_reason), one that still waits is rejected with reason, decided_by. Returns how many it emptied and images it queued. The caller holds the rows. Internal.';
REVOKE ALL ON FUNCTION chat._empty_held_messages(uuid[], bigint[], uuid, text, text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.pending_messages(in_chat uuid DEFAULT NULL)
RETURNS TABLE (chat_id uuid, held_id bigint, body text, attachments jsonb, booking_id uuid,
               reply_to_seq bigint, client_msg_id uuid, held_at timestamptz, status text,
               decided_at timestamptz, reason text)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
BEGIN
    IF $1 IS NULL THEN
        RETURN QUERY
        SELECT h.chat_id, h.id, h.body, coalesce(h.attachments, '[]'::jsonb), h.booking_id, h.reply_to_seq,
               h.client_msg_id, h.held_at, h.status, h.decided_at, h.reason
          FROM chat.held_messages h
         WHERE h.sender_id = v_actor AND h.status <> 'approved'
         ORDER BY h.held_at, h.id;
        RETURN;
    END IF;
    -- in a chat, one statement (on a Citus cluster, one round trip to its
    -- node), which reads nothing unless the actor takes part in the chat
    -- (a condition of no row: tested once, before anything is read);
    -- access is checked apart only when it finds nothing, for its 42501
    RETURN QUERY
    SELECT h.chat_id, h.id, h.body, coalesce(h.attachments, '[]'::jsonb), h.booking_id, h.reply_to_seq,
           h.client_msg_id, h.held_at, h.status, h.decided_at, h.reason
      FROM chat.held_messages h
     WHERE h.chat_id = $1 AND h.sender_id = v_actor AND h.status <> 'approved'
       AND EXISTS (SELECT FROM chat.chats c WHERE c.chat_id = $1 AND v_actor IN (c.customer_id, c.stylist_id))
     ORDER BY h.held_at, h.id;
    IF NOT FOUND THEN
        PERFORM chat._participant_chat($1);
    END IF;
END
$$;

COMMENT ON FUNCTION chat.pending_messages(uuid) IS
'The actor''s messages that a hold rule of the filter holds for a moderator (status held), or that a moderator rejected (with the reason), in a chat or in all; approved ones are messages of their chats.';
REVOKE ALL ON FUNCTION chat.pending_messages(uuid) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.pending_messages(uuid) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.admin_held_messages(include_decided boolean DEFAULT false)
RETURNS TABLE (chat_id uuid, held_id bigint, sender_id uuid, body text, attachments jsonb,
               rules text[], held_at timestamptz, status text, decided_at timestamptz,
               decided_by uuid, reason text, seq bigint)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM chat._require_admin();
    RETURN QUERY
    SELECT h.chat_id, h.id, h.sender_id, h.body, coalesce(h.attachments, '[]'::jsonb), h.rules, h.held_at,
           h.status, h.decided_at, h.decided_by, h.reason, h.seq
      FROM chat.held_messages h
     WHERE h.status = 'held' OR chat._require_arg($1, 'include_decided')
     ORDER BY h.held_at, h.id;
END
$$;

COMMENT ON FUNCTION chat.admin_held_messages(boolean) IS
'For admins: the messages a hold rule holds, oldest first, as written, with the rules that matched (with include_decided, the approved and rejected ones too).';
REVOKE ALL ON FUNCTION chat.admin_held_messages(boolean) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_held_messages(boolean) TO chat_service;
