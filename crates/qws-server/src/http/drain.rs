//! HTTP/2: a response that is ready before its request body was read (a 404 for an unknown
//! route, an early 401, a 413) is sent only after the rest of that body has arrived, if the
//! rest is small.
//!
//! Why: once the handler drops the unread body and the response ends, the stream is still
//! open on the client's side, and the server resets it (`RST_STREAM`). RFC 9113 allows that,
//! but clients that are still uploading (curl among them) then report a framing error and drop
//! the response they were given. Reading the remainder first closes the stream cleanly. The
//! read is bounded in bytes ([`MAX_DRAIN_BYTES`]) and time ([`DRAIN_WAIT`]); a larger or slower
//! upload still gets the reset, which is the only way to stop it. HTTP/1 has its own answer
//! (`Connection: close` and a drain while closing, see [`crate::http::listener`]).

use axum::body::{Body, HttpBody};
use bytes::Bytes;
use hyper::body::Frame;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Most bytes of an unread request body read and discarded before the response.
pub const MAX_DRAIN_BYTES: u64 = 1024 * 1024;
/// Longest wait for the rest of an unread request body.
pub const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// Where a request body the handler dropped before its end is handed back.
type Leftover = Arc<Mutex<Option<Body>>>;

/// A request body that, dropped before its end, leaves itself in `leftover`.
struct HandsBack {
    body: Option<Body>,
    leftover: Leftover,
}

impl HttpBody for HandsBack {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.body.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body
            .as_ref()
            .map(HttpBody::size_hint)
            .unwrap_or_default()
    }
}

impl Drop for HandsBack {
    fn drop(&mut self) {
        if let Some(body) = self.body.take().filter(|b| !b.is_end_stream()) {
            if let Ok(mut slot) = self.leftover.lock() {
                *slot = Some(body);
            }
        }
    }
}

/// Reads and discards `body` up to [`MAX_DRAIN_BYTES`] within [`DRAIN_WAIT`]; stops early
/// when the declared length is over the bound.
async fn drain(mut body: Body) {
    if body.size_hint().lower() > MAX_DRAIN_BYTES {
        return;
    }
    let read = async {
        let mut seen = 0u64;
        while let Some(Ok(frame)) =
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > MAX_DRAIN_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_WAIT, read).await;
}

/// The middleware: HTTP/2 requests with a body keep a way back to it, and what the handler
/// left unread is drained (bounded) before the response goes out.
pub async fn drain_unread_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.version() != axum::http::Version::HTTP_2 || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let leftover: Leftover = Arc::default();
    let req = req.map(|body| {
        Body::new(HandsBack {
            body: Some(body),
            leftover: leftover.clone(),
        })
    });
    let resp = next.run(req).await;
    let unread = leftover.lock().ok().and_then(|mut slot| slot.take());
    if let Some(body) = unread {
        drain(body).await;
    }
    resp
}
