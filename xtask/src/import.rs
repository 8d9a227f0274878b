//! `import-model`: botocore's service models → `model/`, without AWS's documentation prose.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::json;

/// (service, API version) pairs we import.
const SERVICES: &[(&str, &str)] = &[("iam", "2010-05-08"), ("sts", "2011-06-15")];

fn botocore_data_dir() -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import botocore,os;print(os.path.dirname(botocore.__file__))",
        ])
        .output()
        .map_err(|e| format!("cannot run python3 to locate botocore: {e}"))?;
    if !out.status.success() {
        return Err(
            "botocore is not installed for python3 (pip install botocore), or pass its data dir"
                .into(),
        );
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok(Path::new(&dir).join("data"))
}

fn botocore_version(data: &Path) -> String {
    // botocore/__init__.py holds `__version__ = 'x.y.z'`.
    let init = data.parent().map(|p| p.join("__init__.py"));
    let text = init
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn read_gz(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

pub fn run(data_dir: Option<PathBuf>) -> Result<(), String> {
    let data = match data_dir {
        Some(d) => d,
        None => botocore_data_dir()?,
    };
    let version = botocore_version(&data);
    let model_dir = crate::workspace_root().join("model");
    std::fs::create_dir_all(&model_dir).map_err(|e| e.to_string())?;
    for (service, api_version) in SERVICES {
        let dir = data.join(service).join(api_version);
        let mut model = json::parse(&read_gz(&dir.join("service-2.json.gz"))?)?;
        model.strip_keys(&["documentation", "documentationUrl"]);
        write(
            &model_dir.join(format!("{service}-{api_version}.json")),
            &model.to_pretty(),
        )?;
        let paginators = dir.join("paginators-1.json");
        let text = std::fs::read_to_string(&paginators)
            .map_err(|e| format!("{}: {e}", paginators.display()))?;
        write(
            &model_dir.join(format!("{service}-paginators.json")),
            &json::parse(&text)?.to_pretty(),
        )?;
        // Worked examples: inputs and outputs only (their titles and descriptions are prose).
        let examples = dir.join("examples-1.json");
        let text = std::fs::read_to_string(&examples)
            .map_err(|e| format!("{}: {e}", examples.display()))?;
        let mut examples = json::parse(&text)?;
        examples.strip_keys(&["comments", "description", "title"]);
        write(
            &model_dir.join(format!("{service}-examples.json")),
            &examples.to_pretty(),
        )?;
    }
    let shared = crate::workspace_root().join("../shared/vectors/api-model");
    for name in ["LICENSE-botocore.txt", "NOTICE-botocore"] {
        let target = model_dir.join(name);
        match std::fs::copy(shared.join(name), &target) {
            Ok(_) => println!("wrote {}", target.display()),
            Err(e) if target.exists() => println!("kept {} ({e})", target.display()),
            Err(e) => return Err(format!("{name}: {e}")),
        }
    }
    write(&model_dir.join("README.md"), &readme(&version))?;
    Ok(())
}

fn readme(version: &str) -> String {
    format!(
        "# AWS service models\n\n\
         The shapes, operations and constraints of IAM and STS, as data. `cargo xtask codegen`\n\
         generates `crates/protocol/src/generated/` from them.\n\n\
         | File | Source |\n\
         |---|---|\n\
         | `iam-2010-05-08.json` | botocore {version} `botocore/data/iam/2010-05-08/service-2.json.gz` |\n\
         | `sts-2011-06-15.json` | botocore {version} `botocore/data/sts/2011-06-15/service-2.json.gz` |\n\
         | `iam-paginators.json` | botocore {version} `botocore/data/iam/2010-05-08/paginators-1.json` |\n\
         | `sts-paginators.json` | botocore {version} `botocore/data/sts/2011-06-15/paginators-1.json` |\n\
         | `iam-examples.json` | botocore {version} `botocore/data/iam/2010-05-08/examples-1.json` |\n\
         | `sts-examples.json` | botocore {version} `botocore/data/sts/2011-06-15/examples-1.json` |\n\n\
         botocore is Copyright Amazon.com, Inc. or its affiliates, licensed under the Apache License,\n\
         Version 2.0: see `LICENSE-botocore.txt` and `NOTICE-botocore` in this folder.\n\n\
         Changes from the source: every `documentation` and `documentationUrl` field is removed (no\n\
         AWS prose in this repository), so are the examples' `title`, `description` and `comments`,\n\
         and the JSON is re-indented; keys keep their original order,\n\
         which is the order members are written in responses.\n\n\
         To refresh: `pip install botocore==<version>` then `cargo xtask import-model` (or pass the\n\
         `botocore/data` directory), then `cargo xtask codegen`.\n"
    )
}
