//! The `qws` binary: `qws serve` runs the service, `qws sim` runs a circuit file locally, and the
//! remaining commands are a client of a qws (or Azure Quantum) workspace, named like `az quantum`.

use clap::{Parser, Subcommand};

// The server allocates a little for every request on both cores; mimalloc's per-thread heaps
// keep those small allocations off glibc malloc's shared arena locks (measured in bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod ad;
mod backup;
mod env;
mod jobs;
mod mgmt;
mod role;
mod serve;
mod sim;

#[derive(Parser)]
#[command(
    name = "qws",
    version,
    about = "A self-hostable quantum workspace service compatible with Azure Quantum"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the qws service (management plane, data plane, blob storage, token service).
    Serve(Box<serve::ServeArgs>),
    /// Simulate a local OpenQASM 2/3 or IonQ JSON file and print its results.
    Sim(sim::SimArgs),
    #[command(flatten)]
    Client(mgmt::ClientCommand),
    #[command(flatten)]
    Jobs(jobs::JobsCommand),
    /// Azure RBAC: role assignments and role definitions, like `az role`.
    Role(role::RoleArgs),
    /// Directory administration: users, service principals, groups, like `az ad`.
    Ad(ad::AdArgs),
    /// Print the environment variables (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE, …) that
    /// point unmodified Azure tools at the local server: `eval "$(qws env)"`.
    Env(env::EnvArgs),
    /// Write a consistent snapshot of a data directory (also while its server runs) to one
    /// archive: database, job data, audit log. The master key is not included.
    Backup(backup::BackupArgs),
    /// Restore a `qws backup` archive into a new, empty data directory.
    Restore(backup::RestoreArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Sim(args) => sim::run(args),
        Command::Client(cmd) => mgmt::run(cmd),
        Command::Jobs(cmd) => jobs::run(cmd),
        Command::Role(args) => role::run(args),
        Command::Ad(args) => ad::run(args),
        Command::Env(args) => env::run(args),
        Command::Backup(args) => backup::run_backup(args),
        Command::Restore(args) => backup::run_restore(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
