//! Loopback load generator for the qws data plane (used by `bench/dataplane/run.sh`).
//!
//! ```text
//! dp_load <base-url> <workspace-path> <api-key> latency <jobs>
//! dp_load <base-url> <workspace-path> <api-key> latency-wait <jobs>
//! dp_load <base-url> <workspace-path> <api-key> submit  <seconds> <concurrency>
//! dp_load <base-url> <workspace-path> <api-key> get     <seconds> <concurrency>
//! dp_load <base-url> <workspace-path> <api-key> mget    <seconds> <concurrency>
//! dp_load <base-url> <workspace-path> <api-key> status  <seconds> <concurrency>
//! dp_load <base-url> <workspace-path> <api-key> bare    <seconds> <concurrency>
//! dp_load <base-url> <workspace-path> <api-key> url     <seconds> <concurrency> <url>
//! dp_load <base-url> <workspace-path> <api-key> blob-sas <bytes>
//! ```
//!
//! `<api-key>` may be `bearer:<access token>` instead: the requests then carry that token (for
//! the data plane's audience; for `mget`, the management audience), which is how
//! `bench/rbac/run.sh` compares RBAC evaluation against the administrator, which skips it.
//!
//! * `latency`: sequential Bell jobs through the client's flow (sasUri, upload, PUT job, poll GET
//!   every millisecond until Succeeded, ranged GET of the output); median and p99 in ms.
//! * `latency-wait`: the same flow with `Prefer: wait=10` on the PUT: the job's outcome comes in
//!   PUT's answer, so there is nothing to poll.
//! * `submit`: concurrent submit flows (sasUri + upload + PUT) for a fixed time; jobs/s.
//! * `get`: concurrent authenticated `GET job` of one finished job; requests/s.
//! * `mget`: concurrent management `GET` of the workspace; requests/s.
//! * `status`: concurrent authenticated `GET providerStatus`; requests/s.
//! * `bare`: concurrent unauthenticated `GET /metadata/endpoints` (no store, no credential:
//!   the HTTP stack's ceiling on this machine); requests/s.
//! * `url`: concurrent unauthenticated `GET` of any URL (a blob through its SAS); requests/s.
//! * `blob-sas`: uploads a blob of `<bytes>` bytes into a new job container and prints its
//!   SAS URL (for `url`).
//!
//! Every mode is bounded in time or count and only talks to the given (loopback) URL.

use reqwest::Client;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DV: &str = "2026-01-15-preview";
const BELL: &str =
    r#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;

struct Ctx {
    /// Time spent in each step of the current latency-flow job, in ms (summed over repeats).
    steps: std::sync::Mutex<std::collections::BTreeMap<&'static str, f64>>,
    http: Client,
    origin: String,
    base: String,
    key: String,
    target: String,
}

impl Ctx {
    /// Adds the time since `since` to step `name` of the current job; returns now.
    fn step(&self, name: &'static str, since: Instant) -> Instant {
        let now = Instant::now();
        let ms = (now - since).as_secs_f64() * 1000.0;
        *self.steps.lock().unwrap().entry(name).or_default() += ms;
        now
    }

    fn url(&self, p: &str) -> String {
        format!("{}{p}?api-version={DV}", self.base)
    }

    /// The request with the caller's credential: an access key or a bearer token.
    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.key.strip_prefix("bearer:") {
            Some(token) => rb.bearer_auth(token),
            None => rb.header("x-ms-quantum-api-key", &self.key),
        }
    }

    async fn mget(&self) -> Result<(), String> {
        let url = format!("{}?api-version=2023-11-13-preview", self.base);
        let r = self
            .auth(self.http.get(url))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("GET workspace: {}", r.status()));
        }
        r.bytes().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// One `GET` expecting 200: with the caller's credential (`auth`) or without.
    async fn plain_get(&self, url: &str, auth: bool) -> Result<(), String> {
        let rb = self.http.get(url);
        let rb = if auth { self.auth(rb) } else { rb };
        let r = rb.send().await.map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("GET: {}", r.status()));
        }
        r.bytes().await.map_err(|e| e.to_string())?;
        Ok(())
    }

    /// A new container holding one blob of `bytes` bytes; the blob's SAS URL.
    async fn blob_sas(&self, bytes: usize) -> Result<String, String> {
        let r = self
            .auth(self.http.post(self.url("/storage/sasUri")))
            .json(&json!({"containerName": format!("blob-bench-{}", std::process::id())}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let sas: Value = r.json().await.map_err(|e| e.to_string())?;
        let sas = sas["sasUri"].as_str().ok_or("no sasUri")?.to_string();
        let (cbase, q) = sas.split_once('?').ok_or("no query")?;
        let url = format!("{cbase}/data?{q}");
        let r = self
            .http
            .put(&url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(vec![b'q'; bytes])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 201 {
            return Err(format!("upload: {}", r.status()));
        }
        Ok(url)
    }

    async fn submit(&self, id: &str, prefer_wait: bool) -> Result<Value, String> {
        let t = Instant::now();
        let r = self
            .auth(self.http.post(self.url("/storage/sasUri")))
            .json(&json!({"containerName": format!("job-{id}")}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let sas: Value = r.json().await.map_err(|e| e.to_string())?;
        let t = self.step("sasUri", t);
        let sas = sas["sasUri"].as_str().ok_or("no sasUri")?.to_string();
        let (cbase, q) = sas.split_once('?').ok_or("no query")?;
        let r = self
            .http
            .put(format!("{cbase}/inputData?{q}"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(BELL)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 201 {
            return Err(format!("upload: {}", r.status()));
        }
        let t = self.step("upload", t);
        loop {
            let mut put = self.auth(self.http.put(self.url(&format!("/jobs/{id}"))));
            if prefer_wait {
                put = put.header("prefer", "wait=10");
            }
            let r = put
                .json(&json!({"containerUri": sas, "inputDataUri": format!("{cbase}/inputData"),
                    "inputDataFormat": "ionq.circuit.v1", "outputDataFormat": "ionq.quantum-results.v1",
                    "providerId": "ionq", "target": "ionq.simulator", "inputParams": {"shots": 100},
                    "itemType": "Job", "name": "bench"}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            match r.status().as_u16() {
                200 | 201 => {
                    let job = r.json().await.map_err(|e| e.to_string());
                    self.step("PUT job", t);
                    return job;
                }
                429 | 503 => tokio::time::sleep(Duration::from_millis(50)).await,
                s => return Err(format!("PUT job: {s}")),
            }
        }
    }

    async fn get(&self, id: &str) -> Result<Value, String> {
        let r = self
            .auth(self.http.get(self.url(&format!("/jobs/{id}"))))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("GET job: {}", r.status()));
        }
        r.json().await.map_err(|e| e.to_string())
    }

    /// Polls the job (unless `known`, the PUT's answer, already shows it ended), then reads
    /// its output.
    async fn wait_and_fetch(&self, id: &str, known: Option<Value>) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut known = known;
        let mut t = Instant::now();
        loop {
            let v = match known.take() {
                Some(v) if v["status"] != "Waiting" && v["status"] != "Executing" => v,
                _ => {
                    let v = self.get(id).await?;
                    t = self.step("GET job", t);
                    v
                }
            };
            match v["status"].as_str() {
                Some("Succeeded") => {
                    let out = v["outputDataUri"].as_str().ok_or("no outputDataUri")?;
                    let r = self
                        .http
                        .get(out)
                        .header("x-ms-range", "bytes=0-33554431")
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if r.status() != 206 {
                        return Err(format!("output: {}", r.status()));
                    }
                    r.bytes().await.map_err(|e| e.to_string())?;
                    self.step("GET output", t);
                    return Ok(());
                }
                Some("Failed" | "Cancelled") => return Err(format!("job ended {v}")),
                _ if Instant::now() > deadline => return Err("timeout".into()),
                // The runtime's timer rounds a 1 ms sleep up to its next tick and more (about
                // 2.1 ms measured here); a thread's sleep keeps the interval the flow names.
                _ => {
                    tokio::task::spawn_blocking(|| std::thread::sleep(POLL_INTERVAL))
                        .await
                        .map_err(|e| e.to_string())?;
                    t = self.step("poll interval", t);
                }
            }
        }
    }
}

/// How long the latency flow waits between two polls of a running job.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run_for(
    ctx: Arc<Ctx>,
    secs: u64,
    conc: usize,
    mode: &'static str,
    get_id: String,
) -> (u64, u64) {
    let ok = Arc::new(AtomicU64::new(0));
    let err = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (ctx, ok, err, get_id) = (ctx.clone(), ok.clone(), err.clone(), get_id.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                let r = match mode {
                    "submit" => ctx
                        .submit(&format!("bench-{w}-{n}-{}", std::process::id()), false)
                        .await
                        .map(drop),
                    "mget" => ctx.mget().await,
                    "status" => ctx.plain_get(&ctx.url("/providerStatus"), true).await,
                    "bare" => {
                        let url =
                            format!("{}/metadata/endpoints?api-version=2019-05-01", ctx.origin);
                        ctx.plain_get(&url, false).await
                    }
                    "url" => ctx.plain_get(&ctx.target, false).await,
                    _ => ctx.get(&get_id).await.map(|_| ()),
                };
                match r {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => err.fetch_add(1, Ordering::Relaxed),
                };
                n += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (ok.load(Ordering::Relaxed), err.load(Ordering::Relaxed))
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        eprintln!("usage: dp_load <base-url> <workspace-path> <api-key|bearer:TOKEN> latency|latency-wait <jobs> | submit|get|mget|status|bare <secs> <conc> | url <secs> <conc> <url> | blob-sas <bytes>");
        std::process::exit(2);
    }
    let ctx = Arc::new(Ctx {
        steps: Default::default(),
        http: Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap(),
        origin: a[1].trim_end_matches('/').to_string(),
        base: format!("{}{}", a[1].trim_end_matches('/'), a[2]),
        key: a[3].clone(),
        target: a.get(7).cloned().unwrap_or_default(),
    });
    let n: u64 = a[5].parse().expect("number");
    let n = n.min(100_000);
    match a[4].as_str() {
        flow @ ("latency" | "latency-wait") => {
            let prefer_wait = flow == "latency-wait";
            let mut ms = Vec::new();
            let mut steps: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
            for i in 0..n {
                let id = format!("lat-{i}-{}", std::process::id());
                ctx.steps.lock().unwrap().clear();
                let t0 = Instant::now();
                let put = ctx.submit(&id, prefer_wait).await.expect("submit");
                ctx.wait_and_fetch(&id, Some(put)).await.expect("results");
                ms.push(t0.elapsed().as_secs_f64() * 1000.0);
                for (name, v) in ctx.steps.lock().unwrap().iter() {
                    steps.entry(name).or_default().push(*v);
                }
            }
            ms.sort_by(|x, y| x.partial_cmp(y).unwrap());
            println!(
                "{flow} submit->results: jobs={} median_ms={:.2} p99_ms={:.2}",
                ms.len(),
                pct(&ms, 0.5),
                pct(&ms, 0.99)
            );
            // Where a job's time goes: each step's median over the jobs that took it, and
            // in how many of them it appeared.
            let parts: Vec<String> = steps
                .iter_mut()
                .map(|(name, v)| {
                    v.sort_by(|x, y| x.partial_cmp(y).unwrap());
                    format!("{name} {:.2} ms ({} jobs)", pct(v, 0.5), v.len())
                })
                .collect();
            println!("  steps (p50): {}", parts.join(", "));
        }
        "blob-sas" => {
            println!("{}", ctx.blob_sas(n as usize).await.expect("blob"));
        }
        mode @ ("submit" | "get" | "mget" | "status" | "bare" | "url") => {
            let conc: usize = a
                .get(6)
                .and_then(|c| c.parse().ok())
                .unwrap_or(16)
                .clamp(1, 256);
            let get_id = if mode == "get" {
                let id = format!("get-target-{}", std::process::id());
                let put = ctx.submit(&id, false).await.expect("submit");
                ctx.wait_and_fetch(&id, Some(put)).await.expect("results");
                id
            } else {
                String::new()
            };
            let t0 = Instant::now();
            let mode = match mode {
                "submit" => "submit",
                "mget" => "mget",
                "status" => "status",
                "bare" => "bare",
                "url" => "url",
                _ => "get",
            };
            let (ok, err) = run_for(ctx.clone(), n.min(120), conc, mode, get_id).await;
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "{mode}: concurrency={conc} seconds={secs:.1} ok={ok} errors={err} per_second={:.0}",
                ok as f64 / secs
            );
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
