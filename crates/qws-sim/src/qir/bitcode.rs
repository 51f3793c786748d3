//! LLVM bitcode → program model (in progress).
use super::model::Module;
use crate::error::{Result, SimError};

/// Parses LLVM bitcode.
pub fn parse(_input: &[u8]) -> Result<Module> {
    Err(SimError::Unsupported(
        "LLVM bitcode input is not supported yet".into(),
    ))
}
