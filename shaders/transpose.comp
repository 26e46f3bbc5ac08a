#version 450
// Batched transpose x [nb, r, c] -> y [nb, c, r] of one block of the matrix.
//
// A TILE x TILE tile is read row by row (consecutive invocations read
// consecutive x elements), staged in shared memory, and written row by row of
// y (consecutive invocations write consecutive y elements): both global
// accesses coalesce, only the shared-memory access is strided. The tile has
// TILE+1 columns so the strided column reads hit different banks. The
// workgroup is TILE x LY invocations (spec 0, 1); each covers TILE/LY rows.
//
// The runtime may split a matrix over several dispatches when it exceeds one
// binding (maxStorageBufferRange): then x is bound from row r0 and y from row
// c0 of the block, and xc0 / yc0 give the block's column start in each.
// Tiles are numbered linearly (batch-major) so the runtime can fold the grid.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 3) const uint TILE = 32;  // == local_size_x

layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };

layout(push_constant) uniform Push {
    PRISM_PUSH_HEAD
    uint nr, nc;       // block rows / cols of x
    uint ldx, ldy;     // row lengths of x (= c) and y (= r)
    uint xc0, yc0;     // first column of the block in x / y
    uint bstride;      // elements between matrices of the batch
    uint nb;           // matrices in this dispatch
    uint tiles_c;      // tiles along the columns of x
    uint tiles;        // tiles per matrix
} pc;

shared float tile[TILE * (TILE + 1)];

void main() {
    uint g = prism_group_linear();
    uint bi = g / pc.tiles;
    if (bi >= pc.nb) return;  // padding groups of a folded grid (whole workgroup)
    uint t = g - bi * pc.tiles;
    uint i0 = (t / pc.tiles_c) * TILE, j0 = (t % pc.tiles_c) * TILE;
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint bo = bi * pc.bstride;

    uint j = j0 + lx;
    for (uint k = ly; k < TILE; k += gl_WorkGroupSize.y) {
        uint i = i0 + k;
        if (i < pc.nr && j < pc.nc) tile[k * (TILE + 1) + lx] = x[pc.boff[1] + bo + i * pc.ldx + pc.xc0 + j];
    }
    barrier();
    uint i = i0 + lx;
    for (uint k = ly; k < TILE; k += gl_WorkGroupSize.y) {
        uint jj = j0 + k;
        if (i < pc.nr && jj < pc.nc) y[pc.boff[0] + bo + jj * pc.ldy + pc.yc0 + i] = tile[lx * (TILE + 1) + k];
    }
}
