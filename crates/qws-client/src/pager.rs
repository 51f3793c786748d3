//! Paging through list results (`{"value":[…],"nextLink":"…"}`), for ARM and the data plane.
//!
//! One pager serves both planes; what differs (how a page is fetched, how a `nextLink` is
//! checked and rewritten) is the [`PageSource`] it is built over, implemented next to each client
//! ([`workspace::Pager`](crate::workspace::Pager) and [`arm::Pager`](crate::arm::Pager) name the
//! two pagers).

use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

/// Upper bound on pages fetched by one pager, so a misbehaving server cannot loop it forever.
const MAX_PAGES: usize = 10_000;

/// Keeps [`PageSource`] implementable only inside this crate.
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A client that list pages come from (the data-plane workspace or the ARM client). Sealed; not
/// meant to be implemented outside this crate.
pub trait PageSource: sealed::Sealed + Clone {
    /// GETs one page and returns its JSON body.
    #[doc(hidden)]
    fn get_page(&self, url: url::Url) -> impl Future<Output = Result<serde_json::Value>> + Send;
    /// Resolves and checks a `nextLink`: it must stay on the client's origin, because the
    /// credential travels with it.
    #[doc(hidden)]
    fn follow_link(&self, link: &str) -> Result<url::Url>;
}

/// Pages of a list operation. Each page is one GET; `nextLink` (absolute or relative) is followed
/// only while it stays on the client's origin, and paging stops with an error on a repeated link
/// or after `MAX_PAGES` (10,000) pages.
pub struct Pager<T, S: PageSource> {
    source: S,
    next: Option<url::Url>,
    seen: HashSet<String>,
    model: PhantomData<fn() -> T>,
}

impl<T, S: PageSource> std::fmt::Debug for Pager<T, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pager")
            .field("next", &self.next.as_ref().map(url::Url::as_str))
            .finish()
    }
}

impl<T: DeserializeOwned, S: PageSource> Pager<T, S> {
    pub(crate) fn new(source: S, first: url::Url) -> Self {
        Pager {
            source,
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
        let page = self.source.get_page(url).await?;
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
                self.next = Some(self.source.follow_link(link)?);
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
