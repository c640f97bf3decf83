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

--
-- Reports: report(chat_id, reason, seq, note) reports a message (seq) or
-- the whole chat (seq NULL) and returns the report's id; an admin resolves
-- it with resolve_report(report_id, action, note), recorded in the audit log.
--
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
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
-- Ana reports Tia's message 3; reporting it again returns the same report.
SELECT chat.report(:'ana_tia', 'harassment', 3, 'Rude.') AS r1 \gset
SELECT chat.report(:'ana_tia', 'harassment', 3) = :r1 AS same_report;
-- and the whole chat
SELECT chat.report(:'ana_tia', 'spam') AS r2 \gset
-- refused: an unknown reason, her own message, no such message, a long note
SELECT safety_try($$SELECT chat.report($1, 'boring')$$, :'ana_tia');
SELECT safety_try($$SELECT chat.report($1, 'spam', 2)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.report($1, 'spam', 99)$$, :'ana_tia');
SELECT safety_try($$SELECT chat.report($1, 'other', NULL, repeat('x', 1001))$$, :'ana_tia');
SELECT safety_try($$SELECT chat.report($1, NULL)$$, :'ana_tia');
-- an outsider, and a made-up chat: the one 42501
SELECT chat.act_as(:'ben', for_session => true) \g /dev/null
SELECT safety_try($$SELECT chat.report($1, 'spam')$$, :'ana_tia');
SELECT safety_try($$SELECT chat.report($1, 'spam')$$, :'no_such_chat');
-- nobody but an admin sees reports or resolves them
SELECT count(*) FROM chat.admin_reports;
SELECT safety_try(format('SELECT chat.resolve_report(%s, %L)', :r1, 'dismiss'));

-- Ada resolves: the message is hidden, the chat report dismissed.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT id = :r1 AS r1, seq, reason, note, status FROM chat.admin_reports ORDER BY id;
SELECT safety_try(format('SELECT chat.resolve_report(%s, %L)', :r2, 'hide_message'));
SELECT safety_try(format('SELECT chat.resolve_report(%s, %L)', :r1, 'ban'));
SELECT safety_try('SELECT chat.resolve_report(999999, ''dismiss'')');
SELECT chat.resolve_report(:r1, 'hide_message', 'insult');
SELECT chat.resolve_report(:r2, 'dismiss');
SELECT safety_try(format('SELECT chat.resolve_report(%s, %L)', :r2, 'dismiss'));
SELECT id = :r1 AS r1, status, resolved_by = :'ada' AS by_ada, resolution_note
  FROM chat.admin_reports ORDER BY id;
SELECT action, seq, reason FROM chat.audit_log WHERE chat_id = :'ana_tia' ORDER BY id;
-- the participants see message 3 hidden
SELECT chat.act_as(:'ana', for_session => true) \g /dev/null
SELECT seq, body, hidden_at IS NOT NULL AS hidden FROM chat.history(:'ana_tia') WHERE seq = 3;
-- once resolved, the same report makes a new one
SELECT chat.report(:'ana_tia', 'spam') <> :r2 AS new_report;

-- Clean up.
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
DROP FUNCTION safety_try(text, uuid);
