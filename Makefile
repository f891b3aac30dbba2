# lq: the two commands a fresh machine needs are `make demo` and `make test`.
# Every target sets itself up (Debian packages, configure, build) and is idempotent.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup configure build test demo clean

all: build

setup:
	@scripts/setup-deps.sh

$(BUILD)/build.ninja: | setup
	cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DLLVM_USE_LINKER=lld -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD) -j $(JOBS)

test: build
	ninja -C $(BUILD) -j $(JOBS) check-lq

demo: build
	@scripts/demo.sh $(BUILD)

clean:
	rm -rf $(BUILD)
