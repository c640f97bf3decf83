-- test/bench/setup.sql: the benchmark's profiles, chats and comparison tables
-- (run once, as a superuser, in database postgres, after CREATE EXTENSION).
--
--   admin      ad000000-0000-4000-8000-000000000001 (its channel: every event)
--   stylist    5e000000-0000-4000-8000-000000000001
--   customers  c0000000-0000-4000-8000-0000000000NN, NN = 00..31: pgbench's
--              :client_id, each with its own chat with the stylist
--   bench.naive_messages  the naive design: a row like a message, and an
--              AFTER INSERT trigger that calls pg_notify
--   bench.bare_messages   the same row, no trigger
\set ON_ERROR_STOP on
SET client_min_messages = warning;

BEGIN;
SELECT chat.upsert_profile('ad000000-0000-4000-8000-000000000001', 'admin', 'Bench admin');
SELECT chat.upsert_profile('5e000000-0000-4000-8000-000000000001', 'stylist', 'Bench stylist');
SELECT chat.upsert_profile(('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid,
                           'customer', 'Bench customer ' || i)
  FROM generate_series(0, 31) i;
COMMIT;

-- each customer opens its chat through the API
DO $$
BEGIN
    FOR i IN 0..31 LOOP
        PERFORM chat.act_as(('c0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid);
        PERFORM chat.chat_with('5e000000-0000-4000-8000-000000000001');
    END LOOP;
END
$$;

CREATE SCHEMA bench;

CREATE TABLE bench.naive_messages (
    chat_id     uuid NOT NULL,
    seq         bigserial,
    sender_id   uuid NOT NULL,
    body        text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq)
);

CREATE TABLE bench.bare_messages (LIKE bench.naive_messages INCLUDING ALL);

-- a payload like the relay's: the event, never the text
CREATE FUNCTION bench.naive_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_naive',
        json_build_object('type', 'message', 'chat_id', NEW.chat_id, 'seq', NEW.seq,
                          'sender_id', NEW.sender_id, 'ts', NEW.created_at)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER naive_notify AFTER INSERT ON bench.naive_messages
    FOR EACH ROW EXECUTE FUNCTION bench.naive_notify();

-- the average time of one run of a query, in ms, over about secs seconds
-- (after one untimed run), executed in a loop inside the server
CREATE FUNCTION bench.time_query(q text, secs float8) RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
    n bigint := 0;
BEGIN
    EXECUTE q;
    t0 := clock_timestamp();
    LOOP
        EXECUTE q;
        n := n + 1;
        EXIT WHEN clock_timestamp() - t0 > secs * interval '1 second';
    END LOOP;
    RETURN extract(epoch FROM clock_timestamp() - t0) * 1000 / n;
END
$$;

-- one call of chat.undelivered() as the session's actor, rolled back (its
-- delivered marks with it), so that every call finds the same news:
-- how many rows it returned
CREATE FUNCTION bench.undelivered_rolled_back() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    BEGIN
        SELECT count(*) INTO n FROM chat.undelivered();
        RAISE EXCEPTION 'rolled back' USING ERRCODE = 'P0001';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    RETURN n;
END
$$;
