//! A storage account as a connection string names it, and the two ways its key signs:
//! SharedKey (requests qws makes itself) and service SAS (URLs clients get).
//!
//! The account key never appears in `Debug`, errors or logs; it is kept in zeroizing memory.

use base64::Engine;
use ring::hmac;
use std::fmt;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// The well-known development account of the storage emulator (Azurite).
const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Its published key (not a secret: every emulator uses it).
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Its default blob endpoint.
const DEV_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";
/// Characters kept literally in a SAS query value (the unreserved ones).
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Longest connection string considered.
const MAX_CONNECTION_STRING: usize = 4096;

/// The `sv` of the SAS qws signs; it fixes the string-to-sign layout ([`Account::sas_query`]).
pub const SAS_VERSION: &str = "2020-12-06";

/// A storage account: name, key and blob endpoint. `Debug` never shows the key.
#[derive(Clone)]
pub struct Account {
    name: String,
    key: Zeroizing<Vec<u8>>,
    /// Blob endpoint without trailing slash, e.g. `https://acct.blob.core.windows.net` or
    /// `http://127.0.0.1:10000/devstoreaccount1` (the emulator puts the account in the path).
    blob_endpoint: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("blob_endpoint", &self.blob_endpoint)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Account {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.blob_endpoint == other.blob_endpoint
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                self.key.as_slice(),
                other.key.as_slice(),
            ))
    }
}

impl Eq for Account {}

/// What to sign a SAS for.
#[derive(Debug, Clone, Copy)]
pub struct SasScope<'a> {
    /// Container.
    pub container: &'a str,
    /// A blob of it (`sr=b`), or the whole container (`sr=c`).
    pub blob: Option<&'a str>,
    /// Permission letters in the service's order (`racwdl` subset).
    pub permissions: &'a str,
    /// Not before.
    pub start: OffsetDateTime,
    /// Not after.
    pub expiry: OffsetDateTime,
}

impl Account {
    /// Parses a storage connection string (`AccountName=…;AccountKey=…;` with
    /// `BlobEndpoint=…` or `DefaultEndpointsProtocol=…;EndpointSuffix=…`, or
    /// `UseDevelopmentStorage=true`). Keys are case-insensitive. The error never quotes the
    /// string (it holds the key).
    pub fn from_connection_string(cs: &str) -> Result<Account, String> {
        if cs.len() > MAX_CONNECTION_STRING {
            return Err("the storage connection string is too long".into());
        }
        let mut name = None;
        let mut key = None;
        let mut endpoint = None;
        let mut protocol = None;
        let mut suffix = None;
        let mut dev = false;
        for part in cs.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err("the storage connection string has a part without '='".into());
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "accountname" => name = Some(v.trim().to_string()),
                "accountkey" => key = Some(Zeroizing::new(v.trim().to_string())),
                "blobendpoint" => endpoint = Some(v.trim().trim_end_matches('/').to_string()),
                "defaultendpointsprotocol" => protocol = Some(v.trim().to_ascii_lowercase()),
                "endpointsuffix" => suffix = Some(v.trim().to_string()),
                "usedevelopmentstorage" => dev = v.trim().eq_ignore_ascii_case("true"),
                "sharedaccesssignature" => {
                    return Err(
                        "a storage connection string with a SharedAccessSignature cannot sign SAS URLs: give one with AccountName and AccountKey".into(),
                    )
                }
                _ => {} // QueueEndpoint, TableEndpoint, … are not used.
            }
        }
        if dev {
            name.get_or_insert_with(|| DEV_ACCOUNT.into());
            key.get_or_insert_with(|| Zeroizing::new(DEV_KEY.into()));
            endpoint.get_or_insert_with(|| DEV_BLOB_ENDPOINT.into());
        }
        let name = name.filter(|n| valid_account_name(n)).ok_or(
            "the storage connection string needs AccountName (3-24 lowercase letters and digits)",
        )?;
        let key = key.ok_or("the storage connection string needs AccountKey")?;
        let key = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(key.as_bytes())
                .map_err(|_| "the AccountKey of the storage connection string is not base64")?,
        );
        if key.is_empty() {
            return Err("the AccountKey of the storage connection string is empty".into());
        }
        let blob_endpoint = match endpoint {
            Some(e) => e,
            None => format!(
                "{}://{name}.blob.{}",
                protocol.as_deref().unwrap_or("https"),
                suffix.as_deref().unwrap_or("core.windows.net")
            ),
        };
        let parsed = url::Url::parse(&blob_endpoint)
            .map_err(|_| "the BlobEndpoint of the storage connection string is not a URL")?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host().is_none()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(
                "the BlobEndpoint of the storage connection string must be an http(s) URL without query".into(),
            );
        }
        Ok(Account {
            name,
            key,
            blob_endpoint,
        })
    }

    /// The account name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The blob endpoint, without trailing slash.
    pub fn blob_endpoint(&self) -> &str {
        &self.blob_endpoint
    }

    fn sign(&self, text: &str) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        base64::engine::general_purpose::STANDARD.encode(hmac::sign(&key, text.as_bytes()))
    }

    /// The `Authorization` value of a request signed with SharedKey: `SharedKey <account>:<sig>`
    /// over the method, the standard headers, the `x-ms-*` headers and the resource
    /// (`/<account><path>` plus the query parameters, each lowercased, sorted, one per line).
    pub fn shared_key(
        &self,
        method: &str,
        url: &url::Url,
        headers: &reqwest::header::HeaderMap,
    ) -> String {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        // Since 2015-02-21 a zero length is signed as the empty string.
        let length = match h("content-length").as_str() {
            "0" => String::new(),
            l => l.to_string(),
        };
        let mut text = format!(
            "{method}\n{}\n{}\n{length}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            h("content-encoding"),
            h("content-language"),
            h("content-md5"),
            h("content-type"),
            "", // Date: x-ms-date is sent instead.
            h("if-modified-since"),
            h("if-match"),
            h("if-none-match"),
            h("if-unmodified-since"),
            h("range"),
        );
        let mut ms: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("x-ms-"))
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or("").trim().to_string(),
                )
            })
            .collect();
        ms.sort();
        for (k, v) in ms {
            text.push_str(&format!("{k}:{v}\n"));
        }
        text.push('/');
        text.push_str(&self.name);
        text.push_str(url.path());
        let mut params: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (k, v) in url.query_pairs() {
            params
                .entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.into_owned());
        }
        for (k, mut vs) in params {
            vs.sort();
            text.push_str(&format!("\n{k}:{}", vs.join(",")));
        }
        format!("SharedKey {}:{}", self.name, self.sign(&text))
    }

    /// The query of a service SAS for `scope` (version [`SAS_VERSION`]), values
    /// percent-encoded, without a leading `?`.
    pub fn sas_query(&self, scope: &SasScope<'_>) -> String {
        let (sr, resource) = match scope.blob {
            Some(b) => ("b", format!("/blob/{}/{}/{b}", self.name, scope.container)),
            None => ("c", format!("/blob/{}/{}", self.name, scope.container)),
        };
        let st = qws_core::time_fmt::seconds_z(scope.start);
        let se = qws_core::time_fmt::seconds_z(scope.expiry);
        // permissions, start, expiry, resource, identifier, IP, protocol, version, resource
        // type, snapshot time, encryption scope, then the five response-header overrides.
        let text = format!(
            "{}\n{st}\n{se}\n{resource}\n\n\n\n{SAS_VERSION}\n{sr}\n\n\n\n\n\n\n",
            scope.permissions
        );
        let enc = |v: &str| percent_encoding::utf8_percent_encode(v, QUERY_VALUE).to_string();
        format!(
            "sv={SAS_VERSION}&st={}&se={}&sr={sr}&sp={}&sig={}",
            enc(&st),
            enc(&se),
            scope.permissions,
            enc(&self.sign(&text))
        )
    }
}

/// Azure's rule for account names: 3–24 lowercase letters and digits.
fn valid_account_name(n: &str) -> bool {
    (3..=24).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_of_the_emulator_and_the_cloud() {
        let dev = Account::from_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(dev.name(), "devstoreaccount1");
        assert_eq!(dev.blob_endpoint(), DEV_BLOB_ENDPOINT);
        let cloud = Account::from_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=a2V5;EndpointSuffix=core.windows.net",
        )
        .unwrap();
        assert_eq!(cloud.blob_endpoint(), "https://acct1.blob.core.windows.net");
        let explicit = Account::from_connection_string(
            "accountname=devstoreaccount1;accountkey=a2V5;blobendpoint=http://127.0.0.1:5/devstoreaccount1/;",
        )
        .unwrap();
        assert_eq!(
            explicit.blob_endpoint(),
            "http://127.0.0.1:5/devstoreaccount1"
        );
    }

    #[test]
    fn bad_connection_strings_are_refused_without_echoing_the_key() {
        for cs in [
            "AccountName=acct1",
            "AccountName=acct1;AccountKey=not base64!",
            "AccountName=UPPER;AccountKey=a2V5",
            "AccountName=acct1;AccountKey=a2V5;BlobEndpoint=ftp://x",
            "AccountName=acct1;SharedAccessSignature=sv=1&sig=secret",
            "garbage",
        ] {
            let e = Account::from_connection_string(cs).unwrap_err();
            assert!(!e.contains("secret") && !e.contains("a2V5"), "{e}");
        }
        let a = Account::from_connection_string("AccountName=acct1;AccountKey=c2VjcmV0").unwrap();
        assert!(!format!("{a:?}").contains("c2VjcmV0"));
    }

    #[test]
    fn sas_signature_is_the_hmac_of_the_documented_layout() {
        let a = Account::from_connection_string("AccountName=acct1;AccountKey=a2V5").unwrap();
        let t = time::macros::datetime!(2050-01-02 03:04:05 UTC);
        let q = a.sas_query(&SasScope {
            container: "job-1",
            blob: Some("outputData"),
            permissions: "r",
            start: t,
            expiry: t,
        });
        let text = "r\n2050-01-02T03:04:05Z\n2050-01-02T03:04:05Z\n/blob/acct1/job-1/outputData\n\n\n\n2020-12-06\nb\n\n\n\n\n\n\n";
        let expected = base64::engine::general_purpose::STANDARD.encode(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"key"),
            text.as_bytes(),
        ));
        let sig = q.split("&sig=").nth(1).unwrap();
        assert_eq!(
            percent_encoding::percent_decode_str(sig)
                .decode_utf8()
                .unwrap(),
            expected
        );
        assert!(q.starts_with("sv=2020-12-06&st=2050-01-02T03%3A04%3A05Z&se="));
        assert!(q.contains("&sr=b&sp=r&"));
    }

    #[test]
    fn shared_key_signs_headers_and_resource_canonically() {
        let a = Account::from_connection_string("AccountName=acct1;AccountKey=a2V5").unwrap();
        let url = url::Url::parse("http://h/acct1/job-1?restype=container&Comp=list").unwrap();
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-ms-version", "2021-12-02".parse().unwrap());
        h.insert(
            "x-ms-date",
            "Tue, 01 Dec 2026 13:22:14 GMT".parse().unwrap(),
        );
        h.insert("content-length", "0".parse().unwrap());
        let text = "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Tue, 01 Dec 2026 13:22:14 GMT\nx-ms-version:2021-12-02\n/acct1/acct1/job-1\ncomp:list\nrestype:container";
        let expected = base64::engine::general_purpose::STANDARD.encode(hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, b"key"),
            text.as_bytes(),
        ));
        assert_eq!(
            a.shared_key("PUT", &url, &h),
            format!("SharedKey acct1:{expected}")
        );
    }
}
