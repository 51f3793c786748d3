//! HTTP/2: a response given before the request body was read (here the 404 of an unknown route)
//! must not end in a stream reset while the client is still uploading a modest body: curl
//! reported that as a framing error instead of showing the 404.

use crate::common::TestServer;
use axum::http;
use bytes::Bytes;

const LEN: usize = 900 * 1024;
const CHUNK: usize = 16 * 1024;

/// Uploads `LEN` bytes in chunks, pausing between them so the response can arrive mid-upload;
/// fails if the stream is reset.
async fn upload(mut send: h2::SendStream<Bytes>) -> Result<(), String> {
    let mut left = LEN;
    while left > 0 {
        send.reserve_capacity(left.min(CHUNK));
        let cap = std::future::poll_fn(|cx| send.poll_capacity(cx))
            .await
            .ok_or("stream closed while uploading")?
            .map_err(|e| format!("stream reset while uploading: {e}"))?;
        let n = cap.min(left);
        send.send_data(Bytes::from(vec![b'x'; n]), n == left)
            .map_err(|e| format!("stream reset while uploading: {e}"))?;
        left -= n;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_with_a_body_to_an_unknown_route_gets_its_404_without_a_reset() {
    let t = TestServer::start().await;
    let addr = t.server.as_ref().unwrap().http_addr;
    for _ in 0..3 {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        let req = http::Request::post(format!("http://{addr}/nothing/here"))
            .header("content-length", LEN)
            .header("content-type", "application/octet-stream")
            .body(())
            .unwrap();
        let (response, send) = client.send_request(req, false).unwrap();
        let uploader = tokio::spawn(upload(send));
        let response = response.await.expect("a response, not a reset");
        assert_eq!(response.status(), 404);
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.expect("the response body arrives whole");
            let _ = body.flow_control().release_capacity(chunk.len());
            text.extend_from_slice(&chunk);
        }
        assert!(
            String::from_utf8_lossy(&text).contains("NotFound"),
            "{}",
            String::from_utf8_lossy(&text)
        );
        uploader
            .await
            .unwrap()
            .expect("the whole upload is accepted");
    }
}
