/*
 * From 1.0 to 1.1: the changes to tables and the objects whose shape
 * changes, run once, after src/sql/upgrade_guard.sql and the early concern
 * files (the C functions the tables use).  Every other function and view
 * is then created anew from the concern files, as at install.
 */

-- the relay worker's bookkeeping (notifications, KPIs) notes what it
-- relays a little later; what was relayed before this update has nothing
-- to note (NULL), a chat relayed from now on starts from 0.  First of
-- all: the worker writes this table and then checks a chat's key, so the
-- update takes its locks in the same order
ALTER TABLE chat.relay_watermark ADD COLUMN noted_seq bigint;
ALTER TABLE chat.relay_watermark ALTER COLUMN noted_seq SET DEFAULT 0;
COMMENT ON TABLE chat.relay_watermark IS
'Per chat, the seq up to which the relay worker has notified messages (it trails the worker by about a second; recovery relays what is above it), and the seq up to which they are noted (notifications, KPIs; recovery notes what is between the two).';

-- keys: only the owner sees them, pg_read_all_data included
ALTER TABLE chat.secrets ENABLE ROW LEVEL SECURITY;
-- and no statistics of them, which pg_read_all_data can read in
-- pg_statistic; those an ANALYZE gathered under 1.0 go too
ALTER TABLE chat.secrets ALTER COLUMN key SET STATISTICS 0;
DELETE FROM pg_catalog.pg_statistic WHERE starelid = 'chat.secrets'::regclass;

-- tokens: per-profile revocation and single-use login tokens
CREATE TABLE chat.token_revocations (
    profile_id      uuid PRIMARY KEY REFERENCES chat.profiles (id),
    revoked_at      timestamptz NOT NULL
);

COMMENT ON TABLE chat.token_revocations IS
'Per profile, when all its tokens issued until then were revoked (chat.revoke_tokens()); sessions authenticated with them lose their actor.';

CREATE TABLE chat.used_tokens (
    token_id        uuid PRIMARY KEY,
    expires_at      timestamptz NOT NULL
);

CREATE INDEX used_tokens_expires_at_idx ON chat.used_tokens (expires_at);

COMMENT ON TABLE chat.used_tokens IS
'Single-use login tokens already exchanged, until they expire: a second use is refused.';

SELECT pg_catalog.pg_extension_config_dump('chat.token_revocations', '');

-- objects whose signature or columns change, made anew below
DROP FUNCTION chat.authenticate(text);
DROP FUNCTION chat.relay_status();
DROP FUNCTION chat._relay_shared_status();
DROP FUNCTION chat._sign_token(bytea, uuid, timestamptz);
DROP FUNCTION chat._verify_token(text, bytea, bytea);
DROP VIEW chat.admin_messages;          -- no message text any more

-- blocks: when each participant blocked the chat (chat.block()), appended
-- as a fresh install has them; NULL, no rewrite of the table
-- one chat per pair is the primary key's work: the chat's id is the
-- pair's (chats_chat_id_check); the pair's own UNIQUE constraint, which
-- a table distributed by chat_id could not keep, goes (tables.sql)
ALTER TABLE chat.chats DROP CONSTRAINT chats_pair_key;

ALTER TABLE chat.chats ADD COLUMN customer_blocked_at timestamptz;
ALTER TABLE chat.chats ADD COLUMN stylist_blocked_at timestamptz;

-- reports: resolving one is an admin action of the audit log; so is an
-- admin_search that returns messages of a chat
ALTER TABLE chat.audit_entries DROP CONSTRAINT audit_entries_action_check;
ALTER TABLE chat.audit_entries ADD CONSTRAINT audit_entries_action_check
    CHECK (action IN ('read_history', 'hide_message', 'resolve_report', 'search'));
COMMENT ON TABLE chat.audit_entries IS
'What admins did with chats: read a history (admin_history), hid a message (hide_message), resolved a report (resolve_report) or found messages of the chat by a search (admin_search), with the reason. Append-only for every role but the extension owner; read through chat.audit_log.';

-- (1.1) per profile, the minute before which none of their chats has a
-- message of the other participant waiting for them: chat.undelivered()
-- and chat.catch_up() read only the chats active from it on (catchup.sql
-- says when it moves).  Not dumped: without a row they read every chat
-- once, and set it again.
CREATE TABLE chat.caught_up (
    profile_id      uuid PRIMARY KEY REFERENCES chat.profiles (id) ON DELETE CASCADE,
    before_minute   bigint NOT NULL
);

COMMENT ON TABLE chat.caught_up IS
'Per profile, the minute (chats.activity_minute) before which no chat of theirs has a message waiting to be delivered to them: undelivered() and catch_up() read only the chats active from it on. Not dumped.';
REVOKE ALL ON TABLE chat.caught_up FROM PUBLIC;

CREATE TABLE chat.reports (
    chat_id         uuid NOT NULL REFERENCES chat.chats (chat_id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    reporter_id     uuid NOT NULL,
    -- the message reported, or NULL for the whole conversation
    seq             bigint,
    reason          text NOT NULL
                    CONSTRAINT reports_reason_check
                    CHECK (reason IN ('spam', 'harassment', 'inappropriate', 'off_platform', 'other')),
    note            text CONSTRAINT reports_note_check CHECK (char_length(note) <= 1000),
    status          text NOT NULL DEFAULT 'open'
                    CONSTRAINT reports_status_check
                    CHECK (status IN ('open', 'dismissed', 'actioned')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     uuid,
    resolution_note text CONSTRAINT reports_resolution_note_check CHECK (char_length(resolution_note) <= 500),
    PRIMARY KEY (chat_id, id),
    CONSTRAINT reports_resolved_check
        CHECK ((status = 'open') = (resolved_at IS NULL) AND (resolved_at IS NULL) = (resolved_by IS NULL))
);

-- one open report per reporter and message (or conversation)
CREATE UNIQUE INDEX reports_open_key ON chat.reports (chat_id, reporter_id, coalesce(seq, 0))
    WHERE status = 'open';
-- resolve_report() finds a report by its id; the queue reads by status
CREATE INDEX reports_id_idx ON chat.reports (id);
CREATE INDEX reports_status_idx ON chat.reports (status, created_at);

COMMENT ON TABLE chat.reports IS
'Reports of a message or a whole chat by a participant (chat.report()), and how an admin resolved them (chat.resolve_report()). Read through chat.admin_reports.';

SELECT pg_catalog.pg_extension_config_dump('chat.reports', '');
SELECT pg_catalog.pg_extension_config_dump('chat.reports_id_seq', '');
-- pinned messages: either participant pins a message of the chat with an
-- optional one-line note, until it is unpinned or expires
CREATE TABLE chat.pins (
    chat_id         uuid NOT NULL,
    seq             bigint NOT NULL,
    pinned_by       uuid NOT NULL,
    note            text CHECK (char_length(note) BETWEEN 1 AND 200),
    pinned_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    PRIMARY KEY (chat_id, seq),
    FOREIGN KEY (chat_id, seq) REFERENCES chat.chat_messages (chat_id, seq) ON DELETE CASCADE
);

COMMENT ON TABLE chat.pins IS
'Messages pinned in a chat (at most 50 a chat), with an optional note and expiry. Deleted or hidden messages and expired pins are not listed; chat.pin() removes them.';

REVOKE ALL ON TABLE chat.pins FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.pins', '');

-- replies and booking cards: the quoted message, the kind of message and
-- a card's content, appended as a fresh install has them (NULL or a
-- constant default: no rewrite of the table); a booking card has no sender
-- when chat.erase_profile() erased a profile
ALTER TABLE chat.profiles ADD COLUMN erased_at timestamptz;

ALTER TABLE chat.chat_messages ALTER COLUMN sender_id DROP NOT NULL;
ALTER TABLE chat.chat_messages ADD COLUMN reply_to_seq bigint;
ALTER TABLE chat.chat_messages ADD COLUMN kind text NOT NULL DEFAULT 'text';
ALTER TABLE chat.chat_messages ADD COLUMN card jsonb;
ALTER TABLE chat.chat_messages ADD COLUMN reaction_count smallint NOT NULL DEFAULT 0;
ALTER TABLE chat.chat_messages DROP CONSTRAINT chat_messages_check;
ALTER TABLE chat.chat_messages ADD CONSTRAINT chat_messages_check
        CHECK (chat._message_ok(body, attachment_count, deleted_at, seq, reply_to_seq, kind,
                                sender_id, card));
-- the same rules as 1.0's, in one call (src/sql/checks.sql): each CHECK
-- is prepared anew for every statement, and every send updates a chat row
ALTER TABLE chat.chats DROP CONSTRAINT chats_state_check;
ALTER TABLE chat.chats ADD CONSTRAINT chats_state_check
        CHECK (chat._chat_state_ok(customer_role, stylist_role, last_seq, customer_read_seq,
                                   stylist_read_seq, customer_unread, stylist_unread));

-- the readers' rows gain the reply, the kind and card, and the reactions;
-- send_message gains reply_to_seq
DROP FUNCTION chat.send_message(uuid, text, uuid, uuid, jsonb);
DROP FUNCTION chat.history(uuid, bigint, integer);
DROP FUNCTION chat.messages_since(uuid, bigint, integer);
DROP FUNCTION chat._messages(uuid, bigint, bigint, integer, boolean);
DROP FUNCTION chat.undelivered(integer);
-- the message rows' attachments and booking are subqueries of the view
-- chat._message_rows now (src/sql/common.sql says why)
DROP FUNCTION chat._attachments(uuid, bigint);
DROP FUNCTION chat._booking_ref(uuid);

-- reactions: one per person, emoji and message
CREATE TABLE chat.reactions (
    chat_id         uuid NOT NULL,
    seq             bigint NOT NULL,
    profile_id      uuid NOT NULL,
    emoji           text NOT NULL CHECK (char_length(emoji) BETWEEN 1 AND 16),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq, profile_id, emoji),
    FOREIGN KEY (chat_id, seq) REFERENCES chat.chat_messages (chat_id, seq) ON DELETE CASCADE
);

COMMENT ON TABLE chat.reactions IS
'Reactions to messages: one row per person, emoji and message (at most 20 emoji a person on a message). Not shown for deleted or hidden messages.';

REVOKE ALL ON TABLE chat.reactions FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.reactions', '');
-- inbox controls: each participant archives, mutes and clears the history
-- of a chat for themselves only (src/sql/inbox_controls.sql); appended as
-- a fresh install has them.  The defaults are constants: no rewrite.
ALTER TABLE chat.chats ADD COLUMN customer_archived_seq bigint;
ALTER TABLE chat.chats ADD COLUMN stylist_archived_seq bigint;
ALTER TABLE chat.chats ADD COLUMN customer_muted_until timestamptz;
ALTER TABLE chat.chats ADD COLUMN stylist_muted_until timestamptz;
ALTER TABLE chat.chats ADD COLUMN customer_cleared_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE chat.chats ADD COLUMN stylist_cleared_seq bigint NOT NULL DEFAULT 0;

-- the inbox's order, by the minute of each chat's last activity (see
-- tables.sql); computed for every row, which rewrites chat.chats once
ALTER TABLE chat.chats ADD COLUMN activity_minute bigint GENERATED ALWAYS AS
    (chat._activity_minute(coalesce(last_message_at, created_at))) STORED;
DROP INDEX chat.chats_stylist_idx;
CREATE INDEX chats_customer_activity_idx ON chat.chats (customer_id, activity_minute DESC);
CREATE INDEX chats_stylist_activity_idx ON chat.chats (stylist_id, activity_minute DESC);
-- all chats by activity, newest first (chat.admin_inbox()); on the minute
-- negated, so that the queries of one person's chats, on the minute
-- itself, cannot take it for theirs (a generic plan did: it read the whole
-- platform's recent chats for one stylist's page)
CREATE INDEX chats_activity_idx ON chat.chats ((- activity_minute));

-- their result columns change (archived, muted_until, cleared_seq; and
-- get_chat other_delivered_seq)
DROP FUNCTION chat.get_chat(uuid);
DROP FUNCTION chat.inbox(integer, timestamptz, uuid);

-- portfolio consent (1.1): the customer of a chat lets its stylist show an
-- image of it publicly.  One row per grant, kept after its revocation and
-- after the image is gone, as evidence of who consented when: no foreign
-- key to chat.media (whose rows go with their message), and the image's
-- storage key copied as it was when consent was granted
CREATE TABLE chat.portfolio_consents (
    chat_id         uuid NOT NULL REFERENCES chat.chats (chat_id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    -- the chat's stylist, whose portfolio it is (a chat's pair never changes)
    stylist_id      uuid NOT NULL,
    seq             bigint NOT NULL,
    position        smallint NOT NULL,
    storage_key     text NOT NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    granted_by      uuid NOT NULL,
    revoked_at      timestamptz,
    revoked_by      uuid,
    PRIMARY KEY (chat_id, id),
    CONSTRAINT portfolio_consents_check
        CHECK (position BETWEEN 1 AND 10
               AND (revoked_at IS NULL) = (revoked_by IS NULL)
               AND revoked_at >= granted_at)
);

-- at most one consent in force per image
CREATE UNIQUE INDEX portfolio_consents_in_force_key
    ON chat.portfolio_consents (chat_id, seq, position) WHERE revoked_at IS NULL;
-- a stylist's portfolio, newest consent first
CREATE INDEX portfolio_consents_stylist_idx
    ON chat.portfolio_consents (stylist_id, id) WHERE revoked_at IS NULL;

COMMENT ON TABLE chat.portfolio_consents IS
'Portfolio consents: a customer lets the stylist of the chat show an image of it publicly (chat.grant_portfolio_consent()), until revoked (chat.revoke_portfolio_consent()). One row per grant, kept as evidence; rows are only ever added and revoked.';

REVOKE ALL ON TABLE chat.portfolio_consents FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.portfolio_consents', '');
SELECT pg_catalog.pg_extension_config_dump('chat.portfolio_consents_id_seq', '');

-- offline notifications (1.1): what a notification sender of the
-- application should tell whom.  The relay worker records a 'messages'
-- notification (and an unread 'reminder') for a recipient and chat as it
-- relays a message; messages that follow while it waits coalesce into it.
-- chat.claim_notifications() looks again when it comes due (delivered or
-- read meanwhile, muted, blocked: dropped; quiet hours: put off) and
-- leases it to one sender; chat.complete_notification() removes it.  No
-- foreign key: the relay worker must never wait on a chat's row lock.
CREATE TABLE chat.notifications (
    chat_id         uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    recipient_id    uuid NOT NULL,
    kind            text NOT NULL,
    -- the other participant's messages it covers
    first_seq       bigint NOT NULL,
    last_seq        bigint NOT NULL,
    first_at        timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    -- waiting: until available_at, when it comes due; leased: to a sender
    -- until available_at (after a failure: retried then); failed: given up
    status          text NOT NULL DEFAULT 'waiting',
    available_at    timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    PRIMARY KEY (chat_id, id),
    CONSTRAINT notifications_check
        CHECK (kind IN ('messages', 'reminder')
               AND status IN ('waiting', 'leased', 'failed')
               AND first_seq BETWEEN 1 AND last_seq
               AND attempts >= 0
               AND char_length(last_error) <= 500)
) WITH (fillfactor = 70);	-- room for HOT updates as messages coalesce

-- the relay worker finds the waiting notification of a recipient and chat
-- (rarely two: one a sender had locked when the worker came)
CREATE INDEX notifications_waiting_idx
    ON chat.notifications (recipient_id, chat_id, kind) WHERE status = 'waiting';
-- a sender completes or fails one by its id
CREATE INDEX notifications_id_idx ON chat.notifications (id);
-- senders take what is due or whose lease ran out, oldest first
CREATE INDEX notifications_available_idx
    ON chat.notifications (available_at) WHERE status <> 'failed';

COMMENT ON TABLE chat.notifications IS
'Offline notifications, recorded by the relay worker as it relays messages, taken by the application''s notification sender with chat.claim_notifications() and removed by chat.complete_notification(). Read through those functions.';

REVOKE ALL ON TABLE chat.notifications FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.notifications', '');
SELECT pg_catalog.pg_extension_config_dump('chat.notifications_id_seq', '');

-- each profile's notification preferences (1.1); a profile without a row
-- has the defaults: no previews, UTC, no quiet hours
CREATE TABLE chat.notification_preferences (
    profile_id      uuid PRIMARY KEY REFERENCES chat.profiles (id),
    -- may a notification show message text?  Off: a lock screen is public
    show_previews   boolean NOT NULL DEFAULT false,
    -- a name of pg_timezone_names, in which the quiet hours are read
    time_zone       text NOT NULL DEFAULT 'UTC',
    -- no notification from quiet_from to quiet_until (local time; across
    -- midnight when quiet_from > quiet_until); both NULL: none
    quiet_from      time,
    quiet_until     time,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notification_preferences_check
        CHECK ((quiet_from IS NULL AND quiet_until IS NULL)
               OR (quiet_from IS NOT NULL AND quiet_until IS NOT NULL
                   AND quiet_from <> quiet_until))
);

COMMENT ON TABLE chat.notification_preferences IS
'Each profile''s notification preferences (previews, time zone, quiet hours), kept by chat.set_notification_preferences().';

REVOKE ALL ON TABLE chat.notification_preferences FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.notification_preferences', '');

-- relationship KPIs (1.1): rollups kept as messages and bookings happen,
-- so that chat.kpis() and chat.stylist_kpis() read no message row.  The
-- relay worker keeps the message rollups (chat._note_kpis(), in the
-- transaction that relays a batch); chat.upsert_booking() keeps each
-- pair's booking start times; chat.rebuild_kpis() recomputes them all.
-- Each chat: how far its messages are counted, and its response state
CREATE TABLE chat.kpi_chats (
    chat_id             uuid PRIMARY KEY,
    stylist_id          uuid NOT NULL,
    -- its messages up to this seq are in the rollups
    noted_seq           bigint NOT NULL,
    first_message_at    timestamptz NOT NULL,
    last_message_at     timestamptz NOT NULL,
    -- the side whose messages wait for a response, since its first of them
    waiting_side        text NOT NULL CHECK (waiting_side IN ('customer', 'stylist')),
    waiting_since       timestamptz NOT NULL
) WITH (fillfactor = 80);	-- room for HOT updates: every message updates its chat's row

-- each chat's days with messages, a row a month: bit d - 1 of day_bits
-- is day d of the month
CREATE TABLE chat.kpi_chat_months (
    chat_id             uuid NOT NULL,
    month               date NOT NULL,
    stylist_id          uuid NOT NULL,
    -- the day of the chat's first message ever
    first_day           date NOT NULL,
    day_bits            integer NOT NULL,
    messages            integer NOT NULL,
    PRIMARY KEY (chat_id, month)
) WITH (fillfactor = 80);
-- a period's months, platform-wide or a stylist's, read from an index
-- alone (a row changes its indexed columns once a day at most: its other
-- updates stay HOT), platform-wide in chat order, to be merged with the
-- pairs' bookings
CREATE INDEX kpi_chat_months_month_idx ON chat.kpi_chat_months (month, chat_id)
    INCLUDE (stylist_id, first_day, day_bits);
CREATE INDEX kpi_chat_months_stylist_idx ON chat.kpi_chat_months (stylist_id, month)
    INCLUDE (chat_id, first_day, day_bits);

-- messages a day, platform-wide and per stylist
CREATE TABLE chat.kpi_days (
    day                 date PRIMARY KEY,
    customer_messages   bigint NOT NULL,
    stylist_messages    bigint NOT NULL
);
CREATE TABLE chat.kpi_stylist_days (
    stylist_id          uuid NOT NULL,
    day                 date NOT NULL,
    customer_messages   bigint NOT NULL,
    stylist_messages    bigint NOT NULL,
    PRIMARY KEY (stylist_id, day)
);

-- response times a day, by the responding side, in buckets 5 % wide:
-- bucket b holds times from 1.05^b to 1.05^(b+1) milliseconds (-1: under
-- 1 ms); platform-wide and per stylist
CREATE TABLE chat.kpi_responses (
    day                 date NOT NULL,
    side                text NOT NULL CHECK (side IN ('customer', 'stylist')),
    bucket              smallint NOT NULL,
    responses           bigint NOT NULL,
    -- a period's rows read from the index alone
    PRIMARY KEY (day, side, bucket) INCLUDE (responses)
);
CREATE TABLE chat.kpi_stylist_responses (
    stylist_id          uuid NOT NULL,
    day                 date NOT NULL,
    side                text NOT NULL CHECK (side IN ('customer', 'stylist')),
    bucket              smallint NOT NULL,
    responses           bigint NOT NULL,
    PRIMARY KEY (stylist_id, day, side, bucket)
);

-- each pair's bookings (not cancelled): the UTC days they start, sorted;
-- kept by chat.upsert_booking()
CREATE TABLE chat.kpi_pairs (
    chat_id             uuid NOT NULL,
    customer_id         uuid NOT NULL,
    stylist_id          uuid NOT NULL,
    booking_days        date[] NOT NULL,
    -- read from the index alone
    PRIMARY KEY (chat_id) INCLUDE (booking_days)
);

-- each booking (not cancelled), with what its figures need: whether the
-- pair has an earlier and a later one, whether the pair had exchanged a
-- message before it was made; kept by chat.upsert_booking(), a pair at a
-- time
CREATE TABLE chat.kpi_bookings (
    chat_id             uuid NOT NULL,
    booking_id          uuid NOT NULL,
    stylist_id          uuid NOT NULL,
    starts_at           timestamptz NOT NULL,
    repeat              boolean NOT NULL,
    rebooked            boolean NOT NULL,
    chat_before         boolean NOT NULL,
    PRIMARY KEY (chat_id, booking_id)
);
CREATE INDEX kpi_bookings_starts_idx ON chat.kpi_bookings (starts_at)
    INCLUDE (repeat, rebooked, chat_before);
CREATE INDEX kpi_bookings_stylist_idx ON chat.kpi_bookings (stylist_id, starts_at)
    INCLUDE (repeat, rebooked, chat_before);

-- bookings after whose start the pair exchanged a message before the
-- next booking started (with the booking's stylist and start, as they
-- were when it was marked: a change of the pair's bookings marks again)
CREATE TABLE chat.kpi_booking_chats (
    chat_id             uuid NOT NULL,
    booking_id          uuid NOT NULL,
    stylist_id          uuid NOT NULL,
    starts_at           timestamptz NOT NULL,
    -- the pair has a later booking
    rebooked            boolean NOT NULL,
    PRIMARY KEY (chat_id, booking_id)
);
CREATE INDEX kpi_booking_chats_starts_idx ON chat.kpi_booking_chats (starts_at) INCLUDE (rebooked);
CREATE INDEX kpi_booking_chats_stylist_idx ON chat.kpi_booking_chats (stylist_id, starts_at) INCLUDE (rebooked);

-- reactivation attempts: a stylist's message to a customer dormant for 60
-- days or more
CREATE TABLE chat.kpi_reactivations (
    chat_id             uuid NOT NULL,
    at                  timestamptz NOT NULL,
    stylist_id          uuid NOT NULL,
    customer_id         uuid NOT NULL,
    -- the customer made a booking with the stylist within 30 days after
    booked              boolean NOT NULL,
    PRIMARY KEY (chat_id, at)
);
CREATE INDEX kpi_reactivations_at_idx ON chat.kpi_reactivations (at) INCLUDE (booked);
CREATE INDEX kpi_reactivations_stylist_idx ON chat.kpi_reactivations (stylist_id, at) INCLUDE (booked);


COMMENT ON TABLE chat.kpi_chats IS
'KPI rollup: per chat, the seq up to which its messages are counted, its first and last message, and which side waits for a response since when. Kept by the relay worker; read through chat.kpis() and chat.stylist_kpis().';
COMMENT ON TABLE chat.kpi_chat_months IS
'KPI rollup: per chat and month, the days with messages (a bit a day) and how many. Kept by the relay worker.';
COMMENT ON TABLE chat.kpi_days IS
'KPI rollup: messages a day by side, platform-wide. Kept by the relay worker.';
COMMENT ON TABLE chat.kpi_stylist_days IS
'KPI rollup: messages a day by side, per stylist. Kept by the relay worker.';
COMMENT ON TABLE chat.kpi_responses IS
'KPI rollup: response times a day by responding side, counted in buckets 5 % wide, platform-wide. Kept by the relay worker.';
COMMENT ON TABLE chat.kpi_stylist_responses IS
'KPI rollup: response times a day by responding side, counted in buckets 5 % wide, per stylist. Kept by the relay worker.';
COMMENT ON TABLE chat.kpi_pairs IS
'KPI rollup: per customer-stylist pair, the UTC days its bookings that are not cancelled start, sorted. Kept by chat.upsert_booking().';
COMMENT ON TABLE chat.kpi_bookings IS
'KPI rollup: each booking that is not cancelled, whether its pair has an earlier and a later one, and whether the pair had exchanged a message before it was made. Kept by chat.upsert_booking().';
COMMENT ON TABLE chat.kpi_booking_chats IS
'KPI rollup: the bookings after whose start the pair exchanged a message before its next booking started, with their stylist and start. Kept by the relay worker, and marked again by chat.upsert_booking() when the pair''s bookings change.';
COMMENT ON TABLE chat.kpi_reactivations IS
'KPI rollup: reactivation attempts, a stylist''s messages to customers dormant for 60 days or more (at most one in 30 days a pair). Kept by the relay worker.';

REVOKE ALL ON TABLE chat.kpi_chats, chat.kpi_chat_months, chat.kpi_days, chat.kpi_stylist_days,
                    chat.kpi_responses, chat.kpi_stylist_responses, chat.kpi_pairs,
                    chat.kpi_bookings, chat.kpi_booking_chats, chat.kpi_reactivations FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_chats', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_chat_months', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_days', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_stylist_days', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_responses', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_stylist_responses', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_pairs', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_bookings', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_booking_chats', '');
SELECT pg_catalog.pg_extension_config_dump('chat.kpi_reactivations', '');

-- the row of figures chat.kpis() and chat.stylist_kpis() return, one a
-- period (README defines each)
CREATE TYPE chat.kpi_figures AS (
    period_from date, period_to date, days integer,
    active_conversations bigint, messages bigint, customer_messages bigint,
    stylist_messages bigint, messages_per_active_conversation_month numeric,
    avg_conversation_longevity_days numeric, multi_booking_rate numeric,
    bookings_per_conversation numeric, bookings_spanned_per_conversation numeric,
    avg_relationship_duration_days numeric,
    customer_responses bigint, customer_response_median_s numeric,
    customer_response_p90_s numeric,
    stylist_responses bigint, stylist_response_median_s numeric,
    stylist_response_p90_s numeric,
    bookings_chatted bigint, rebooking_rate_chatted numeric,
    bookings_not_chatted bigint, rebooking_rate_not_chatted numeric,
    reactivation_attempts bigint, reactivation_rate numeric,
    repeat_bookings bigint, repeat_bookings_after_chat_rate numeric
);
COMMENT ON TYPE chat.kpi_figures IS
'One row of relationship KPIs for a period, as chat.kpis() and chat.stylist_kpis() return it.';

-- migration of booking-based chats (1.1).  The application loads the
-- threads of its old chat, one a booking, into chat.legacy_messages (with
-- COPY and the column list of README, "Migrating from booking chats");
-- chat.consolidate_legacy() imports each pair's threads into the pair's
-- chat, below its first message: seqs 0, -1, -2 ... from the newest down.
-- Every column may be NULL, so that a load never fails on the data: what
-- is wrong is reported, row by row, by chat.legacy_problems().
CREATE TABLE chat.legacy_messages (
    legacy_id           text,
    legacy_thread_id    text,
    booking_id          uuid,
    sender_id           uuid,
    body                text,
    sent_at             timestamptz,
    attachments         jsonb,
    -- the order of loading: of two rows with one legacy_id, the first
    -- loaded is the one imported
    staged_id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY
);
CREATE INDEX legacy_messages_legacy_id_idx ON chat.legacy_messages (legacy_id);

COMMENT ON TABLE chat.legacy_messages IS
'Staging: the messages of the booking-based chat the platform had before, as the application loads them, for chat.consolidate_legacy(). Rows stay after the import; delete them when it is done.';

-- each legacy message imported, and where: a legacy id is imported once,
-- whatever is loaded again
CREATE TABLE chat.legacy_imports (
    chat_id             uuid NOT NULL,
    seq                 bigint NOT NULL,
    legacy_id           text NOT NULL,
    legacy_thread_id    text NOT NULL,
    imported_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq)
);
CREATE UNIQUE INDEX legacy_imports_legacy_id_key ON chat.legacy_imports (legacy_id);

COMMENT ON TABLE chat.legacy_imports IS
'Each legacy message chat.consolidate_legacy() imported, with its chat and seq: a legacy id is never imported twice.';

-- the rows a run of chat.consolidate_legacy() has still to import, as
-- they were when it checked them (the staging table may change under
-- it), taken and removed a batch at a time.  Work state only: unlogged
-- and not dumped; the next run makes it again from chat.legacy_messages
CREATE UNLOGGED TABLE chat.legacy_plan (
    chat_id             uuid NOT NULL,
    sent_at             timestamptz NOT NULL,
    staged_id           bigint NOT NULL,
    customer_id         uuid NOT NULL,
    stylist_id          uuid NOT NULL,
    legacy_id           text NOT NULL,
    legacy_thread_id    text NOT NULL,
    booking_id          uuid,
    sender_id           uuid NOT NULL,
    body                text,
    attachments         jsonb,
    PRIMARY KEY (chat_id, sent_at, staged_id)
);

COMMENT ON TABLE chat.legacy_plan IS
'Work state of chat.consolidate_legacy(): the staged rows it has still to import. Internal.';

REVOKE ALL ON TABLE chat.legacy_messages, chat.legacy_imports, chat.legacy_plan FROM PUBLIC;
-- the application loads and clears the staging table
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLE chat.legacy_messages TO chat_service;
GRANT USAGE ON SEQUENCE chat.legacy_messages_staged_id_seq TO chat_service;
SELECT pg_catalog.pg_extension_config_dump('chat.legacy_messages', '');
SELECT pg_catalog.pg_extension_config_dump('chat.legacy_messages_staged_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('chat.legacy_imports', '');

-- legal holds (1.1): a chat in a dispute keeps everything.  Erasure and
-- retention leave its content until the hold is released.  One row per
-- hold, kept after its release as the record of it; at most one in force
-- a chat
CREATE TABLE chat.legal_holds (
    chat_id         uuid NOT NULL REFERENCES chat.chats (chat_id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    reason          text NOT NULL,
    placed_at       timestamptz NOT NULL DEFAULT now(),
    placed_by       uuid NOT NULL,
    released_at     timestamptz,
    released_by     uuid,
    release_reason  text,
    PRIMARY KEY (chat_id, id),
    CONSTRAINT legal_holds_check
        CHECK (char_length(reason) BETWEEN 1 AND 500
               AND char_length(release_reason) <= 500
               AND (released_at IS NULL) = (released_by IS NULL)
               AND released_at >= placed_at)
);
CREATE UNIQUE INDEX legal_holds_in_force_key ON chat.legal_holds (chat_id) WHERE released_at IS NULL;

COMMENT ON TABLE chat.legal_holds IS
'Legal holds of chats (chat.set_legal_hold(), chat.release_legal_hold()): while one is in force, erasure and retention leave the chat''s content. Rows are only added and released, kept as the record.';

-- what was done with a person's data on request (1.1): exports and
-- erasures, who did them, when and why, and how much (counts, never the
-- content).  Append-only for every role but the extension owner
CREATE TABLE chat.privacy_requests (
    profile_id      uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        uuid NOT NULL,
    action          text NOT NULL
                    CONSTRAINT privacy_requests_action_check
                    CHECK (action IN ('export', 'erase')),
    reason          text CONSTRAINT privacy_requests_reason_check CHECK (char_length(reason) <= 500),
    summary         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (profile_id, id)
);

COMMENT ON TABLE chat.privacy_requests IS
'Exports (chat.export_profile(), chat.export_my_data()) and erasures (chat.erase_profile()) of a person''s data: who, when, why and how much, never the content. Append-only; read through chat.privacy_log().';

REVOKE ALL ON TABLE chat.legal_holds, chat.privacy_requests FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.legal_holds', '');
SELECT pg_catalog.pg_extension_config_dump('chat.legal_holds_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('chat.privacy_requests', '');
SELECT pg_catalog.pg_extension_config_dump('chat.privacy_requests_id_seq', '');

-- images whose message is gone (1.1): deleted by its sender, erased with
-- its sender's data, redacted by retention.  The bytes are in the
-- application's object store: it takes the keys with
-- chat.take_orphaned_images() and deletes them there.  No foreign key:
-- the message's row has lost its images already
CREATE TABLE chat.orphaned_images (
    chat_id         uuid NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    -- NULL for an image of a held message that was rejected
    seq             bigint,
    position        smallint NOT NULL,
    storage_key     text NOT NULL,
    reason          text NOT NULL
                    CONSTRAINT orphaned_images_reason_check
                    CHECK (reason IN ('deleted', 'erased', 'retention', 'rejected')),
    orphaned_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, id)
);
CREATE INDEX orphaned_images_id_idx ON chat.orphaned_images (id);

COMMENT ON TABLE chat.orphaned_images IS
'Storage keys of images whose message was deleted, erased or redacted by retention, until the application takes them (chat.take_orphaned_images()) to delete the bytes from its object store.';

-- retention (1.1): per chat, the seq up to which its messages are past
-- stylist_chat.retention and redacted; chat.apply_retention() goes on
-- from there
CREATE TABLE chat.retention_marks (
    chat_id         uuid PRIMARY KEY,
    redacted_seq    bigint NOT NULL
);

COMMENT ON TABLE chat.retention_marks IS
'Per chat, the seq up to which chat.apply_retention() has redacted the messages older than stylist_chat.retention; the next run goes on from there.';

-- where the last retention run stopped (it goes round the chats), and
-- what it did; one row
CREATE TABLE chat.retention_state (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    after_chat      uuid,
    last_run_at     timestamptz,
    last_run        jsonb
);
INSERT INTO chat.retention_state DEFAULT VALUES;

COMMENT ON TABLE chat.retention_state IS
'Where the last run of chat.apply_retention() stopped in its round of the chats, and what it did (chat.retention_status()). One row; not dumped.';

REVOKE ALL ON TABLE chat.orphaned_images, chat.retention_marks, chat.retention_state FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.orphaned_images', '');
SELECT pg_catalog.pg_extension_config_dump('chat.orphaned_images_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('chat.retention_marks', '');

-- the filter of contact details and payment handles (1.1): admins' rules
-- (chat.add_filter_rule()), matched against each participant's message
-- as it is sent or edited, while there is at least one rule
CREATE TABLE chat.filter_rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CONSTRAINT filter_rules_name_key UNIQUE,
    pattern         text NOT NULL,
    action          text NOT NULL
                    CONSTRAINT filter_rules_action_check CHECK (action IN ('flag', 'mask', 'hold')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid NOT NULL,
    CONSTRAINT filter_rules_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND char_length(pattern) BETWEEN 1 AND 300)
);

COMMENT ON TABLE chat.filter_rules IS
'The filter''s rules: a regular expression and what is done with a message it matches (flag: a report is filed; mask: the matched text is replaced, the original kept for admins; hold: the message waits for an admin). Kept by chat.add_filter_rule() and chat.remove_filter_rule().';

-- each message a rule matched: the rules, and the text as written
CREATE TABLE chat.filtered_messages (
    chat_id         uuid NOT NULL,
    seq             bigint NOT NULL,
    rules           text[] NOT NULL,
    original_body   text NOT NULL,
    filtered_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq),
    FOREIGN KEY (chat_id, seq) REFERENCES chat.chat_messages (chat_id, seq) ON DELETE CASCADE
);

COMMENT ON TABLE chat.filtered_messages IS
'The messages the filter''s rules matched: which rules, and the text as its sender wrote it (for admins, chat.admin_history(); erased with its sender''s data and by retention).';

-- the rules' patterns joined into one (two: those that ignore case, and
-- those that do not), kept by a trigger on chat.filter_rules: the send
-- path tries a message against them, and only a message one of them
-- matches against each rule.  One row; not dumped (the trigger makes it
-- again as the rules are restored)
CREATE TABLE chat.filter_state (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    ci_pattern      text,
    cs_pattern      text
);
INSERT INTO chat.filter_state DEFAULT VALUES;

COMMENT ON TABLE chat.filter_state IS
'The filter''s rules joined into one pattern ignoring case and one that does not, kept from chat.filter_rules by a trigger: the send path''s first and, for most messages, only test. One row; not dumped.';

-- messages a hold rule stopped: not messages yet (no seq), until an admin
-- approves one, which sends it then as its sender (chat.approve_held_message())
-- or rejects it (chat.reject_held_message()).  The row stays as the record
-- of the decision; an approved one without its text (the message has it)
CREATE TABLE chat.held_messages (
    chat_id         uuid NOT NULL REFERENCES chat.chats (chat_id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    sender_id       uuid NOT NULL,
    -- as written, and as it is sent if approved (the mask rules applied)
    body            text,
    filtered_body   text,
    booking_id      uuid,
    client_msg_id   uuid,
    attachments     jsonb,
    reply_to_seq    bigint,
    rules           text[] NOT NULL,
    held_at         timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'held'
                    CONSTRAINT held_messages_status_check CHECK (status IN ('held', 'approved', 'rejected')),
    decided_at      timestamptz,
    decided_by      uuid,
    reason          text CONSTRAINT held_messages_reason_check CHECK (char_length(reason) <= 500),
    -- the message it became
    seq             bigint,
    PRIMARY KEY (chat_id, id),
    CONSTRAINT held_messages_check
        CHECK ((status = 'held') = (decided_at IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL))
);
-- a retry of a held message's send finds it
CREATE UNIQUE INDEX held_messages_client_msg_id_key
    ON chat.held_messages (chat_id, client_msg_id) WHERE client_msg_id IS NOT NULL;
-- the moderators' queue
CREATE INDEX held_messages_waiting_idx ON chat.held_messages (held_at) WHERE status = 'held';

COMMENT ON TABLE chat.held_messages IS
'Messages a hold rule of the filter stopped, until an admin approves (the message is sent then) or rejects them; kept as the record of the decision.';

REVOKE ALL ON TABLE chat.filter_rules, chat.filtered_messages, chat.held_messages, chat.filter_state FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('chat.filter_rules', '');
SELECT pg_catalog.pg_extension_config_dump('chat.filter_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('chat.filtered_messages', '');
SELECT pg_catalog.pg_extension_config_dump('chat.held_messages', '');
SELECT pg_catalog.pg_extension_config_dump('chat.held_messages_id_seq', '');
