//! The `gf` binary: parse the command line, run it, map the outcome to SPEC's exit codes.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let vars = gf::session::Vars::capture();
    let cli = match gf::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return std::process::ExitCode::from(gf::app::usage_error(&e, std::env::args_os())),
    };
    gf::app::register_secrets(&vars);
    gf::ui::init(&vars);
    gf::ui::init_tracing(&vars);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            gf::ui::error(&format!("cannot start the async runtime: {e}"));
            return std::process::ExitCode::from(gf::exit::ERROR);
        }
    };
    let code = runtime.block_on(gf::app::run(cli, vars));
    // A signal decides the exit code once everything it stopped has been cleaned up.
    std::process::ExitCode::from(gf::signals::received().map_or(code, gf::signals::Signal::exit_code))
}
