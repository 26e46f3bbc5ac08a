# Thin wrapper over CMake + CTest. Everything real lives in CMakeLists.txt.
#
#   make deps    install missing Debian packages (tools/deps.sh)
#   make build   configure + build into build/ (RelWithDebInfo)
#   make test    deps, build, the whole suite, then the ASan+UBSan suite
#                (MAKE_TEST_ASAN=0 skips the sanitizer part)
#   make fuzz    libFuzzer targets for the file parsers, FUZZ_SECONDS each (default 60),
#                or FUZZ_TOTAL_SECONDS split over all targets
#   make bench   deps, build, build/prism bench
#   make demo    deps, build, then the demo (see below)
#   make clean   remove the build directories
#
# Variables: BUILD_DIR, ASAN_DIR, BUILD_TYPE, JOBS, LP_NUM_THREADS, MAKE_TEST_ASAN.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKE_TEST_ASAN ?= 1
# lavapipe's thread count: the CI machine has 2 cores.
export LP_NUM_THREADS ?= 2

# Sanitizer runtime options. Reports go to files under $(SAN_LOGS), one per
# process: Criterion runs each test in a worker process and ignores a worker's
# exit status after the test has reported, so a leak found at worker exit would
# otherwise pass unnoticed. test-asan fails when any report file appears.
# Leak reports from the Vulkan driver stack (lavapipe, LLVM's JIT, the loader,
# the validation layer) are suppressed in tests/lsan.supp; leaks in libprism,
# the tools and the tests are still reported.
SAN_LOGS := $(CURDIR)/$(ASAN_DIR)/sanitizer-logs
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:log_path=$(SAN_LOGS)/asan \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan \
           LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0

.PHONY: all deps build test test-main test-asan fuzz bench demo clean

all: build

deps:
	bash tools/deps.sh

build:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)
	cmake --build $(BUILD_DIR) -j$(JOBS)

# Both suites always run; the target fails if either failed.
test: deps build
	@fail=0; start=$$(date +%s); \
	$(MAKE) --no-print-directory test-main || fail=1; \
	echo "make test: main suite took $$(( $$(date +%s) - start )) s"; \
	if [ "$(MAKE_TEST_ASAN)" != "0" ]; then \
		start=$$(date +%s); \
		$(MAKE) --no-print-directory test-asan || fail=1; \
		echo "make test: sanitizer suite took $$(( $$(date +%s) - start )) s"; \
	else \
		echo "make test: sanitizer suite skipped (MAKE_TEST_ASAN=0)"; \
	fi; \
	if [ $$fail -ne 0 ]; then echo "make test: FAILED"; else echo "make test: passed"; fi; \
	exit $$fail

test-main:
	ctest --test-dir $(BUILD_DIR) --output-on-failure

# ASan+UBSan build of the library, tools and tests (no bench). Every test
# runs on lavapipe, as in the main suite: lavapipe works under ASan because
# the driver itself is not instrumented, only our code is. The *_baseline
# twins are left out here (the main suite runs them): they take the same host
# code paths, and CI must stay under 25 minutes on 2 cores. So are the dct,
# fft and gemm binaries: their time goes to float64 reference loops, which
# ASan slows 5-11x (CI log: dct 20 s -> 231 s), while their host code (plans,
# dispatchers, binding tiling) runs in this suite anyway through the sdctft,
# fourierft, spectral, adapter and train tests.
test-asan:
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPRISM_SANITIZE=ON -DPRISM_BUILD_BENCH=OFF
	cmake --build $(ASAN_DIR) -j$(JOBS)
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
	@fail=0; \
	$(SAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -E '_baseline$$|^(dct|fft|gemm)$$' || fail=1; \
	if [ -n "$$(ls -A $(SAN_LOGS))" ]; then \
		for f in $(SAN_LOGS)/*; do echo "==== $$f"; cat "$$f"; done; \
		echo "make test-asan: sanitizer reports above (also in $(SAN_LOGS))"; \
		fail=1; \
	else \
		echo "make test-asan: no sanitizer reports"; \
	fi; \
	exit $$fail

# Each parser (safetensors, adapter_config.json, .npy) under libFuzzer + ASan
# + UBSan for a bounded time; any crash, leak or timeout fails.
FUZZ_SECONDS ?= 60
FUZZ_TOTAL_SECONDS ?=
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TOTAL_SECONDS=$(FUZZ_TOTAL_SECONDS) bash tests/fuzz/run.sh

bench: deps build
	$(BUILD_DIR)/prism bench

# The main job on the default device: `prism train --demo` pretrains the
# 784-256-256-10 base on Fashion-MNIST once (cached in $PRISM_CACHE_DIR,
# $XDG_CACHE_HOME/prism or ~/.cache/prism; reused afterwards), prints how far
# each profile drops the base's accuracy, fine-tunes every built method on the
# `invert` profile (300 steps of 128 images, test accuracy on 2000 test
# images every 25 steps), prints the table and writes
# $(BUILD_DIR)/demo/demo-invert.svg and .md. Sized for lavapipe on 2 cores
# (README, "make demo"). DEMO_ARGS adds options, e.g. DEMO_ARGS="--profile rot90".
DEMO_ARGS ?=
demo: deps build
	$(BUILD_DIR)/prism train --demo --out $(BUILD_DIR)/demo $(DEMO_ARGS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
