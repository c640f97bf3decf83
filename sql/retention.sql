--
-- retention: off by default (messages are kept); a superuser sets
-- stylist_chat.retention, and chat.apply_retention() (a scheduler's job)
-- redacts the participants' messages older than that.
--
\i sql/ids.psql
\pset null '(null)'
\set ON_ERROR_ROLLBACK on
\set hoa  00000000-0000-4000-8000-0000000005c1
\set ivo  00000000-0000-4000-8000-000000000551

SET ROLE regress_app;
SELECT chat.upsert_profile(:'hoa', 'customer', 'Hoa') \g /dev/null
SELECT chat.upsert_profile(:'ivo', 'stylist', 'Ivo') \g /dev/null
SELECT chat.pair_chat_id(:'hoa', :'ivo') AS hoa_ivo \gset
SELECT chat.act_as(:'hoa', for_session => true) \g /dev/null
SELECT chat.chat_with(:'ivo') \g /dev/null
SELECT chat.send_message(:'hoa_ivo', 'four years ago');
SELECT chat.send_message(:'hoa_ivo', 'today');
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
-- (dated back as a superuser may: messages cannot be sent in the past)
UPDATE chat.chat_messages SET created_at = now() - interval '4 years'
 WHERE chat_id = :'hoa_ivo' AND seq = 1;

SET ROLE regress_app;
-- Off: nothing happens.
SELECT * FROM chat.apply_retention();
RESET ROLE;
SET stylist_chat.retention = '3 years';
SET ROLE regress_app;
SELECT redacted_messages, round_complete FROM chat.apply_retention();
SELECT chat.act_as(:'hoa', for_session => true) \g /dev/null
SELECT seq, body, deleted_at IS NOT NULL AS redacted FROM chat.history(:'hoa_ivo') ORDER BY seq;
SELECT chat.reset_actor() \g /dev/null
SELECT retention, last_run->>'redacted_messages' AS last_run FROM chat.retention_status();
RESET ROLE;
SET stylist_chat.retention = 'soon';
SET ROLE regress_app;
SELECT * FROM chat.apply_retention();
RESET ROLE;
RESET stylist_chat.retention;
