//! Project automation. `cargo xtask import-model [BOTOCORE_DATA_DIR]` copies AWS's service
//! models into `model/` (shapes only, no documentation text); `cargo xtask codegen` generates
//! `crates/protocol/src/generated/` from them.

mod codegen;
mod import;
mod json;

use std::path::PathBuf;
use std::process::ExitCode;

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("import-model") => import::run(args.get(1).map(PathBuf::from)),
        Some("codegen") => codegen::run(),
        _ => Err("usage: cargo xtask <import-model [BOTOCORE_DATA_DIR] | codegen>".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
