#!/usr/bin/env python3
"""Time from POST /invoke to a `succeeded` job, one job at a time, against a running bedrock-lb.

    python3 scripts/latency.py [API_URL] [JOBS]      # defaults: http://127.0.0.1:8080, 50

Prints percentiles of the time the client waits (submit, then poll GET /jobs/{id} every 2 ms), of
the job's own created->finished time, of the Bedrock call as reported by the result, and of the
difference: what bedrock-lb itself adds on top of the model's latency.
"""
import json
import sys
import time
import urllib.request
from datetime import datetime


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def timestamp(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    client, server, bedrock = [], [], []
    for i in range(jobs):
        started = time.perf_counter()
        prompt = f"Write a haiku about rivers, take {i}"
        job_id = call(base, "POST", "/invoke", {"prompt": prompt, "max_tokens": 100})["job_id"]
        while True:
            job = call(base, "GET", f"/jobs/{job_id}")
            if job["status"] not in ("queued", "running"):
                break
            time.sleep(0.002)
        client.append((time.perf_counter() - started) * 1000)
        if job["status"] != "succeeded":
            sys.exit(f"job {job_id} ended {job['status']}: {job.get('error')}")
        server.append((timestamp(job["updated_at"]) - timestamp(job["created_at"])).total_seconds() * 1000)
        bedrock.append(job["result"]["latency_ms"])
    rows = [
        ("client: POST -> succeeded", client),
        ("job: created -> finished", server),
        ("Bedrock call (reported)", bedrock),
        ("bedrock-lb overhead", [s - b for s, b in zip(server, bedrock)]),
    ]
    print(f"{jobs} jobs, one at a time, against {base}")
    for name, values in rows:
        print(
            f"{name:28s} p50 {percentile(values, 0.5):7.1f} ms   p99 {percentile(values, 0.99):7.1f} ms"
            f"   min {min(values):7.1f}   max {max(values):7.1f}"
        )


if __name__ == "__main__":
    main()
