/* torch CPU randperm reproduction (FourierFT entries, METHODS.md §2.1). */
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "prism/spectral.h"

/* METHODS.md §2.1 / the issue: N = 768*768, seed 777 */
Test(randperm, torch_test_vector_768x768_seed_777) {
    const int64_t want[8] = {391271, 183699, 413551, 384200, 435559, 59955, 374469, 198662};
    int64_t got[8];
    cr_assert_eq(prism_randperm_torch(768 * 768, 777, 8, got), PRISM_OK);
    for (int i = 0; i < 8; i++) cr_expect_eq(got[i], want[i], "value %d: %lld", i, (long long)got[i]);
}

/* torch.randperm(10, generator=torch.Generator().manual_seed(0)) */
Test(randperm, torch_randperm_10_seed_0) {
    const int64_t want[10] = {4, 1, 7, 5, 3, 9, 0, 8, 6, 2};
    int64_t got[10];
    cr_assert_eq(prism_randperm_torch(10, 0, 10, got), PRISM_OK);
    for (int i = 0; i < 10; i++) cr_expect_eq(got[i], want[i], "value %d", i);
}

/* A prefix of the permutation is the prefix of the full one, and the full one
 * is a permutation (the sparse map never loses or repeats a value). */
Test(randperm, prefix_and_permutation) {
    const int64_t n = 5000;
    int64_t *full = malloc(sizeof(int64_t) * n), *pre = malloc(sizeof(int64_t) * 100);
    char *seen = calloc(n, 1);
    cr_assert(full && pre && seen);
    cr_assert_eq(prism_randperm_torch(n, 12345, n, full), PRISM_OK);
    cr_assert_eq(prism_randperm_torch(n, 12345, 100, pre), PRISM_OK);
    cr_expect_eq(memcmp(full, pre, 100 * sizeof(int64_t)), 0);
    for (int64_t i = 0; i < n; i++) {
        cr_assert(full[i] >= 0 && full[i] < n);
        cr_expect_eq(seen[full[i]], 0, "value %lld twice", (long long)full[i]);
        seen[full[i]] = 1;
    }
    /* only the low 32 bits of the seed are used, as torch's init_genrand */
    int64_t hi[4], lo[4];
    cr_assert_eq(prism_randperm_torch(n, 777 + (1ull << 32), 4, hi), PRISM_OK);
    cr_assert_eq(prism_randperm_torch(n, 777, 4, lo), PRISM_OK);
    cr_expect_eq(memcmp(hi, lo, sizeof hi), 0);
    free(full);
    free(pre);
    free(seen);
}

Test(randperm, edge_cases_and_statuses) {
    int64_t one[1] = {-1};
    cr_expect_eq(prism_randperm_torch(1, 0, 1, one), PRISM_OK);
    cr_expect_eq(one[0], 0);
    cr_expect_eq(prism_randperm_torch(5, 0, 0, NULL), PRISM_OK);
    cr_expect_eq(prism_randperm_torch(0, 0, 0, one), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_randperm_torch(5, 0, 6, one), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_randperm_torch(5, 0, -1, one), PRISM_ERR_INVALID_ARGUMENT);
    cr_expect_eq(prism_randperm_torch(5, 0, 2, NULL), PRISM_ERR_INVALID_ARGUMENT);
}
