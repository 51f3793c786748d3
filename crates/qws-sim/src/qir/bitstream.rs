//! LLVM bitstream reader (in progress).
