# moec: the README's commands.
#   make          build the compiler, runtime and tools into build/
#   make demo     install what is missing, build, and run the bundled example
#   make test     install what is missing, build, and run every test (ctest)
#   make bench    benchmarks (see README)
#   make docs     regenerate docs/dialects/*.md from the dialects' ODS
#   make test-sanitize  every test under ASan + UBSan (build-asan), and the
#                 concurrency stress test under ThreadSanitizer (build-tsan)
#   make fuzz     build the libFuzzer targets (clang-22) and run each for
#                 FUZZ_SECONDS (default 60) on its seed corpus, JOBS at a time

BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all build deps configure demo test test-sanitize bench docs fuzz clean

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then \
	  cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS); \
	fi

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: deps
	@scripts/test-sanitize.sh $(JOBS)

bench: build
	bench/run_cpu.sh $(BUILD)

docs: build
	@cp $(BUILD)/docs/dialects/MoeDialect.md docs/dialects/moe.md
	@cp $(BUILD)/docs/dialects/ExecDialect.md docs/dialects/exec.md
	@echo "docs/dialects/moe.md and exec.md regenerated"

fuzz: deps
	@if [ ! -f $(FUZZ_BUILD)/build.ninja ]; then \
	  CC=clang-22 CXX=clang++-22 cmake -G Ninja -S . -B $(FUZZ_BUILD) \
	    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
	    -DMOEC_FUZZ=ON -DMOEC_ENABLE_CUDA=OFF; \
	fi
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target moec-fuzzers
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) "$(FUZZ_TARGET)" $(JOBS)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) build-asan build-tsan
