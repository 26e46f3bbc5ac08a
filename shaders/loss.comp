#version 450
// Softmax cross-entropy forward / backward and accuracy count over the rows
// of logits [rows, cols].
//
// A workgroup is split into teams of TPR threads (TPR a power of two, spec
// constant 4); a team owns one row at a time, its threads stride over the
// columns and combine through a shared-memory tree. The reductions are in a
// fixed order, so results are deterministic run to run.
//   FWD, ACC: a single workgroup loops over all rows (niter iterations), each
//     team keeps a running sum in a register, and thread 0 adds the team sums
//     in team order. No scratch buffer is needed; one workgroup is fast
//     enough for the batch sizes of a training step (B up to a few thousand).
//   BWD: one row per team, ngroups workgroups, no cross-row reduction.
// Inputs larger than one binding are split by the host into row chunks;
// `first` says whether a chunk overwrites y[0] or adds to it.
//
// Labels are device data and are never validated on the host: the class
// index is max(label, 0) truncated and clamped to cols - 1 (NaN -> 0), so a
// bad label gives a wrong loss but never an out-of-bounds read. ACC compares
// float(argmax) == label exactly and never indexes by the label.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
layout(constant_id = 4) const uint TPR = 1;   // threads per row: power of two dividing the workgroup
const uint FWD = 0, BWD = 1, ACC = 2;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer L { float lab[]; };
layout(std430, binding = 2) buffer Y { float y[]; };  // loss[1] | dlogits[rows, cols] | count[1]

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint rows;     // rows in this chunk
    uint cols;
    uint niter;    // row iterations per team
    uint ngroups;  // workgroups that share the rows
    uint first;    // FWD/ACC: 1 = overwrite y[0], 0 = add to it
    float scale;   // FWD: 1 / B; BWD: upstream scale / B
} pc;

shared float sv[gl_WorkGroupSize.x];
shared uint si[gl_WorkGroupSize.x];

uint label_index(float l) {
    uint k = l >= 1.0 ? uint(min(l, 4.0e9)) : 0u;
    return min(k, pc.cols - 1u);
}

void main() {
    const uint lid = gl_LocalInvocationID.x, lane = lid % TPR, team = lid / TPR, base = team * TPR;
    const uint nteams = gl_WorkGroupSize.x / TPR;
    const uint group = prism_group_linear();
    float acc = 0.0;
    for (uint it = 0u; it < pc.niter; it++) {
        uint row = (it * pc.ngroups + group) * nteams + team;
        bool live = row < pc.rows;
        uint xo = pc.boff[0] + row * pc.cols;
        // 1. row max (FWD/BWD) or argmax with the lowest index on ties (ACC)
        float m = uintBitsToFloat(0xff800000u);  // -inf
        uint mi = 0xffffffffu;
        if (live)
            for (uint j = lane; j < pc.cols; j += TPR) {
                float v = x[xo + j];
                if (MODE == ACC) {
                    if (mi == 0xffffffffu || v > m) { m = v; mi = j; }
                } else m = max(m, v);
            }
        sv[lid] = m;
        si[lid] = mi;
        barrier();
        for (uint s = TPR / 2u; s > 0u; s >>= 1) {
            if (lane < s) {
                float v = sv[lid + s];
                uint vi = si[lid + s];
                if (MODE == ACC) {
                    if (v > sv[lid] || (v == sv[lid] && vi < si[lid])) { sv[lid] = v; si[lid] = vi; }
                } else sv[lid] = max(sv[lid], v);
            }
            barrier();
        }
        m = sv[base];
        mi = si[base];
        barrier();  // everyone read the result before sv is reused
        if (MODE == ACC) {
            if (lane == 0u && live && float(mi) == lab[pc.boff[1] + row]) acc += 1.0;
            continue;
        }
        // 2. sum of exp(x - max)
        float s = 0.0;
        if (live)
            for (uint j = lane; j < pc.cols; j += TPR) s += exp(x[xo + j] - m);
        sv[lid] = s;
        barrier();
        for (uint h = TPR / 2u; h > 0u; h >>= 1) {
            if (lane < h) sv[lid] += sv[lid + h];
            barrier();
        }
        s = sv[base];
        barrier();
        if (!live) continue;
        uint k = label_index(lab[pc.boff[1] + row]);
        if (MODE == FWD) {
            // s >= 1 (the max term is exp(0)), so log(s) is well conditioned
            if (lane == 0u) acc += (m - x[xo + k]) + log(s);
        } else {
            float inv = 1.0 / s;
            uint yo = pc.boff[2] + row * pc.cols;
            for (uint j = lane; j < pc.cols; j += TPR)
                y[yo + j] = (exp(x[xo + j] - m) * inv - (j == k ? 1.0 : 0.0)) * pc.scale;
        }
    }
    if (MODE == BWD) return;
    // team sums, added in team order by thread 0
    if (lane == 0u) sv[team] = acc;
    barrier();
    if (lid == 0u) {
        float total = 0.0;
        for (uint t = 0u; t < nteams; t++) total += sv[t];
        if (MODE == FWD) total *= pc.scale;
        y[pc.boff[2]] = (pc.first != 0u ? 0.0 : y[pc.boff[2]]) + total;
    }
}
