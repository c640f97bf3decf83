--
-- setup: the extension, the roles and the people every later test uses.
--
-- The ids of the people and bookings, shared by every test file (they
-- also make errors print their message, detail and hint, not the PL/pgSQL
-- context).
\i sql/ids.psql

-- CREATE EXTENSION makes the schema chat and the role chat_service.
CREATE EXTENSION stylist_chat;

-- The application backend logs in as a member of chat_service, the only
-- role (besides superusers) granted the API.  regress_nobody stands for any
-- other role, such as an end user's own connection.
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_app;
DROP ROLE IF EXISTS regress_nobody;
RESET client_min_messages;
CREATE ROLE regress_app LOGIN IN ROLE chat_service;
CREATE ROLE regress_nobody;

-- A booking posts a card in the pair's chat (booking_cards.sql shows
-- them); the examples until then turn the cards off, so that the messages
-- in them are the people's own.  A superuser setting.
SELECT format('ALTER DATABASE %I SET stylist_chat.booking_cards = off', current_database()) \gexec
SET stylist_chat.booking_cards = off;

SET ROLE regress_app;

-- upsert_profile(id, role, display_name) creates or updates a profile.
-- Customers Ana and Ben, stylists Sam and Tia, admin Ada.
SELECT chat.upsert_profile(:'ana', 'customer', 'Ana') \g /dev/null
SELECT chat.upsert_profile(:'ben', 'customer', 'Ben') \g /dev/null
SELECT chat.upsert_profile(:'sam', 'stylist', 'Sam') \g /dev/null
SELECT chat.upsert_profile(:'tia', 'stylist', 'Tia') \g /dev/null
SELECT chat.upsert_profile(:'ada', 'admin', 'Ada') \g /dev/null
-- Calling it again updates the display name.
SELECT chat.upsert_profile(:'sam', 'stylist', '  Sam the Barber  ') \g /dev/null

-- upsert_booking(id, customer, stylist, service, starts_at, status):
-- bookings are context for a chat, never a condition of it.  Ana has two
-- bookings with Sam, Ben one.
SELECT chat.upsert_booking(:'b1', :'ana', :'sam', 'Haircut', '2026-03-02 10:00+00', 'completed') \g /dev/null
SELECT chat.upsert_booking(:'b2', :'ana', :'sam', 'Colour', '2026-03-16 14:00+00', 'pending') \g /dev/null
SELECT chat.upsert_booking(:'b3', :'ben', :'sam', 'Beard trim', '2026-03-20 09:30+00', 'confirmed') \g /dev/null
-- Calling it again updates service, time and status (never the pair).
SELECT chat.upsert_booking(:'b2', :'ana', :'sam', 'Colour', '2026-03-16 15:00+00', 'confirmed') \g /dev/null

-- The application reads nothing directly: the tables are the extension's.
SELECT * FROM chat.profiles;

-- What was stored, as the superuser sees it (names are trimmed).
RESET ROLE;
SET datestyle = 'ISO';
SET timezone = 'UTC';
SELECT id, role, display_name FROM chat.profiles ORDER BY id;
SELECT b.id, c.display_name AS customer, s.display_name AS stylist,
       b.service, b.starts_at, b.status
  FROM chat.bookings b
  JOIN chat.profiles c ON c.id = b.customer_id
  JOIN chat.profiles s ON s.id = b.stylist_id
 ORDER BY b.id;
