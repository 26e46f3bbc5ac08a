/* Private to the xpeft check family (tools/check/xpeft.c): the adapter_xpeft
 * variant rows and the forward_multi rows live in tools/check/xpeft_util.c
 * (the family file stays under ~600 lines); the family's table lists them
 * through PCX_ADAPTER_ROWS and PCX_MULTI_ROWS. */
#ifndef PRISM_CHECK_XPEFT_UTIL_H
#define PRISM_CHECK_XPEFT_UTIL_H

#include "adapter_check.h"
#include "prism/profiles.h"
#include "prism/xpeft.h"

/* Profile ids for T rows in [0, P) (integers); with `bad` (T > 2) row 1 is
 * out of range and row T-1 fractional. */
void pcx_random_ids(uint64_t seed, float *ids, int64_t T, int64_t P, bool bad);

/* adapter_xpeft variants: device vs reference, finite differences. */
typedef struct pcx_avc pcx_avc;
void pcx_ad_device(const pc_env *env, const void *arg, pc_result *r);
void pcx_ad_fd(const pc_env *env, const void *arg, pc_result *r);
extern const pcx_avc pcx_ad_hard, pcx_ad_ser, pcx_ad_relu, pcx_ad_gelu, pcx_ad_host, pcx_ad_serhard;

/* forward_multi over P profiles vs each profile's own forward. */
typedef struct pcx_mfc pcx_mfc;
void pcx_mf_case(const pc_env *env, const void *arg, pc_result *r);
extern const pcx_mfc pcx_mf_lora, pcx_mf_lora1, pcx_mf_xp, pcx_mf_xps, pcx_mf_eth, pcx_mf_ethp;

/* Rows of the family table: a variant's device row (and fd row). */
#define PCX_AD_DEV(shape, v) {"adapter_xpeft", shape, "device", pcx_ad_device, &v},
#define PCX_AD_BOTH(shape, v) PCX_AD_DEV(shape, v){"adapter_xpeft", shape, "fd", pcx_ad_fd, &v},
#define PCX_MF(op, shape, v) {op, shape, "device", pcx_mf_case, &v},
#define PCX_ADAPTER_ROWS                                                                    \
    PCX_AD_DEV("m=7 n=5 T=4 hard", pcx_ad_hard) PCX_AD_BOTH("m=6 n=5 T=3 serial identity", pcx_ad_ser) \
    PCX_AD_BOTH("m=8 n=4 T=5 serial relu", pcx_ad_relu)                                     \
    PCX_AD_BOTH("m=5 n=9 T=2 serial gelu + bias", pcx_ad_gelu)                              \
    PCX_AD_BOTH("m=7 n=6 T=3 host bank r=2", pcx_ad_host) PCX_AD_DEV("m=9 n=4 T=6 serial hard", pcx_ad_serhard)
#define PCX_MULTI_ROWS                                                                                  \
    PCX_MF("forward_multi_lora", "P=5 T=13 m=9 n=7 bias", pcx_mf_lora)                                  \
    PCX_MF("forward_multi_lora", "P=1 T=1 m=1 n=3", pcx_mf_lora1)                                       \
    PCX_MF("forward_multi_xpeft", "P=6 T=17 m=8 n=5 hard parallel bias", pcx_mf_xp)                     \
    PCX_MF("forward_multi_xpeft", "P=4 T=9 m=6 n=5 soft serial gelu bias", pcx_mf_xps)                  \
    PCX_MF("forward_multi_ether", "P=5 T=11 m=8 n=6 blocks=2 bias", pcx_mf_eth)                         \
    PCX_MF("forward_multi_etherplus", "P=4 T=10 m=6 n=8 blocks=2 bias", pcx_mf_ethp)

#endif
