/* prism X-PEFT (METHODS.md "Decisions for prism", X-PEFT row, and §4): a frozen
 * bank of N low-rank adapters per layer, A_i [r, n_in] and B_i [m_out, r],
 * mixed by trained mask logits s^A, s^B [N]:
 *     A_eff = Σ_i w^A_i A_i,  B_eff = Σ_i w^B_i B_i
 *     soft  w = softmax(s)
 *     hard  w = 1[i ∈ top-k(s)] / k, ties -> lower index; straight-through
 *           gradient ∂L/∂s := ∂L/∂w
 *     parallel (default)  y = W0 x + b + B_eff A_eff x          (n_in = n)
 *     serial              y = z + B_eff φ(A_eff z), z = W0 x + b (n_in = m)
 * Only the 2 N logits train. This header has
 *   1. the xpeft ops (mask, mask backward, weighted bank sum, bank gradient),
 *   2. the bank (host arrays handed to the adapter through cfg.ext) and its
 *      builders from saved LoRA adapters,
 *   3. profiles: one X-PEFT model (L layers) as 2·N logits per layer, packed
 *      to 2·N bits per layer for hard masks, and the profile store (one file
 *      of many fixed-size profile records, one readable without the others).
 * docs/xpeft.md explains the layouts and the measured figures. */
#ifndef PRISM_XPEFT_H
#define PRISM_XPEFT_H

#include <stddef.h>
#include <stdint.h>
#include "prism/adapter.h"
#include "prism/prism.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ ops
 * Rows: a tensor [..., N] is rows of N (leading dims flattened). Outputs must
 * not overlap inputs (PRISM_ERR_INVALID_ARGUMENT). Every reduction is done in
 * a fixed order (strided partials, then a tree of fixed shape), so results
 * are bit-reproducible run to run on one device. */

/* w = mask(logits) per row of N: soft = softmax; hard = 1/k on the k largest
 * logits (equal logits: the lower index wins), 0 elsewhere. hard needs
 * 1 <= k <= N (k is ignored for soft). A row holding a NaN or infinite logit
 * gives a NaN row (never a silent selection). */
prism_status prism_xpeft_mask(prism_stream *s, prism_mask_kind kind, int k, const prism_tensor *logits,
                              prism_tensor *w);

/* Gradient of the mask per row, from w (the forward's output) and dw = ∂L/∂w:
 *     soft  ds = w ⊙ (dw − ⟨w, dw⟩)
 *     hard  ds = dw                     (straight-through)
 * accumulate = 1 adds into ds, 0 overwrites it. */
prism_status prism_xpeft_mask_backward(prism_stream *s, prism_mask_kind kind, const prism_tensor *w,
                                       const prism_tensor *dw, int accumulate, prism_tensor *ds);

/* out[p, :] = Σ_i w[p, i] bank[i, :] for P rows of weights. bank is
 * [N, ...] (D = numel / N elements per member), w has P*N elements with last
 * dim N, out has P*D elements. The sum runs i = 0..N-1 in order. */
prism_status prism_xpeft_bank_sum(prism_stream *s, const prism_tensor *w, const prism_tensor *bank,
                                  prism_tensor *out);

/* dw[p, i] (+)= ⟨d_eff[p, :], bank[i, :]⟩ (the mask gradient of a weighted
 * bank sum). d_eff has P*D elements, dw P*N with last dim N. */
prism_status prism_xpeft_bank_grad(prism_stream *s, const prism_tensor *bank, const prism_tensor *d_eff,
                                   int accumulate, prism_tensor *dw);

/* ------------------------------------------------------------------ bank
 * A bank on the host: member i is A[i] [r, n_in] and B[i] [m_out, r]
 * (row-major, contiguous: A is [N, r, n_in], B is [N, m_out, r]). Give it to
 * prism_adapter_create through cfg.ext (prism_xpeft_config_use_bank); the
 * adapter copies it to the device, saves it in its file as xpeft_bank_A /
 * xpeft_bank_B, and does not keep the pointer.
 *
 * With cfg.ext == NULL the adapter draws a random bank from cfg.bank_seed
 * (Philox, the same numbers on every backend) and its file stores only the
 * seed: A = kaiming-uniform(a = √5) with fan_in n_in, i.e. U(±1/√n_in);
 * B ~ N(0, 1/r) (std = 1/√r, so that one member's
 * B_i A_i x has entries of about |x|/√(3 n_in), and the 1/k average of a hard
 * mask still moves the layer; with the usual "small" 0.02 the k-average would
 * be ~1e-3 of the output and the mask could not learn anything).
 *
 * LoRA members: A_i = lora_A.weight [r_i, n], B_i = (lora_alpha_i / r_i) ·
 * lora_B.weight [m, r_i], so B_i A_i is exactly member i's ΔW (the scale is
 * folded into B, and each member keeps its own alpha). Members of lower rank
 * than the bank's r are padded with zero rows of A and zero columns of B,
 * which leaves B_i A_i unchanged. */
typedef struct prism_xpeft_bank {
    int n_bank;         /* N */
    int r;              /* bank rank (the largest member rank) */
    int64_t m_out;      /* rows of B_i: the layer's out features m */
    int64_t n_in;       /* columns of A_i: n (parallel) or m (serial) */
    float *A;           /* [N, r, n_in] */
    float *B;           /* [N, m_out, r] */
} prism_xpeft_bank;

/* cfg.ext marker: the bank tensors come from an adapter file (they are
 * created zero-filled and prism_adapter_load_tensors fills them). This is
 * what prism_adapter_config_from_json sets for a file whose bank_source is
 * "tensors"; after creation an adapter given a host bank also reports it. */
extern const prism_xpeft_bank prism_xpeft_bank_in_file;

/* A zero-filled bank. PRISM_ERR_INVALID_ARGUMENT for sizes < 1 or too large. */
prism_status prism_xpeft_bank_create(int n_bank, int r, int64_t m_out, int64_t n_in, prism_xpeft_bank **out);
void prism_xpeft_bank_destroy(prism_xpeft_bank *bank);  /* NULL is fine */

/* Member i from A [r_i, n_in] and B [m_out, r_i], B multiplied by `scale`
 * (1 ≤ r_i ≤ bank r; lower ranks are zero-padded). Non-finite values are
 * PRISM_ERR_NOT_FINITE. */
prism_status prism_xpeft_bank_set_member(prism_xpeft_bank *bank, int i, int r_i, const float *A, const float *B,
                                         float scale);

/* A bank from saved LoRA adapters, one member per directory in order: each
 * dir holds adapter_config.json (peft_type LORA; r, lora_alpha) and
 * adapter_model.safetensors with "base_model.model.<module>.lora_A.weight"
 * [r_i, n] and ".lora_B.weight" [m, r_i] (HF PEFT layout, as prism_adapter_save
 * writes). The bank's r is the largest r_i. The files are read directly
 * (no device needed). Bad or mismatched files: PRISM_ERR_FORMAT /
 * PRISM_ERR_UNSUPPORTED (a LoRA variant prism does not run) / PRISM_ERR_IO,
 * message in err. */
prism_status prism_xpeft_bank_from_lora_dirs(const char *const *dirs, int count, const char *module, int64_t m,
                                             int64_t n, prism_xpeft_bank **out, char *err, size_t err_len);

/* A bank from LoRA adapters already in memory (any backend; downloads their
 * lora_A / lora_B and scale). They must share in/out features. The message
 * of a failure is in the first adapter's context. */
prism_status prism_xpeft_bank_from_adapters(prism_adapter *const *loras, int count, prism_xpeft_bank **out);

/* Sets cfg->n_bank, cfg->r and cfg->ext for this bank (cfg->method must be
 * PRISM_METHOD_XPEFT; other fields unchanged). */
void prism_xpeft_config_use_bank(prism_adapter_config *cfg, const prism_xpeft_bank *bank);

/* ------------------------------------------------------------------ adapter helpers */

/* k the adapter uses (cfg.k, or ceil(N/4) when cfg.k = 0). 0 if ad is not
 * an X-PEFT adapter. */
int prism_xpeft_adapter_k(const prism_adapter *ad);
/* Host copies of the logits s^A, s^B (N floats each; either may be NULL). */
prism_status prism_xpeft_get_logits(prism_adapter *ad, float *logits_A, float *logits_B);
prism_status prism_xpeft_set_logits(prism_adapter *ad, const float *logits_A, const float *logits_B);
/* The adapter's bank on the device (a seed bank or loaded tensors):
 * A [N, r, n_in] and B [N, m, r] as elements (shapes may be 2-D [N, ...]).
 * Owned by the adapter; for profile sets and custom kernels. */
prism_status prism_xpeft_bank_tensors(const prism_adapter *ad, const prism_tensor **A, const prism_tensor **B);

/* ------------------------------------------------------------------ profiles
 * A profile of an L-layer X-PEFT model is L × (s^A, s^B): floats laid out
 * [L][2][N] (layer-major, A before B). A hard profile is saved as its masks
 * only: per layer N bits for A then N bits for B, each ceil(N/8) bytes, bit i
 * of mask at byte i/8, bit i%8 (LSB first); k is stored once per store. */

/* Host top-k (the same rule as the hard mask): bits of the k largest of n
 * logits, ties -> lower index; bits has ceil(n/8) bytes. Non-finite logits
 * or k outside 1..n: PRISM_ERR_INVALID_ARGUMENT / PRISM_ERR_NOT_FINITE. */
prism_status prism_xpeft_topk_bits(const float *logits, int n, int k, uint8_t *bits);

/* Bytes of one saved profile: hard L·2·ceil(N/8) (k is kept once in the
 * store header), soft L·2·N·4. */
int64_t prism_xpeft_profile_bytes(prism_mask_kind kind, int n_layers, int n_bank);

/* Profile of layers[0..L-1] (X-PEFT adapters of the same N) into logits
 * [L][2][N] / from it. Setting a hard profile read from a store (selected = 1,
 * others 0) selects exactly the stored masks. */
prism_status prism_xpeft_profile_get(prism_adapter *const *layers, int n_layers, float *logits);
prism_status prism_xpeft_profile_set(prism_adapter *const *layers, int n_layers, const float *logits);

/* ------------------------------------------------------------------ profile store
 * One file, many profiles: a 64-byte header and `count` fixed-size records,
 * so record i is at header + i · record_bytes and is read alone (pread).
 *
 * header (little-endian)
 *   0  char[8] magic "PRISMXPF"      32 uint64 count
 *   8  uint32 version (1)             40 uint64 record_bytes
 *  12  uint32 kind (0 soft, 1 hard)   48 uint64 bank_id (caller's tag of the bank)
 *  16  uint32 n_layers                56 uint64 FNV-1a 64 of bytes 0..55
 *  20  uint32 n_bank
 *  24  uint32 k (hard; 0 for soft)
 *  28  uint32 reserved (0)
 * record = payload (prism_xpeft_profile_bytes) + uint32 FNV-1a 32 of the payload.
 * A soft payload is [L][2][N] float32 logits.
 *
 * Opening checks the header (magic, version, checksum, sizes, k, the file
 * length = 64 + count · record_bytes exactly); reading checks the record's
 * checksum, for hard records that every mask has exactly k bits and no bit
 * beyond N, for soft ones finite values. Any failure is PRISM_ERR_FORMAT
 * (PRISM_ERR_IO for the file system). The file is written atomically
 * (prism_write_atomic). */
typedef struct prism_profile_store_info {
    prism_mask_kind kind;
    int n_layers;           /* 1 .. 65536 */
    int n_bank;             /* 1 .. 65536 */
    int k;                  /* hard: 1 .. n_bank */
    uint64_t bank_id;       /* e.g. the bank seed, or a hash of the bank's tensors */
    int64_t count;          /* profiles in the store (filled by open / the writer) */
    int64_t record_bytes;   /* filled by open / the writer */
} prism_profile_store_info;

#define PRISM_PROFILE_STORE_HEADER 64
#define PRISM_PROFILE_STORE_MAX_COUNT ((int64_t)1 << 40)

typedef struct prism_profile_writer prism_profile_writer;
prism_status prism_profile_writer_create(const prism_profile_store_info *info, prism_profile_writer **out, char *err,
                                         size_t err_len);
void prism_profile_writer_destroy(prism_profile_writer *w);
/* Appends one profile: logits [L][2][N]; a hard store keeps their top-k bits. */
prism_status prism_profile_writer_add(prism_profile_writer *w, const float *logits, char *err, size_t err_len);
/* Appends one hard profile from its packed masks ([L][2][ceil(N/8)] bytes). */
prism_status prism_profile_writer_add_bits(prism_profile_writer *w, const uint8_t *bits, char *err, size_t err_len);
int64_t prism_profile_writer_count(const prism_profile_writer *w);
prism_status prism_profile_writer_write(const prism_profile_writer *w, const char *path, char *err, size_t err_len);

typedef struct prism_profile_store prism_profile_store;
prism_status prism_profile_store_open(const char *path, prism_profile_store **out, char *err, size_t err_len);
void prism_profile_store_close(prism_profile_store *st);
const prism_profile_store_info *prism_profile_store_get_info(const prism_profile_store *st);
/* Profile `index` as logits [L][2][N] (hard: 1 selected, 0 not). */
prism_status prism_profile_store_read(prism_profile_store *st, int64_t index, float *logits, char *err,
                                      size_t err_len);
/* Hard stores: the packed masks of profile `index` ([L][2][ceil(N/8)] bytes). */
prism_status prism_profile_store_read_bits(prism_profile_store *st, int64_t index, uint8_t *bits, char *err,
                                           size_t err_len);
/* Bytes read from the file since open (header included): lets a caller (and
 * the tests) see that one profile costs one record. */
uint64_t prism_profile_store_bytes_read(const prism_profile_store *st);

#ifdef __cplusplus
}
#endif
#endif /* PRISM_XPEFT_H */
