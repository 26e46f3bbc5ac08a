#!/usr/bin/env bash
# Builds each parser fuzz target with libFuzzer + ASan + UBSan (clang, host
# sources only, no Vulkan) and runs it on a copy of its seed corpus. Exits
# non-zero on any finding; crash inputs are kept in $FUZZ_ARTIFACTS (default:
# a temp dir, printed).
#
# Time: FUZZ_TOTAL_SECONDS, when set, is the budget of the whole run, split
# evenly over the selected targets (at least 5 s each); otherwise each target
# runs FUZZ_SECONDS (default 60). The build (about 20 s on 2 cores) comes on
# top: every source is compiled once and shared by the targets.
#
# Sources: every target links adapters/io/*.c and cJSON. A target whose
# source holds the line "fuzz-link: adapters" also links adapters/*.c (the
# adapter config parsers of every method, the subspace file) and
# runtime/error.c; the device functions those files reference are replaced by
# generated stubs that abort, so a parser that reaches the device is a finding.
#
# Usage: tests/fuzz/run.sh [target ...]   (default: all tests/fuzz/fuzz_*.c)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cc=${CC_FUZZ:-clang}
jobs=${FUZZ_JOBS:-2}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$here"/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
if [ -n "${FUZZ_TOTAL_SECONDS:-}" ]; then
    secs=$((FUZZ_TOTAL_SECONDS / ${#targets[@]}))
    [ "$secs" -ge 5 ] || secs=5
else
    secs=${FUZZ_SECONDS:-60}
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/prism-fuzz-XXXXXX")
art=${FUZZ_ARTIFACTS:-$work/artifacts}
mkdir -p "$art" "$work/bin" "$work/corpus" "$work/obj/io" "$work/obj/ad"
trap 'rm -rf "$work/bin" "$work/corpus" "$work/obj"' EXIT
san=(-g -O1 -std=gnu11 -fsanitize=address,undefined -fno-sanitize-recover=undefined)
inc=(-I"$root/include" -I"$root/runtime" -I"$root/adapters" -I"$root/adapters/io")

# compile <dir> <extra flags...> -- <sources...>: one object per source, $jobs at a time
compile() {
    local dir=$1 flags=() s
    shift
    while [ "$1" != -- ]; do flags+=("$1"); shift; done
    shift
    for s in "$@"; do printf '%s\0' "$s"; done |
        xargs -0 -P "$jobs" -I{} sh -c 'd=$1 src=$2; shift 2; exec "$@" -c "$src" -o "$d/$(basename "$src" .c).o"' \
            _ "$dir" {} "$cc" "${san[@]}" -fsanitize=fuzzer-no-link "${inc[@]}" "${flags[@]}"
}

need_adapters=0
for t in "${targets[@]}"; do grep -q "fuzz-link: adapters" "$here/$t.c" 2>/dev/null && need_adapters=1; done
start=$(date +%s)
echo "== build: adapters/io$([ $need_adapters = 1 ] && echo ' + adapters')"
if ! compile "$work/obj/io" -Wall -Wextra -Werror -- "$root"/adapters/io/*.c; then
    echo "== BUILD FAILED (adapters/io)"; exit 1
fi
if [ $need_adapters = 1 ]; then
    # the main build holds these files to -Werror with gcc; clang only warns here
    if ! compile "$work/obj/ad" -Wall -Wextra -Wno-unused-parameter -- "$root"/adapters/*.c "$root/runtime/error.c"; then
        echo "== BUILD FAILED (adapters)"; exit 1
    fi
    # every prism_* function referenced and not defined: the device side
    nm -u "$work"/obj/ad/*.o "$work"/obj/io/*.o | awk '$2 ~ /^prism_/ {print $2}' | sort -u > "$work/undef"
    nm --defined-only "$work"/obj/ad/*.o "$work"/obj/io/*.o | awk 'NF == 3 {print $3}' | sort -u > "$work/def"
    {
        echo '#include <stdio.h>'
        echo '#include <stdlib.h>'
        echo 'static void reached(const char *f) { fprintf(stderr, "fuzz stub: %s reached (device code)\n", f); abort(); }'
        comm -23 "$work/undef" "$work/def" | while read -r f; do
            echo "void $f(void); void $f(void) { reached(\"$f\"); }"
        done
    } > "$work/obj/stubs.c"
    compile "$work/obj/ad" -- "$work/obj/stubs.c" || { echo "== BUILD FAILED (stubs)"; exit 1; }
fi
status=0
findings=()
for t in "${targets[@]}"; do
    objs=("$work"/obj/io/*.o)
    grep -q "fuzz-link: adapters" "$here/$t.c" && objs+=("$work"/obj/ad/*.o)
    if ! "$cc" "${san[@]}" -fsanitize=fuzzer -Wall -Wextra -Werror "${inc[@]}" "$here/$t.c" "${objs[@]}" \
        -lcjson -lm -o "$work/bin/$t"; then
        echo "== $t: BUILD FAILED"; status=1; findings+=("$t: build failed (compiler output above)"); continue
    fi
done
echo "== build took $(($(date +%s) - start)) s; ${secs} s per target"

# A timeout or out-of-memory verdict can come from the machine (a VM paused
# for seconds) rather than the input. stall_only <target>: true when every
# artifact of this run is a timeout-/oom- one and each replays alone, with
# the same limits, within its limit: then the input is not the cause. Crash
# and leak artifacts always count.
stall_only() {
    local t=$1 a n=0
    for a in "$art/$t-"*; do
        [ -f "$a" ] || continue
        case $(basename "$a") in
            "$t-timeout-"* | "$t-oom-"*) ;;
            *) return 1 ;;
        esac
        "$work/bin/$t" -timeout=10 -rss_limit_mb=2048 "$a" > "$work/$t.replay.log" 2>&1 || return 1
        n=$((n + 1))
    done
    [ $n -gt 0 ]
}
for t in "${targets[@]}"; do
    [ -x "$work/bin/$t" ] || continue
    mkdir -p "$work/corpus/$t"
    [ -d "$here/corpus/$t" ] && cp "$here/corpus/$t"/* "$work/corpus/$t/" 2>/dev/null
    echo "== $t: run ${secs}s"
    "$work/bin/$t" -max_len=65536 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$art/$t-" "$work/corpus/$t" > "$work/$t.log" 2>&1
    rc=$?
    grep -E "^stat::(number_of_executed_units|average_exec_per_sec)|^#[0-9]+.*DONE" "$work/$t.log"
    if [ $rc -ne 0 ] && stall_only "$t"; then
        echo "== $t: ok, but a timeout or out-of-memory verdict did not reproduce on replay (a machine stall):"
        grep -m1 -E "ERROR: libFuzzer" "$work/$t.log"
    elif [ $rc -ne 0 ]; then
        echo "== $t: FINDING (exit $rc); log tail:"; tail -40 "$work/$t.log"; status=1
        # the sanitizer's or libFuzzer's own one-line verdict, for the summary
        why=$(grep -m1 -E "^SUMMARY:|ERROR: libFuzzer|ERROR: AddressSanitizer|runtime error:|fuzz stub:" "$work/$t.log")
        findings+=("$t: exit $rc: ${why:-see the log tail above}")
    else
        echo "== $t: ok"
    fi
done
echo "== total $(($(date +%s) - start)) s"
ls "$art"/* > /dev/null 2>&1 && echo "artifacts in $art" || true
# Last, so that a CI log cut to its tail still says what failed and with
# which input (base64 of the first 1 KiB of each artifact).
for f in "${findings[@]}"; do echo "== fuzz finding: $f"; done
for a in "$art"/*; do
    [ -f "$a" ] || continue
    echo "== fuzz artifact $(basename "$a") ($(wc -c < "$a") B): $(head -c 1024 "$a" | base64 -w0)"
done
[ "$status" -eq 0 ] && echo "== fuzz: no findings in ${#targets[@]} targets"
exit $status
