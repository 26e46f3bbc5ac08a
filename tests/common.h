/* Test helpers: contexts from the environment (device under test + the
 * float64 reference), validation-message accounting, running check cases. */
#ifndef PRISM_TEST_COMMON_H
#define PRISM_TEST_COMMON_H

#include <criterion/criterion.h>
#include "check.h"
#include "prism/prism.h"

/* Device from PRISM_DEVICE (default choice otherwise), validation per
 * PRISM_VALIDATE. Fails the test when no device opens. */
prism_context *t_device(void);
prism_context *t_reference(void);
/* Asserts the validation layer stayed silent on ctx, then destroys it. */
void t_destroy(prism_context *ctx);
/* Sets up env (device + reference) for check cases. */
void t_env(pc_env *env);
void t_env_destroy(pc_env *env);
/* Runs every registered case whose op starts with op_prefix (or, when it ends
 * in '$', whose op is exactly the name before it) and asserts each passes;
 * returns how many ran. */
int t_run_cases(const pc_env *env, const char *op_prefix);

#endif
