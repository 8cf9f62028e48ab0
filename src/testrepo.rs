//! A repository on disk for unit tests that walk the gates against in-memory fakes: the contract
//! (one environment `dev` on context `honey`), stacks with a partial S3 backend, and a fake tofu
//! that answers `version -json`.

use std::path::Path;

/// Writes `text` to `rel` under `dir`, creating its folders.
pub fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A fresh folder with `stacks/contract.json` and a fake `bin/tofu` (version 1.10.5).
pub fn new() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "stacks/contract.json",
        r#"{"cluster":{"name":"honey","provider_shape":"on-prem","distribution":"RKE2","nodes":{},"access":"x"},
            "environments":{"dev":{"kube_context":"honey"}},"backend":{"type":"s3","region":"us-east-1"},
            "attic":{"endpoint":"http://attic:8080","cache":"main","trusted_keys":[]}}"#,
    );
    let tofu = dir.path().join("bin/tofu");
    write(dir.path(), "bin/tofu", "#!/bin/sh\necho '{\"terraform_version\":\"1.10.5\"}'\n");
    std::fs::set_permissions(&tofu, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Stack `name` (key `<name>/terraform.tfstate` in `dev`), with `extra` appended to its manifest's
/// fields (`,"lane":{…}`).
pub fn stack(dir: &Path, name: &str, apply: &str, requires_cache: bool, extra: &str) {
    write(
        dir,
        &format!("stacks/{name}/stack.json"),
        &format!(
            r#"{{"name":"{name}","purpose":"p","namespaces":["{name}"],"optional_namespaces":[],"depends_on":[],
                "state_keys":{{"dev":"{name}/terraform.tfstate"}},"apply":"{apply}","requires_cache":{requires_cache}{extra}}}"#
        ),
    );
    write(dir, &format!("stacks/{name}/main.tf"), "terraform {\n  backend \"s3\" {}\n}\n");
}
