--
-- identity: who is acting.  The application backend says which profile it
-- speaks for with chat.act_as(); every access decision asks
-- chat.current_actor().  The actor lives in the C module's memory, not in a
-- setting.
--
\i sql/ids.psql
\pset null '(null)'

SET ROLE regress_app;

-- Nobody is acting in a new session.
SELECT chat.current_actor();

-- act_as(id) in a transaction: the actor lasts until the transaction ends.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.current_actor();
COMMIT;
SELECT chat.current_actor();

-- Changes are transactional, like SET: rolling back a savepoint restores
-- the actor from before it, and the transaction's end clears it.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SAVEPOINT s;
SELECT chat.act_as(:'sam') \g /dev/null
SELECT chat.current_actor();
ROLLBACK TO SAVEPOINT s;
SELECT chat.current_actor();
ROLLBACK;
SELECT chat.current_actor();

-- act_as(id, for_session => true) lasts across transactions.
SELECT chat.act_as(:'sam', for_session => true) \g /dev/null
SELECT chat.current_actor();

-- A transaction actor wins over the session actor until its transaction ends.
BEGIN;
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.current_actor();
COMMIT;
SELECT chat.current_actor();

-- reset_actor() stops acting, for the transaction and the session.
SELECT chat.reset_actor() \g /dev/null
SELECT chat.current_actor();

-- DISCARD ALL, which session poolers run between clients, forgets the
-- session actor too (and, as always, the SET ROLE).
SELECT chat.act_as(:'sam', for_session => true) \g /dev/null
DISCARD ALL;
SELECT chat.current_actor();
SET ROLE regress_app;

-- act_as(id) outside a transaction block lasts only for its own statement:
-- the next statement has no actor, and the error's hint says where to call it.
SELECT chat.act_as(:'ana') \g /dev/null
SELECT chat.current_actor();
SELECT other_name FROM chat.inbox();

-- The actor is not a setting: the prefix stylist_chat is reserved, so SET
-- cannot invent one, and nothing changes.
SET stylist_chat.actor = :'ana';
SELECT set_config('stylist_chat.actor', :'ana', false);
SELECT chat.current_actor();

-- Only superusers and members of chat_service may pick an actor.  Another
-- role may not even call act_as...
RESET ROLE;
SET ROLE regress_nobody;
SELECT chat.act_as(:'ana');
-- ...and were EXECUTE granted by mistake, act_as checks membership itself.
RESET ROLE;
GRANT EXECUTE ON FUNCTION chat.act_as(uuid, boolean) TO regress_nobody;
SET ROLE regress_nobody;
SELECT chat.act_as(:'ana');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION chat.act_as(uuid, boolean) FROM regress_nobody;
