# stylist_chat: persistent customer-stylist chat for PostgreSQL 15
#
#   make && make install     build and install against $(PG_CONFIG)
#   make installcheck        pg_regress against a running server (PGHOST, PGPORT, ...)
#   make test                everything, on a throwaway cluster, installing what is missing
#   make demo                a short conversation, on a throwaway cluster
#   make bench               throughput, latency, scaling and memory figures

EXTENSION = stylist_chat
EXTVERSION = 1.0
MODULE_big = stylist_chat
OBJS = src/stylist_chat.o src/actor.o src/chat_id.o src/channel.o \
       src/relay_events.o src/relay_shmem.o src/relay_worker.o src/relay_order.o \
       src/relay_notify.o src/token.o
DATA = stylist_chat--$(EXTVERSION).sql
PGFILEDESC = "stylist_chat - customer-stylist chat"
PG_CFLAGS = -Wextra -Wno-unused-parameter

REGRESS = setup identity chats messages reading access realtime errors

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
src/relay_worker.o src/relay_order.o src/relay_notify.o: src/relay.h

.PHONY: test demo bench
test:
	bash test/run.sh

demo:
	bash test/demo.sh

bench:
	bash test/bench/run.sh
