use super::*;
use crate::contract::{ApplyMode, Severity};

fn stack(root: &Path, name: &str) -> Stack {
    Stack {
        name: name.into(),
        purpose: "p".into(),
        namespaces: vec![],
        optional_namespaces: vec![],
        depends_on: vec![],
        state_keys: BTreeMap::from([("dev".to_string(), format!("{name}/terraform.tfstate"))]),
        apply: ApplyMode::Automated,
        requires_cache: false,
        cache_paths: vec![],
        lane: None,
        dir: root.join("stacks").join(name),
        manifest: format!("stacks/{name}/stack.json"),
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const VARIABLES: &str = r#"variable "replicas" {
  type = number
}

variable "api_token" {
  type      = string
  sensitive = true
}

variable "label" {
  default = null
}

variable "url" {
  type = string
}
# variable "commented" {}
"#;

#[test]
fn required_variables_are_resolved_without_their_values() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(r, "stacks/s/variables.tf", VARIABLES);
    write(r, "stacks/s/dev.tfvars", "# inputs\nreplicas = 2\n");
    let st = stack(r, "s");
    let vars = Vars::from_pairs([("TF_VAR_api_token", "sentinel-secret-value"), ("TF_VAR_url", "http://x")]);
    let i = resolve(r, &st, "dev", &vars, &CliInputs::default());
    assert!(i.var_file_present);
    assert_eq!(i.var_file, "stacks/s/dev.tfvars");
    let got: Vec<(&str, Origin, &str)> =
        i.required.iter().map(|i| (i.name.as_str(), i.from, i.source.as_str())).collect();
    assert_eq!(
        got,
        [
            ("replicas", Origin::Tfvars, "tfvars"),
            ("api_token", Origin::Env, "env TF_VAR_api_token (set)"),
            ("url", Origin::Missing, "MISSING"),
        ]
    );
    assert_eq!(i.env_vars, ["TF_VAR_api_token", "TF_VAR_url"]);
    let lines = i.refusals("s", "dev");
    assert_eq!(lines.len(), 1, "{lines:?}");
    for part in
        ["`s` in `dev`", "`url`", "`stacks/s/dev.tfvars`", "only `sensitive` variables come from the environment"]
    {
        assert!(lines[0].contains(part), "{}", lines[0]);
    }
    let doc = serde_json::to_string(&i).unwrap() + &format!("{i:?}");
    assert!(!doc.contains("sentinel-secret-value") && !doc.contains("http://x"), "a value leaked: {doc}");

    // Without the var file and the variable, both are named with their fix.
    std::fs::remove_file(r.join("stacks/s/dev.tfvars")).unwrap();
    let i = resolve(r, &st, "dev", &Vars::default(), &CliInputs::default());
    assert!(!i.var_file_present);
    let lines = i.refusals("s", "dev").join("\n");
    assert!(lines.contains("`replicas`") && lines.contains("it does not exist yet"), "{lines}");
    assert!(lines.contains("`api_token` (sensitive)") && lines.contains("set `TF_VAR_api_token`"), "{lines}");
    assert!(!i.ok());
}

#[test]
fn extra_arguments_count_as_sources_but_a_secret_on_the_command_line_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(r, "stacks/s/variables.tf", VARIABLES);
    write(r, "stacks/s/extra.tfvars", "url = \"http://y\"\n");
    let st = stack(r, "s");
    let cli = CliInputs { vars: vec!["replicas".into(), "api_token".into()], var_files: vec!["extra.tfvars".into()] };
    let i = resolve(r, &st, "dev", &Vars::default(), &cli);
    let from: Vec<Origin> = i.required.iter().map(|i| i.from).collect();
    assert_eq!(from, [Origin::Var, Origin::Var, Origin::VarFile]);
    assert_eq!(i.problems.len(), 1, "{:?}", i.problems);
    assert!(i.problems[0].contains("sensitive variable `api_token` is set with `-var`"), "{:?}", i.problems);
    let cli = CliInputs { vars: vec![], var_files: vec!["nope.tfvars".into()] };
    let i = resolve(r, &st, "dev", &Vars::default(), &cli);
    assert!(i.problems.iter().any(|p| p.contains("`nope.tfvars`") && p.contains("does not exist")), "{:?}", i.problems);
}

#[test]
fn check_finds_secrets_in_var_files_auto_loaded_files_and_typos_without_quoting_values() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(r, "stacks/s/variables.tf", VARIABLES);
    write(r, "stacks/s/dev.tfvars", "replicas = 2\napi_token = \"committed-secret\"\nreplcias = 3\n");
    write(r, "stacks/s/terraform.tfvars", "replicas = 1\n");
    write(r, "stacks/s/prod.tfvars", "api_token = \"not an env of this stack\"\n");
    let f = source_findings(r, &stack(r, "s"));
    let find = |code: &str| f.iter().find(|x| x.code == code).unwrap_or_else(|| panic!("{code}: {f:#?}"));
    let secret = find("sensitive-in-var-file");
    assert_eq!(
        (secret.file.as_deref(), secret.line, secret.severity),
        (Some("stacks/s/dev.tfvars"), Some(2), Severity::Error)
    );
    assert!(secret.message.contains("`TF_VAR_api_token`") && secret.message.contains("stacks/s/variables.tf:5"));
    assert_eq!(find("undeclared-variable").severity, Severity::Warning);
    assert_eq!(find("auto-var-file").file.as_deref(), Some("stacks/s/terraform.tfvars"));
    assert_eq!(f.len(), 3, "prod is no environment of this stack: {f:#?}");
    assert!(f.iter().all(|x| !x.message.contains("committed-secret")));

    write(r, "stacks/s/dev.tfvars", "replicas = 2\nlocals {\n}\n");
    let f = source_findings(r, &stack(r, "s"));
    assert!(f.iter().any(|x| x.code == "var-file" && x.line == Some(2)), "{f:#?}");
    write(r, "stacks/s/dev.tfvars", "replicas = \"unterminated-secret\n");
    let f = source_findings(r, &stack(r, "s"));
    let parse = f.iter().find(|x| x.code == "hcl-parse").expect("a parse error");
    assert!(!parse.to_string().contains("unterminated-secret"), "{parse}");
}

#[test]
fn provider_blocks_that_choose_a_cluster_are_findings() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(
        r,
        "stacks/s/providers.tf",
        r#"provider "kubernetes" {
  config_path    = "~/.kube/config"
  config_context = "honey"
}

provider "helm" {
  kubernetes {
    host  = "https://10.0.0.1:6443"
    token = var.token
  }
}

provider "helm" {
  alias = "v3"
  kubernetes = {
    config_paths = ["/a", "/b"]
    "exec"       = { api_version = "x" }
  }
}

provider "kubernetes" {
  alias = "ok"
}

provider "random" {
  host = "irrelevant"
}
"#,
    );
    write(
        r,
        "stacks/s/mod/main.tf",
        "provider \"kubernetes\" {\n  dynamic \"exec\" {\n    for_each = []\n    content {}\n  }\n}\n",
    );
    write(r, "stacks/s/main.tf", "module \"m\" {\n  source = \"./mod\"\n}\n");
    let f = source_findings(r, &stack(r, "s"));
    let got: Vec<(String, Option<usize>)> = f
        .iter()
        .map(|x| {
            let setting = x.message.split('`').nth(3).unwrap_or_default().to_string();
            (format!("{}:{setting}", x.file.as_deref().unwrap_or("")), x.line)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("stacks/s/providers.tf:config_path".to_string(), Some(2)),
            ("stacks/s/providers.tf:config_context".to_string(), Some(3)),
            ("stacks/s/providers.tf:kubernetes.host".to_string(), Some(8)),
            ("stacks/s/providers.tf:kubernetes.token".to_string(), Some(9)),
            ("stacks/s/providers.tf:kubernetes.config_paths".to_string(), Some(16)),
            ("stacks/s/providers.tf:kubernetes.exec".to_string(), Some(17)),
            ("stacks/s/mod/main.tf:exec".to_string(), Some(2)),
        ],
        "{f:#?}"
    );
    assert!(f.iter().all(|x| x.code == "provider-cluster-settings" && x.message.contains("KUBE_CTX")));
}

#[test]
fn cluster_providers_come_from_required_providers_blocks_and_resources() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    let st = stack(r, "s");
    write(r, "stacks/s/main.tf", "terraform {\n  backend \"s3\" {}\n}\nresource \"terraform_data\" \"x\" {}\n");
    assert!(cluster_providers(r, &st).is_empty());
    write(
        r,
        "stacks/s/versions.tf",
        "terraform {\n  required_providers {\n    helm = {\n      source  = \"registry.opentofu.org/hashicorp/helm\"\n      version = \"3.0.2\"\n    }\n    random = { source = \"hashicorp/random\" }\n  }\n}\n",
    );
    assert_eq!(cluster_providers(r, &st), BTreeSet::from(["hashicorp/helm"]));
    // A module's resource implies the provider; a local name mapped elsewhere does not.
    write(r, "stacks/s/main.tf", "module \"m\" {\n  source = \"./m\"\n}\n");
    write(r, "stacks/s/m/main.tf", "resource \"kubernetes_namespace\" \"n\" {}\n");
    assert_eq!(cluster_providers(r, &st), BTreeSet::from(["hashicorp/helm", "hashicorp/kubernetes"]));
    write(
        r,
        "stacks/s/versions.tf",
        "terraform {\n  required_providers {\n    kubernetes = { source = \"example/kubernetes\" }\n  }\n}\n",
    );
    assert!(cluster_providers(r, &st).is_empty());
}

#[test]
fn sensitive_var_values_are_masked_for_display() {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path();
    write(r, "stacks/s/variables.tf", VARIABLES);
    let names = sensitive_names(r, &stack(r, "s"));
    assert_eq!(names, BTreeSet::from(["api_token".to_string()]));
    let args = ["-var=api_token=s3cr3t".to_string(), "-var=replicas=2".into(), "-target=x".into()];
    assert_eq!(mask_var_args(&args, &names), ["-var=api_token=(sensitive)", "-var=replicas=2", "-target=x"]);
}
