//! The CLI's config file and the server's bootstrap file.
//!
//! The config lives at `<config dir>/qws/config.json` (`$XDG_CONFIG_HOME/qws/config.json` or
//! `~/.config/qws/config.json` on Linux). Like the Azure CLI's service-principal cache it holds the
//! client secret in plain text, readable only by its owner (mode 0600), plus the defaults
//! (subscription, group, workspace, location) that commands use when flags are omitted.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// Everything `qws login` and `qws … set` remember between commands.
#[derive(Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// ARM endpoint (a qws server's https URL, or `https://management.azure.com`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Token authority; the server itself when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Extra CA certificate (PEM) to trust, e.g. a qws server's `ca.pem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Default subscription (`qws account set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// Default resource group (`qws workspace set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Default workspace (`qws workspace set`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Default location for new groups and workspaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

// The secret must never reach a log line or panic message.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("server", &self.server)
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("subscription", &self.subscription)
            .field("group", &self.group)
            .field("workspace", &self.workspace)
            .finish()
    }
}

/// The CA file to trust when neither `--ca-file` nor the stored login names one: the bundle
/// Python clients and `az` are pointed at (`REQUESTS_CA_BUNDLE`), else `SSL_CERT_FILE` (what
/// `qws env` prints), so one set of variables serves every tool.
pub fn ca_file_from_env() -> Option<PathBuf> {
    ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"]
        .iter()
        .filter_map(std::env::var_os)
        .find(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `explicit` (a `--ca-file`), else `stored` (remembered by `qws login`), else
/// [`ca_file_from_env`].
pub fn trusted_ca(explicit: Option<&Path>, stored: Option<&Path>) -> Option<PathBuf> {
    explicit
        .or(stored)
        .map(Path::to_path_buf)
        .or_else(ca_file_from_env)
}

/// `<config dir>/qws/config.json`.
pub fn config_path() -> anyhow::Result<PathBuf> {
    let dir = dirs::config_dir()
        .context("cannot determine the user's config directory (set HOME or XDG_CONFIG_HOME)")?;
    Ok(dir.join("qws").join("config.json"))
}

/// The service principal and server a `qws login` stored.
pub struct StoredLogin<'a> {
    /// ARM endpoint.
    pub server: &'a str,
    /// Token authority (the server itself unless the login named another).
    pub authority: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

impl Config {
    /// The stored login, or the error that tells the user to run `qws login`.
    pub fn login(&self) -> anyhow::Result<StoredLogin<'_>> {
        let (Some(server), Some(tenant_id), Some(client_id), Some(client_secret)) = (
            &self.server,
            &self.tenant_id,
            &self.client_id,
            &self.client_secret,
        ) else {
            anyhow::bail!("not logged in: run `qws login` first");
        };
        Ok(StoredLogin {
            server,
            authority: self.authority.as_deref().unwrap_or(server),
            tenant_id,
            client_id,
            client_secret,
        })
    }

    /// Loads the config, or an empty one when the file does not exist yet.
    pub fn load() -> anyhow::Result<Config> {
        let path = config_path()?;
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "config file {} is not valid; fix or delete it",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the config atomically, readable only by the owner.
    pub fn save(&self) -> anyhow::Result<()> {
        let path = config_path()?;
        let dir = path.parent().expect("config path has a parent");
        create_private_dir(dir)?;
        let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(self)?;
        write_private(&tmp, &json).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The connection details a `qws serve` writes to `<data dir>/bootstrap.json`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub subscription_id: Option<String>,
    pub resource_group: Option<String>,
    pub workspace_name: Option<String>,
    pub location: Option<String>,
    pub https_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// The `--azure-compat` proxy's URL (the value for `HTTPS_PROXY`), when it runs.
    pub proxy_url: Option<String>,
    /// The bootstrap workspace's primary connection string ("" when it has none).
    pub primary_connection_string: Option<String>,
}

impl Bootstrap {
    /// Reads `<data_dir>/bootstrap.json`; a relative `caFile` is resolved by [`resolve_relative`].
    pub fn read(data_dir: &Path) -> anyhow::Result<Bootstrap> {
        let path = data_dir.join("bootstrap.json");
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} not found: start a server with `qws serve` (data dir {}), pass --data-dir, or use --service-principal",
                path.display(),
                data_dir.display()
            ),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut b: Bootstrap = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid bootstrap file", path.display()))?;
        if let Some(ca) = &b.ca_file {
            b.ca_file = Some(resolve_relative(ca, data_dir));
        }
        Ok(b)
    }
}

/// A relative path from bootstrap.json may be relative to the directory the server was started
/// in (e.g. `./.qws/ca.pem`) or to the data dir: take the first that exists.
fn resolve_relative(path: &Path, data_dir: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let mut candidates = vec![path.to_path_buf(), data_dir.join(path)];
    if let Some(name) = path.file_name() {
        candidates.push(data_dir.join(name));
    }
    candidates
        .iter()
        .find(|c| c.exists())
        .cloned()
        .unwrap_or_else(|| data_dir.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ca_paths_resolve_from_cwd_or_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("ca.pem"), "x").unwrap();
        // Written relative to the server's working directory, read from elsewhere.
        assert_eq!(
            resolve_relative(Path::new("./.qws/ca.pem"), &data),
            data.join("ca.pem")
        );
        // Written relative to the data dir.
        assert_eq!(
            resolve_relative(Path::new("ca.pem"), &data),
            data.join("ca.pem")
        );
        let abs = dir.path().join("elsewhere.pem");
        assert_eq!(resolve_relative(&abs, &data), abs);
    }
}
