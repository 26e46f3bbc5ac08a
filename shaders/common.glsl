// Shared by every prism shader. Baseline: Vulkan 1.1, SPIR-V 1.3, fp32 only.
//
// Workgroup size comes from specialization constants 0..2 (sized by the
// runtime from the device limits); op-specific constants start at id 3.
// Push block: `uint boff[8]` (element offset of each binding inside its
// bound range, see runtime/record.c) followed by the op's parameters.
#ifndef PRISM_COMMON_GLSL
#define PRISM_COMMON_GLSL

layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;

#define PRISM_PUSH_HEAD uint boff[8];

// Grids longer than maxComputeWorkGroupCount are folded into y and z by
// the runtime; this is the unfolded linear workgroup index.
uint prism_group_linear() {
    return gl_WorkGroupID.x + gl_NumWorkGroups.x * (gl_WorkGroupID.y + gl_NumWorkGroups.y * gl_WorkGroupID.z);
}

// Linear invocation index for 1-D kernels.
uint prism_gid() {
    return prism_group_linear() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

#endif
