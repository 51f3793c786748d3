//! Paging through data-plane list results (`{"value":[…],"nextLink":"…"}`).

use std::collections::HashSet;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::workspace::Workspace;

/// Upper bound on pages fetched by one pager, so a misbehaving server cannot loop it forever.
const MAX_PAGES: usize = 10_000;

/// Pages of a data-plane list operation. Each page is one GET; `nextLink` (absolute or relative)
/// must stay on the workspace endpoint, and the client's `api-version` replaces the link's, as
/// the Python client does.
pub struct Pager<T> {
    workspace: Workspace,
    next: Option<url::Url>,
    seen: HashSet<String>,
    model: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("next", &self.next.as_ref().map(url::Url::as_str))
            .finish()
    }
}

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(workspace: Workspace, first: url::Url) -> Self {
        Pager {
            workspace,
            next: Some(first),
            seen: HashSet::new(),
            model: PhantomData,
        }
    }

    /// The next page's items exactly as the service sent them, or `None` after the last page.
    pub async fn next_page_json(&mut self) -> Option<Result<Vec<serde_json::Value>>> {
        let url = self.next.take()?;
        if self.seen.len() >= MAX_PAGES || !self.seen.insert(url.to_string()) {
            return Some(Err(Error::new(
                ErrorKind::DataConversion,
                "list paging did not terminate (repeated or too many nextLink pages)",
            )));
        }
        Some(self.fetch(url).await)
    }

    async fn fetch(&mut self, url: url::Url) -> Result<Vec<serde_json::Value>> {
        let page = self
            .workspace
            .send::<()>(reqwest::Method::GET, url, None, &[200])
            .await?
            .json()?;
        let items = match page.get("value") {
            Some(serde_json::Value::Array(items)) => items.clone(),
            _ => {
                return Err(Error::new(
                    ErrorKind::DataConversion,
                    "list response has no 'value' array",
                ))
            }
        };
        if let Some(link) = page.get("nextLink").and_then(|l| l.as_str()) {
            if !link.is_empty() {
                self.next = Some(self.workspace.follow_url(link)?);
            }
        }
        Ok(items)
    }

    /// The next page's items, decoded, or `None` after the last page.
    pub async fn next_page(&mut self) -> Option<Result<Vec<T>>> {
        let page = self.next_page_json().await?;
        Some(page.and_then(|items| items.into_iter().map(decode).collect()))
    }

    /// Every item of every page, exactly as the service sent them.
    pub async fn collect_json(mut self) -> Result<Vec<serde_json::Value>> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page_json().await {
            all.extend(page?);
        }
        Ok(all)
    }

    /// Every item of every page, decoded.
    pub async fn collect(self) -> Result<Vec<T>> {
        self.collect_json().await?.into_iter().map(decode).collect()
    }
}

pub(crate) fn decode<T: DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!(
                "unexpected list item for {}: {e}",
                std::any::type_name::<T>()
            ),
        )
    })
}
