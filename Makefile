# stylist_chat: persistent customer-stylist chat for PostgreSQL 15
#
#   make && make install     build and install against $(PG_CONFIG)
#   make installcheck        pg_regress against a running server (PGHOST, PGPORT, ...)
#   make test                everything, on a throwaway cluster, installing what is missing
#   make demo                a short conversation, on a throwaway cluster
#   make bench               throughput, latency, scaling and memory figures
#   make test-citus          on a Citus cluster of three nodes (not part of make test)
#   make gateway             the WebSocket gateway (gateway/; libwebsockets, libpq, jansson)
#   make demo-web            the demo in two browser tabs, through the gateway

EXTENSION = stylist_chat
# the version is written once, in the control file
EXTVERSION := $(shell sed -n "s/^default_version = '\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big = stylist_chat
OBJS = src/stylist_chat.o src/actor.o src/chat_id.o src/channel.o \
       src/relay_events.o src/relay_shmem.o src/relay_worker.o src/relay_order.o \
       src/relay_notify.o src/relay_note.o src/token.o src/audit_writer.o \
       src/search_words.o src/row_checks.o src/bookkeeper.o \
       src/send_path.o src/writable.o src/placement.o src/on_node.o

# The SQL, one file a concern under src/sql/.  The install script is built
# from prelude.sql and tables.sql (run once, at install) and the concern
# files; an upgrade script from upgrade_guard.sql (it refuses a schema
# others could write to, before anything changes), the early files,
# src/sql/updates/A--B.sql (run once, at that upgrade) and the rest of the
# concern files, which create or replace every function and view with its
# comment and privileges.  The order matters: identity, keys and checks
# are C functions that the tables use; the rest need the tables.  Released scripts are frozen: stylist_chat--1.0.sql is kept
# as it shipped, and when a version is released its built upgrade script
# is committed beside it and its file under src/sql/updates/ removed.
SQL_EARLY = src/sql/identity.sql src/sql/keys.sql src/sql/checks.sql
SQL_LATE = src/sql/common.sql src/sql/realtime.sql src/sql/profiles.sql \
           src/sql/chats.sql src/sql/messages.sql src/sql/reading.sql \
           src/sql/tokens.sql src/sql/moderation.sql src/sql/views.sql \
           src/sql/safety.sql src/sql/pins.sql src/sql/inbox_controls.sql \
           src/sql/reactions.sql src/sql/catchup.sql src/sql/gallery.sql \
           src/sql/search.sql src/sql/notifications.sql src/sql/kpis.sql \
           src/sql/migration.sql src/sql/privacy.sql src/sql/retention.sql \
           src/sql/filter.sql src/sql/citus.sql
UPGRADES = $(patsubst src/sql/updates/%.sql,$(EXTENSION)--%.sql,$(wildcard src/sql/updates/*.sql))

DATA = $(EXTENSION)--1.0.sql
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADES)
PGFILEDESC = "stylist_chat - customer-stylist chat"
PG_CFLAGS = -Wextra -Wno-unused-parameter
EXTRA_CLEAN = gateway/stylist_chat_gateway

REGRESS = setup identity chats messages reading access realtime safety pins inbox_controls \
          replies_reactions booking_cards catchup gallery search migration privacy \
          retention filter errors

PG_CONFIG ?= pg_config
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))

ifneq ($(PGXS),)
include $(PGXS)
else
# without the server headers only the self-installing targets make sense
all install installcheck:
	@echo "PostgreSQL server development files not found (postgresql-server-dev-15); 'make test' installs them" >&2
	@exit 1
endif

# every C file includes the shared header
$(OBJS): src/stylist_chat.h
src/relay_worker.o src/relay_order.o src/relay_notify.o src/relay_note.o src/bookkeeper.o: src/relay.h

# assemble a script: a header, then each source under a banner
define assemble_sql
	{ printf '/* %s: built by the Makefile from %s; edit those */\n\n' $@ 'src/sql/'; \
	  printf -- '-- complain if script is sourced in psql, rather than via CREATE EXTENSION\n'; \
	  printf '\\echo Use "%s" to load this file. \\quit\n' '$(2)'; \
	  for f in $(1); do printf '\n--\n-- %s\n--\n' $$f; cat $$f; done; } > $@
endef

$(EXTENSION)--$(EXTVERSION).sql: src/sql/prelude.sql $(SQL_EARLY) src/sql/tables.sql $(SQL_LATE) $(EXTENSION).control
	$(call assemble_sql,$(filter %.sql,$^),CREATE EXTENSION $(EXTENSION))

$(EXTENSION)--%.sql: src/sql/upgrade_guard.sql $(SQL_EARLY) src/sql/updates/%.sql $(SQL_LATE)
	$(call assemble_sql,$^,ALTER EXTENSION $(EXTENSION) UPDATE)

# the WebSocket gateway: its own program, not part of the extension
GATEWAY = gateway/stylist_chat_gateway
GATEWAY_SRCS = gateway/main.c gateway/sockets.c gateway/pg.c gateway/frame.c gateway/requests.c
GATEWAY_CFLAGS ?= -O2 -g
GATEWAY_PG_CONFIG := $(if $(PGXS),$(PG_CONFIG),$(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config))

$(GATEWAY): $(GATEWAY_SRCS) gateway/gateway.h
	$(or $(CC),cc) $(GATEWAY_CFLAGS) -Wall -Wextra -Wno-unused-parameter $(GATEWAY_WERROR) \
	    -I$(shell $(GATEWAY_PG_CONFIG) --includedir) -o $@ $(GATEWAY_SRCS) \
	    -L$(shell $(GATEWAY_PG_CONFIG) --libdir) -lwebsockets -lev -lpq -ljansson

.PHONY: test demo bench gateway demo-web test-citus
gateway: $(GATEWAY)

demo-web:
	bash test/demo_web.sh

test:
	bash test/run.sh

demo:
	bash test/demo.sh

bench:
	bash test/bench/run.sh

test-citus:
	bash test/citus/run.sh
