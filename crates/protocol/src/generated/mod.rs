//! Output of `cargo xtask codegen`: do not edit by hand; change `xtask/src/codegen.rs` or the
//! model and regenerate.

pub mod error_code;
pub mod iam;
pub mod sts;
