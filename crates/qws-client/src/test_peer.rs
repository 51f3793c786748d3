//! A tiny HTTP/1.1 server on 127.0.0.1 for unit tests: it answers each connection with the next
//! canned response (then closes it) and records the requests it saw.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running canned-response server.
pub(crate) struct Peer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// The request heads received so far (request line and headers, lower-cased names as sent).
    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A raw HTTP response with `status`, extra `headers` and a body.
pub(crate) fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!(
        "{head}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// An ARM-shaped error body with code `S{status}`.
pub(crate) fn error_body(status: u16) -> String {
    format!(r#"{{"error":{{"code":"S{status}","message":"m"}}}}"#)
}

/// Starts a server answering the `responses` in order, one per connection.
pub(crate) async fn serve(responses: Vec<String>) -> Peer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let head = read_request(&mut stream).await;
            log.lock().unwrap().push(head);
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    });
    Peer { url, seen }
}

/// Reads one request (head and a `content-length` body) and returns its head.
async fn read_request(stream: &mut tokio::net::TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while seen.len() < head_end + length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    head
}
