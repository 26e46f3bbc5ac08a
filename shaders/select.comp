#version 450
// sDCTFT selection (runtime/ops/select.c drives it; docs/spectral.md).
//
// Every selection is a top-k under a unique composite key, found by radix
// select: 8-bit digits from the most significant end; a histogram pass
// counts, per band, the digits of the candidates whose higher digits equal
// the threshold found so far, and a resolve pass picks the digit where the
// k-th candidate falls. Keys (larger = preferred), three 32-bit words:
//   stage 0 (energy): (|score| bits, NaN canonicalised above +inf; ~flat index; 0)
//   stage 1 (random): (~w0, ~w1, ~flat index), (w0, w1) = Philox4x32-10 of
//                     counter (flat index, 0, 0, 0), key (seed lo, seed hi)
// so ties go to the lower fidx index and the set is unique. Counts use uint
// atomics only (exact, order-independent). A band is done when its digit bin
// holds exactly the remaining k; the threshold's lower bits are then 0, so
// "key >= threshold" selects exactly k. Selected entries are bits of a
// bitmap; compaction (count, scan, emit) writes them in ascending fidx order.
//
// MODE (spec 3): 0 init, 1 histogram, 2 resolve, 3 mark, 4 count, 5 scan, 6 emit.
// Each histogram/mark invocation owns one bitmap word = 32 consecutive fidx
// indices, so marking needs no atomics.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint MODE = 0;
const uint ACTIVE = 0u, DONE = 1u, NONE = 2u, FAILED = 3u;
const uint CHUNK_WORDS = 64u;  // bitmap words per count/emit invocation

layout(std430, binding = 0) writeonly buffer Out { float outp[]; };     // [n_sel, 2] (row, col)
layout(std430, binding = 1) readonly buffer Score { float score[]; };   // this chunk of [rows, cols]
layout(std430, binding = 2) readonly buffer Bounds { float bounds[]; }; // [rows, 2]: c1, c2
layout(std430, binding = 3) buffer State { uint st[]; };                // [stage][band] k, thr0..2, status
layout(std430, binding = 4) buffer Hist { uint hist[]; };               // [3][256]
layout(std430, binding = 5) buffer Bitmap { uint bitmap[]; };           // whole matrix
layout(std430, binding = 6) buffer Counts { uint counts[]; };           // per chunk of CHUNK_WORDS words

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint base;      // fidx index of this chunk's first element (multiple of 32)
    uint n;         // elements in this chunk
    uint rows, cols;
    uint stage, word, shift;
    uint seed_lo, seed_hi;
    uint nwords;    // bitmap words of the whole matrix
    uint nchunks;   // ceil(nwords / CHUNK_WORDS)
    uint nsel;      // pairs to emit
    uint k[6];      // init: energy k per band, then random k per band
} pc;

shared uint sh[768];

uint so(uint stage, uint band) { return pc.boff[3] + stage * 16u + band * 5u; }

uvec4 philox4x32_10(uvec4 c, uvec2 key) {
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ key.x, lo1, hi0 ^ c.w ^ key.y, lo0);
        key += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

uvec3 key_of(uint fidx) {
    if (pc.stage == 0u) {
        uint b = floatBitsToUint(score[pc.boff[1] + fidx - pc.base * pc.cols]) & 0x7fffffffu;
        if (b > 0x7f800000u) b = 0x7fc00000u;  // every NaN ranks the same, above +inf
        return uvec3(b, ~fidx, 0u);
    }
    uvec4 w = philox4x32_10(uvec4(fidx, 0u, 0u, 0u), uvec2(pc.seed_lo, pc.seed_hi));
    return uvec3(~w.x, ~w.y, ~fidx);
}

bool key_ge(uvec3 a, uvec3 b) {
    if (a.x != b.x) return a.x > b.x;
    if (a.y != b.y) return a.y > b.y;
    return a.z >= b.z;
}

// One row of this chunk: invocations stride over the columns (consecutive
// invocations read consecutive scores). Histogram (MODE 1): count the
// matching digits in shared memory. Mark (MODE 3): set the bitmap bits of the
// selected entries with atomicOr (uint, so the result is exact; only
// selected entries touch the bitmap).
uint pick(uvec3 v, uint i) { return i == 0u ? v.x : (i == 1u ? v.y : v.z); }

void walk_row(uint u, uint status[3], uvec3 thr[3]) {
    uint c1 = uint(bounds[pc.boff[2] + 2u * u]), c2 = uint(bounds[pc.boff[2] + 2u * u + 1u]);
    uint hm = pc.shift + 8u >= 32u ? 0u : (0xffffffffu << (pc.shift + 8u));
    uint want_status = MODE == 1u ? ACTIVE : DONE;
    // per band: is it processed, and its threshold (selected without
    // dynamic indexing, which CPU drivers turn into stack arrays)
    bool on0 = status[0] == want_status, on1 = status[1] == want_status, on2 = status[2] == want_status;
    uvec3 t0 = thr[0], t1 = thr[1], t2 = thr[2];
    for (uint v = gl_LocalInvocationID.x; v < pc.cols; v += gl_WorkGroupSize.x) {
        uint band = v < c1 ? 0u : (v < c2 ? 1u : 2u);
        if (!(band == 0u ? on0 : (band == 1u ? on1 : on2))) continue;
        uint fi = u * pc.cols + v;
        if (pc.stage == 1u && ((bitmap[pc.boff[5] + (fi >> 5u)] >> (fi & 31u)) & 1u) != 0u) continue;
        uvec3 key = key_of(fi);
        uvec3 t = band == 0u ? t0 : (band == 1u ? t1 : t2);
        if (MODE == 1u) {
            bool match = (pc.word < 1u || key.x == t.x) && (pc.word < 2u || key.y == t.y) &&
                         (pick(key, pc.word) & hm) == (pick(t, pc.word) & hm);
            if (match) atomicAdd(sh[band * 256u + ((pick(key, pc.word) >> pc.shift) & 255u)], 1u);
        } else if (key_ge(key, t)) {
            atomicOr(bitmap[pc.boff[5] + (fi >> 5u)], 1u << (fi & 31u));
        }
    }
}

void main() {
    uint li = gl_LocalInvocationID.x;
    uint LS = gl_WorkGroupSize.x;

    if (MODE == 0u) {  // init the per-band state of both stages
        if (prism_gid() < 6u) {
            uint stage = prism_gid() / 3u, band = prism_gid() % 3u, o = so(stage, band);
            uint k = pc.k[prism_gid()];
            st[o] = k;
            st[o + 1u] = 0u;
            st[o + 2u] = 0u;
            st[o + 3u] = 0u;
            st[o + 4u] = k == 0u ? NONE : ACTIVE;
        }
        return;
    }

    if (MODE == 1u || MODE == 3u) {  // one workgroup per row of this chunk
        uint status[3];
        uvec3 thr[3];
        bool any = false;
        for (uint b = 0u; b < 3u; b++) {
            uint o = so(pc.stage, b);
            status[b] = st[o + 4u];
            thr[b] = uvec3(st[o + 1u], st[o + 2u], st[o + 3u]);
            any = any || status[b] == (MODE == 1u ? ACTIVE : DONE);
        }
        if (!any) return;  // uniform: every invocation read the same state
        uint row = prism_group_linear();  // row within this chunk
        bool live = row < pc.n;
        if (MODE == 3u) {
            if (live) walk_row(pc.base + row, status, thr);
            return;
        }
        for (uint i = li; i < 768u; i += LS) sh[i] = 0u;
        barrier();
        if (live) walk_row(pc.base + row, status, thr);
        barrier();
        for (uint i = li; i < 768u; i += LS)
            if (sh[i] != 0u) atomicAdd(hist[pc.boff[4] + i], sh[i]);
        return;
    }

    if (MODE == 2u) {  // resolve: one invocation per band
        if (li < 3u) {
            uint o = so(pc.stage, li);
            if (st[o + 4u] == ACTIVE) {
                uint k = st[o], cum = 0u;
                bool found = false;
                for (int d = 255; d >= 0 && !found; d--) {
                    uint h = hist[pc.boff[4] + li * 256u + uint(d)];
                    if (cum + h >= k) {
                        st[o + 1u + pc.word] |= uint(d) << pc.shift;
                        k -= cum;
                        st[o] = k;
                        if (h == k) st[o + 4u] = DONE;
                        found = true;
                    }
                    cum += h;
                }
                if (!found) st[o + 4u] = FAILED;  // counts inconsistent: select nothing
            }
        }
        return;
    }

    if (MODE == 4u) {  // count the selected entries of each chunk of words
        uint c = prism_gid();
        if (c >= pc.nchunks) return;
        uint w0 = c * CHUNK_WORDS, w1 = min(w0 + CHUNK_WORDS, pc.nwords), total = 0u;
        for (uint w = w0; w < w1; w++) total += uint(bitCount(bitmap[pc.boff[5] + w]));
        counts[pc.boff[6] + c] = total;
        return;
    }

    if (MODE == 5u) {  // exclusive scan of the counts, one workgroup
        uint per = (pc.nchunks + LS - 1u) / LS, c0 = li * per, c1 = min(c0 + per, pc.nchunks);
        uint sum = 0u;
        for (uint c = c0; c < c1; c++) sum += counts[pc.boff[6] + c];
        sh[li] = sum;
        barrier();
        if (li == 0u) {
            uint run = 0u;
            for (uint i = 0u; i < LS; i++) {
                uint t = sh[i];
                sh[i] = run;
                run += t;
            }
        }
        barrier();
        uint run = sh[li];
        for (uint c = c0; c < c1; c++) {
            uint t = counts[pc.boff[6] + c];
            counts[pc.boff[6] + c] = run;
            run += t;
        }
        return;
    }

    if (MODE == 6u) {  // emit (row, col) pairs in ascending fidx order
        uint c = prism_gid();
        if (c >= pc.nchunks) return;
        uint pos = counts[pc.boff[6] + c];
        uint w1 = min((c + 1u) * CHUNK_WORDS, pc.nwords);
        for (uint w = c * CHUNK_WORDS; w < w1; w++) {
            uint bits = bitmap[pc.boff[5] + w];
            while (bits != 0u) {
                uint j = uint(findLSB(bits));
                bits &= bits - 1u;
                uint fidx = w * 32u + j, u = fidx / pc.cols;
                if (pos < pc.nsel) {
                    outp[pc.boff[0] + 2u * pos] = float(u);
                    outp[pc.boff[0] + 2u * pos + 1u] = float(fidx - u * pc.cols);
                }
                pos++;
            }
        }
    }
}
