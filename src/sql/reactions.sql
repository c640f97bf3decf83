/*
 * Reactions: a participant reacts to a message of their chat with an emoji
 * (one reaction per person, emoji and message) and takes it back.  Every
 * message row the API returns carries the counts ({emoji: count}) and the
 * actor's own reactions; the other side hears of a change through a
 * "reaction" event with the message's seq.
 *
 * An emoji is one emoji as the Unicode emoji data defines it, not
 * arbitrary text: a pictograph with an optional presentation selector and
 * skin tone, a zero-width-joiner sequence of them (a family, a profession),
 * a flag (two regional indicators, or a black flag with tags), or a keycap.
 * The ranges below are those blocks' code points; a new emoji in them is
 * accepted without a change here.
 */

CREATE OR REPLACE FUNCTION chat._check_emoji(emoji text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE CALLED ON NULL INPUT PARALLEL SAFE
AS $$
DECLARE
    -- a pictograph: the emoji blocks of the Supplementary Multilingual
    -- Plane (but not the regional indicators, tags or skin tones alone),
    -- the symbols and dingbats of the Basic Multilingual Plane, and the
    -- few older characters with an emoji presentation
    pict constant text := '[\u00A9\u00AE\u203C\u2049\u2122\u2139\u2194-\u2199\u21A9\u21AA'
        '\u231A\u231B\u2328\u23CF\u23E9-\u23F3\u23F8-\u23FA\u24C2\u25AA\u25AB\u25B6\u25C0'
        '\u25FB-\u25FE\u2600-\u27BF\u2934\u2935\u2B05-\u2B07\u2B1B\u2B1C\u2B50\u2B55\u3030'
        '\u303D\u3297\u3299\U0001F000-\U0001F1E5\U0001F200-\U0001F3FA\U0001F400-\U0001FAFF]';
    tone constant text := '[\U0001F3FB-\U0001F3FF]';
    one text;
BEGIN
    IF chat._require_arg(emoji, 'emoji') = '' OR char_length(emoji) > 16 THEN
        RAISE EXCEPTION 'emoji must be a single emoji'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass one emoji such as 👍, ❤️ or 👍🏽.';
    END IF;
    one := pict || '\uFE0F?' || tone || '?';
    -- at most 4 joined (a family of four, a kiss); tag sequences only the
    -- three flags Unicode recommends (England, Scotland, Wales): tags
    -- are invisible letters, which must not carry text
    IF emoji ~ ('^(?:' || one || '(?:\u200D' || one || '){0,3}'
                || '|[\U0001F1E6-\U0001F1FF]{2}'
                || '|[0-9#*]\uFE0F?\u20E3'
                || '|\U0001F3F4\U000E0067\U000E0062'
                || '(?:\U000E0065\U000E006E\U000E0067|\U000E0073\U000E0063\U000E0074|\U000E0077\U000E006C\U000E0073)'
                || '\U000E007F)$') THEN
        RETURN emoji;
    END IF;
    RAISE EXCEPTION 'emoji must be a single emoji'
        USING ERRCODE = 'invalid_parameter_value',
              HINT = 'Pass one emoji such as 👍, ❤️ or 👍🏽.';
END
$$;

COMMENT ON FUNCTION chat._check_emoji(text) IS
'Returns its argument if it is one emoji (with its skin tone and joiner sequence, a flag or a keycap), else raises 22023. Internal.';
REVOKE ALL ON FUNCTION chat._check_emoji(text) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat._reaction_target(chat_id uuid, seq bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
AS $$
#variable_conflict use_column
DECLARE
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    v_msg record;
    v_blocked boolean;
    v_cleared bigint;
BEGIN
    PERFORM chat._lock_chat(p_chat);
    v_cleared := chat._cleared_seq(p_chat, chat.require_actor());
    SELECT c.customer_blocked_at IS NOT NULL OR c.stylist_blocked_at IS NOT NULL INTO v_blocked
      FROM chat.chats c WHERE c.chat_id = p_chat;
    IF v_blocked THEN
        RAISE EXCEPTION 'this chat is blocked'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Nothing can be sent in a blocked chat; its history stays readable.';
    END IF;
    SELECT m.deleted_at, m.hidden_at INTO v_msg
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq
       AND m.seq > v_cleared;   -- not what the actor cleared
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_msg.deleted_at IS NOT NULL OR v_msg.hidden_at IS NOT NULL THEN
        RAISE EXCEPTION 'message % of chat % is %', p_seq, p_chat,
                        CASE WHEN v_msg.deleted_at IS NOT NULL THEN 'deleted' ELSE 'hidden' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A deleted or hidden message takes no reactions.';
    END IF;
END
$$;

COMMENT ON FUNCTION chat._reaction_target(uuid, bigint) IS
'Locks a chat of the actor''s for a reaction to one of its messages, with the errors for a blocked chat and a missing, deleted or hidden message. Internal.';
REVOKE ALL ON FUNCTION chat._reaction_target(uuid, bigint) FROM PUBLIC, chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.react(chat_id uuid, seq bigint, emoji text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_emoji text;
BEGIN
    PERFORM chat._require_writable('react');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('react', $1, jsonb_build_array($2, $3))::jsonb;
    END IF;
    PERFORM chat._reaction_target($1, $2);
    p_emoji := chat._check_emoji($3);
    IF NOT EXISTS (SELECT FROM chat.reactions r
                    WHERE r.chat_id = $1 AND r.seq = $2 AND r.profile_id = v_actor
                      AND r.emoji = p_emoji) THEN
        -- the chat's lock serialises the actor's reactions to it
        IF (SELECT count(*) FROM chat.reactions r
             WHERE r.chat_id = $1 AND r.seq = $2 AND r.profile_id = v_actor) >= 20 THEN
            RAISE EXCEPTION 'at most 20 different reactions per person to a message'
                USING ERRCODE = 'program_limit_exceeded',
                      HINT = 'Take one back with chat.unreact() first.';
        END IF;
        INSERT INTO chat.reactions (chat_id, seq, profile_id, emoji)
        VALUES ($1, $2, v_actor, p_emoji);
        UPDATE chat.chat_messages m SET reaction_count = m.reaction_count + 1
         WHERE m.chat_id = $1 AND m.seq = $2;
        PERFORM chat._relay_change('reaction', $1, $2);
    END IF;
    RETURN chat._reactions($1, $2);
END
$$;

COMMENT ON FUNCTION chat.react(uuid, bigint, text) IS
'React to a message of the actor''s chat with one emoji and return the message''s reaction counts {emoji: count}. Reacting twice with the same emoji is a no-op; at most 20 different emoji per person and message. Relayed as a reaction event.';
REVOKE ALL ON FUNCTION chat.react(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.react(uuid, bigint, text) TO chat_service, chat_user;

CREATE OR REPLACE FUNCTION chat.unreact(chat_id uuid, seq bigint, emoji text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '2s'
AS $$
#variable_conflict use_column
DECLARE
    v_actor uuid := chat.require_actor();
    p_chat uuid := chat._require_arg($1, 'chat_id');
    p_seq bigint := chat._require_arg($2, 'seq');
    p_emoji text;
    v_msg record;
    v_cleared bigint;
BEGIN
    PERFORM chat._require_writable('unreact');
    IF chat._to_chat_node() THEN     -- Citus: the whole call on the chat's node
        RETURN chat._on_chat('unreact', $1, jsonb_build_array($2, $3))::jsonb;
    END IF;
    PERFORM chat._lock_chat(p_chat);
    v_cleared := chat._cleared_seq(p_chat, v_actor);
    p_emoji := chat._check_emoji($3);
    SELECT m.deleted_at IS NOT NULL OR m.hidden_at IS NOT NULL AS masked INTO v_msg
      FROM chat.chat_messages m
     WHERE m.chat_id = p_chat AND m.seq = p_seq
       AND m.seq > v_cleared;    -- not what the actor cleared
    IF NOT FOUND THEN
        RAISE EXCEPTION 'message % does not exist in chat %', p_seq, p_chat
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM chat.reactions r
     WHERE r.chat_id = p_chat AND r.seq = p_seq AND r.profile_id = v_actor AND r.emoji = p_emoji;
    IF FOUND THEN
        UPDATE chat.chat_messages m SET reaction_count = m.reaction_count - 1
         WHERE m.chat_id = p_chat AND m.seq = p_seq;
        PERFORM chat._relay_change('reaction', p_chat, p_seq);
    END IF;
    -- the counts of a deleted or hidden message are not shown, as in history
    RETURN CASE WHEN v_msg.masked THEN '{}'::jsonb ELSE chat._reactions(p_chat, p_seq) END;
END
$$;

COMMENT ON FUNCTION chat.unreact(uuid, bigint, text) IS
'Take back the actor''s reaction with this emoji to a message and return the message''s reaction counts; a no-op when there is none. Allowed in a blocked chat and on a deleted or hidden message. Relayed as a reaction event.';
REVOKE ALL ON FUNCTION chat.unreact(uuid, bigint, text) FROM PUBLIC, chat_service, chat_user;
GRANT EXECUTE ON FUNCTION chat.unreact(uuid, bigint, text) TO chat_service, chat_user;
