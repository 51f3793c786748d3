//! Requests to ARM paths without a typed method (role assignments and definitions at any scope,
//! qws's directory routes): the path is given as segments, each percent-encoded, so a name can
//! never change the path's shape.

use super::ArmClient;
use crate::error::Result;
use crate::response::Response;

impl ArmClient {
    /// Sends `method` to `{endpoint}/{segments…}?api-version={api_version}&{query…}` with an
    /// optional JSON body, through the same authenticated, retrying pipeline as the typed calls.
    /// Non-2xx answers become errors carrying the service's code and message.
    pub async fn send_json(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        api_version: &str,
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<Response<serde_json::Value>> {
        let mut url = self.url(segments, api_version)?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        self.send(method, url, body).await
    }
}
