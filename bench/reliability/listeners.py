"""Latency of a well-behaved client while a `qws serve` listener holds idle and slow connections.

Usage: python3 bench/reliability/listeners.py [path/to/qws] [--idle N] [--slow N] [--requests N]
       (defaults: target/release/qws, 2000 idle, 200 slow, 200 requests)

Starts `qws serve` on a fresh data directory (ports picked by the OS), then for the HTTP and the
HTTPS listener:

1. baseline: N sequential `GET /metadata/endpoints`, each on a new connection from 127.0.0.1
   (a new connection is what a crowd of held connections could delay: accept, TLS handshake);
2. load: opens the idle connections (connect, send nothing) and the slow ones (send a request
   head one short line per second, never finishing it), spread over 127.0.0.2-127.0.0.9 so the
   per-address cap (512) does not refuse them, and keeps that many open, reopening any the
   server closes (idle ones are closed after --handshake-timeout, slow ones after
   --header-read-timeout);
3. the same N requests again while the load is held.

Prints p50/p95/max of both runs and their ratio (the goal: p50 and p95 under load within 2x of
idle). Needs an open-file limit above twice the connection count; the script raises its soft
limit to the hard limit, and the server inherits it.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import signal
import ssl
import statistics
import subprocess
import tempfile
import time

REQUEST = b"GET /metadata/endpoints HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
CROWD = [f"127.0.0.{i}" for i in range(2, 10)]


def start_server(qws):
    data = os.path.join(tempfile.mkdtemp(prefix="qws-listeners-"), "data")
    p = subprocess.Popen(
        [qws, "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    for line in p.stdout:
        if line.startswith("qws listening on"):
            break
    with open(os.path.join(data, "bootstrap.json")) as f:
        boot = json.load(f)
    return p, boot


def addr(url):
    host, port = url.split("://", 1)[1].rstrip("/").rsplit(":", 1)
    return host, int(port)


async def one_request(host, port, tls):
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        host, port, ssl=tls, server_hostname=host if tls else None, local_addr=("127.0.0.1", 0)
    )
    writer.write(REQUEST)
    await writer.drain()
    data = await reader.read()
    writer.close()
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer {data[:40]!r}")
    return time.perf_counter() - t0


async def measure(host, port, tls, n):
    return [await one_request(host, port, tls) for _ in range(n)]


async def hold_idle(host, port, src, stop, opened):
    """Keeps one connection open that sends nothing; reopens it when the server closes it."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port, local_addr=(src, 0))
        except OSError:
            await asyncio.sleep(0.1)
            continue
        opened[0] += 1
        done = asyncio.ensure_future(reader.read())
        await asyncio.wait([done, asyncio.ensure_future(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        writer.close()


async def hold_slow(host, port, tls, src, stop, opened):
    """Keeps one connection open (TLS on HTTPS) that sends a request head one line per second."""
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, local_addr=(src, 0)
            )
            opened[0] += 1
            writer.write(b"GET /metadata/endpoints HTTP/1.1\r\n")
            i = 0
            while not stop.is_set() and not reader.at_eof():
                writer.write(b"x-slow-%d: 1\r\n" % i)
                await writer.drain()
                i += 1
                try:
                    await asyncio.wait_for(stop.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
            writer.close()
        except (OSError, ssl.SSLError):
            await asyncio.sleep(0.1)


def summary(xs):
    xs = sorted(xs)
    return {
        "p50": statistics.median(xs) * 1000,
        "p95": xs[int(len(xs) * 0.95) - 1] * 1000,
        "max": xs[-1] * 1000,
    }


async def crowd(host, port, cafile, n_idle, n_slow, ready, done):
    tls = ssl.create_default_context(cafile=cafile) if cafile else None
    stop = asyncio.Event()
    opened = [0]
    tasks = [
        asyncio.ensure_future(hold_idle(host, port, CROWD[i % len(CROWD)], stop, opened))
        for i in range(n_idle)
    ]
    tasks += [
        asyncio.ensure_future(hold_slow(host, port, tls, CROWD[i % len(CROWD)], stop, opened))
        for i in range(n_slow)
    ]
    while opened[0] < n_idle + n_slow:
        await asyncio.sleep(0.05)
    ready.set()
    while not done.is_set():
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)


def crowd_process(*args):
    """The idle and slow connections, in their own process so that serving them does not
    delay the measuring client."""
    asyncio.run(crowd(*args))


async def bench_listener(name, url, tls, cafile, args):
    host, port = addr(url)
    await measure(host, port, tls, 10)  # warm-up
    idle = summary(await measure(host, port, tls, args.requests))
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    p = multiprocessing.Process(
        target=crowd_process, args=(host, port, cafile, args.idle, args.slow, ready, done)
    )
    p.start()
    while not ready.is_set():  # the whole crowd is connected
        await asyncio.sleep(0.05)
    loaded = summary(await measure(host, port, tls, args.requests))
    done.set()
    p.join()
    print(f"{name}: {args.idle} idle + {args.slow} slow connections, {args.requests} requests")
    for k in ("p50", "p95", "max"):
        print(f"  {k}: idle {idle[k]:7.2f} ms   loaded {loaded[k]:7.2f} ms   ratio {loaded[k] / idle[k]:5.2f}")


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("qws", nargs="?", default=os.path.join("target", "release", "qws"))
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server, boot = start_server(args.qws)
    try:
        tls = ssl.create_default_context(cafile=boot["caFile"])
        await bench_listener("HTTP", boot["httpUrl"], None, None, args)
        await bench_listener("HTTPS", boot["httpsUrl"], tls, boot["caFile"], args)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()


if __name__ == "__main__":
    asyncio.run(main())
