# geolabel build: a static library, the CLI on top of it, one test program per tests/test_*.c.
# `make` builds build/; `make SAN=1` builds build-san/ with address+undefined sanitizers.

CC      ?= cc
SAN     ?= 0
BUILD   := $(if $(filter 1,$(SAN)),build-san,build)
PKGS    := gdal cairo libcurl libutf8proc yaml-0.1 libcjson libcrypto sqlite3
# One binary for every x86-64 CPU with AVX2+FMA: the baseline is x86-64-v3, and only the files
# named *_avx512.c are built with AVX-512 flags; cpuid (src/core/cpu.c) picks their code at run time.
OPT     ?= -O2 -march=x86-64-v3 -mtune=generic
ISA_AVX512 := -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512bf16 -mavx512vnni
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -fno-strict-aliasing \
               -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread \
               $(shell pkg-config --cflags $(PKGS))
ifeq ($(SAN),1)
  CFLAGS_BASE += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDSAN := -fsanitize=address,undefined
else
  CFLAGS_BASE += $(OPT)
endif
CFLAGS  := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
# -ldnnl: Debian's oneDNN, the bf16 GEMM on AMX CPUs (src/core/gemm_dnnl.c); -lgomp: its OpenMP
# runtime, which gemm_dnnl.c also calls (one OpenMP thread per oneDNN call).
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lopenblas -ldnnl -lgomp -lz -lpthread -lm
LDFLAGS := $(LDSAN)

LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

all: $(BUILD)/geolabel $(TEST_BIN)

$(BUILD)/libgeolabel.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/geolabel: $(CLI_OBJ) $(BUILD)/libgeolabel.a
	@echo "  LD   $@"
	@$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libgeolabel.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/harness.h $(BUILD)/libgeolabel.a
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	@$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libgeolabel.a $(LDLIBS)

$(BUILD)/src/core/gemm_avx512.o: CFLAGS += $(ISA_AVX512) -O3
$(BUILD)/src/core/gemm_avx2.o: CFLAGS += -mavx2 -mfma -O3

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# The review page's markup, style and script, as C string literals (backslashes, quotes and '?'
# escaped, so no trigraph can form) for review.c to embed.
REVIEW_GEN := build/gen
REVIEW_H := $(REVIEW_GEN)/label/review_page.h
REVIEW_ASSETS := src/label/review/body.html src/label/review/review.css src/label/review/review.js
$(REVIEW_H): $(REVIEW_ASSETS)
	@mkdir -p $(dir $@)
	@{ for v in BODY:body.html CSS:review.css JS:review.js; do \
	    echo "#define REVIEW_$${v%%:*} \\"; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' -e 's/^/"/' -e 's/$$/\\n" \\/' \
	      src/label/review/$${v#*:}; echo '""'; done; } > $@.tmp && mv $@.tmp $@
$(BUILD)/src/label/review.o: $(REVIEW_H)
$(BUILD)/src/label/review.o: CFLAGS += -I$(REVIEW_GEN)

# libFuzzer harnesses (fuzz/fuzz_*.c), built with Debian's clang (libclang-rt-14-dev) against a
# clang ASan+UBSan copy of the library in build-fuzz/. LeakSanitizer stays on when they run.
FUZZ_DIR    := build-fuzz
FUZZ_CFLAGS := $(filter-out -O2,$(CFLAGS_BASE)) -O1 -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC    := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_DIR)/%)
# heads/train.c uses GCC's _Float16 and optimize attribute, which clang 14 lacks; no parser is in it.
FUZZ_OBJ    := $(filter-out $(FUZZ_DIR)/src/heads/train.o,$(LIB_SRC:%.c=$(FUZZ_DIR)/%.o))

$(FUZZ_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/libgeolabel.a: $(FUZZ_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_DIR)/libgeolabel.a
	@echo "  LD   $@"
	@clang $(FUZZ_CFLAGS) -Ifuzz -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libgeolabel.a $(LDLIBS)

# The AVX-512 kernels need their ISA flags here too (cpuid still decides whether they run).
$(FUZZ_DIR)/%_avx512.o: FUZZ_CFLAGS += $(ISA_AVX512)
$(FUZZ_DIR)/%_avx2.o: FUZZ_CFLAGS += -mavx2 -mfma

-include $(FUZZ_OBJ:.o=.d)
$(FUZZ_DIR)/src/label/review.o: $(REVIEW_H)
$(FUZZ_DIR)/src/label/review.o: FUZZ_CFLAGS += -I$(REVIEW_GEN)

fuzz: $(FUZZ_BIN)

# Every harness for FUZZ_SECONDS (20) under ASan+UBSan+LSan from its seed corpus; fails on any
# finding. Longer campaigns: FUZZ_SECONDS=600 make fuzz-smoke, or fuzz/run.sh (see FUZZING.md).
FUZZ_SECONDS ?= 20
fuzz-smoke: fuzz
	fuzz/run.sh $(FUZZ_SECONDS)

# The one test command: unit programs, then CLI scripts, normal then sanitizer build.
test: all
	tests/run.sh $(BUILD)

# Everything CI runs: the format check, both builds, one test pass over each (one closing summary
# line), the README's main job offline (random weights, no Hub) in a throw-away folder, then every
# fuzz harness for 20 s.
FORMAT_SRC = $(wildcard include/*.h src/*/*.c src/*/*.h tests/*.c tests/*.h fuzz/*.c fuzz/*.h)

check: format-check
	$(MAKE) -j2 all
	$(MAKE) -j2 SAN=1 all
	tests/run.sh build build-san
	$(MAKE) demo-check
	$(MAKE) -j2 fuzz-smoke

# The demo as the README runs it, but offline and into a temporary cache and output folder.
demo-check: all
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	  GEOLABEL_OFFLINE=1 GEOLABEL_CACHE=$$d/cache DEMO_OUT=$$d/out scripts/demo.sh && \
	  for f in labels.csv labels_hierarchical.csv labels.geojson rs5m_golf_collage.png; do \
	    [ -s "$$d/out/$$f" ] || { echo "demo: $$f missing or empty"; exit 1; }; done && \
	  echo "demo: ok"

# Fails, listing the offending lines, when any source differs from `make format`.
format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRC) && echo "format: ok"

format:
	clang-format -i $(FORMAT_SRC)

clean:
	rm -rf build build-san build-fuzz

# The libraries the link line uses, for scripts that link their own programs against
# build/libgeolabel.a (bench/peers.sh), so they follow whatever the library comes to need.
print-ldlibs:
	@echo $(LDLIBS)

.PHONY: all test check demo-check format-check format clean fuzz fuzz-smoke print-ldlibs
