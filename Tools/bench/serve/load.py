#!/usr/bin/env python3
"""Load test of `prism serve` on loopback with the official OpenAI client (bounded in count and time).

    flock /tmp/prism-bench.lock python3 Tools/bench/serve/load.py [--prism .build/release/prism] [--out report.json]

Starts the server itself on 127.0.0.1 (a free port) with the embedded model and measures, in one run:
  1. decode throughput of a single stream, then of 16 concurrent streams (ignore_eos, fixed max_tokens), as
     tokens/s while all of them are decoding, and their time to first token;
  2. a mixed load: 32 concurrent clients send 500 requests in all, streaming and not, with and without an image,
     some cancelled after a few chunks; every response is checked (lost / malformed), latency and TTFT percentiles;
  3. the server's RSS when idle (after warm-up), after the load, and after it settles.
Stops on its own: each request has a timeout and the whole run a deadline.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_mib(pid):
    """Resident memory split: anonymous (heap, stacks, caches) and file-backed (mapped weights, code)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Anonymous:", "Rss:"):
                out[parts[0].rstrip(":").lower()] = int(parts[1]) / 1024
    out["file"] = out.get("rss", 0) - out.get("anonymous", 0)
    return out


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def start_server(prism, args):
    proc = subprocess.Popen([prism, "serve", "--port", "0", *args], stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PRISM_HOME=ROOT), cwd=ROOT)
    deadline = time.time() + 120
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit(f"prism serve exited with {proc.wait()}")
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(m.group(1))
    raise SystemExit("prism serve did not start")


def caches_mib(port):
    """The engine's cache gauges from /metrics (prefix KV, vision embeddings): memory kept on purpose."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for name in ("prism_prefix_cache_bytes", "prism_vision_cache_bytes"):
        m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
        out[name] = float(m.group(1)) / 2**20 if m else float("nan")
    return out


class Stats:
    def __init__(self):
        self.ok = 0
        self.lost = 0          # no complete answer: connection error, timeout, HTTP error
        self.malformed = 0     # an answer that breaks the schema (missing fields, no finish_reason, bad usage)
        self.cancelled = 0
        self.latency = []
        self.ttft = []
        self.errors = {}

    def fail(self, kind, what):
        setattr(self, kind, getattr(self, kind) + 1)
        key = f"{kind}: {what}"[:160]
        self.errors[key] = self.errors.get(key, 0) + 1


async def stream_tokens(client, messages, max_tokens, model):
    """One streaming request with ignore_eos: (start, first-token time, finish time, completion tokens).

    Tokens are counted from the usage chunk, not from content chunks: past its answer a small model decodes
    special tokens, which the server hides, so most tokens of an ignore_eos stream arrive as no content at all."""
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0,
                                                  stream=True, extra_body={"ignore_eos": True},
                                                  stream_options={"include_usage": True})
    first = finish = None
    tokens = 0
    async for chunk in stream:
        now = time.perf_counter()
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
        if chunk.choices:
            c = chunk.choices[0]
            if first is None and (c.delta.content or c.finish_reason):
                first = now
            if c.finish_reason:
                finish = now
    return t0, first, finish, tokens


async def decode_rate(client, model, n, max_tokens):
    """n concurrent streams: aggregate decode tokens/s, the tokens after each stream's first over the span from
    the earliest first token to the last finish (so staggered starts count against the batch, not for it)."""
    msgs = [[{"role": "user", "content": f"Tell me about shape number {i}."}] for i in range(n)]
    results = await asyncio.gather(*(stream_tokens(client, m, max_tokens, model) for m in msgs))
    start = min(first for _, first, _, _ in results)
    end = max(finish for _, _, finish, _ in results)
    decoded = sum(tokens - 1 for _, _, _, tokens in results)
    ttft = [first - t0 for t0, first, _, _ in results]
    total = sum(tokens for _, _, _, tokens in results)
    wall = end - min(t0 for t0, _, _, _ in results)
    return {"streams": n, "tokens_per_s": decoded / (end - start) if end > start else float("nan"),
            "tokens": total, "overall_tokens_per_s": total / wall, "ttft_p50_s": pct(ttft, 50), "ttft_max_s": max(ttft)}


async def one_request(client, model, rng, image_uri, stats):
    stream = rng.random() < 0.5
    cancel = stream and rng.random() < 0.15
    content = "What color is the star?" if rng.random() < 0.5 else "Describe the image."
    if image_uri and rng.random() < 0.5:
        content = [{"type": "image_url", "image_url": {"url": image_uri}}, {"type": "text", "text": content}]
    messages = [{"role": "user", "content": content}]
    max_tokens = rng.randint(8, 64)
    t0 = time.perf_counter()
    try:
        if not stream:
            r = await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0.7,
                                                     seed=rng.randint(0, 1000))
            ok = (r.object == "chat.completion" and len(r.choices) == 1 and isinstance(r.choices[0].message.content, str)
                  and r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= max_tokens
                  and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens)
            if not ok:
                return stats.fail("malformed", f"non-stream {r!r}")
        else:
            s = await client.chat.completions.create(model=model, messages=messages, max_tokens=max_tokens, temperature=0.7,
                                                     stream=True, stream_options={"include_usage": True})
            first, finish, chunks, usage = None, None, 0, None
            async for c in s:
                if c.object != "chat.completion.chunk":
                    return stats.fail("malformed", f"chunk {c!r}")
                if c.usage:
                    usage = c.usage
                if c.choices:
                    chunks += 1
                    if c.choices[0].delta.content and first is None:
                        first = time.perf_counter()
                    if c.choices[0].finish_reason:
                        finish = c.choices[0].finish_reason
                if cancel and chunks >= 3:
                    await s.close()
                    stats.cancelled += 1
                    return
            if first is not None:
                stats.ttft.append(first - t0)
            if finish not in ("stop", "length") or usage is None or usage.completion_tokens > max_tokens:
                return stats.fail("malformed", f"stream finish={finish} usage={usage}")
        stats.ok += 1
        stats.latency.append(time.perf_counter() - t0)
    except openai.APIStatusError as e:
        stats.fail("lost", f"HTTP {e.status_code} {e.message}")
    except Exception as e:  # connection errors, timeouts, unparsable bodies
        stats.fail("lost", f"{type(e).__name__}: {e}")


async def mixed_load(client, model, clients, requests, image_uri, seed):
    stats = Stats()
    queue = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(w):
        rng = random.Random(seed * 1000 + w)
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one_request(client, model, rng, image_uri, stats)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return stats, time.perf_counter() - t0


async def main_async(args, port, pid):
    client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="none", max_retries=0, timeout=args.request_timeout)
    model = (await client.models.list()).data[0].id
    with open(os.path.join(ROOT, "Weights", "examples", "scene.png"), "rb") as f:
        image_uri = "data:image/png;base64," + base64.b64encode(f.read()).decode()
    # warm-up: first image, first text request, then one small concurrent burst, which pages in the whole model
    # (a single stream touches only its routed experts' weights) and the batched code paths
    for _ in range(2):
        await one_request(client, model, random.Random(0), image_uri, Stats())
        await stream_tokens(client, [{"role": "user", "content": "hi"}], 16, model)
    await mixed_load(client, model, 8, 16, image_uri, seed=0)
    await asyncio.sleep(3)
    report = {"rss_idle_mib": rss_mib(pid), "memory_idle_mib": memory_mib(pid)}

    single = [await decode_rate(client, model, 1, args.decode_tokens) for _ in range(3)]
    report["single_stream"] = max(single, key=lambda r: r["tokens_per_s"])
    report["concurrent_16"] = await decode_rate(client, model, 16, args.decode_tokens)
    report["batching_speedup"] = report["concurrent_16"]["tokens_per_s"] / report["single_stream"]["tokens_per_s"]

    stats, wall = await mixed_load(client, model, args.clients, args.requests, image_uri, args.seed)
    report["rss_after_load_mib"] = rss_mib(pid)
    await asyncio.sleep(args.settle)
    report["rss_settled_mib"] = rss_mib(pid)
    report["memory_settled_mib"] = memory_mib(pid)
    report["caches_settled_mib"] = caches_mib(port)
    report["mixed"] = {
        "clients": args.clients, "requests": args.requests, "seconds": wall, "ok": stats.ok, "cancelled": stats.cancelled,
        "lost": stats.lost, "malformed": stats.malformed, "errors": stats.errors,
        "latency_p50_s": pct(stats.latency, 50), "latency_p99_s": pct(stats.latency, 99),
        "ttft_p50_s": pct(stats.ttft, 50), "ttft_p99_s": pct(stats.ttft, 99),
    }
    report["rss_growth"] = report["rss_settled_mib"] / report["rss_idle_mib"] - 1
    await client.close()
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prism", default=os.path.join(ROOT, ".build", "release", "prism"))
    p.add_argument("--parallel", type=int, default=32, help="--parallel of the server (engine batch)")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--decode-tokens", type=int, default=96, help="max_tokens of the decode-rate streams")
    p.add_argument("--request-timeout", type=float, default=120)
    p.add_argument("--deadline", type=float, default=900, help="whole run, seconds")
    p.add_argument("--settle", type=float, default=5, help="seconds idle before the last RSS reading")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="write the report as JSON here")
    args = p.parse_args()

    proc, port = start_server(args.prism, ["--parallel", str(args.parallel), "--max-queue", "512"])
    try:
        report = asyncio.run(asyncio.wait_for(main_async(args, port, proc.pid), args.deadline))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    report["cpu"] = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=2)
    m = report["mixed"]
    targets = {
        "0 lost or malformed": m["lost"] == 0 and m["malformed"] == 0,
        "16 streams >= 6x single stream": report["batching_speedup"] >= 6,
        "p99 TTFT <= 1 s": m["ttft_p99_s"] <= 1 and report["concurrent_16"]["ttft_max_s"] <= 1,
        "RSS within 10% of idle": report["rss_growth"] <= 0.10,
    }
    for k, v in targets.items():
        print(f"{'PASS' if v else 'MISS'}  {k}")
    return 0 if m["lost"] == 0 and m["malformed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
