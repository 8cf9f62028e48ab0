//! Command-line types (clap derive). Parsing only: behaviour lives in the capability modules.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// gf: deploy GloriousFlywheel's OpenTofu stacks onto `honey` by its deployment contract.
#[derive(Debug, Parser)]
#[command(name = "gf", version = crate::VERSION, about, propagate_version = true)]
pub struct Cli {
    /// Repository root (the folder holding `stacks/contract.json`); default: `GF_ROOT`, else walk up
    /// from the working directory
    #[arg(short = 'C', long = "root", global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Environment name from `stacks/contract.json` (default: `GF_ENV`, else `ENV`, else the
    /// contract's only environment)
    #[arg(long = "env", global = true, value_name = "E")]
    pub env: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of SPEC "Commands".
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the stacks in dependency order
    Stacks(JsonFlag),
    /// Validate the contract, the stack manifests and the stack sources
    Check(JsonFlag),
    /// Render a stack's S3 backend file (never a credential)
    Backend(BackendArgs),
    /// `tofu init` a stack against its S3 backend
    Init(InitArgs),
    /// `tofu plan` a stack and save the plan under `.gf/<env>/<stack>/`
    Plan(PlanArgs),
    /// Apply a stack's saved plan (drains the heavy Nix lane first for lane stacks)
    Apply(ApplyArgs),
    /// Destroy a stack's resources (asks for the stack name unless `--yes`)
    Destroy(DestroyArgs),
    /// Show a stack's outputs
    Output(OutputArgs),
    /// The saved plan as a reviewer reads it: attribute diffs, replacements, outputs
    Show(ShowArgs),
    /// Managed-state facts from S3 (serial, lineage, lock); `unlock`, `push-errored`, `migrate`
    State(StateArgs),
    /// Each stack's managed state, locks, saved plan, errored state, lane and cache (no tofu run)
    Status(StatusArgs),
    /// Desired vs managed (`pending`) and managed vs observed (`drift`) per stack; exit 2 when any differs
    Drift(DriftArgs),
    /// Preflight of the environment: context, S3, tofu, cache
    Doctor(JsonFlag),
    /// The Attic cache gate
    #[command(subcommand)]
    Cache(CacheCommand),
    /// The heavy Nix lane: shared ARC runner sets drained around the ARC apply
    #[command(subcommand)]
    Lane(LaneCommand),
    /// The stacks a change touches (git diff from the merge base of `--base` and `--head`), and why
    Affected(AffectedArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions(CompletionsArgs),
    /// Print gf's man page (roff)
    Man,
}

/// `gf affected`.
#[derive(Debug, Args, Clone)]
pub struct AffectedArgs {
    /// The base revision: a pull request's target branch, or the commit before a push
    #[arg(long, value_name = "REF")]
    pub base: String,
    /// The head revision
    #[arg(long, value_name = "REF", default_value = "HEAD")]
    pub head: String,
    /// Print one JSON document on stdout (also on error)
    #[arg(long, conflicts_with = "github_matrix")]
    pub json: bool,
    /// Print `{"include":[{"stack","apply","lane"}]}` for a GitHub Actions matrix
    #[arg(long)]
    pub github_matrix: bool,
    /// Also select every stack that depends on a selected one (transitively)
    #[arg(long)]
    pub with_dependents: bool,
}

/// `gf completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

impl Command {
    /// Whether `--json` was asked for (errors are then one JSON document too).
    pub fn json(&self) -> bool {
        match self {
            Self::Stacks(a) | Self::Check(a) | Self::Doctor(a) => a.json,
            Self::Backend(a) => a.format == BackendFormat::Json,
            Self::Init(a) => a.run.json,
            Self::Plan(a) => a.run.json,
            Self::Apply(a) => a.run.json,
            Self::Destroy(a) => a.run.json,
            Self::Output(a) => a.run.json,
            Self::Show(a) => a.json,
            Self::State(a) => a.json(),
            Self::Status(a) => a.json,
            Self::Drift(a) => a.run.json,
            Self::Cache(CacheCommand::Check(a)) => a.json,
            Self::Lane(LaneCommand::Status(a) | LaneCommand::Drain(a) | LaneCommand::Restore(a)) => a.json,
            Self::Affected(a) => a.json,
            Self::Completions(_) | Self::Man => false,
        }
    }
}

/// `--json`: one JSON document on stdout instead of human output.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct JsonFlag {
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

/// Output forms of `gf backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum BackendFormat {
    /// `.tfbackend` HCL attributes, as passed to `-backend-config`
    #[default]
    Tfbackend,
    /// One JSON object with the same attributes
    Json,
}

/// `gf backend`.
#[derive(Debug, Args)]
pub struct BackendArgs {
    /// Stack name
    pub stack: String,
    /// Output form
    #[arg(long, value_enum, default_value_t = BackendFormat::Tfbackend)]
    pub format: BackendFormat,
    /// Write `<stack>.<env>.s3.tfbackend` into `stacks/<stack>/`
    #[arg(long)]
    pub write: bool,
    /// Print the Nix store path of the file (as `builtins.toFile` creates it)
    #[arg(long)]
    pub nix: bool,
    /// With `--nix`: also create the file in the local Nix store and check both paths agree
    #[arg(long, requires = "nix")]
    pub realise: bool,
}

/// What every lifecycle command takes: the stacks, `--dry-run`, `--json` and the extra tofu
/// arguments after `--`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Stacks to run, in any order (run in dependency order)
    #[arg(value_name = "STACK", required_unless_present = "all", conflicts_with = "all")]
    pub stacks: Vec<String>,
    /// Every stack of the contract, in dependency order (destroy: reversed)
    #[arg(long)]
    pub all: bool,
    /// Print the run plan (stacks, order, backend, tofu, gates, commands) and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
    /// Extra tofu arguments (an allowlist: `-var`, `-var-file`, `-target`, `-replace`,
    /// `-parallelism`, `-refresh=false`, `-lock-timeout`, `-compact-warnings`, `-upgrade`)
    #[arg(last = true, value_name = "TOFU_ARGS")]
    pub tofu_args: Vec<String>,
}

/// How long a run waits for another gf run in this checkout to release the stack.
#[derive(Debug, Args, Clone)]
pub struct LockWait {
    /// Wait this long for another gf run in this checkout that holds the stack (default: fail at once)
    #[arg(long, value_parser = parse_duration, default_value = "0s", value_name = "DURATION")]
    pub lock_wait: Duration,
}

/// `gf init`.
#[derive(Debug, Args, Clone)]
pub struct InitArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub lock: LockWait,
    /// Accept a state object that does not exist yet
    #[arg(long)]
    pub allow_empty_state: bool,
}

/// `gf plan`.
#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub lock: LockWait,
    /// Accept a state object that does not exist yet (recorded in the plan for its apply)
    #[arg(long)]
    pub allow_empty_state: bool,
    /// Exit 2 when a plan has changes
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Make a destroy plan (its apply asks for confirmation like `gf destroy`)
    #[arg(long)]
    pub destroy: bool,
    /// Concurrent plans with `--all` or several stacks
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Run a `requires_cache` stack without the Attic cache gate (loudly)
    #[arg(long)]
    pub skip_cache_gate: bool,
}

/// `gf apply`.
#[derive(Debug, Args, Clone)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub lock: LockWait,
    /// Apply a destroy plan (`gf plan --destroy`) without asking
    #[arg(long)]
    pub yes: bool,
    /// Run a `requires_cache` stack without the Attic cache gate (loudly)
    #[arg(long)]
    pub skip_cache_gate: bool,
    /// Drain timeout for a lane stack's apply
    #[arg(long, value_parser = parse_duration, default_value = "30m", value_name = "DURATION")]
    pub timeout: Duration,
}

/// `gf destroy`.
#[derive(Debug, Args, Clone)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub lock: LockWait,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Accept a state object that does not exist yet
    #[arg(long)]
    pub allow_empty_state: bool,
}

/// `gf output`.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the values of outputs tofu marks sensitive (masked as `(sensitive)` otherwise)
    #[arg(long)]
    pub show_sensitive: bool,
}

/// `gf show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Stack name
    pub stack: String,
    /// Print one JSON document on stdout
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY` (at most 65,536 characters)
    #[arg(long)]
    pub markdown: bool,
}

/// `gf status`.
#[derive(Debug, Args, Clone)]
pub struct StatusArgs {
    /// Stacks to show, in any order (shown in dependency order)
    #[arg(value_name = "STACK", required_unless_present = "all", conflicts_with = "all")]
    pub stacks: Vec<String>,
    /// Every stack of the contract
    #[arg(long)]
    pub all: bool,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

/// `gf drift`.
#[derive(Debug, Args, Clone)]
pub struct DriftArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub lock: LockWait,
    /// Stacks compared at once
    #[arg(long, short = 'j', default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Compare a stack whose state does not exist yet (everything is then pending)
    #[arg(long)]
    pub allow_empty_state: bool,
}

/// `gf state <STACK>`, or one of its actions.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct StateArgs {
    /// An action on the state instead of the facts
    #[command(subcommand)]
    pub action: Option<StateAction>,
    /// Stack name
    #[arg(value_name = "STACK", required = true)]
    pub stack: Option<String>,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

impl StateArgs {
    /// Whether `--json` was asked for.
    pub fn json(&self) -> bool {
        match &self.action {
            None => self.json,
            Some(StateAction::Unlock(a)) => a.json,
            Some(StateAction::PushErrored(a)) => a.json,
            Some(StateAction::Migrate(a)) => a.json,
        }
    }
}

/// `gf state unlock|push-errored|migrate`.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Remove the S3 state lock left behind by a crash, after showing who holds it
    Unlock(UnlockArgs),
    /// Push an adopted `errored.tfstate` to the stack's state (`tofu state push`, under the lock)
    PushErrored(PushErroredArgs),
    /// Move a GitLab-managed (`backend "http"`) state to the stack's S3 key, under both locks
    Migrate(MigrateArgs),
}

/// `gf state unlock`.
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Stack name
    pub stack: String,
    /// Do not ask for confirmation (still refused when `CI=true`)
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

/// `gf state push-errored`.
#[derive(Debug, Args)]
pub struct PushErroredArgs {
    /// Stack name
    pub stack: String,
    #[command(flatten)]
    pub lock: LockWait,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

/// `gf state migrate`. Credentials come from `TF_HTTP_USERNAME`/`TF_HTTP_PASSWORD` only.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Stack name
    pub stack: String,
    /// The HTTP state's address (GitLab: `https://<host>/api/v4/projects/<id>/terraform/state/<name>`), without credentials
    #[arg(long = "from-http", value_name = "ADDRESS")]
    pub from_http: String,
    /// Where to lock (default: the address; GitLab: `<address>/lock`)
    #[arg(long, value_name = "ADDRESS")]
    pub lock_address: Option<String>,
    /// Where to unlock (default: the lock address)
    #[arg(long, value_name = "ADDRESS")]
    pub unlock_address: Option<String>,
    /// Lock method (GitLab: `POST`)
    #[arg(long, default_value = "LOCK", value_name = "METHOD")]
    pub lock_method: String,
    /// Unlock method (GitLab: `DELETE`)
    #[arg(long, default_value = "UNLOCK", value_name = "METHOD")]
    pub unlock_method: String,
    /// Read both sides and report what a real run would do; take no lock, write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Replace an older serial of the same lineage at the S3 key
    #[arg(long)]
    pub yes: bool,
    /// Print one JSON document on stdout (also on error)
    #[arg(long)]
    pub json: bool,
}

/// `gf cache …`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Check that the Attic cache answers and holds the given store paths, signed by a trusted key
    Check(CacheCheckArgs),
}

/// `gf cache check`.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheCheckArgs {
    /// Attic endpoint (else `GF_ATTIC_ENDPOINT`, else the contract's `attic.endpoint`)
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Cache name (else `GF_ATTIC_CACHE`, else the contract's `attic.cache`)
    #[arg(long, value_name = "NAME")]
    pub cache: Option<String>,
    /// Trusted public key `name:base64` (repeatable; else `GF_ATTIC_TRUSTED_KEYS`, else the contract)
    #[arg(long = "trusted-key", value_name = "KEY")]
    pub trusted_keys: Vec<String>,
    /// File of store paths, one per line (`-` for stdin)
    #[arg(long, value_name = "FILE|-")]
    pub paths: Option<PathBuf>,
    /// Also check the `cache_paths` of this stack
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// Follow References recursively
    #[arg(long)]
    pub closure: bool,
    /// Concurrent requests
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

/// `gf lane …`.
#[derive(Debug, Subcommand)]
pub enum LaneCommand {
    /// Caps, runners and busy jobs of each drained set
    Status(LaneArgs),
    /// Drain the shared sets to 0/0 and wait until no job runs on them
    Drain(LaneArgs),
    /// Put recorded caps back where they are still 0/0; remove the drain annotation
    Restore(LaneArgs),
}

/// Arguments of the `lane` subcommands.
#[derive(Debug, Args, Clone)]
pub struct LaneArgs {
    /// The lane stack (default: the only stack with a `lane`)
    #[arg(long, value_name = "STACK")]
    pub stack: Option<String>,
    /// How long `drain` waits for busy jobs before restoring and exiting 3
    #[arg(long, value_parser = parse_duration, default_value = "30m", value_name = "DURATION")]
    pub timeout: Duration,
    /// Print one JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like `30m` or `90s`: {e}"))
}
