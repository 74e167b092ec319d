// Compiled only to produce the precompiled <torch/torch.h> the other targets reuse
// (CMakeLists.txt, HARDY_PRECOMPILE_TORCH).
