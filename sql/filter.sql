--
-- filter: admins' rules find contact details and payment handles in what
-- participants send: flag (a report), mask ([removed]) or hold (an admin
-- decides).
--
\i sql/ids.psql
\pset null '(null)'
\set ON_ERROR_ROLLBACK on
\set flo  00000000-0000-4000-8000-0000000004c1
\set gus  00000000-0000-4000-8000-000000000451

SET ROLE regress_app;
SELECT chat.upsert_profile(:'flo', 'customer', 'Flo') \g /dev/null
SELECT chat.upsert_profile(:'gus', 'stylist', 'Gus') \g /dev/null
SELECT chat.pair_chat_id(:'flo', :'gus') AS flo_gus \gset

SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT chat.add_filter_rule('phone', '(\+|00)?[0-9][0-9 ./-]{6,}[0-9]', 'mask') > 0 AS added;
SELECT chat.add_filter_rule('payment', '(?i)paypal|venmo', 'flag') > 0 AS added;
SELECT chat.add_filter_rule('iban', '(?i)\m[a-z]{2}[0-9]{2}( ?[a-z0-9]{4}){3,7}', 'hold') > 0 AS added;
-- What is refused when it is added.
SELECT chat.add_filter_rule('broken', '(a', 'mask');
SELECT chat.add_filter_rule('backref', '(ab)\1', 'mask');
SELECT chat.add_filter_rule('options', '(?x) a b', 'mask');

SELECT chat.act_as(:'flo', for_session => true) \g /dev/null
SELECT chat.chat_with(:'gus') \g /dev/null
SELECT chat.send_message(:'flo_gus', 'Call me on 0171 2345678');
SELECT chat.send_message(:'flo_gus', 'Or pay me by PayPal');
SELECT chat.send_message(:'flo_gus', 'My IBAN is DE89 3704 0044 0532 0130 00');
SELECT seq, body FROM chat.history(:'flo_gus') ORDER BY seq;
SELECT held_id > 0 AS held, status FROM chat.pending_messages(:'flo_gus');

SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT seq, body FROM chat.admin_history(:'flo_gus', 'filter check') ORDER BY seq;
SELECT seq, reason, note FROM chat.admin_reports WHERE chat_id = :'flo_gus';
SELECT body, rules FROM chat.admin_held_messages();
SELECT chat.approve_held_message(:'flo_gus', (SELECT held_id FROM chat.admin_held_messages()));
SELECT chat.act_as(:'gus', for_session => true) \g /dev/null
SELECT seq, sender_id = :'flo' AS from_flo, body FROM chat.history(:'flo_gus', max_rows => 1);
SELECT chat.act_as(:'ada', for_session => true) \g /dev/null
SELECT name, action, matched FROM chat.admin_filter_rules();
SELECT chat.remove_filter_rule('phone') AND chat.remove_filter_rule('payment') AND chat.remove_filter_rule('iban') AS removed;
SELECT chat.reset_actor() \g /dev/null
RESET ROLE;
