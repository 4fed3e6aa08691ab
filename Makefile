# accelsched front door. `make demo` and `make test` are the two commands in README.md.
#   make deps    install the Debian 12 packages that are missing (apt-get; sudo if not root)
#   make build   configure + build (gcc, warnings are errors) into build/
#   make test    deps + build + ctest, then the same tests under clang with ASan+UBSan and
#                -Wthread-safety (build-san/), with each libFuzzer target run for 15 s
#   make fuzz    the libFuzzer targets (tests/fuzz/) for FUZZ_SECONDS (300) each
#   make demo    deps + build + accelsched-extender on the demo cluster, driven as kube-scheduler
#                would (bench/load/demo.sh); make demo-topology: accelsched-topo over the examples
#   make bench   run the Google Benchmark suite (figures go to bench/RESULTS.md by hand)
#   make paper-matrix   the FGD paper's 6 policies x 17 traces x 10 seeds in accelsched-sim
#   make format / make lint   clang-format in place / clang-tidy over the sources (CI runs lint)
#   make image   the container image $(IMAGE) from deploy/image/Containerfile, compiled inside
#                (podman, buildah or docker; podman is installed when none is)
#   make image-test   the image from this build's binaries, checked without running a
#                container (deploy/image/check.sh; needs root and podman; CI runs it)

SHELL := /bin/bash
JOBS ?= 2
BUILD ?= build
SAN_BUILD ?= build-san
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")

# Debian 12 packages the build, tests and tools need.
PACKAGES := build-essential cmake ninja-build pkg-config ccache clang clang-format clang-tidy \
            libclang-rt-14-dev libboost-graph-dev libabsl-dev nlohmann-json3-dev \
            libgtest-dev libgmock-dev libbenchmark-dev libcpp-httplib-dev libspdlog-dev \
            libyaml-cpp-dev libssl-dev zlib1g-dev libsimdjson-dev python3-yaml \
            libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc

SOURCES = $(shell git ls-files '*.cc' '*.h' 2>/dev/null)

.PHONY: all deps configure build test test-gcc test-san fuzz demo demo-topology bench paper-matrix format lint image image-deps image-test clean

all: build

deps:
	@missing=""; \
	for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all $(words $(PACKAGES)) packages present"; exit 0; fi; \
	echo "deps: installing:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

# Debug info: line tables only (-g1, -gline-tables-only) are enough for backtraces and the
# sanitizers' reports, and compile a quarter (gcc) to a tenth (clang) faster than -g. A tree
# configured by hand with plain cmake keeps CMake's defaults.
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DACCELSCHED_WERROR=ON \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

configure: $(BUILD)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD) -j $(JOBS)

test-gcc: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(SAN_BUILD)/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S . -B $(SAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=Debug \
	  -DCMAKE_CXX_FLAGS_DEBUG=-gline-tables-only \
	  -DACCELSCHED_WERROR=ON -DACCELSCHED_SANITIZE=ON -DACCELSCHED_THREAD_SAFETY=ON \
	  -DACCELSCHED_BUILD_BENCHMARKS=OFF -DACCELSCHED_FUZZ=ON

test-san: deps $(SAN_BUILD)/CMakeCache.txt
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

test: test-gcc test-san

# The libFuzzer targets (tests/fuzz/) for FUZZ_SECONDS each (ctest runs them for 15 s in
# test-san); what they find accumulates in $(SAN_BUILD)/fuzz-corpus/, failures in fuzz-artifacts/.
FUZZ_SECONDS ?= 300
FUZZ_TARGETS := $(basename $(notdir $(wildcard tests/fuzz/fuzz_*.cc)))
fuzz: deps $(SAN_BUILD)/CMakeCache.txt
	cmake --build $(SAN_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	cd $(SAN_BUILD) && for t in $(FUZZ_TARGETS); do \
	  $(CURDIR)/tests/fuzz/run_fuzzer.sh tests/fuzz/$$t $(CURDIR)/tests/fuzz/corpus/$$t \
	    $(FUZZ_SECONDS) fuzz-corpus/$$t || exit 1; \
	done

demo: build
	./bench/load/demo.sh $(BUILD)

demo-topology: build
	./deploy/examples/topology/demo.sh $(BUILD)/topology/accelsched-topo

bench: build
	$(BUILD)/bench/accelsched-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true

TRACE_DIR ?= ../shared/data/alibaba-gpu-v2023
PAPER_TRACES := default cpu050 cpu100 cpu200 cpu250 gpushare40 gpushare60 gpushare80 gpushare100 \
                gpuspec10 gpuspec20 gpuspec25 gpuspec33 multigpu20 multigpu30 multigpu40 multigpu50
comma := ,
empty :=
space := $(empty) $(empty)
paper-matrix: build
	$(BUILD)/bench/accelsched-sim trace --nodes $(TRACE_DIR)/openb_node_list_gpu_node.csv \
	  --pods $(subst $(space),$(comma),$(foreach t,$(PAPER_TRACES),$(TRACE_DIR)/openb_pod_list_$(t).csv)) \
	  --policy paper --seeds 42-51 --jobs $(JOBS) \
	  --expected $(TRACE_DIR)/fgd-expected-results/analysis_allo_discrete.csv \
	  --summary-csv $(BUILD)/paper_matrix.csv --svg $(BUILD)/paper_matrix.svg

format:
	clang-format -i $(SOURCES)

# clang-tidy with .clang-tidy (every finding is an error; tests/.clang-tidy lets test bodies be
# long), JOBS files at a time, over every tracked .cc file under LINT_PATHS (default: all of
# them). A file clean before with the same content, includes, flags, config and clang-tidy is
# not checked again (tests/lint/clang_tidy_cached.py; markers in LINT_CACHE). CI runs it
# (.ci/run).
LINT_PATHS ?= .
LINT_CACHE ?= $(HOME)/.cache/accelsched/clang-tidy
lint: build
	@./tests/lint/clang_tidy_cached.py $(BUILD) $(JOBS) $(LINT_CACHE) \
	  $$(git ls-files $(addsuffix /*.cc,$(LINT_PATHS)))

# The image: name and tag as deploy/ uses them (the tag is the project version in CMakeLists.txt).
VERSION := $(shell grep -m1 -o 'accelsched VERSION [0-9.]*' CMakeLists.txt | cut -d' ' -f3)
IMAGE ?= accelsched/accelsched:$(VERSION)
image-deps:
	@if command -v podman >/dev/null || command -v buildah >/dev/null || \
	    docker info >/dev/null 2>&1; then :; else $(MAKE) --no-print-directory deps PACKAGES=podman; fi
	@if [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory deps PACKAGES=debootstrap; fi

image: image-deps
	./deploy/image/build.sh $(IMAGE) source

image-test: build
	@$(MAKE) --no-print-directory deps PACKAGES="podman debootstrap"
	ENGINE=podman ./deploy/image/build.sh $(IMAGE) prebuilt $(BUILD)
	./deploy/image/check.sh $(IMAGE)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
