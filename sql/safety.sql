--
-- safety: a participant blocks a chat.  While either side blocks it,
-- nobody sends in it (55000 "this chat is blocked", the same for both
-- sides) and typing is not relayed; the history stays readable and one's
-- own messages can still be edited and deleted.  Admins see every block
-- in chat.admin_blocks.
--
\i sql/ids.psql
\pset null '(null)'

-- safety_try(statement, chat_id) runs a statement, with chat_id as $1, and
-- returns "SQLSTATE: message" for its error, or "ok".
CREATE FUNCTION safety_try(stmt text, chat_id uuid DEFAULT NULL) RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE stmt USING chat_id;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION safety_try(text, uuid) TO regress_app;

SET ROLE regress_app;
SELECT chat.pair_chat_id(:'ana', :'tia') AS ana_tia \gset

-- Tia blocks her chat with Ana.
SELECT chat.act_as(:'tia', for_session => true) \g /dev/null
SELECT chat.block(:'ana_tia');
-- blocking twice is a no-op: the first time stays
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT blocked_at AS first_time FROM chat.admin_blocks \gset
SELECT chat.act_as(:'tia', for_session => true) \g /dev/null
SELECT chat.block(:'ana_tia');

-- Neither side can send: the same error for both.
SELECT safety_try($$SELECT chat.send_message($1, 'Hello?')$$, :'ana_tia');
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
SELECT safety_try($$SELECT chat.send_message($1, 'Hello?')$$, :'ana_tia');
SELECT chat.send_message(:'ana_tia', 'Hello?');
-- with a client_msg_id too
SELECT safety_try($$SELECT chat.send_message($1, 'Hello?', client_msg_id => gen_random_uuid())$$, :'ana_tia');
-- typing is dropped without a word
SELECT chat.typing(:'ana_tia');
-- the history stays readable, and one's own messages can be edited
SELECT seq, body FROM chat.history(:'ana_tia') ORDER BY seq;
SELECT chat.edit_message(:'ana_tia', 2, 'Friday works, thank you.');
SELECT seq, body, edited_at IS NOT NULL AS edited FROM chat.history(:'ana_tia') WHERE seq = 2;
-- a chat that is not the actor's is still the one 42501, blocked or not
SELECT chat.act_as(:'ben', for_session => true) \g /dev/null
SELECT safety_try($$SELECT chat.send_message($1, 'Hi')$$, :'ana_tia');
SELECT safety_try($$SELECT chat.block($1)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.unblock($1)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.typing($1)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.block($1)$$, :'no_such_chat');
SELECT safety_try($$SELECT chat.block($1)$$, NULL);
SELECT chat.reset_actor() \g /dev/null
SELECT safety_try($$SELECT chat.block($1)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.unblock($1)$$, :'ana_tia');

-- Admins see every block; nobody else sees any.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT chat_id = :'ana_tia' AS ana_tia, blocker_id = :'tia' AS by_tia,
       blocked_id = :'ana' AS of_ana, blocked_at = :'first_time' AS since_the_first
  FROM chat.admin_blocks;
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
SELECT count(*) FROM chat.admin_blocks;

-- Ana blocks too; her unblock lifts only her own block.
SELECT chat.block(:'ana_tia');
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT CASE blocker_id WHEN :'ana' THEN 'Ana' ELSE 'Tia' END AS blocker
  FROM chat.admin_blocks ORDER BY 1;
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
SELECT chat.unblock(:'ana_tia');
SELECT chat.unblock(:'ana_tia');
SELECT safety_try($$SELECT chat.send_message($1, 'Hello?')$$, :'ana_tia');

-- Once Tia unblocks, both send again; the seq goes on without a gap.
SELECT chat.act_as(:'tia', for_session => true) \g /dev/null
SELECT chat.unblock(:'ana_tia');
SELECT chat.send_message(:'ana_tia', 'Sorry Ana, see you Friday.');
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT count(*) FROM chat.admin_blocks;

-- Clean up.
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
DROP FUNCTION safety_try(text, uuid);
