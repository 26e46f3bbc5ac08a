/* Private to the subspace files (adapters/subspace_file.c: the file and the
 * model; adapters/subspace.c: the SUBSPACE adapter). */
#ifndef PRISM_SUBSPACE_PRIV_H
#define PRISM_SUBSPACE_PRIV_H

#include "adapter_internal.h"
#include "prism/subspace.h"

/* One method of a subspace file (host copies; the file may be unaligned). */
typedef struct ss_method {
    prism_method m;
    int64_t n;                     /* |theta_m| */
    prism_subspace_entry *entries; /* canonical order; strings owned here */
    int nentries;
    const char **modules;          /* unique modules in canonical order (point into entries) */
    int nmodules;
    float *theta0, *decoder;       /* [n], [n, r] */
    cJSON *config;                 /* adapter_config.json fields */
    double scale;
} ss_method;

struct prism_subspace {
    prism_st_file *f;
    int r;
    ss_method *methods;
    int nmethods;
};

/* z and its gradient, shared by every model (and every adapter) that uses
 * them; ref-counted so adapters, models and sharing models may be destroyed
 * in any order. `owner` is the adapter that lists z in its params. */
typedef struct ss_zholder {
    int refs;
    prism_tensor *z, *grad;
    const void *owner;
} ss_zholder;

struct prism_subspace_model {
    prism_context *ctx;
    const prism_subspace *sp;
    const ss_method *meth;
    prism_tensor *D, *theta0;      /* [n, r], [n] */
    ss_zholder *zh;
};

const ss_method *prism_ss_method(const prism_subspace *sp, prism_method m);
/* Members the subspace supports (the METHODS.md list). */
bool prism_ss_member_ok(prism_method m);
void prism_ss_zholder_release(ss_zholder *zh);
/* Key of a frozen tensor in the file: "<method>.frozen.<module>.<name>". */
char *prism_ss_frozen_key(prism_method m, const char *module, const char *name);

#endif
