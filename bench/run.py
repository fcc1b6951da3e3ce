"""HTTP benchmarks: each endpoint's throughput and latency as a ratio of a trivial baseline
endpoint measured on the same server in turn with it, a few rounds each (machines here are
noisy: their speed drifts over seconds, which alternating short measurements cancel out).

    make bench                      # embedded defaults (SQLite)
    DATABASE_URL=postgresql://... make bench
    BENCH_SECONDS=10 BENCH_ROUNDS=5 BENCH_CONCURRENCY=32 make bench
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "/health/live"
# Hot endpoints; `{product}` is replaced by the slug of the first listed product and `{n}` by a
# number unique to each request: an otherwise ignored parameter that makes every request miss
# the server's response cache (the "uncached" figures; counts, category tree and schedule stay
# cached as they do between writes in production).
TARGETS = [
    ("API root", "/api/v1/"),
    ("categories, cached", "/api/v1/categories/"),
    ("product list, cached", "/api/v1/products/"),
    ("product list, uncached", "/api/v1/products/?nocache={n}"),
    (
        "filtered list, uncached",
        "/api/v1/products/?category=clothing&min_price=10&max_price=50&ordering=price&nocache={n}",
    ),
    ("product detail, cached", "/api/v1/products/{product}/"),
    ("product detail, uncached", "/api/v1/products/{product}/?nocache={n}"),
    ("search, uncached", "/api/v1/search/products/?q=backpack&nocache={n}"),
]
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "16"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))  # per measurement
# Measurements of each endpoint, each right after one of the baseline (which is measured once
# more at the end): ratio = the endpoint's mean throughput / the baseline's.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
# wrk (C, event loop) when installed: a Python client would be the bottleneck of fast endpoints
# and flatter the ratios. Its Lua hooks number each request and report p50/p95/p99.
WRK = shutil.which("wrk")
WRK_SCRIPT = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
counter = 0
hits = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", (string.gsub(template, "{n}", run .. "." .. tostring(counter))))
end
response = function(status, headers, body)
  if headers["x-cache"] == "HIT" then hits = hits + 1 end
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  local cached = 0
  for _, thread in ipairs(threads) do cached = cached + thread:get("hits") end
  io.write(string.format("RESULT %f %f %f %f %d %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    errors, cached))
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _measure(base: str, path: str, *, warm: bool = True) -> dict[str, float]:
    if WRK:
        lua = f"template = {json.dumps(path)}\n" + WRK_SCRIPT
        return wrk_measure(base, lua, label=path, warm=warm)
    return asyncio.run(_measure_httpx(base, path))


def _alternating(base: str, path: str) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """The endpoint and the baseline measured in turn (`ROUNDS` of each, then the baseline once
    more): the endpoint's figures (throughput: the mean; latencies: the median of the rounds;
    answers from the cache: the sum), the baseline's, and each round's ratio against the
    baseline measurements either side of it."""
    baselines = [_measure(base, BASELINE)]
    runs: list[dict[str, float]] = []
    for round_number in range(ROUNDS):
        runs.append(_measure(base, path, warm=round_number == 0))
        baselines.append(_measure(base, BASELINE, warm=False))
    figures = {
        "rps": statistics.mean(run["rps"] for run in runs),
        **{key: statistics.median(run[key] for run in runs) for key in ("p50", "p95", "p99")},
        "hits": sum(run["hits"] for run in runs),
    }
    baseline = {
        "rps": statistics.mean(run["rps"] for run in baselines),
        **{key: statistics.median(run[key] for run in baselines) for key in ("p50", "p95", "p99")},
    }
    ratios = [
        run["rps"] / ((before["rps"] + after["rps"]) / 2)
        for run, before, after in zip(runs, baselines, baselines[1:], strict=False)
    ]
    return figures, baseline, ratios


def wrk_measure(base: str, lua: str, *, label: str, warm: bool = True) -> dict[str, float]:
    """Run wrk against `base` with the Lua script `lua` (which must print the RESULT line, as
    WRK_SCRIPT's `done` does): twice when `warm` (the figures of the second run), else once.
    Each run's `run` is a token of its own, so numbered requests (`{n}`) of one run never
    repeat another's."""
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    try:
        for _ in range(2 if warm else 1):  # a first run warms connections, caches, database
            script.write_text(f"run = {json.dumps(uuid.uuid4().hex)}\n" + lua)
            output = subprocess.run(
                [
                    *(str(WRK), "-t1", f"-c{CONCURRENCY}", f"-d{SECONDS}s", "--timeout", "30s"),
                    *("-s", str(script), base),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
    finally:
        script.unlink()
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    rps, p50, p95, p99, errors, *cached = (float(value) for value in line.split()[1:])
    if errors:
        raise RuntimeError(f"{label}: {errors:.0f} failed requests")
    return {"rps": rps, "p50": p50, "p95": p95, "p99": p99, "hits": cached[0] if cached else 0}


async def _measure_httpx(base: str, path: str) -> dict[str, float]:
    latencies: list[float] = []
    cached: list[bool] = []
    run = uuid.uuid4().hex  # numbered requests never repeat an earlier run's
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            number = queue.get_nowait()
            started = time.perf_counter()
            response = await client.get(path.replace("{n}", f"{run}.{number}"))
            response.raise_for_status()
            cached.append(response.headers.get("X-Cache") == "HIT")
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        for number in range(50):  # warm-up
            await client.get(path.replace("{n}", f"{run}.warm-{number}"))
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "rps": len(latencies) / elapsed,
        "p50": quantiles[49] * 1000,
        "p95": quantiles[94] * 1000,
        "p99": quantiles[98] * 1000,
        "hits": sum(cached),
    }


def _print_row(
    name: str, path: str, figures: dict[str, float], ratio: float, ratios: list[float]
) -> None:
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else ""
    print(
        f"{name:<28}{figures['rps']:>10.0f}{figures['p50']:>10.1f}{figures['p95']:>10.1f}"
        f"{figures['p99']:>10.1f}{ratio:>26.2f}{spread:>13}   {path}"
    )


@contextlib.contextmanager
def serving(env: dict[str, str]) -> Iterator[str]:
    """Start the server exactly as `make run` and production start it (`scripts/serve.sh`, its
    default processes x threads unless WEB_WORKERS / WEB_THREADS are set) and yield its base URL
    once it answers; stop it afterwards."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        ["scripts/serve.sh"],
        cwd=ROOT,
        env={**env, "EMPORIUM_PORT": str(port)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + BASELINE, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        workers = env.get("WEB_WORKERS") or str(len(os.sched_getaffinity(0)))
        print(f"server: {workers} processes x {env.get('WEB_THREADS') or 2} threads")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main() -> int:
    # The load comes from one address: lift the per-address rate limit for the server measured.
    # DEBUG off, as in production (the dev profile turns it on: every query is then recorded).
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMITS": "anon=100000000/min",
        "DEBUG": "false",
    }
    subprocess.run([sys.executable, "manage.py", "bootstrap", "--no-admin"], cwd=ROOT, check=True)
    with serving(env) as base:
        print(
            f"{'endpoint':<28}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
            f"{'throughput vs baseline':>26}{'per round':>13}   path"
        )
        listed = httpx.get(base + "/api/v1/products/?page_size=1", timeout=10).json()
        product = str(listed["results"][0]["slug"]) if listed.get("results") else ""
        targets = [
            (name, path.replace("{product}", product))
            for name, path in TARGETS
            if product or "{product}" not in path
        ]
        print(
            f"load: {'wrk' if WRK else 'httpx'}, concurrency {CONCURRENCY}; each endpoint "
            f"{ROUNDS} x {SECONDS} s in turn with the baseline"
        )
        for name, path in targets:
            result, baseline, ratios = _alternating(base, path)
            if "{n}" in path and result["hits"]:
                raise RuntimeError(f"{name}: {result['hits']:.0f} answers came from the cache")
            _print_row(name, path, result, result["rps"] / baseline["rps"], ratios)
            _print_row("  baseline", BASELINE, baseline, 1.0, [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
