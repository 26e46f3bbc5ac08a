#!/usr/bin/env bash
# X-PEFT with a bank of LoRA adapters trained on OTHER Fashion-MNIST shifts
# (issue 6; docs/xpeft.md "Accuracy on Fashion-MNIST").
#
#   tools/experiments/xpeft_bank.sh [OUT_DIR]      (default /tmp/prism-xpeft-bank)
#
# Environment: PRISM (binary, default build/prism), STEPS (300, as the demo),
# TEST (test images, 2000 as the demo), SHIFTS (held-out folds, default all
# six), XPEFT_LR (X-PEFT peak learning rate, default the method's 5e-2),
# BANK_STEPS (steps of the LoRA bank members, default STEPS: the members are
# then the direct LoRA runs; the demo uses 150), LP_NUM_THREADS (2).
#
# Protocol: the demo's settings everywhere (cached base, seed 0, batch 128,
# cosine schedule, clip 1), one process per run.
#  1. LoRA r = 8 once per profile (original + the six shifts). Each is both the
#     "LoRA trained directly on s" baseline and a bank member for the other
#     folds; FULL once per shift (the 100 % of the gain column); the frozen
#     base's accuracy per profile from `prism train --shifts`.
#  2. leave one out: for held-out s the bank is the LoRA adapters of the five
#     other shifts and original (N = 6, r = 8; s's own adapter never enters
#     it). X-PEFT with a hard mask (k = 2, the default for N <= 8) and with a
#     soft mask on s, and X-PEFT with a random bank: the default (N = 64,
#     r = 8, k = 16) and, as the control for "is it the LoRA members or just
#     picking among a few large adapters", N = 6, k = 2; all at the same
#     steps and learning rate.
#  3. the table: gain over the frozen base as a share of FULL's gain
#     (accuracy in parentheses), and the profile bytes of a hard X-PEFT
#     profile against one LoRA r = 8 adapter.
# Rerunning skips every run whose log already has its result.
set -euo pipefail

OUT=${1:-/tmp/prism-xpeft-bank}
PRISM=${PRISM:-build/prism}
STEPS=${STEPS:-300}
TEST=${TEST:-2000}
SHIFTS=${SHIFTS:-"invert rot90 hflip vflip shift permute"}
ALL="original invert rot90 hflip vflip shift permute"
XPEFT_LR=${XPEFT_LR:-}
BANK_STEPS=${BANK_STEPS:-$STEPS}
SUF=""   # run names of the bank members and the LoRA-bank X-PEFT runs
[ "$BANK_STEPS" = "$STEPS" ] || SUF="-b$BANK_STEPS"
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
COMMON=(--steps "$STEPS" --test-subset "$TEST" --eval-every "$STEPS" --seed 0 --no-progress)
LR=()
[ -n "$XPEFT_LR" ] && LR=(--lr "$XPEFT_LR")

[ -x "$PRISM" ] || { echo "no prism binary at $PRISM (set PRISM=)" >&2; exit 2; }
mkdir -p "$OUT/runs" "$OUT/logs"
t0=$(date +%s)
note() { echo "[$(($(date +%s) - t0)) s] $*" >&2; }

# final accuracy of a run log ("test accuracy A -> B after N steps")
acc_of() { sed -n 's/^test accuracy .* -> \([0-9.]*\) after .*/\1/p' "$1" | tail -1; }

# run NAME ARGS...: one `prism train` into runs/NAME, log in logs/NAME.log
run() {
    local name=$1
    shift
    local log="$OUT/logs/$name.log"
    if [ -s "$log" ] && [ -n "$(acc_of "$log")" ]; then
        note "$name: reused ($(acc_of "$log"))"
        return
    fi
    note "$name ..."
    "$PRISM" train "${COMMON[@]}" "$@" --out "$OUT/runs/$name" >"$log" 2>&1 || {
        echo "failed: $PRISM train $* (log $log)" >&2
        tail -5 "$log" >&2
        exit 1
    }
    note "$name: $(acc_of "$log")"
}

# 1. frozen base, LoRA per profile, FULL per shift
[ -s "$OUT/logs/shifts.log" ] || "$PRISM" train --shifts --test-subset "$TEST" --no-progress >"$OUT/logs/shifts.log" 2>&1
for p in $ALL; do run "lora-$p" --method lora --profile "$p"; done
for s in $SHIFTS; do run "full-$s" --method full --profile "$s"; done
if [ -n "$SUF" ]; then
    for p in $ALL; do run "lora$SUF-$p" --method lora --profile "$p" --steps "$BANK_STEPS"; done
fi

# 2. leave one shift out
for s in $SHIFTS; do
    bank=()
    for p in $ALL; do [ "$p" = "$s" ] || bank+=(--bank "$OUT/runs/lora$SUF-$p/lora-$p/adapter"); done
    run "xpeft-hard$SUF-$s" --method xpeft --profile "$s" --mask hard "${bank[@]}" "${LR[@]}"
    run "xpeft-soft$SUF-$s" --method xpeft --profile "$s" --mask soft "${bank[@]}" "${LR[@]}"
    run "xpeft-random-$s" --method xpeft --profile "$s" "${LR[@]}"
    # control: a random bank of the LoRA bank's size and k
    run "xpeft-random6-$s" --method xpeft --profile "$s" --n-bank 6 --k 2 "${LR[@]}"
done

# 3. the table
base_of() { awk -v p="$1" '$1 == p && $2 ~ /^[0-9.]+$/ {print $2; exit}' "$OUT/logs/shifts.log"; }
cell() { # gain share of FULL's (accuracy)
    awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (a == "") { print "-"; exit }
        printf "%.1f%% (%.4f)", 100 * (a - b) / (f - b), a }'
}
{
    echo "LoRA bank members: $BANK_STEPS steps each"
    echo
    echo "| held-out shift | frozen base | FULL | LoRA r=8 on the shift | X-PEFT LoRA bank, hard k=2 | X-PEFT LoRA bank, soft | X-PEFT random bank N=64 k=16 | X-PEFT random bank N=6 k=2 |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for s in $SHIFTS; do
        b=$(base_of "$s")
        f=$(acc_of "$OUT/logs/full-$s.log")
        echo "| $s | $b | $(cell "$f" "$b" "$f") | $(cell "$(acc_of "$OUT/logs/lora-$s.log")" "$b" "$f") |" \
             "$(cell "$(acc_of "$OUT/logs/xpeft-hard$SUF-$s.log")" "$b" "$f") |" \
             "$(cell "$(acc_of "$OUT/logs/xpeft-soft$SUF-$s.log")" "$b" "$f") |" \
             "$(cell "$(acc_of "$OUT/logs/xpeft-random-$s.log")" "$b" "$f") |" \
             "$(cell "$(acc_of "$OUT/logs/xpeft-random6-$s.log")" "$b" "$f") |"
    done
} | tee "$OUT/table$SUF.md"

# profile bytes: a hard profile is 2 masks of N bits per layer (ceil(N/8)
# bytes each; k once per store), against one LoRA r = 8 adapter's file and
# its fp32 parameters
first=$(echo "$SHIFTS" | awk '{print $1}')
L=$(sed -n 's/.*MLP \([0-9-]*\);.*/\1/p' "$OUT/logs/lora-$first.log" | head -1 | awk -F- '{print NF - 1}')
N=$(sed -n 's/^xpeft bank: \([0-9]*\) LoRA adapters.*/\1/p' "$OUT/logs/xpeft-hard$SUF-$first.log" | head -1)
lora_line=$(grep -m1 'adapter file' "$OUT/logs/lora-$first.log")
lora_params=$(echo "$lora_line" | sed -n 's/.*trainable \([0-9]*\) .*/\1/p')
lora_file=$(echo "$lora_line" | sed -n 's/.*adapter file \([0-9]*\) bytes.*/\1/p')
hard=$((L * 2 * ((N + 7) / 8)))
echo
echo "profile bytes: X-PEFT hard, N = $N, $L layers: $hard B (+ k once per store);" \
     "LoRA r = 8: $((lora_params * 4)) B of fp32 parameters ($((lora_params * 4 / hard))x), adapter file $lora_file B" \
     "($((lora_file / hard))x)" | tee -a "$OUT/table$SUF.md"
note "done; table in $OUT/table$SUF.md"
