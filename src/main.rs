//! The `gf` binary: parse the command line, run it, map the outcome to SPEC's exit codes.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = match gf::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors exit 1 (SPEC reserves 2 for `plan --detailed-exitcode`).
            let _ = e.print();
            return std::process::ExitCode::from(if e.use_stderr() { gf::exit::ERROR } else { gf::exit::OK });
        }
    };
    gf::ui::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            gf::ui::error(&format!("cannot start the async runtime: {e}"));
            return std::process::ExitCode::from(gf::exit::ERROR);
        }
    };
    match runtime.block_on(gf::app::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(err) => {
            gf::ui::error(&format!("{err:#}"));
            std::process::ExitCode::from(gf::exit::code_for(&err))
        }
    }
}
