//! `qws env`: the environment variables that point unmodified Azure tools at a local qws server,
//! printed as lines for a shell to `eval` (`eval "$(qws env)"`).
//!
//! From the server's `bootstrap.json`: `HTTPS_PROXY` (the `--azure-compat` proxy), `NO_PROXY`
//! (loopback goes direct: blob SAS URLs and the listeners themselves), `REQUESTS_CA_BUNDLE`
//! (Python: requests, azure-identity, `az`) and `SSL_CERT_FILE` (OpenSSL-based tools, `qws`
//! itself) naming `ca.pem`, and with `--connection-string` `AZURE_QUANTUM_CONNECTION_STRING`.

use crate::mgmt::config::Bootstrap;
use anyhow::bail;
use std::path::PathBuf;

/// Hosts that must not go through the proxy: the qws listeners and blob URLs are on loopback.
pub const NO_PROXY: &str = "127.0.0.1,127.1,localhost";

#[derive(clap::Args)]
pub struct EnvArgs {
    /// Shell syntax of the printed lines.
    #[arg(long, value_enum, default_value = "bash")]
    shell: Shell,
    /// Data directory of the local `qws serve` whose bootstrap.json to read.
    #[arg(long, env = "QWS_DATA_DIR", default_value = "./.qws")]
    data_dir: PathBuf,
    /// Also print AZURE_QUANTUM_CONNECTION_STRING (the bootstrap workspace's primary
    /// connection string; a secret).
    #[arg(long)]
    connection_string: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
}

impl Shell {
    /// One line that sets `name` to `value` for the rest of the session and child processes.
    fn set(self, name: &str, value: &str) -> String {
        match self {
            Shell::Bash | Shell::Zsh => format!("export {name}='{}'", value.replace('\'', r"'\''")),
            Shell::Fish => format!(
                "set -gx {name} '{}'",
                value.replace('\\', r"\\").replace('\'', r"\'")
            ),
            Shell::Powershell => format!("$env:{name} = '{}'", value.replace('\'', "''")),
        }
    }

    fn comment(self, text: &str) -> String {
        format!("# {text}")
    }
}

/// The variables to set, in order.
fn variables(
    b: &Bootstrap,
    connection_string: bool,
) -> anyhow::Result<Vec<(&'static str, String)>> {
    let Some(ca) = &b.ca_file else {
        bail!("bootstrap.json names no caFile");
    };
    let ca = std::path::absolute(ca)?.display().to_string();
    let mut vars = Vec::new();
    if let Some(proxy) = b.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        vars.push(("HTTPS_PROXY", proxy.to_string()));
        vars.push(("NO_PROXY", NO_PROXY.to_string()));
    }
    vars.push(("REQUESTS_CA_BUNDLE", ca.clone()));
    vars.push(("SSL_CERT_FILE", ca));
    if connection_string {
        match b.primary_connection_string.as_deref().filter(|c| !c.is_empty()) {
            Some(cs) => vars.push(("AZURE_QUANTUM_CONNECTION_STRING", cs.to_string())),
            None => bail!(
                "bootstrap.json has no primary connection string (the bootstrap workspace was deleted or its access keys are disabled)"
            ),
        }
    }
    Ok(vars)
}

pub fn run(args: EnvArgs) -> anyhow::Result<()> {
    let b = Bootstrap::read(&args.data_dir)?;
    let vars = variables(&b, args.connection_string)?;
    if b.proxy_url.as_deref().unwrap_or_default().is_empty() {
        // On stdout as a comment, so `eval` ignores it but a reader sees it.
        println!(
            "{}",
            args.shell.comment(
                "the server runs without --azure-compat: no HTTPS_PROXY; Azure tools that call *.azure.com need `qws serve --azure-compat`"
            )
        );
    }
    for (name, value) in vars {
        println!("{}", args.shell.set(name, &value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_for_each_shell() {
        let v = r"a'b\c";
        assert_eq!(Shell::Bash.set("X", v), r"export X='a'\''b\c'");
        assert_eq!(Shell::Zsh.set("X", "plain"), "export X='plain'");
        assert_eq!(Shell::Fish.set("X", v), r"set -gx X 'a\'b\\c'");
        assert_eq!(Shell::Powershell.set("X", v), r"$env:X = 'a''b\c'");
    }
}
