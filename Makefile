# Thin wrapper around Meson + Ninja. `make run` and `make test` install what
# is missing (Debian 12, as root) before building.

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
BUILD_BENCH ?= build-release
PYTEST     ?= /usr/bin/python3 -m pytest
FUZZ_SECONDS ?= 20
CONFIG     ?= sora.dev.toml

.PHONY: all deps build run test unit integration asan fuzz bench clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	@mkdir -p data
	@scripts/dev-cert.sh data
	./$(BUILD)/sora --config $(CONFIG)

unit: build
	meson test -C $(BUILD) --print-errorlogs

integration: build
	SORA_BIN=$(CURDIR)/$(BUILD)/sora $(PYTEST) -q tests/integration

test: unit integration

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

asan: deps $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD_ASAN)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD_ASAN) --print-errorlogs
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		SORA_BIN=$(CURDIR)/$(BUILD_ASAN)/sora SORA_SANITIZED=1 $(PYTEST) -q tests/integration

$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzzing=true -Dtests=false \
		-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized

# Every libFuzzer target for FUZZ_SECONDS, on a scratch copy of its corpus
fuzz: deps $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ)
	@set -e; for t in $$(find $(BUILD_FUZZ)/fuzz -maxdepth 1 -type f -executable -name 'fuzz_*' | sort); do \
		name=$${t##*/fuzz_}; work=$$(mktemp -d); \
		cp -r fuzz/corpus/$$name/. $$work/; \
		echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
		$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $$work >$$work.log 2>&1 \
			|| { tail -50 $$work.log; echo "fuzz: $$name FAILED (log above; crash file in $(CURDIR))"; exit 1; }; \
		grep -E '^#[0-9]+ +DONE' $$work.log | tail -1; \
		rm -rf $$work $$work.log; \
	done

bench: deps
	BENCH_BUILD=$(BUILD_BENCH) bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_BENCH)
