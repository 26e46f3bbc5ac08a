#!/usr/bin/env bash
# The unified delta-tuning subspace on a HELD-OUT Fashion-MNIST shift
# (issue 7, docs/subspace.md "Fashion-MNIST held-out shift").
#
#   tools/experiments/subspace_heldout.sh [OUT_DIR]      (default /tmp/prism-subspace-heldout)
#
# Environment: PRISM (the prism binary, default build/prism), STEPS (300),
# SHIFTS (the profiles that make runs), HELDOUT (the folds, default every
# shift), VARIANTS ("name:train-subset" pairs; the first one's data trains the
# held-out runs), CONTROL (1: also the two controls), RUNS_ONLY (1: stop after
# the runs), ZLR (z's learning rate; empty: prism's subspace default 0.01; set,
# the folds go to OUT_DIR/folds-lr<ZLR>), LP_NUM_THREADS (2). The tables need
# python3 (no packages).
#
# Protocol (why: docs/subspace.md):
#  1. runs: every shift x every variant is ONE `prism train --demo` run that
#     trains all six member methods from the SAME init (--seed 0 everywhere:
#     --seed also picks the adapter init, so varying it would give every run
#     another init and LoRA's factors would not be comparable). Variants differ
#     in the training data (--train-subset: another subset and another data
#     order), which is what a data seed would vary.
#  2. leave one shift out: for each held-out shift h, fit on the runs of the
#     OTHER shifts only (K runs), rank 4 and rank K.
#  3. on h: train z through LoRA (--method subspace --via lora), same steps,
#     data and test set as LoRA's full-space run of variant a on h (the
#     baseline, taken from step 1: h's own runs never enter h's fit); the same
#     z decoded by every other method (--transfer-to) when prism has it.
#  4. controls (CONTROL=1): fit on ALL runs (h included) and train z on h: the
#     solution is then in the span, so this separates "the machinery loses
#     accuracy" from "the held-out shift is not spanned"; and fit on the other
#     data variant of every shift: the shift was seen, this solution was not.
#  5. tables (OUT_DIR/folds[-lrZLR]/results.md), with the share of the held-out
#     solution's normalised delta that lies in the span of the fit's decoder columns.
# Everything that exists is reused: rerunning skips finished steps, so new
# folds reuse the runs.
set -euo pipefail

OUT=${1:-/tmp/prism-subspace-heldout}
PRISM=${PRISM:-build/prism}
STEPS=${STEPS:-300}
SHIFTS=${SHIFTS:-"invert rot90 hflip vflip shift permute"}
HELDOUT=${HELDOUT:-$SHIFTS}
VARIANTS=${VARIANTS:-"a:60000 b:30000"}
CONTROL=${CONTROL:-1}
FIRST=$(echo "$VARIANTS" | awk '{split($1, a, ":"); print a[1]}') # the first variant: the held-out baseline
NA=$(echo "$VARIANTS" | awk '{split($1, a, ":"); print a[2]}')    # and its training-set size
MEMBERS=lora,ether,etherplus,hut,sdctft,fourierft
VIA=lora
export LP_NUM_THREADS=${LP_NUM_THREADS:-2}
# One base, one init, one test set for everything. The demo gives ETHER 16
# blocks (not ETHER+: 16 does not divide the last layer's 10 outputs, and
# --blocks would set both). sDCTFT / FourierFT start at 0 (--init-zero 1): with
# their N(0,1) default the base is wrecked at the init, every run's delta is mostly
# "undo the init", and a transferred z would be judged from a wrecked start.
COMMON=(--steps "$STEPS" --test-subset 2000 --eval-every "$STEPS" --seed 0 --init-zero 1 --no-progress)

command -v "$PRISM" >/dev/null 2>&1 || [ -x "$PRISM" ] || { echo "no prism binary at $PRISM (set PRISM=)" >&2; exit 2; }
ZLR=${ZLR:-}
FOLDS="$OUT/folds${ZLR:+-lr$ZLR}"
mkdir -p "$OUT/runs" "$FOLDS" "$OUT/logs"
TRANSFER=()
if "$PRISM" train --help | grep -q -- '--transfer-to'; then
    TRANSFER=(--transfer-to "${MEMBERS#"$VIA",}")
fi
t_start=$(date +%s)
log() { echo "[$(($(date +%s) - t_start)) s] $*" >&2; }

# 1. the runs (all members + the frozen row, one process per run)
for p in $SHIFTS; do
    for v in $VARIANTS; do
        name=${v%%:*} n=${v#*:} dir="$OUT/runs/$p-${v%%:*}"
        [ -f "$dir/demo-$p.md" ] && continue
        log "run $p-$name (train-subset $n)"
        "$PRISM" train --demo --methods "none,$MEMBERS" --profile "$p" --train-subset "$n" "${COMMON[@]}" \
            --out "$dir" >"$OUT/logs/run-$p-$name.log" 2>&1 || { echo "run $p-$name failed: $OUT/logs/run-$p-$name.log" >&2; exit 1; }
    done
done

[ "${RUNS_ONLY:-0}" = 1 ] && { log "runs done (RUNS_ONLY=1)"; exit 0; }

# fit DIR TAG RANK RUN... -> DIR/TAG.safetensors + DIR/TAG.json
fit() {
    local d=$1 tag=$2 rank=$3
    shift 3
    [ -f "$d/$tag.json" ] && return 0
    "$PRISM" subspace fit --methods "$MEMBERS" --rank "$rank" --json -o "$d/$tag.safetensors" "$@" >"$d/$tag.json.tmp" \
        2>"$d/$tag.err" || { cat "$d/$tag.err" >&2; exit 1; }
    mv "$d/$tag.json.tmp" "$d/$tag.json"
}

# one_run DIR ARG...: one `prism train` on variant a's data (what the held-out
# baseline was trained on) into DIR; skipped when DIR/done exists
one_run() {
    local d=$1
    shift
    [ -f "$d/done" ] && return 0
    mkdir -p "$d"
    "$PRISM" train "$@" --train-subset "$NA" "${COMMON[@]}" --out "$d" >"$d/train.log" 2>&1 ||
        { echo "failed: $d/train.log" >&2; exit 1; }
    touch "$d/done"
}
# train_z DIR FILE PROFILE: z through $VIA, then the same z through the others
train_z() {
    one_run "$1" --method subspace --subspace "$2" --via "$VIA" --profile "$3" ${ZLR:+--lr "$ZLR"} \
        ${TRANSFER[@]+"${TRANSFER[@]}"}
}

# 2.-3. leave one shift out
for h in $HELDOUT; do
    d="$FOLDS/$h"
    mkdir -p "$d"
    runs=()
    for p in $SHIFTS; do
        [ "$p" = "$h" ] && continue
        for v in $VARIANTS; do runs+=("$OUT/runs/$p-${v%%:*}"); done
    done
    K=${#runs[@]}
    log "fold $h: fit on $K runs (rank 4 and $K)"
    fit "$d" r4 $((K < 4 ? K : 4)) "${runs[@]}"
    fit "$d" rK "$K" "${runs[@]}"
    for t in r4 rK; do
        log "fold $h: train z ($t) through $VIA"
        train_z "$d/$t" "$d/$t.safetensors" "$h"
    done
    # $VIA in full space again, right after: the step-time ratio from runs close
    # in time (the machine is shared), and a check that the baseline reproduces
    log "fold $h: $VIA in full space (paired timing)"
    one_run "$d/full" --method "$VIA" --profile "$h"
done

# 4. in-span control: every run in the fit
if [ "$CONTROL" = 1 ]; then
    d="$FOLDS/_all"
    mkdir -p "$d"
    runs=()
    for p in $SHIFTS; do for v in $VARIANTS; do runs+=("$OUT/runs/$p-${v%%:*}"); done; done
    fit "$d" rK "${#runs[@]}" "${runs[@]}"
    for h in $HELDOUT; do
        log "control: train z on $h with every run in the fit"
        train_z "$d/$h" "$d/rK.safetensors" "$h"
    done
fi

# 5. other-data control (CONTROL=1): fit on the LAST variant of every shift,
# train z on each shift with the first variant's data: the shift was seen,
# this exact solution was not (another data subset and order)
if [ "$CONTROL" = 1 ]; then
    d="$FOLDS/_seen"
    mkdir -p "$d"
    last=$(echo "$VARIANTS" | awk '{split($NF, a, ":"); print a[1]}')
    runs=()
    for p in $SHIFTS; do runs+=("$OUT/runs/$p-$last"); done
    fit "$d" rK "${#runs[@]}" "${runs[@]}"
    for h in $HELDOUT; do
        log "control: train z on $h, fit on the other variant of every shift"
        train_z "$d/$h" "$d/rK.safetensors" "$h"
    done
fi

log "tables"
python3 - "$OUT" "$FOLDS" "$SHIFTS" "$HELDOUT" "$MEMBERS" "$VIA" "$CONTROL" "$FIRST" >"$FOLDS/results.md" <<'EOF'
import csv, glob, json, re, struct, sys
from array import array
out, folds, shifts, heldout, members, via, control, first = sys.argv[1], sys.argv[2], sys.argv[3].split(), \
    sys.argv[4].split(), sys.argv[5].split(","), sys.argv[6], sys.argv[7] == "1", sys.argv[8]

def st_read(path):
    """safetensors -> (metadata, {name: (shape, array of F32)})"""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for k, v in head.items():
        if v["dtype"] == "F32":
            a = array("f")
            a.frombytes(data[v["data_offsets"][0]:v["data_offsets"][1]])
            out[k] = (v["shape"], a)
    return meta, out

def span_share(cols, a):
    """share of |a|^2 inside span(cols) (modified Gram-Schmidt)"""
    basis = []
    for c in cols:
        c = list(c)
        for b in basis:
            d = sum(x * y for x, y in zip(c, b))
            c = [x - d * y for x, y in zip(c, b)]
        nn = sum(x * x for x in c) ** 0.5
        if nn > 1e-12:
            basis.append([x / nn for x in c])
    aa = sum(x * x for x in a)
    return sum(sum(x * y for x, y in zip(a, b)) ** 2 for b in basis) / aa

def heldout_share(subspace, run, profile):
    """{method: share of the run's normalised delta in the span of the method's decoder, 'joint': all}"""
    meta, t = st_read(subspace)
    r = int(meta["rank"])
    res, jcols, ja = {}, [[] for _ in range(r)], []
    for m in json.loads(meta["methods"]):
        s = float(meta[f"scale.{m}"])
        _, ad = st_read(f"{run}/{m}-{profile}/adapter/adapter_model.safetensors")
        theta = array("f")
        for mod, name, shape, off in json.loads(meta[f"layout.{m}"]):
            theta.extend(ad[f"base_model.model.{mod}.{name}"][1])
        th0, dec = t[f"{m}.theta0"][1], t[f"{m}.decoder"][1]
        a = [(x - y) / s for x, y in zip(theta, th0)]
        cols = [[dec[i * r + j] / s for i in range(len(th0))] for j in range(r)]
        res[m] = span_share(cols, a)
        ja += a
        for j in range(r):
            jcols[j] += cols[j]
    res["joint"] = span_share(jcols, ja)
    return res

def demo(p):
    """method -> (acc_before, acc_after, ms/step) from the first variant's demo table."""
    rows = {}
    with open(f"{out}/runs/{p}-{first}/demo-{p}.md") as f:
        for line in f:
            c = [x.strip() for x in line.strip().strip("|").split("|")]
            if len(c) >= 6 and "→" in c[3] and c[0] != "method":
                b, a = (float(x) for x in c[3].split("→"))
                rows[c[0]] = (b, a, float(c[5]))
    return rows

def single(d):
    """(acc_after, ms/step, {target: (acc, acc at z = 0)}) of one prism train run."""
    txt = open(f"{d}/train.log").read()
    acc = float(re.findall(r"test accuracy [0-9.]+ -> ([0-9.]+)", txt)[-1])
    ms = float(re.findall(r"median step ([0-9.]+) ms", txt)[-1])
    tr = {}
    for path in glob.glob(f"{d}/**/transfer.csv", recursive=True):
        for r in csv.DictReader(open(path)):
            if r["target"] != r["via"]:
                tr[r["target"]] = (float(r["accuracy"]), float(r["z0_accuracy"] or "nan"))
    return acc, ms, tr

def share(x, base, ref):
    g = ref - base
    return f"{100 * (x - base) / g:.0f} %" if abs(g) > 1e-9 else "-"

def fit_info(path):
    j = json.load(open(path))
    return j["rank"], j["runs"], j["energy"]

others = [m for m in members if m != via]
print(f"| held-out shift | frozen base | {via} full space | r (K runs) | energy kept | subspace via {via} | "
      f"of {via}'s gain | held-out solution in the span: joint ({via}) | ms/step: subspace / {via} (paired run) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
trows = []
for h in heldout:
    d = demo(h)
    base, la = d["none"][1], d[via][1]
    facc, fms, _ = single(f"{folds}/{h}/full")
    for t in ("r4", "rK"):
        r, k, e = fit_info(f"{folds}/{h}/{t}.json")
        acc, ms, tr = single(f"{folds}/{h}/{t}")
        sp = heldout_share(f"{folds}/{h}/{t}.safetensors", f"{out}/runs/{h}-{first}", h)
        print(f"| {h} | {base:.4f} | {la:.4f} | {r} ({k}) | {100 * e:.1f} % | {acc:.4f} | {share(acc, base, la)} | "
              f"{100 * sp['joint']:.1f} % ({100 * sp[via]:.1f} %) | {ms:.1f} / {fms:.1f} = {ms / fms:.2f} |")
        trows.append((h, r, tr, d, base))
print()
print(f"Transfer: the z trained through {via} decoded by each method's decoder; accuracy (share of that method's "
      "own full-space gain; at z = 0 every method is the frozen base).")
print()
print("| held-out shift | r | " + " | ".join(others) + " |")
print("|---|---:|" + "---:|" * len(others))
for h, r, tr, d, base in trows:
    cells = [f"{tr[m][0]:.4f} ({share(tr[m][0], base, d[m][1])})" if m in tr else "n/a" for m in others]
    print(f"| {h} | {r} | " + " | ".join(cells) + " |")
print()
print(f"Full-space accuracy of each method on the shift (variant {first}, the runs of step 1):")
print()
print("| shift | " + " | ".join(members) + " |")
print("|---|" + "---:|" * len(members))
for h in heldout:
    d = demo(h)
    print(f"| {h} | " + " | ".join(f"{d[m][1]:.4f}" for m in members) + " |")
if control:
    for tag, what in (("_all", "every run in the fit (this exact solution is in the span)"),
                      ("_seen", "the fit holds the OTHER data variant of every shift (the shift was seen, this "
                                "solution was not)")):
        r, k, e = fit_info(f"{folds}/{tag}/rK.json")
        print()
        print(f"Control `{tag}`: {what}; {k} runs, rank {r}, energy {100 * e:.1f} %; z trained on the shift.")
        print()
        print(f"| shift | frozen base | {via} full space | subspace via {via} | of {via}'s gain | solution in the span | "
              + " | ".join(others) + " |")
        print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(others))
        for h in heldout:
            d = demo(h)
            base, la = d["none"][1], d[via][1]
            acc, ms, tr = single(f"{folds}/{tag}/{h}")
            sp = heldout_share(f"{folds}/{tag}/rK.safetensors", f"{out}/runs/{h}-{first}", h)
            cells = [f"{tr[m][0]:.4f}" if m in tr else "n/a" for m in others]
            print(f"| {h} | {base:.4f} | {la:.4f} | {acc:.4f} | {share(acc, base, la)} | {100 * sp['joint']:.1f} % | "
                  + " | ".join(cells) + " |")
EOF
cat "$FOLDS/results.md"
log "done; tables in $FOLDS/results.md"
