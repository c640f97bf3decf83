/*
 * Search: "what was that shampoo you recommended last time?"  A
 * participant searches one chat (chat.search) or all of their chats
 * (chat.search_all); an admin searches every chat, audited
 * (chat.admin_search).
 *
 * The text.  A body is folded before it is split into words: NFKD
 * (compatibility forms too: ｆｕｌｌｗｉｄｔｈ, ligatures), the combining
 * marks stripped (U+0300-036F, 1AB0-1AFF, 1DC0-1DFF, 20D0-20FF, FE20-FE2F),
 * NFC again, lower case (chat._search_text).  The words are those of the
 * 'simple' configuration, never stemmed, so that words of any language
 * match as written: 'Balayáge' is 'balayage'.  Letters that are not a base
 * letter and a mark (ø, ł, ß) stay as they are.  The parser splits on
 * spaces and punctuation only: text without spaces (Chinese, Japanese) is
 * one word per run between spaces or punctuation, found whole or by its
 * beginning (prefix), not by a word inside it.
 *
 * The index.  One GIN index, chat_messages_search_idx, of the words of
 * every message that is not deleted (a partial index: a message leaves it
 * when it is deleted; hidden messages stay, for admin_search, and
 * participants' searches filter them out), plus one lexeme naming the
 * chat (' chat <uuid>', with spaces, which no word ever contains).
 * Searching one chat is then one GIN intersection of the query's words
 * with that lexeme: its cost follows the matches in the chat, not the
 * chat's size nor the other chats.  The functions behind the index are
 * IMMUTABLE C functions (src/search_words.c: the executor computes the
 * index expression for every message written, and plans it anew for every
 * statement); changing what they return needs a REINDEX in the update
 * script.  The index is created at the end of the functions it needs,
 * below, both at install and at the update from 1.0.
 *
 * Newest first.  A GIN scan yields matches in no order: a word in every
 * message of a 1,000,000-message chat would be sorted whole for a page of
 * 20.  chat.search therefore first reads the newest 400 messages below
 * before_seq by the primary key and tests each (a frequent word fills the
 * page there); only what is still missing comes from the index, older
 * than that window.  Rare words cost the index lookup; words of middling
 * frequency (a few in 400, thousands in the chat) cost a sort of their
 * older matches (see README, Performance).
 *
 * The query.  People's syntax, parsed here and never handed to
 * to_tsquery(): words (all must match), "quoted phrases" (in this order),
 * `or` between two terms (either), -word and -"phrase" (must not match),
 * and the last word, when the query does not end in a space or a quote,
 * matched as a prefix ("sham" finds shampoo) if it has 3 characters or
 * more (a shorter prefix would match most of the index).  Each term is
 * folded and split exactly as bodies are, and the tsquery is built from
 * the resulting lexemes, each quoted.  At most 200 characters (22001); a
 * query without a word to find (empty, punctuation, only exclusions) is
 * 22023.
 *
 * Snippets.  The original body, whitespace collapsed, cut to at most
 * about 160 characters around the first match ('…' where cut), the words
 * that match marked «like this».  Each word of the body is folded and
 * compared with the query's words, so that 'Balayáge' is marked for
 * 'balayage'.  A body that itself contains « or » is returned as is: the
 * marks are then ambiguous.
 *
 * Across chats.  search_all never evaluates the user's query on other
 * people's rows: every lookup intersects, inside the index, the query's
 * words with the lexemes of the actor's own chats, so no row of another
 * chat is read or rechecked, and which way a search goes depends on the
 * actor's chats alone.  An actor of 200 chats or fewer is searched chat
 * by chat, most recently active first, until the next chat's last
 * message is older than the max_rows-th match found (a word frequent in
 * the actor's chats stops early); past 200 chats or 50 ms, or for an
 * actor of more chats, 500 chats at a time, their lexemes or'ed.
 * admin_search reads the index's matches across all chats and sorts
 * them.  No plan here depends on the planner's estimate of a tsquery:
 * the conditions a primary-key scan could serve are written so that it
 * cannot (chat_id::text, seq + 0).
 *
 * Access.  All three are SECURITY DEFINER functions that return only rows
 * already filtered: the caller's own conditions never run on other
 * people's rows, and EXPLAIN of a call shows a Function Scan.  What time
 * can tell: the index's posting lists of the query's words are read
 * whole (compressed lists of row addresses; no row behind them is read
 * unless it is in one of the actor's chats), so search and search_all
 * take a little longer for words common on the platform.
 *
 * A participant finds nothing they cleared (chat.clear_history()): every
 * query of search and search_all starts above the actor's cleared seq of
 * the chat.  Rows carry the message a reply quotes (reply_to), as history
 * does.
 */

-- the folding and splitting of text for the index, in C (src/search_words.c):
-- the executor computes the index expression for every message written
CREATE OR REPLACE FUNCTION chat._search_text(body text)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'chat_search_text';

COMMENT ON FUNCTION chat._search_text(text) IS
'Text folded for search: NFKD, combining marks removed, NFC, lower case (plain ASCII: lower case). Behind chat_messages_search_idx: changing it needs a REINDEX. Internal.';
REVOKE ALL ON FUNCTION chat._search_text(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_words(body text)
RETURNS tsvector
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'chat_search_words';

COMMENT ON FUNCTION chat._search_words(text) IS
'The words of a message body for search: folded, split by the simple configuration, not stemmed; a run of 500 or more characters without a space is left out (the index takes no word over 2047 bytes). Internal.';
REVOKE ALL ON FUNCTION chat._search_words(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_chat_lexeme(chat_id uuid)
RETURNS text
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'chat_search_chat_lexeme';

COMMENT ON FUNCTION chat._search_chat_lexeme(uuid) IS
'The lexeme naming a chat in chat_messages_search_idx ('' chat <uuid>''); it contains spaces, which no word does. Internal.';
REVOKE ALL ON FUNCTION chat._search_chat_lexeme(uuid) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_vector(chat_id uuid, body text)
RETURNS tsvector
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'chat_search_vector';

COMMENT ON FUNCTION chat._search_vector(uuid, text) IS
'What chat_messages_search_idx holds for a message: its words and the lexeme of its chat. Internal.';
REVOKE ALL ON FUNCTION chat._search_vector(uuid, text) FROM PUBLIC, chat_service, chat_user;

-- created here, after the functions it uses, both at install and at the
-- update from 1.0 (which runs before any concern file)
CREATE INDEX IF NOT EXISTS chat_messages_search_idx ON chat.chat_messages
    USING gin (chat._search_vector(chat_id, body))
    WHERE deleted_at IS NULL;

CREATE OR REPLACE FUNCTION chat._search_lexemes(term text)
RETURNS TABLE (lexeme text, distance integer)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
ROWS 4
AS $$
    -- the words of a term in their order, each with its distance from the
    -- previous one, as chat._search_words splits a body
    SELECT w.lexeme, (w.pos - lag(w.pos, 1, w.pos) OVER (ORDER BY w.pos, w.lexeme))::integer
      FROM (SELECT u.lexeme, p AS pos
              FROM pg_catalog.unnest(chat._search_words(term)) AS u,
                   pg_catalog.unnest(u.positions) AS p) AS w
     ORDER BY w.pos, w.lexeme
$$;

COMMENT ON FUNCTION chat._search_lexemes(text) IS
'The lexemes of a search term in order, with the distance of each from the previous one. Internal.';
REVOKE ALL ON FUNCTION chat._search_lexemes(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_query(query text, OUT tsq tsquery, OUT words text[],
                                              OUT prefix text)
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    q text := chat._require_arg($1, 'query');
    m text[];
    v_neg boolean;
    v_phrase boolean;
    v_text text;
    v_term text;
    v_lex record;
    v_last_lexeme text;
    v_n integer;
    v_or boolean := false;
    v_groups text[] := '{}';       -- positive terms; an OR joins the last two
    v_excluded text[] := '{}';
    v_last_plain boolean := false;  -- the last positive term is one plain word
    v_ends_open boolean;
BEGIN
    IF char_length(q) > 200 THEN
        RAISE EXCEPTION 'query is too long (% characters)', char_length(q)
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = 'A search query has at most 200 characters.';
    END IF;
    q := pg_catalog.regexp_replace(q, '[[:cntrl:]]', ' ', 'g');
    -- typing: the last word is a prefix unless a space or quote closed it
    v_ends_open := q ~ '[^\s"]$';
    words := '{}';

    FOR m IN SELECT r FROM pg_catalog.regexp_matches(q, '(-?)"([^"]*)"?|(-?)([^\s"]+)', 'g') AS r LOOP
        v_phrase := m[2] IS NOT NULL;
        v_neg := coalesce(m[1], m[3]) = '-';
        v_text := coalesce(m[2], m[4]);
        IF NOT v_phrase AND NOT v_neg AND lower(v_text) = 'or' THEN
            v_or := true;
            v_last_plain := false;
            CONTINUE;
        END IF;
        -- the term as tsquery text: its lexemes, quoted, in order
        v_term := NULL;
        v_n := 0;
        FOR v_lex IN SELECT * FROM chat._search_lexemes(v_text) LOOP
            v_n := v_n + 1;
            v_last_lexeme := v_lex.lexeme;
            v_term := CASE WHEN v_term IS NULL THEN '' ELSE v_term || format(' <%s> ', v_lex.distance) END
                      || '''' || replace(replace(v_lex.lexeme, '\', '\\'), '''', '\''') || '''';
            IF NOT v_neg THEN
                words := words || v_lex.lexeme;
            END IF;
        END LOOP;
        IF v_term IS NULL THEN
            v_last_plain := false;
            CONTINUE;                   -- punctuation only
        END IF;
        IF v_neg THEN
            v_excluded := v_excluded || ('!(' || v_term || ')');
            v_or := false;
            v_last_plain := false;
            CONTINUE;
        END IF;
        IF v_or AND cardinality(v_groups) > 0 THEN
            v_groups[cardinality(v_groups)] := v_groups[cardinality(v_groups)] || ' | (' || v_term || ')';
        ELSE
            v_groups := v_groups || ('(' || v_term || ')');
        END IF;
        v_or := false;
        v_last_plain := NOT v_phrase AND v_n = 1;
    END LOOP;

    IF cardinality(v_groups) = 0 THEN
        RAISE EXCEPTION 'search query has no word to find'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Type at least one word that is not excluded with "-"; punctuation alone is not searched.';
    END IF;

    -- the word being typed, 3 characters or more: a prefix
    IF v_ends_open AND v_last_plain AND char_length(v_last_lexeme) >= 3
       AND right(v_groups[cardinality(v_groups)], 1) = ')' THEN
        v_groups[cardinality(v_groups)] := left(v_groups[cardinality(v_groups)], -1) || ':*)';
        prefix := v_last_lexeme;
    END IF;

    tsq := (SELECT string_agg('(' || g || ')', ' & ') FROM unnest(v_groups || v_excluded) AS g)::tsquery;
END
$$;

COMMENT ON FUNCTION chat._search_query(text) IS
'Parses a search query as people type it (words, "phrases", or, -excluded, the last word a prefix) into a tsquery built from folded lexemes; also the words to highlight and the prefix. 22001 over 200 characters, 22023 without a word to find. Internal.';
REVOKE ALL ON FUNCTION chat._search_query(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_snippet(body text, words text[], prefix text)
RETURNS text
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    b text := btrim(regexp_replace(body, '\s+', ' ', 'g'));
    t record;
    v_tok text[] := '{}';
    v_hit boolean[] := '{}';
    v_lex text;
    v_first integer;
    v_len integer := 0;
    v_start integer;
    v_out text := '';
    v_more boolean := false;        -- text follows the snippet
    n integer := 0;
    i integer;
BEGIN
    IF b IS NULL OR b = '' THEN
        RETURN b;
    END IF;
    -- the parser's tokens cover the text; a compound (well-known, a URL) is
    -- followed by its parts, which are kept instead.  Parsed up to 160
    -- characters past the first match.
    FOR t IN SELECT p.tokid, p.token
               FROM ts_parse('default', b) WITH ORDINALITY AS p(tokid, token, n)
              WHERE p.tokid NOT IN (5, 15, 16, 17)
              ORDER BY p.n LOOP
        n := n + 1;
        v_tok[n] := t.token;
        v_hit[n] := false;
        IF t.tokid <> 12 THEN
            v_lex := chat._search_text(t.token);
            v_hit[n] := v_lex = ANY (words) OR (prefix IS NOT NULL AND starts_with(v_lex, prefix));
        END IF;
        IF v_hit[n] AND v_first IS NULL THEN
            v_first := n;
        END IF;
        IF v_first IS NOT NULL THEN
            v_len := v_len + char_length(t.token);
            IF v_len > 160 THEN
                v_more := true;
                EXIT;
            END IF;
        END IF;
    END LOOP;

    -- from about 50 characters before the first match, 160 characters
    v_start := coalesce(v_first, 1);
    v_len := 0;
    WHILE v_start > 1 AND v_len + char_length(v_tok[v_start - 1]) <= 50 LOOP
        v_start := v_start - 1;
        v_len := v_len + char_length(v_tok[v_start]);
    END LOOP;
    v_len := 0;
    FOR i IN v_start .. n LOOP
        v_len := v_len + char_length(v_tok[i]);
        IF v_len > 160 THEN
            v_more := true;
            IF i = v_start THEN         -- one very long word
                v_out := left(v_tok[i], 160);
            END IF;
            EXIT;
        END IF;
        v_out := v_out || CASE WHEN v_hit[i] THEN '«' || v_tok[i] || '»' ELSE v_tok[i] END;
    END LOOP;
    RETURN CASE WHEN v_start > 1 THEN '…' ELSE '' END || btrim(v_out)
           || CASE WHEN v_more THEN '…' ELSE '' END;
END
$$;

COMMENT ON FUNCTION chat._search_snippet(text, text[], text) IS
'A snippet of a message body: whitespace collapsed, about 160 characters around the first match, matching words marked «like this», … where cut. Internal.';
REVOKE ALL ON FUNCTION chat._search_snippet(text, text[], text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.search(chat_id uuid, query text, max_rows integer DEFAULT 20,
                                       before_seq bigint DEFAULT NULL)
RETURNS TABLE (seq bigint, sender_id uuid, created_at timestamptz, booking_id uuid, snippet text,
               reply_to jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_max integer := chat._check_max_rows($3);
    p_before bigint := coalesce($4, 9223372036854775807);
    v_q record;
    v_found bigint;
    v_cleared bigint;
    v_low bigint;
    v_routed boolean := chat._to_chat_node();
BEGIN
    v_q := chat._search_query($2);

    -- one statement on the chat (on a Citus cluster, one round trip to
    -- its node): access (42501 for anyone else), what the actor cleared
    -- (clear_history()), and low, the lowest of the newest 400 messages
    -- below before_seq, which both reads below keep to: on a Citus
    -- cluster each of them reads the node's latest state, and a bound
    -- taken twice could return a message twice
    SELECT CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                ELSE c.stylist_cleared_seq END,
           (SELECT l.seq FROM chat.chat_messages l
             WHERE l.chat_id = p_chat AND l.seq < p_before
             ORDER BY l.seq DESC OFFSET 399 LIMIT 1)
      INTO v_cleared, v_low
      FROM chat.chats c
     WHERE c.chat_id = p_chat AND v_actor IN (c.customer_id, c.stylist_id);
    IF NOT FOUND THEN
        PERFORM chat._chat_access_denied(p_chat);
    END IF;

    -- those 400, read by the primary key and tested one by one: a
    -- frequent word fills the page here (fewer than 400: all of them, and
    -- nothing is left for the index)
    RETURN QUERY
    SELECT w.seq, w.sender_id, w.created_at, w.booking_id,
           chat._search_snippet(w.body, v_q.words, v_q.prefix),
           (SELECT chat._reply_json(r.seq, r.sender_id, r.body, r.deleted_at,
                                    r.attachment_count, r.hidden_at)
              FROM chat.chat_messages r
             WHERE r.chat_id = p_chat AND r.seq = w.reply_to_seq)   -- the quoted message (on p_chat: one node)
      FROM (SELECT m.seq, m.sender_id, m.created_at, m.booking_id, m.body, m.reply_to_seq
              FROM chat.chat_messages m
             WHERE m.chat_id = p_chat AND m.seq < p_before
               AND m.seq >= coalesce(v_low, -9223372036854775808)
               AND m.deleted_at IS NULL AND m.hidden_at IS NULL
               AND m.seq > v_cleared     -- nothing the actor cleared (clear_history())
               AND chat._search_words(m.body) @@ v_q.tsq
             ORDER BY m.seq DESC
             LIMIT p_max) AS w
     ORDER BY w.seq DESC;
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found >= p_max OR v_low IS NULL THEN
        RETURN;
    END IF;

    -- the rest from the index: the query's words within the chat's lexeme
    RETURN QUERY
    SELECT w.seq, w.sender_id, w.created_at, w.booking_id,
           chat._search_snippet(w.body, v_q.words, v_q.prefix),
           (SELECT chat._reply_json(r.seq, r.sender_id, r.body, r.deleted_at,
                                    r.attachment_count, r.hidden_at)
              FROM chat.chat_messages r
             WHERE r.chat_id = p_chat AND r.seq = w.reply_to_seq)   -- the quoted message (on p_chat: one node)
      FROM (SELECT m.seq, m.sender_id, m.created_at, m.booking_id, m.body, m.reply_to_seq
              FROM chat.chat_messages m
             WHERE chat._search_vector(m.chat_id, m.body)
                   @@ (v_q.tsq && ('''' || chat._search_chat_lexeme(p_chat) || '''')::tsquery)
               AND m.deleted_at IS NULL AND m.hidden_at IS NULL
               -- written so that the primary key cannot serve them: a scan
               -- of the chat's rows is what the index is here to avoid
               AND m.chat_id::text = p_chat::text AND m.seq + 0 < v_low
               AND m.seq + 0 > v_cleared
               -- on a Citus cluster the chat's own, for Citus to send the
               -- statement to the chat's node alone (there it is planned
               -- with the chat's id written out, its statistics known)
               AND (NOT v_routed OR m.chat_id = p_chat)
             ORDER BY m.seq + 0 DESC    -- nor the order: no scan backwards along it
             LIMIT p_max - v_found) AS w
     ORDER BY w.seq DESC;
END
$$;

COMMENT ON FUNCTION chat.search(uuid, text, integer, bigint) IS
'The messages of a chat that match a query (words, "phrases", or, -excluded, the last word a prefix; case and accents ignored), newest first, before before_seq (NULL: from the newest), at most max_rows (1 to 1000); each with a snippet, matches marked «like this». Deleted and hidden messages, and those the actor cleared, never match; a reply carries the message it quotes (reply_to).';
REVOKE ALL ON FUNCTION chat.search(uuid, text, integer, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.search(uuid, text, integer, bigint) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._search_check_keyset(before_at timestamptz, before_chat_id uuid,
                                                     before_seq bigint)
RETURNS boolean
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
BEGIN
    IF num_nulls(before_at, before_chat_id, before_seq) NOT IN (0, 3) THEN
        RAISE EXCEPTION 'before_at, before_chat_id and before_seq go together'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the created_at, chat_id and seq of the last row of the previous page, or none of them for the newest matches.';
    END IF;
    RETURN before_at IS NOT NULL;
END
$$;

COMMENT ON FUNCTION chat._search_check_keyset(timestamptz, uuid, bigint) IS
'Whether a page across chats continues after a row (created_at, chat_id, seq): all three or none (22023). Internal.';
REVOKE ALL ON FUNCTION chat._search_check_keyset(timestamptz, uuid, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.search_all(query text, max_rows integer DEFAULT 20,
                                           before_at timestamptz DEFAULT NULL,
                                           before_chat_id uuid DEFAULT NULL,
                                           before_seq bigint DEFAULT NULL)
RETURNS TABLE (chat_id uuid, seq bigint, other_id uuid, other_name text, sender_id uuid,
               created_at timestamptz, booking_id uuid, snippet text, reply_to jsonb)
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_max integer := chat._check_max_rows($2);
    v_after boolean := chat._search_check_keyset($3, $4, $5);
    v_q record := chat._search_query($1);
    b_at timestamptz := coalesce($3, 'infinity');
    b_chat uuid := $4;
    b_seq bigint := $5;
    v_chats uuid[];
    v_n integer;
    v_c record;
    v_hit_chats uuid[] := '{}';
    v_hit_seqs bigint[] := '{}';
    v_hit_ats timestamptz[] := '{}';
    v_kth timestamptz := '-infinity';
    v_probes integer := 0;
    v_i integer;
    v_mine tsquery;
    v_global boolean;
    v_t0 timestamptz := clock_timestamp();
BEGIN
    -- the actor's chats
    v_chats := ARRAY(SELECT c.chat_id FROM chat.chats c WHERE c.customer_id = v_actor
                     UNION ALL
                     SELECT c.chat_id FROM chat.chats c WHERE c.stylist_id = v_actor);

    /*
     * Never the user's query over other people's rows: every lookup is
     * the query's words intersected, inside the index, with the lexemes of
     * the actor's own chats, so that no row of another chat is read or
     * rechecked, and which way the search goes depends on the actor's own
     * chats only.  An actor of 200 chats or fewer: chat by chat, the most
     * recently active first, each one index lookup; done when the next
     * chat's last message is older than the max_rows-th match.  More
     * chats (or that loop going on past 200 chats or 50 ms): the index
     * for 500 of the actor's chats at a time.
     */
    v_global := cardinality(v_chats) > 200;
    IF NOT v_global THEN
        FOR v_c IN SELECT c.chat_id, c.last_message_at,
                          CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                               ELSE c.stylist_cleared_seq END AS cleared
                     FROM chat.chats c
                    WHERE c.chat_id = ANY (v_chats) AND c.last_message_at IS NOT NULL
                    ORDER BY c.last_message_at DESC LOOP
            EXIT WHEN cardinality(v_hit_seqs) >= p_max AND v_c.last_message_at < v_kth;
            v_probes := v_probes + 1;
            IF v_probes > 200 OR clock_timestamp() - v_t0 > interval '50 ms' THEN
                v_global := true;
                EXIT;
            END IF;
            SELECT v_hit_chats || coalesce(array_agg(v_c.chat_id), '{}'),
                   v_hit_seqs || coalesce(array_agg(h.seq), '{}'),
                   v_hit_ats || coalesce(array_agg(h.created_at), '{}'), count(*)
              INTO v_hit_chats, v_hit_seqs, v_hit_ats, v_n
              FROM (SELECT m.seq, m.created_at
                      FROM chat.chat_messages m
                     WHERE chat._search_vector(m.chat_id, m.body)
                           @@ (v_q.tsq && ('''' || chat._search_chat_lexeme(v_c.chat_id) || '''')::tsquery)
                       AND m.deleted_at IS NULL AND m.hidden_at IS NULL
                       -- not through the primary key (see chat.search)
                       AND m.chat_id::text = v_c.chat_id::text
                       AND m.seq + 0 > v_c.cleared     -- nothing the actor cleared
                       AND (NOT v_after OR (m.created_at, m.chat_id, m.seq + 0) < (b_at, b_chat, b_seq))
                     ORDER BY m.created_at DESC, m.seq DESC
                     LIMIT p_max) AS h;
            IF v_n > 0 AND cardinality(v_hit_seqs) >= p_max THEN
                v_kth := (SELECT a FROM unnest(v_hit_ats) AS a ORDER BY a DESC OFFSET p_max - 1 LIMIT 1);
            END IF;
        END LOOP;
    END IF;
    IF v_global THEN
        v_hit_chats := '{}';
        v_hit_seqs := '{}';
        v_hit_ats := '{}';
        FOR v_i IN 0 .. (cardinality(v_chats) - 1) / 500 LOOP
            -- the lexemes of 500 of the actor's chats, or'ed
            SELECT string_agg('''' || chat._search_chat_lexeme(c) || '''', ' | ')::tsquery INTO v_mine
              FROM unnest(v_chats[v_i * 500 + 1 : v_i * 500 + 500]) AS c;
            SELECT v_hit_chats || coalesce(array_agg(h.chat_id), '{}'),
                   v_hit_seqs || coalesce(array_agg(h.seq), '{}'),
                   v_hit_ats || coalesce(array_agg(h.created_at), '{}')
              INTO v_hit_chats, v_hit_seqs, v_hit_ats
              FROM (SELECT m.chat_id, m.seq, m.created_at
                      FROM chat.chat_messages m
                     WHERE chat._search_vector(m.chat_id, m.body) @@ (v_q.tsq && v_mine)
                       AND m.deleted_at IS NULL AND m.hidden_at IS NULL
                       -- nothing the actor cleared (clear_history())
                       AND m.seq > (SELECT CASE WHEN c.customer_id = v_actor THEN c.customer_cleared_seq
                                                ELSE c.stylist_cleared_seq END
                                      FROM chat.chats c WHERE c.chat_id = m.chat_id)
                       AND (NOT v_after OR (m.created_at, m.chat_id, m.seq) < (b_at, b_chat, b_seq))
                     ORDER BY m.created_at DESC, m.chat_id DESC, m.seq DESC
                     LIMIT p_max) AS h;
        END LOOP;
    END IF;

    -- the page: the newest max_rows hits (their times came with them)
    SELECT array_agg(k.c), array_agg(k.s) INTO v_hit_chats, v_hit_seqs
      FROM (SELECT k.c, k.s FROM unnest(v_hit_chats, v_hit_seqs, v_hit_ats) AS k(c, s, at)
             ORDER BY k.at DESC, k.c DESC, k.s DESC
             LIMIT p_max) k;
    -- its rows: joins on chat_id alone, which a Citus cluster runs on
    -- each node for the chats it holds
    RETURN QUERY
    SELECT m.chat_id, m.seq, CASE WHEN c.customer_id = v_actor THEN c.stylist_id ELSE c.customer_id END,
           p.display_name, m.sender_id, m.created_at, m.booking_id,
           chat._search_snippet(m.body, v_q.words, v_q.prefix),
           CASE WHEN r.seq IS NOT NULL
                THEN chat._reply_json(r.seq, r.sender_id, r.body, r.deleted_at,
                                      r.attachment_count, r.hidden_at) END
      FROM unnest(v_hit_chats, v_hit_seqs) AS k(chat_id, seq)
      JOIN chat.chat_messages m ON m.chat_id = k.chat_id AND m.seq = k.seq
      JOIN chat.chats c ON c.chat_id = m.chat_id
      LEFT JOIN chat.profiles p
             ON p.id = CASE WHEN c.customer_id = v_actor THEN c.stylist_id ELSE c.customer_id END
      LEFT JOIN chat.chat_messages r ON r.chat_id = m.chat_id AND r.seq = m.reply_to_seq
     ORDER BY m.created_at DESC, m.chat_id DESC, m.seq DESC;
END
$$;

COMMENT ON FUNCTION chat.search_all(text, integer, timestamptz, uuid, bigint) IS
'The messages of all the actor''s chats that match a query (as chat.search), newest first, each with its chat and the other participant''s id and name; the next page after the created_at, chat_id and seq of the last row. Deleted and hidden messages, and those the actor cleared, never match; a reply carries the message it quotes (reply_to).';
REVOKE ALL ON FUNCTION chat.search_all(text, integer, timestamptz, uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.search_all(text, integer, timestamptz, uuid, bigint) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.admin_search(query text, reason text, max_rows integer DEFAULT 20,
                                             before_at timestamptz DEFAULT NULL,
                                             before_chat_id uuid DEFAULT NULL,
                                             before_seq bigint DEFAULT NULL)
RETURNS TABLE (chat_id uuid, seq bigint, customer_id uuid, stylist_id uuid, sender_id uuid,
               created_at timestamptz, booking_id uuid, hidden_at timestamptz, snippet text)
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    v_admin uuid := chat._require_admin();
    v_q record := chat._search_query($1);
    p_reason text := chat._audit_reason(chat._require_arg($2, 'reason'));
    p_max integer := chat._check_max_rows($3);
    v_after boolean := chat._search_check_keyset($4, $5, $6);
    v_chats uuid[];
    v_seqs bigint[];
    v_chat uuid;
BEGIN
    IF p_reason IS NULL THEN
        RAISE EXCEPTION 'reason must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say why you search everybody''s messages: it goes into the audit log.';
    END IF;
    -- the matches' keys first, then one audit entry per chat among them,
    -- each committed on its own, and only then the text
    SELECT coalesce(array_agg(k.chat_id ORDER BY k.created_at DESC, k.chat_id DESC, k.seq DESC), '{}'),
           coalesce(array_agg(k.seq ORDER BY k.created_at DESC, k.chat_id DESC, k.seq DESC), '{}')
      INTO v_chats, v_seqs
      FROM (SELECT m.chat_id, m.seq, m.created_at
              FROM chat.chat_messages m
             WHERE chat._search_vector(m.chat_id, m.body) @@ v_q.tsq
               AND m.deleted_at IS NULL
               AND (NOT v_after OR (m.created_at, m.chat_id, m.seq) < ($4, $5, $6))
             ORDER BY m.created_at DESC, m.chat_id DESC, m.seq DESC
             LIMIT p_max) AS k;
    FOR v_chat IN SELECT DISTINCT c FROM unnest(v_chats) AS c ORDER BY 1 LOOP
        PERFORM chat._audit_durably(v_chat, v_admin, 'search', NULL, p_reason);
    END LOOP;

    RETURN QUERY
    SELECT m.chat_id, m.seq, c.customer_id, c.stylist_id, m.sender_id, m.created_at, m.booking_id,
           m.hidden_at, chat._search_snippet(m.body, v_q.words, v_q.prefix)
      FROM unnest(v_chats, v_seqs) WITH ORDINALITY AS k(chat_id, seq, n)
      JOIN chat.chat_messages m ON m.chat_id = k.chat_id AND m.seq = k.seq
      JOIN chat.chats c ON c.chat_id = m.chat_id
     WHERE m.deleted_at IS NULL
     ORDER BY k.n;
END
$$;

COMMENT ON FUNCTION chat.admin_search(text, text, integer, timestamptz, uuid, bigint) IS
'An admin searches the messages of every chat (as chat.search; hidden messages included, with hidden_at), newest first. The reason is required; each chat whose messages are returned is first recorded in chat.audit_log (action search) with the reason, committed on its own: a rollback does not remove it.';
REVOKE ALL ON FUNCTION chat.admin_search(text, text, integer, timestamptz, uuid, bigint) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.admin_search(text, text, integer, timestamptz, uuid, bigint) TO chat_service, chat_user;
