-- test/bench/kpi_load.sql: a platform for the KPI benchmark (part 7 of
-- test/bench/run.sh), bulk-loaded with direct INSERTs as a superuser into a
-- database of its own, which the relay worker does not serve: nothing of
-- the load is relayed, and no rollup is kept as it goes (chat.rebuild_kpis()
-- computes them afterwards).  Foreign keys are not checked (replica role):
-- the rows are made consistent here.
--
-- psql variables: chats, messages (participant messages), bookings,
-- customers, stylists, admin (the admin's uuid).
--
--   stylists   5e700000-0000-4000-8000-NNNNNNNNNNNN, a few with many chats
--              (the chats of stylist s are about as many as 1/sqrt(s+1))
--   customers  c7000000-0000-4000-8000-NNNNNNNNNNNN, one chat each, or more
--              when there are more chats than customers
--   chats      each with n participant messages (from 0.4 to 2.2 times the
--              mean) and about 3 % as many bookings, each announced by a
--              booking card (kind 'booking', no sender) in the chat's seq
--              order; messages come in bursts of 4 events, one burst per
--              slot of the chat's span, the burst's events seconds to days
--              apart (most bursts are short), bursts days to weeks apart.
--              A burst starts with the customer 60 % of the time, and the
--              side changes after 3 messages in 4, so sides alternate
--              irregularly and response times go from seconds to weeks.
--              Most chats run from the first months of the window to its
--              last days; 12 % stop earlier.
--   window     the 12 months ending this month: from the first day of the
--              month 11 months ago (UTC) to an hour ago
--   bookings   created at their card, starting 1 to 90 days later (half
--              of them within 23 days);
--              completed (or 8 % cancelled, 3 % no-show) when started,
--              confirmed (or 8 % cancelled) when not yet
--   chats' counters as send_message leaves them, everything read and
--   delivered; the relay watermark at the last seq (no backlog)
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET session_replication_role = replica;
SET work_mem = '256MB';

CREATE SCHEMA kpibench;

-- a number in [0, 1) drawn from (a, b): the same every time
CREATE FUNCTION kpibench.r(a bigint, b bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(a, b) & 1073741823)::float8 / 1073741824 $$;

CREATE FUNCTION kpibench.id(prefix text, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (prefix || '-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid $$;

-- the time (epoch seconds) of event i (from 0) of chat k, whose span starts
-- at start_e and is cut into slots of wd seconds, one burst of 4 events
-- each: the burst starts in the first half of its slot and lasts from a
-- few seconds to 40 % of the slot (most bursts are short)
CREATE FUNCTION kpibench.at(k bigint, start_e float8, wd float8, i bigint) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT start_e + wd * (i / 4 + 0.5 * kpibench.r((k << 24) | (i / 4), 6))
           + (least(4, 0.05 * wd) + 0.4 * wd * power(kpibench.r((k << 24) | (i / 4), 7), 6))
             * ((i % 4) + kpibench.r((k << 24) | i, 8)) / 4
$$;

-- whether event i of chat k (a message) is the customer's: the first
-- message of a chat is; a burst starts with the customer 60 % of the time,
-- and the side changes after 3 messages in 4
CREATE FUNCTION kpibench.is_customer(k bigint, i bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT i = 0
           OR ((kpibench.r((k << 24) | (i / 4), 12) < 0.6)::integer
               + (i % 4 >= 1 AND kpibench.r((k << 24) | (i - i % 4 + 1), 11) < 0.75)::integer
               + (i % 4 >= 2 AND kpibench.r((k << 24) | (i - i % 4 + 2), 11) < 0.75)::integer
               + (i % 4 >= 3 AND kpibench.r((k << 24) | (i - i % 4 + 3), 11) < 0.75)::integer) % 2 = 1
$$;

-- the time of a bench run, as a set of per-run durations in ms (after an
-- untimed run)
CREATE FUNCTION kpibench.time_runs(q text, n integer) RETURNS SETOF float8
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    EXECUTE q;
    FOR i IN 1..n LOOP
        t0 := clock_timestamp();
        EXECUTE q;
        RETURN NEXT extract(epoch FROM clock_timestamp() - t0) * 1000;
    END LOOP;
END
$$;

BEGIN;

CREATE TEMP TABLE w AS
SELECT extract(epoch FROM (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '11 months')
                          AT TIME ZONE 'UTC')::float8 AS e0,
       extract(epoch FROM now() - interval '1 hour')::float8 AS e1;

INSERT INTO chat.profiles (id, role, display_name, created_at, updated_at)
SELECT :'admin', 'admin', 'KPI admin', to_timestamp(w.e0), to_timestamp(w.e0) FROM w;
INSERT INTO chat.profiles (id, role, display_name, created_at, updated_at)
SELECT kpibench.id('5e700000', s), 'stylist', 'Stylist ' || s, to_timestamp(w.e0), to_timestamp(w.e0)
  FROM generate_series(0, :stylists - 1) s, w;
INSERT INTO chat.profiles (id, role, display_name, created_at, updated_at)
SELECT kpibench.id('c7000000', c), 'customer', 'Customer ' || c, to_timestamp(w.e0), to_timestamp(w.e0)
  FROM generate_series(0, :customers - 1) c, w;

-- the chats: chat k is customer k % customers's (k / customers + 1)th,
-- with stylist floor(stylists * r^2) (+ k / customers: another one);
-- n messages and b bookings in proportion to a weight from 0.4 to 2.2
-- (mean 1), exactly as many as asked in all
CREATE TEMP TABLE kc AS
WITH k AS (
    SELECT k, round((0.4 + 1.8 * power(kpibench.r(k, 1), 2))::numeric, 6) AS wt,
           k % :customers AS cust,
           (floor(:stylists * power(kpibench.r(k % :customers, 2), 2))::bigint + k / :customers)
               % :stylists AS sty
      FROM generate_series(0::bigint, :chats - 1) k
), c AS (
    SELECT k.*, sum(wt) OVER (ORDER BY k) AS cw, sum(wt) OVER () AS tw FROM k
), n AS (
    SELECT c.k, c.cust, c.sty,
           (floor(:messages * c.cw / c.tw) - floor(:messages * (c.cw - c.wt) / c.tw))::bigint AS n,
           (floor(:bookings * c.cw / c.tw) - floor(:bookings * (c.cw - c.wt) / c.tw))::bigint AS b,
           w.e0 + (w.e1 - w.e0) * 0.45 * power(kpibench.r(c.k, 3), 2) AS start_e, w.e1
      FROM c, w
)
SELECT n.k, kpibench.id('c7000000', n.cust) AS customer_id, kpibench.id('5e700000', n.sty) AS stylist_id,
       chat.pair_chat_id(kpibench.id('c7000000', n.cust), kpibench.id('5e700000', n.sty)) AS chat_id,
       n.n, n.b, n.n + n.b AS t, n.start_e,
       (e.end_e - n.start_e) / greatest(1, ceil((n.n + n.b) / 4.0)) AS wd
  FROM n,
       LATERAL (SELECT n.e1 - (n.e1 - n.start_e)
                       * CASE WHEN kpibench.r(n.k, 4) < 0.12 THEN 0.2 + 0.7 * kpibench.r(n.k, 5)
                              ELSE 0.02 * kpibench.r(n.k, 5) END AS end_e) e;

-- the bookings: booking j (from 0) of chat k is announced by event
-- floor((2j + 1) t / 2b) (from 0), and made then
CREATE TEMP TABLE kb AS
SELECT c.chat_id, c.customer_id, c.stylist_id,
       kpibench.id('b7000000', c.k * 100000 + j) AS id,
       floor((2 * j + 1) * c.t / (2.0 * c.b))::bigint + 1 AS seq,
       to_timestamp(kpibench.at(c.k, c.start_e, c.wd, floor((2 * j + 1) * c.t / (2.0 * c.b))::bigint)) AS created_at,
       to_timestamp(kpibench.at(c.k, c.start_e, c.wd, floor((2 * j + 1) * c.t / (2.0 * c.b))::bigint)
                    + 86400 * (1 + 89 * power(kpibench.r(c.k * 100000 + j, 9), 2))) AS starts_at,
       kpibench.r(c.k * 100000 + j, 10) AS rs,
       (ARRAY['Cut', 'Cut and colour', 'Balayage', 'Blow-dry', 'Braids'])[1 + (c.k + j) % 5] AS service
  FROM kc c, generate_series(0::bigint, c.b - 1) j;
CREATE INDEX ON kb (chat_id, seq);

INSERT INTO chat.bookings (id, customer_id, stylist_id, service, starts_at, status, created_at, updated_at)
SELECT kb.id, kb.customer_id, kb.stylist_id, kb.service, kb.starts_at,
       CASE WHEN kb.starts_at < now() THEN
                CASE WHEN kb.rs < 0.08 THEN 'cancelled' WHEN kb.rs < 0.11 THEN 'no_show' ELSE 'completed' END
            ELSE CASE WHEN kb.rs < 0.08 THEN 'cancelled' ELSE 'confirmed' END END,
       kb.created_at, least(now(), kb.starts_at + interval '2 hours')
  FROM kb ORDER BY kb.id;

INSERT INTO chat.chats (chat_id, customer_id, stylist_id, created_at, last_seq, last_message_at,
                        customer_read_seq, stylist_read_seq, customer_delivered_seq, stylist_delivered_seq)
SELECT c.chat_id, c.customer_id, c.stylist_id, to_timestamp(c.start_e) - interval '1 minute', c.t,
       CASE WHEN c.t > 0 THEN to_timestamp(kpibench.at(c.k, c.start_e, c.wd, c.t - 1)) END,
       c.t, c.t, c.t, c.t
  FROM kc c ORDER BY c.chat_id;
INSERT INTO chat.relay_watermark (chat_id, relayed_seq)
SELECT c.chat_id, c.t FROM kc c ORDER BY c.chat_id;

-- the messages, in (chat_id, seq) order: the primary key grows at its end
INSERT INTO chat.chat_messages (chat_id, seq, sender_id, body, booking_id, created_at, kind, card)
SELECT c.chat_id, g.i + 1,
       CASE WHEN x.card THEN NULL
            WHEN kpibench.is_customer(c.k, g.i) THEN c.customer_id
            ELSE c.stylist_id END,
       CASE WHEN x.card THEN (SELECT 'Booked: ' || kb.service FROM kb WHERE kb.chat_id = c.chat_id AND kb.seq = g.i + 1)
            WHEN kpibench.is_customer(c.k, g.i) THEN 'Hi! Could we move my appointment to Friday afternoon?'
            ELSE 'Sure, Friday at 3pm works. See you then!' END,
       CASE WHEN x.card THEN (SELECT kb.id FROM kb WHERE kb.chat_id = c.chat_id AND kb.seq = g.i + 1) END,
       to_timestamp(kpibench.at(c.k, c.start_e, c.wd, g.i)),
       CASE WHEN x.card THEN 'booking' ELSE 'text' END,
       CASE WHEN x.card THEN
           (SELECT jsonb_build_object('event', 'booked', 'booking_id', kb.id, 'service', kb.service,
                                      'starts_at', kb.starts_at, 'status', 'confirmed')
              FROM kb WHERE kb.chat_id = c.chat_id AND kb.seq = g.i + 1) END
  FROM (SELECT * FROM kc ORDER BY chat_id) c
 CROSS JOIN LATERAL generate_series(0::bigint, c.t - 1) g(i)
 -- event i is a card when some j has 2ib <= (2j + 1)t < 2(i + 1)b: the
 -- smallest j with (2j + 1)t >= 2ib, if below b and below the bound
 CROSS JOIN LATERAL (SELECT c.b > 0
                            AND ceil((2 * g.i * c.b - c.t)::float8 / (2 * c.t)) < c.b
                            AND (2 * ceil((2 * g.i * c.b - c.t)::float8 / (2 * c.t)) + 1) * c.t
                                < 2 * (g.i + 1) * c.b AS card) x;

COMMIT;
