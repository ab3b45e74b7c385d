"""Benchmark the web service: requests per second and p50/p99 latency of the dashboard
with many concurrent clients on loopback.

A workspace is built by the demo's pipeline (``joinedup.demo.run_demo``: synth, ingest,
pseudonymise and link, journeys, demand, value, report) unless ``--workspace`` names one
already built. The server (uvicorn, one process, the app as ``joinedup serve`` makes it)
runs in its own process; the clients are asyncio tasks in this one, each with its own
connection, signed in with an API token, each sending its next request as soon as the
last one is answered (a closed loop), for a fixed time after a warm-up.

Two latencies matter and are reported apart: the first view of a filter combination
and the steady state that the concurrent clients see. The service computes the views of
the whole workspace and of each organisation in the background as it starts (its
progress lines are read here, with the seconds each view took); the load starts once
they are ready. With ``--no-warm`` the service computes nothing until asked, and the
first request of each view is timed instead. The server's CPU time per request is
reported too: on a shared machine the latencies include waiting for a core, which that
figure does not. Clients ask for gzip, as browsers do (and decompress what they get);
one scenario asks for the page uncompressed.

    .venv/bin/python bench/web.py                       # 20,000 people, 50 clients, 30 s
    .venv/bin/python bench/web.py --people 2000 --seconds 10
    .venv/bin/python bench/web.py --workspace /tmp/ws   # build there once, reuse after
    .venv/bin/python bench/web.py --workspace /tmp/ws --no-warm   # time cold first views
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import httpx2 as httpx
import psutil

from _common import Measure, save

USER, PASSWORD = "bench.council", "benchmark password"
ORGS = ("benefits", "council", "health", "tax")


def build(path: Path, people: int) -> float:
    """Run the demo's whole pipeline into ``path``; return the seconds it took."""
    from joinedup import SynthConfig, run_demo

    start = time.perf_counter()
    run_demo(path, SynthConfig(people=people, seed=42))
    return time.perf_counter() - start


def people_in(path: Path) -> int | None:
    """The number of people the workspace's synthetic population was made with."""
    from joinedup.workspace import Workspace

    with Workspace(path, create=False) as ws:
        made = [r for r in ws.runs() if r["command"] == "synth" and r["status"] == "ok"]
    return int(made[-1]["settings"]["people"]) if made else None


def token_for(path: Path) -> str:
    from joinedup.governance._access import AccessStore

    access = AccessStore(path)
    if USER not in {u.username for u in access.users()}:
        access.add_user(USER, PASSWORD, "council", "analyst")
    return access.create_token(USER, "bench/web.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The service in its own process, as ``joinedup serve`` runs it; the lines it
    prints (its progress computing views at the start) are kept in ``told``."""

    def __init__(self, path: Path, port: int, warm: bool) -> None:
        code = (
            "import uvicorn\n"
            "from joinedup.web import create_app\n"
            f"app = create_app({str(path)!r}, warm={warm!r}, "
            "progress=lambda line: print(line, flush=True))\n"
            f"uvicorn.run(app, host='127.0.0.1', port={port}, "
            "log_level='warning', access_log=False)\n"
        )
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], text=True, stdout=subprocess.PIPE
        )
        self.told: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited before it answered")
            time.sleep(0.2)
        self.proc.kill()
        raise RuntimeError("the server did not start within 120 s")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.told.append((time.perf_counter() - self.started, line.rstrip()))
            print(f"  server: {line.rstrip()}", flush=True)

    def wait_for(self, text: str, timeout: float) -> float:
        """Seconds from the start until the server said ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in self.told:
                if text in line:
                    return at
            if self.proc.poll() is not None:
                raise RuntimeError("the server exited")
            time.sleep(0.2)
        raise RuntimeError(f"the server did not say {text!r} within {timeout:.0f} s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


class _Peak:
    """The largest resident memory of a process while the block runs (sampled 20/s)."""

    def __init__(self, proc: psutil.Process) -> None:
        self.proc, self.bytes, self._stop = proc, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.bytes = max(self.bytes, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(
    base: str,
    token: str,
    target: str,
    params: list[dict[str, str]],
    clients: int,
    seconds: float,
    server: psutil.Process | None = None,
    compressed: bool = True,
) -> dict[str, Any]:
    """``clients`` closed-loop clients for ``seconds``; each cycles through ``params``.
    Pages are asked for with a session cookie (each client signs in first, before the
    clock starts), the API with the bearer token. With ``server``, the CPU time the
    server's process used while the clock ran is reported per request: the service's own
    cost, apart from what waiting for a busy machine's cores adds to the latencies."""
    latencies: list[float] = []
    sizes: list[int] = []
    errors: dict[str, int] = {}
    api = target.startswith("/api")
    headers = {"Authorization": f"Bearer {token}"} if api else {"Accept": "text/html"}
    # httpx asks for gzip (and decompresses) by default, as a browser does.
    if not compressed:
        headers["Accept-Encoding"] = "identity"
    https = [httpx.AsyncClient(base_url=base, headers=headers, timeout=60) for _ in range(clients)]

    async def sign_in(http: httpx.AsyncClient) -> None:
        r = await http.post("/login", data={"username": USER, "password": PASSWORD})
        if r.status_code != 303:
            raise RuntimeError(f"sign-in failed: {r.status_code} {r.text[:200]}")

    async def client(k: int, http: httpx.AsyncClient, stop: float) -> None:
        i = k
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                r = await http.get(target, params=params[i % len(params)])
                status = str(r.status_code)
                sizes.append(int(r.headers.get("content-length", len(r.content))))
            except httpx.HTTPError as exc:  # counted, not fatal: the run goes on
                status = type(exc).__name__
            latencies.append(time.perf_counter() - t0)
            if status != "200":
                errors[status] = errors.get(status, 0) + 1
            i += 1

    try:
        if not api:
            await asyncio.gather(*(sign_in(h) for h in https))
        cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(client(k, h, stop) for k, h in enumerate(https)))
        elapsed = time.perf_counter() - start
        cpu = sum(server.cpu_times()[:2]) - cpu_before if server else None
    finally:
        await asyncio.gather(*(h.aclose() for h in https))
    return {
        "server_cpu_ms_per_request": round(1000 * cpu / len(latencies), 2) if cpu else None,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "max_ms": round(1000 * max(latencies), 1),
        "bytes_sent_mean": round(statistics.fmean(sizes)) if sizes else None,
        "errors": errors,
    }


def first_views(base: str, token: str, params: list[dict[str, str]]) -> list[float]:
    """Seconds for the first view of each filter combination (nothing cached yet)."""
    out = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for p in params:
            t0 = time.perf_counter()
            r = http.get("/", params=p, timeout=7200)
            out.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"GET / {p} answered {r.status_code}: {r.text[:300]}")
    return out


def _commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=20_000)
    ap.add_argument("--workspace", type=Path, help="built here if empty, reused if built")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument(
        "--no-warm",
        dest="warm",
        action="store_false",
        help="the service computes no view until asked: time each view's first request",
    )
    args = ap.parse_args()

    tmp = None
    path = args.workspace
    if path is None:
        tmp = tempfile.TemporaryDirectory(prefix="joinedup-bench-web-")
        path = Path(tmp.name) / "ws"
    built_seconds = None
    if not (path / "report.html").is_file():
        print(f"building a workspace of {args.people:,} people in {path} ...", flush=True)
        built_seconds = build(path, args.people)
        print(f"built in {built_seconds:.0f} s", flush=True)
    people = people_in(path) or args.people
    token = token_for(path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(path, port, args.warm)
    measures = []
    try:
        unfiltered: dict[str, str] = {}
        views = [unfiltered, *({"org": o} for o in ORGS)]
        warm: dict[str, Any] = {}
        if args.warm:
            ready = server.wait_for("dashboard views ready", 7200)
            took = [
                float(m.group(1))
                for _, line in server.told
                if (m := re.search(r"^view \d+/\d+ \(.*\) ready in ([\d.]+) s", line))
            ]
            warm = {"warm_view_seconds": took, "warm_ready_after_start_seconds": round(ready, 1)}
            print(f"views computed at the start: {took}, all ready {ready:.1f} s after start")
        # With warming, these are the first requests after it: answered from the cache.
        cold = first_views(base, token, views)
        print(f"first views: {', '.join(f'{s:.2f} s' for s in cold)}", flush=True)
        proc = psutil.Process(server.proc.pid)
        scenarios = [
            ("dashboard, unfiltered", "/", [unfiltered], True),
            ("dashboard, unfiltered, uncompressed", "/", [unfiltered], False),
            ("dashboard, five filter views in turn", "/", views, True),
            ("api figures, five filter views in turn", "/api/figures", views, True),
        ]
        with httpx.Client(base_url=base) as http:
            records = json.loads(
                http.get("/api/figures", headers={"Authorization": f"Bearer {token}"}).text
            )["person_records"]
        for name, target, params, compressed in scenarios:
            asyncio.run(load(base, token, target, params, args.clients, 3, None, compressed))
            load_before = round(os.getloadavg()[0], 2)
            with _Peak(proc) as peak_rss:
                result = asyncio.run(
                    load(base, token, target, params, args.clients, args.seconds, proc, compressed)
                )
            peak = peak_rss.bytes
            reported = {
                "target": target,
                # Other work on the machine competes for its cores: say how much.
                "load_average_1min": round(os.getloadavg()[0], 2),
                "load_average_1min_before": load_before,
                "clients": args.clients,
                "people": people,
                "person_records_published": records,
                "commit": _commit(),
                "first_view_seconds": [round(s, 3) for s in cold],
                "warm": args.warm,
                **warm,
                "build_seconds": round(built_seconds, 1) if built_seconds else None,
                **result,
            }
            print(json.dumps({"scenario": name, **reported}), flush=True)
            measures.append(Measure(name, people, result["seconds"], peak / 2**20, reported))
    finally:
        server.stop()
        if tmp is not None:
            tmp.cleanup()
    print(f"saved {save('web', measures)}")


if __name__ == "__main__":
    main()
