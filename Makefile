# SPDX-License-Identifier: Apache-2.0
# skiff build. `make` builds build/skiff and the build/skiff-runtime link.
# `make SAN=1` builds with AddressSanitizer and UndefinedBehaviorSanitizer.

CC ?= cc
BUILD ?= build
PREFIX ?= /usr/local

# Linked: small, cheap to load. Loaded on first use (src/base/dl.h): the rest, so the
# runtime's short-lived processes never pay for them.
PKGS := jansson libseccomp nettle
DL_PKGS := libarchive libcurl libmicrohttpd gnutls sqlite3 libnl-route-3.0 zlib libnftables ldns
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(DL_PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
	-Wimplicit-fallthrough -fno-common
# No debug info by default: create, run and exec copy the binary into a sealed memfd
# (CVE-2019-5736), and 1 MB of DWARF costs every container start ~2 ms. `make DEBUG=1`.
CFLAGS ?= -O2 $(if $(DEBUG),-g)
CFLAGS += -std=gnu11 -D_GNU_SOURCE $(WARN) -Isrc -I$(BUILD)/gen $(PKG_CFLAGS)
ifeq ($(SAN),1)
BUILD := $(BUILD)/san
CFLAGS += -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS += -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif
LDLIBS += $(PKG_LIBS) -lm

SRCS := $(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c))
LIB_SRCS := $(filter-out src/main.c src/cmd/%,$(SRCS))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_HDRS := $(sort $(wildcard tests/unit/*.h))
HEADERS := $(sort $(wildcard src/*/*.h src/*/*/*.h))

.PHONY: all deps check check-format check-lint check-headers unit e2e test demo demo-runtime bench install \
	clean format

all: $(BUILD)/skiff $(BUILD)/skiff-runtime

# `make V=1` shows the full commands
Q := $(if $(V),,@)

$(BUILD)/skiff: $(OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/skiff-runtime: $(BUILD)/skiff
	$(Q)ln -sf skiff $@

# Headers listing a dlopen'ed library's functions as X(name) lines (base/dl.h); each
# gets a generated header redirecting every name to its pointer dl_p_<name>.
DL_HEADERS := $(shell grep -l '^\s*X([A-Za-z_0-9]*)' $(HEADERS) 2>/dev/null)
GEN := $(DL_HEADERS:src/%.h=$(BUILD)/gen/%_redirect.h)
# a static pattern: a redirect header of a header since removed, still named by an old
# object's dependency file, is left to that file's empty rule instead of failing here
$(GEN): $(BUILD)/gen/%_redirect.h: src/%.h
	@mkdir -p $(dir $@)
	$(Q){ echo '/* generated from $< */'; \
	  sed -n 's/^\tX(\([A-Za-z_0-9]*\)).*/#undef \1\n#define \1 (*dl_p_\1)/p' $<; } > $@

$(BUILD)/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/src/cluster/api/proto.o: src/cluster/api/proto.def

$(BUILD)/tests/%: tests/unit/%.c $(UNIT_HDRS) $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIB_OBJS) $(LDFLAGS) $(LDLIBS) -lcmocka

-include $(OBJS:.o=.d)
$(BUILD)/src/cluster/api/schema.o: src/cluster/api/types.def

deps:
	@scripts/install-deps.sh

# Unit tests always run sanitized.
unit:
	@$(MAKE) --no-print-directory SAN=1 unit-run

.PHONY: unit-run
unit-run: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

e2e: all
	@scripts/run-e2e.sh

check-format:
	@clang-format --dry-run --Werror $(SRCS) $(HEADERS) $(UNIT_SRCS) $(UNIT_HDRS)

format:
	@clang-format -i $(SRCS) $(HEADERS) $(UNIT_SRCS) $(UNIT_HDRS)

check-headers: $(GEN)
	@for h in $(HEADERS); do \
		echo "#include \"$${h#src/}\"" | $(CC) $(CFLAGS) -x c -fsyntax-only - || exit 1; \
	done

check-lint: check-headers
	@! grep -nE '^\s*//|[^*]//[^"]*$$' $(SRCS) $(HEADERS) | grep -v 'http[s]*://' || \
		{ echo "check-lint: '//' comments are not used"; exit 1; }
	@! grep -nE '\b(printf|puts|fprintf)\(' $(filter-out src/cmd/% src/base/log.c src/main.c,$(SRCS)) || \
		{ echo "check-lint: printing is for src/cmd/ and src/base/log.c"; exit 1; }
	@! grep -nE '\bjson_(string|integer|real)_set' $(SRCS) $(HEADERS) || \
		{ echo "check-lint: decoded values may be shared (base/jload.c): replace them instead of changing them"; exit 1; }

check: check-format check-lint unit

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-format check-lint unit
	@$(MAKE) --no-print-directory e2e

demo: deps all
	@scripts/demo.sh

demo-runtime: deps all
	@scripts/demo-runtime.sh

bench: deps all
	@bench/runtime.sh
	@bench/podman.sh
	@bench/pull.sh
	@bench/apiserver.sh
	@bench/scheduler.sh
	@bench/podstart.sh
	@bench/service.sh
	@bench/json.sh

install: all
	install -D -m 0755 $(BUILD)/skiff $(DESTDIR)$(PREFIX)/bin/skiff
	ln -sf skiff $(DESTDIR)$(PREFIX)/bin/skiff-runtime

clean:
	rm -rf build
