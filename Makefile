# The three commands a newcomer needs: `make run`, `make test`, `make bench`.
# Everything is built with CMake in build/ (and build-asan/ for the sanitizer run,
# build-fuzz/ for the libFuzzer harnesses: `make fuzz`, see docs/fuzzing.md).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_HARNESSES ?= $(sort $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.c))))
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DHC_WERROR=ON
endif

# Every C file of the product and its tests, as .clang-format lays them out.
FORMAT_FILES = $(wildcard src/*.c src/*.h src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h \
                          tests/fuzz/*.c tests/fuzz/*.h bench/*.c)

.PHONY: all deps venv build run run-distributed test test-fast unit e2e e2e-distributed browser asan fuzz-build fuzz fuzz-smoke bench \
        bench-check bench-baseline bench-ab \
        bench-breaker profile format format-check clean install deploy-venv deploy-check image image-test kube-test \
        container-test

all: build

deps:
	@scripts/install-deps.sh

# The test tools PyPI has and Debian does not (schemathesis, selenium), pinned.
venv: deps
	@scripts/test-venv.sh .venv-test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Runs the whole system in the foreground on embedded defaults (Ctrl-C stops it).
run: build
	./$(BUILD)/healthcenter up

# The same system on a local Apache Kafka broker and PostgreSQL (started here,
# stopped with it; data under ./data-distributed). See docs/distributed.md.
run-distributed: build
	HC_BIN=./$(BUILD)/healthcenter scripts/run-distributed.sh

# Every test: the layout check, the deployment files' checks (deploy-check),
# unit + end-to-end + the web app in a browser + the benchmark's load
# generator against local servers (tests/bench) on the normal build (the
# end-to-end suite twice: on the embedded stack, then on PostgreSQL + Kafka;
# it installs into a staging directory too), the container image built and
# run, alone and as the Kubernetes manifests under podman kube play
# (container-test), then unit + end-to-end (embedded stack only) + tests/bench under
# AddressSanitizer + UndefinedBehaviorSanitizer (not the browser tests: they
# assert page speed, and their C paths are the end-to-end suite's), then each
# fuzzer for a few seconds.
test: format-check deploy-check build venv
	cd $(BUILD) && ctest --output-on-failure --no-tests=error
ifneq ($(HC_CONTAINER_TESTS),0)
	$(MAKE) container-test
endif
	$(MAKE) asan
	$(MAKE) fuzz-smoke

asan: deps venv
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHC_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure --no-tests=error -LE '^(e2e-distributed|browser)$$'

# The libFuzzer harnesses of tests/fuzz, built by clang with ASan + UBSan.
fuzz-build: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHC_FUZZ=ON \
		$(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

# Runs each harness (FUZZ_HARNESSES: all) for FUZZ_SECONDS on a copy of its
# seed corpus; fails on a crash.
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)/fuzz-work \
		$(addprefix $(FUZZ_BUILD)/tests/fuzz/,$(FUZZ_HARNESSES))

# The short run `make test` does: every harness as a ctest entry for a few seconds.
fuzz-smoke: fuzz-build
	cd $(FUZZ_BUILD) && ctest -L fuzz --output-on-failure --no-tests=error
	@cat $(FUZZ_BUILD)/fuzz-work/*/summary

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure

e2e: build venv
	cd $(BUILD) && ctest -L '^e2e$$' --output-on-failure

# The web app in headless chromium (tests/browser, docs/web.md).
browser: build venv
	cd $(BUILD) && ctest -L '^browser$$' --output-on-failure

# The end-to-end suite on PostgreSQL + Kafka (HC_TEST_STACK=distributed).
e2e-distributed: build venv
	cd $(BUILD) && ctest -L '^e2e-distributed$$' --output-on-failure

# make bench BENCH_ARGS="--stack distributed": the same load on PostgreSQL +
# Kafka (started and stopped by bench.py; docs/benchmark.md).
# make bench BENCH_ARGS="--rate 1000": open loop, 1,000 bookings/s from
# build/hc-loadgen (bench/loadgen.c) instead of wrk's closed loop.
BENCH_ARGS ?=
bench: build
	/usr/bin/python3 bench/bench.py --bin ./$(BUILD)/healthcenter $(BENCH_ARGS)

# Where the time goes under the bench load: perf (per service, thread, DSO,
# symbol), a flame graph and strace syscalls per booking, into a new directory
# under /tmp (printed); needs linux-perf, strace and wrk (docs/profile.md).
# make profile PROFILE_ARGS="--what strace --bookings 300"
PROFILE_ARGS ?=
profile: build
	/usr/bin/python3 bench/profile.py --bin ./$(BUILD)/healthcenter $(PROFILE_ARGS)

# Fails when the CPU per booking (cpu_ms_per_booking.total, every process of
# the system over the measured run) is more than 25 % above bench/baseline.json
# in a short closed-loop run and again in a second one (it rises while other
# work shares the cores: a regression shows in both). Not part of `make test`.
# docs/benchmark.md.
BENCH_CHECK_ARGS ?= --duration 5 --warmup 2
BENCH_CHECK = /usr/bin/python3 bench/bench.py --bin ./$(BUILD)/healthcenter $(BENCH_CHECK_ARGS) \
		--check bench/baseline.json
bench-check: build
	$(BENCH_CHECK) || { echo "bench-check: a second run: the failure must repeat" >&2; $(BENCH_CHECK); }

# Two binaries side by side, each its own system, started together for every
# round (docs/benchmark.md, "Comparing two binaries"): on a machine whose speed
# moves, a change shows in the ratio B / A, not in runs one after the other.
# make bench-ab AB_A=/tmp/healthcenter-main AB_ARGS="--rounds 3 -- --duration 8"
AB_B ?= ./$(BUILD)/healthcenter
AB_ARGS ?=
bench-ab: build
	@test -n "$(AB_A)" || { echo "make bench-ab: set AB_A to the binary to compare with (docs/benchmark.md)" >&2; exit 2; }
	/usr/bin/python3 bench/ab.py --a $(AB_A) --b $(AB_B) $(AB_ARGS)

# Records bench/baseline.json from one such run (review and commit it).
bench-baseline: build
	/usr/bin/python3 bench/bench.py --bin ./$(BUILD)/healthcenter $(BENCH_CHECK_ARGS) \
		--record-baseline bench/baseline.json

# The original's siege scenario against a payment slowed 400-620 ms by a
# bench-only delaying proxy: the real siege, 100 users for 60 s through the
# gateway, one JSON line out (docs/breaker.md). Shorter:
# make bench-breaker BREAKER_ARGS="--duration 10"; data on the disk instead of
# /dev/shm: BREAKER_ARGS="--data-in /tmp"; without siege: BREAKER_ARGS=--python-clients.
BREAKER_ARGS ?=
# Its stdout is the JSON line alone: the build's output goes to stderr.
bench-breaker:
	@$(MAKE) --no-print-directory build >&2
	@/usr/bin/python3 bench/breaker.py --bin ./$(BUILD)/healthcenter $(BREAKER_ARGS)

# Lays out every C file as .clang-format says (tables keep their columns
# between "clang-format off" and "on" comments).
format: deps
	clang-format -i $(FORMAT_FILES)

# Fails, naming the files and lines, where a C file is not laid out as
# .clang-format says; `make format` fixes it.
format-check: deps
	@clang-format --dry-run -Werror $(FORMAT_FILES) || \
		{ echo "make format-check: run \`make format\` (clang-format $$(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))"; exit 1; }

# Installs the binary, the gateway template, the web app (when web/ exists),
# the manual page healthcenter(1) and the systemd unit under PREFIX; DESTDIR
# stages it (make install DESTDIR=/tmp/stage). docs/deploy.md.
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

# The deployment checkers Debian lacks (kubernetes-validate, checkov,
# hadolint), pinned in deploy/requirements.txt, into .venv-deploy.
deploy-venv: deps
	@scripts/deploy-venv.sh .venv-deploy

# Validates deploy/k8s (rendered), the Dockerfile and the CI workflow offline:
# kubernetes-validate, checkov, hadolint, actionlint (scripts/deploy-check.sh).
deploy-check: deploy-venv
	@scripts/deploy-check.sh

# The container image healthcenter:<version> and :latest, built with podman
# on a debian:12-slim base (made locally by scripts/base-image.sh unless
# IMAGE_BASE names one to pull). docs/deploy.md.
IMAGE_BASE ?=
image: deps
	IMAGE_BASE="$(IMAGE_BASE)" scripts/image.sh

# Runs the image (`up` in one container, read-only) and books through it;
# removes its containers and volumes.
image-test: image
	HC_IMAGE=healthcenter:latest /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/deploy/test_image.py

# Plays deploy/k8s/base with podman kube play (host network) and books
# through it; removes what it played.
kube-test: image
	HC_IMAGE=healthcenter:latest /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/deploy/test_kube_play.py

# What `make test` runs of the above: the image built, then both tests
# (HC_CONTAINER_TESTS=0 leaves them out, for a CI job that runs them itself).
container-test: image
	HC_IMAGE=healthcenter:latest /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/deploy

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
