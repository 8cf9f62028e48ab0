//! Findings of the black-box audit (branch `audit`): each test states the documented behaviour and
//! is `#[ignore]`d with the bug it shows until the fix lands.

use crate::harness::Repo;
use crate::lifecycle::gf_for;
use crate::moto::Moto;

/// A sensitive input spanning several lines (a PEM key, a kubeconfig): each line is secret.
const PEM_LINE_1: &str = "gf-sentinel-pem-line-one-5c1d";
const PEM_LINE_2: &str = "gf-sentinel-pem-line-two-8e4a";

/// README, "One redactor for every line gf prints": the `TF_VAR_*` value of every `sensitive`
/// variable is `[redacted]` in every line gf prints, a provisioner's included. The fixture's
/// careless provisioner echoes `$TF_VAR_api_token`; a multi-line value comes out one line at a
/// time, and no single line holds the whole registered value.
#[test]
#[ignore = "bug: a multi-line sensitive TF_VAR_* value leaks line by line through the redactor"]
fn a_multi_line_sensitive_input_is_redacted_line_by_line() {
    let moto = Moto::start();
    let repo = Repo::from_fixture("inputs");
    let token = format!("-----BEGIN KEY-----\n{PEM_LINE_1}\n{PEM_LINE_2}\n-----END KEY-----");
    let g = gf_for(&repo, &moto).env("TF_VAR_api_token", token);
    g.clone().args(["plan", "svc", "--allow-empty-state"]).run().code(0).output_lacks(PEM_LINE_1);
    let apply = g.args(["apply", "svc"]).run();
    apply.code(0).output_lacks(PEM_LINE_1).output_lacks(PEM_LINE_2);
}
