#!/usr/bin/env python3
"""Measures the API Lambda's local cold-start init time: from process start to its first
`GET /2018-06-01/runtime/invocation/next` against a tiny fake Lambda Runtime API, which is the
moment the real service would start the first invocation. Prints the median of N runs in ms.

Usage: measure_cold_start.py PATH/TO/bootstrap [RUNS]
"""

import http.server
import os
import statistics
import subprocess
import sys
import threading
import time


def one_run(bootstrap: str) -> float:
    polled = threading.Event()

    class Runtime(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            if self.path.endswith("/runtime/invocation/next"):
                polled.set()
            # Hold the poll open like the real Runtime API does while no event waits.
            time.sleep(0.5)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
        AWS_LAMBDA_FUNCTION_NAME="bedrock-lb-api",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
        AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
        AWS_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        BEDROCK_LB_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
        BEDROCK_LB_JOBS_TABLE="jobs",
        RUST_LOG="warn",
    )
    start = time.perf_counter()
    process = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL)
    try:
        if not polled.wait(10):
            raise SystemExit("the function never polled the Runtime API")
        return (time.perf_counter() - start) * 1000
    finally:
        process.kill()
        process.wait()
        server.shutdown()


def main() -> int:
    bootstrap = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    times = [one_run(bootstrap) for _ in range(runs)]
    print(
        f"init to first poll: median {statistics.median(times):.1f} ms, "
        f"min {min(times):.1f} ms, max {max(times):.1f} ms over {runs} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
