# The three commands a newcomer needs: `make run`, `make test`, `make bench`.
# Everything is built with CMake in build/ (and build-asan/ for the sanitizer run).

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DHC_WERROR=ON
endif

.PHONY: all deps venv build run test test-fast unit e2e asan bench format clean

all: build

deps:
	@scripts/install-deps.sh

# The test tools PyPI has and Debian does not (schemathesis), pinned.
venv: deps
	@scripts/test-venv.sh .venv-test

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Runs the whole system in the foreground on embedded defaults (Ctrl-C stops it).
run: build
	./$(BUILD)/healthcenter up

# Every test: unit + end-to-end on the normal build, then the same under
# AddressSanitizer + UndefinedBehaviorSanitizer.
test: build venv
	cd $(BUILD) && ctest --output-on-failure --no-tests=error
	$(MAKE) asan

asan: deps venv
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHC_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure --no-tests=error

unit: build
	cd $(BUILD) && ctest -L unit --output-on-failure

e2e: build venv
	cd $(BUILD) && ctest -L e2e --output-on-failure

bench: build
	/usr/bin/python3 bench/bench.py --bin ./$(BUILD)/healthcenter

format:
	clang-format -i src/*.c src/*.h src/*/*.c src/*/*.h tests/unit/*.c tests/unit/*.h

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
