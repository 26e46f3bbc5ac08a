#!/usr/bin/env bash
# Builds each parser fuzz target with libFuzzer + ASan + UBSan (clang, just the
# io sources and cJSON; no Vulkan) and runs it for $FUZZ_SECONDS (default 60)
# on a copy of its seed corpus. Exits non-zero on any finding; crash inputs
# are kept in $FUZZ_ARTIFACTS (default: a temp dir, printed).
# Usage: tests/fuzz/run.sh [target ...]   (default: all targets)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${FUZZ_SECONDS:-60}
cc=${CC_FUZZ:-clang}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_safetensors fuzz_npy fuzz_json_config)
work=$(mktemp -d "${TMPDIR:-/tmp}/prism-fuzz-XXXXXX")
art=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$art"
trap 'rm -rf "$work/bin" "$work/corpus"' EXIT
mkdir -p "$work/bin" "$work/corpus"
status=0
for t in "${targets[@]}"; do
    echo "== $t: build"
    if ! "$cc" -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Wall -Wextra -Werror -I"$root/include" -I"$root/adapters/io" \
        "$root"/adapters/io/*.c "$here/$t.c" -lcjson -lm -o "$work/bin/$t"; then
        echo "== $t: BUILD FAILED"; status=1; continue
    fi
    mkdir -p "$work/corpus/$t"
    [ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work/corpus/$t/" 2>/dev/null
    echo "== $t: run ${secs}s"
    "$work/bin/$t" -max_len=65536 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/$t-" "$work/corpus/$t" > "$work/$t.log" 2>&1
    rc=$?
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec)|^#[0-9]+.*DONE" "$work/$t.log"
    if [ $rc -ne 0 ]; then
        echo "== $t: FINDING (exit $rc); log tail:"; tail -40 "$work/$t.log"; status=1
    else
        echo "== $t: ok"
    fi
done
ls "$art"/* > /dev/null 2>&1 && echo "artifacts in $art" || true
exit $status
