//! Command dispatch: resolve the root and environment, then hand each command to its module.

use std::path::PathBuf;

use anyhow::Context as _;

use crate::backend::{self, Backend, S3Location};
use crate::cli::{BackendArgs, BackendFormat, CacheCommand, Cli, Command, JsonFlag, StateArgs, StateCli, StateCommand};
use crate::contract::{self, Contract};
use crate::{check, exit, nix, ui};

/// What every command gets: the root and environment as asked for, and the working directory.
#[derive(Debug, Clone)]
pub struct Globals {
    /// `-C`/`--root`/`GF_ROOT`.
    pub root: Option<PathBuf>,
    /// `--env`/`ENV`.
    pub env: Option<String>,
    /// The working directory.
    pub cwd: PathBuf,
}

impl Globals {
    /// The repository root.
    pub fn root(&self) -> Result<PathBuf, contract::ContractError> {
        contract::discover_root(self.root.as_deref(), &self.cwd)
    }

    /// The loaded, valid contract (errors list every finding).
    pub fn contract(&self) -> Result<Contract, contract::ContractError> {
        let c = Contract::load(&self.root()?)?;
        for w in &c.warnings {
            ui::warn(&w.to_string());
        }
        Ok(c)
    }

    /// The selected environment's name.
    pub fn env_name(&self, c: &Contract) -> Result<String, contract::ContractError> {
        c.env(self.env.as_deref()).map(|(name, _)| name.to_string())
    }
}

/// Run one parsed command line; the `u8` is the exit code of a command that did not fail.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let g = Globals { root: cli.root, env: cli.env, cwd };
    match cli.command {
        Command::Stacks(a) => stacks(&g, a),
        Command::Check(a) => check_cmd(&g, a),
        Command::Backend(a) => backend_cmd(&g, &a).await,
        Command::Init(a) => crate::lifecycle::run(&g, crate::lifecycle::Op::Init, a).await,
        Command::Plan(a) => crate::lifecycle::run(&g, crate::lifecycle::Op::Plan, a).await,
        Command::Apply(a) => crate::lifecycle::run(&g, crate::lifecycle::Op::Apply, a).await,
        Command::Destroy(a) => crate::lifecycle::run(&g, crate::lifecycle::Op::Destroy, a).await,
        Command::Output(a) => crate::lifecycle::run(&g, crate::lifecycle::Op::Output, a).await,
        Command::State(a) => Box::pin(state_cmd(&g, a)).await,
        Command::Doctor(a) => crate::doctor::run(&g, a).await,
        Command::Cache(CacheCommand::Check(a)) => crate::cache::run_check(&g, a).await,
        Command::Lane(cmd) => crate::lane::run(&g, cmd).await,
    }
}

fn stacks(g: &Globals, a: JsonFlag) -> anyhow::Result<u8> {
    let c = g.contract()?;
    // `gf stacks` works without an environment when the contract has several: keys are then null.
    let env = match g.env.as_deref() {
        Some(e) => Some(c.env(Some(e))?.0.to_string()),
        None => c.env(None).ok().map(|(e, _)| e.to_string()),
    };
    if a.json {
        let items: Vec<serde_json::Value> = c
            .stacks
            .iter()
            .map(|s| {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                if let Some(obj) = v.as_object_mut() {
                    let key = env.as_deref().and_then(|e| s.state_keys.get(e)).cloned();
                    obj.insert("state_key".into(), key.into());
                }
                v
            })
            .collect();
        ui::print_json(&items)?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = c
        .stacks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut ns = s.namespaces.join(",");
            if !s.optional_namespaces.is_empty() {
                ns = format!("{ns} (+{})", s.optional_namespaces.join(","));
            }
            vec![
                (i + 1).to_string(),
                s.name.clone(),
                ns,
                env.as_deref().and_then(|e| s.state_keys.get(e)).cloned().unwrap_or_else(|| "-".into()),
                s.apply.to_string(),
                s.lane.as_ref().map_or_else(|| "-".into(), |l| l.name.clone()),
                if s.requires_cache { "required".into() } else { "-".into() },
            ]
        })
        .collect();
    let key_header = env.as_deref().map_or_else(|| "state key".to_string(), |e| format!("state key ({e})"));
    print!("{}", ui::table(&["#", "stack", "namespaces", &key_header, "apply", "lane", "cache"], &rows));
    Ok(exit::OK)
}

fn check_cmd(g: &Globals, a: JsonFlag) -> anyhow::Result<u8> {
    let root = g.root()?;
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let report = check::run(&root, &vars)?;
    if a.json {
        ui::print_json(&report)?;
    } else {
        for f in &report.findings {
            eprintln!("{f}");
        }
        if report.ok {
            println!(
                "ok: `{}` contract and stacks pass ({} warning{})",
                root.display(),
                report.warnings,
                if report.warnings == 1 { "" } else { "s" }
            );
        } else {
            println!(
                "{} error{}, {} warning{}",
                report.errors,
                plural(report.errors),
                report.warnings,
                plural(report.warnings)
            );
        }
    }
    Ok(if report.ok { exit::OK } else { exit::ERROR })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn backend_cmd(g: &Globals, a: &BackendArgs) -> anyhow::Result<u8> {
    let c = g.contract()?;
    let env = g.env_name(&c)?;
    let stack = c.stack(&a.stack)?;
    let location = S3Location::from_env(&c.backend.region)?;
    let b = Backend::new(stack, &env, location)?;
    let text = b.to_tfbackend();
    if a.nix {
        let path = nix::text_store_path(&b.file_name(), text.as_bytes());
        if a.realise {
            crate::nix::realise_text(&b.file_name(), &text, &path).await?;
        }
        println!("{path}");
        return Ok(exit::OK);
    }
    if a.write {
        let dest = stack.dir.join(b.file_name());
        std::fs::write(&dest, &text).map_err(|source| backend::BackendError::Write { path: dest.clone(), source })?;
        ui::note(&format!("wrote `{}`", dest.strip_prefix(&c.root).unwrap_or(&dest).display()));
        return Ok(exit::OK);
    }
    match a.format {
        BackendFormat::Tfbackend => print!("{text}"),
        BackendFormat::Json => ui::print_json(&b.to_json())?,
    }
    Ok(exit::OK)
}

async fn state_cmd(g: &Globals, a: StateCli) -> anyhow::Result<u8> {
    match (a.command, a.stack) {
        (Some(StateCommand::Migrate(m)), _) => {
            let c = g.contract()?;
            let (env, environment) = c.env(g.env.as_deref())?;
            let stack = c.stack(&m.stack)?;
            crate::context::ContextStatus::from_env(environment).report(env, "gf state migrate");
            let opts = crate::migrate::MigrateOptions {
                from_http: m.from_http,
                lock_address: m.lock_address,
                unlock_address: m.unlock_address,
                lock_method: m.lock_method,
                unlock_method: m.unlock_method,
                dry_run: m.dry_run,
                yes: m.yes,
                json: m.json,
            };
            // A credential that is not UTF-8 would read as unset and be silently not sent.
            for k in [crate::httpstate::ENV_USERNAME, crate::httpstate::ENV_PASSWORD] {
                if std::env::var_os(k).is_some_and(|v| v.to_str().is_none()) {
                    anyhow::bail!("`{k}` is not valid UTF-8: gf cannot send it as basic auth");
                }
            }
            let vars: Vec<(String, String)> =
                std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect();
            let lookup = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            Box::pin(crate::migrate::run(&c, env, stack, lookup, &opts)).await
        }
        (None, Some(stack)) => crate::s3state::run(g, StateArgs { stack, json: a.json }).await,
        (None, None) => anyhow::bail!("`gf state` needs a stack (or a subcommand: `gf state migrate`)"),
    }
}
