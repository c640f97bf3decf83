--
-- privacy: a person's data exported and erased, and a chat on legal hold
-- that keeps its content meanwhile.  For admins, but a person's own
-- export.
--
\i sql/ids.psql
\pset null '(null)'
\set ON_ERROR_ROLLBACK on
\set pia  00000000-0000-4000-8000-0000000003c1
\set ron  00000000-0000-4000-8000-000000000351

SET ROLE regress_app;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT chat.upsert_profile(:'pia', 'customer', 'Pia') \g /dev/null
SELECT chat.upsert_profile(:'ron', 'stylist', 'Ron') \g /dev/null
SELECT chat.pair_chat_id(:'pia', :'ron') AS pia_ron \gset
SELECT chat.act_as(:'pia', for_session => true) \g /dev/null
SELECT chat.chat_with(:'ron') \g /dev/null
SELECT chat.send_message(:'pia_ron', 'My photo for the cut',
       attachments => '[{"storage_key": "u/pia/1.jpg", "content_type": "image/jpeg", "byte_size": 1, "width": 1, "height": 1}]');
SELECT chat.act_as(:'ron', for_session => true) \g /dev/null
SELECT chat.send_message(:'pia_ron', 'Got it, see you Friday', reply_to_seq => 1);

-- Her own export: the lines of one JSON document.
SELECT chat.act_as(:'pia', for_session => true) \g /dev/null
SELECT j->'profile'->>'display_name' AS name, jsonb_array_length(j->'messages') AS messages,
       j->'messages'->0->'attachments'->0->>'storage_key' AS image
  FROM (SELECT string_agg(line, E'\n' ORDER BY n)::jsonb AS j
          FROM chat.export_my_data() WITH ORDINALITY AS x(line, n)) d;
-- An admin's export of somebody else's is for admins.
SELECT count(*) FROM chat.export_profile(:'ron');

-- The chat is held; erasing Pia leaves it whole and says so.
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT chat.set_legal_hold(:'pia_ron', 'dispute #12') > 0 AS held;
SELECT item, detail ~ 'dispute #12' AS says_why FROM chat.erase_profile(:'pia', 'erasure request 7');
-- Released, erased again: her message is a tombstone, Ron's reply stays,
-- and the key of her image is returned for the application to delete.
SELECT chat.release_legal_hold(:'pia_ron', 'settled');
SELECT item, seq, storage_key FROM chat.erase_profile(:'pia', 'erasure request 7, after the hold');
SELECT seq, body, deleted_at IS NOT NULL AS tombstone FROM chat.admin_history(:'pia_ron', 'check') ORDER BY seq;
SELECT action, reason, summary->>'messages' AS messages FROM chat.privacy_log(:'pia');
-- Her tokens are void, and no new one is issued.
SELECT chat.issue_token(:'pia');
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
