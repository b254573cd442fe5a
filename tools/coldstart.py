#!/usr/bin/env python3
"""Cold start of each function (make bench): init time and first-invocation time, measured with a
local emulation of the Lambda Runtime API.

For each function binary (release build of the host target, target/release/<name>) this starts a
small HTTP server that speaks the Runtime API (GET /2018-06-01/runtime/invocation/next, POST
.../invocation/{id}/response and .../error, POST .../init/error), then execs the binary with
AWS_LAMBDA_RUNTIME_API pointing at it and the environment the template's Globals give every
function (AWS endpoints at a moto server). It records:
  init              exec -> the function's first `next` request (tracing, configuration, AWS
                    clients: everything main does before lambda_runtime::run)
  first invocation  the first event handed over -> its response (the event does one AWS call
                    where the route needs one, see EVENTS)
Each function runs RUNS times (default 5); the median and the minimum are printed. Nothing is
asserted: it measures and prints.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNS = int(os.environ.get("COLDSTART_RUNS", "5"))
TARGET = os.environ.get("CARGO_TARGET_DIR", "target")
# release (what Lambda runs); debug only to try this script without a release build.
PROFILE = os.environ.get("COLDSTART_PROFILE", "release")
TABLE = "coldstart"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def http_event(route_key, path, claims=None, path_parameters=None):
    context = {"http": {"method": route_key.split(" ")[0], "path": path}, "requestId": "cold-1"}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "pathParameters": path_parameters or {},
        "requestContext": context,
        "isBase64Encoded": False,
    }


# The first event of each function, and what it costs.
EVENTS = {
    "api": ("GET /health: one DynamoDB DescribeTable", http_event("GET /health", "/health")),
    "oauth-callback": (
        "GET /tenants/{id}/customers: one DynamoDB GetItem (tenant not connected: 404)",
        http_event(
            "GET /tenants/{tenant_id}/customers",
            f"/tenants/{TENANT}/customers",
            claims={"org_id": "coldstart"},
            path_parameters={"tenant_id": TENANT},
        ),
    ),
    "sync": ("an empty SQS batch: no AWS call", {"Records": []}),
    "onboarding": ("an empty SQS batch: no AWS call", {"Records": []}),
    "offboarding": ("an empty SQS batch: no AWS call", {"Records": []}),
    "license-refresh": ("an empty SQS batch: no AWS call", {"Records": []}),
    "dead-letters": ("an empty SQS batch: no AWS call", {"Records": []}),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runtime:
    """One cold start: the Runtime API of one execution environment."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.next_at = None
        self.done_at = None
        self.outcome = None
        self.finished = threading.Event()
        self.served = False
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    self.send_error(404)
                    return
                if runtime.served:
                    # The next invocation never comes: the process is stopped after this one,
                    # and this request with it.
                    runtime.finished.wait(30)
                    self.close_connection = True
                    return
                runtime.served = True
                runtime.next_at = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:123456789012:function:coldstart",
                )
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.send_header("Content-Length", str(len(runtime.event)))
                self.end_headers()
                self.wfile.write(runtime.event)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if "/init/error" in self.path:
                    runtime.outcome = "init error: " + body.decode(errors="replace")[:300]
                elif self.path.endswith("/response"):
                    runtime.outcome = "response " + response_summary(body)
                elif self.path.endswith("/error"):
                    runtime.outcome = "error: " + body.decode(errors="replace")[:300]
                else:
                    self.send_error(404)
                    return
                runtime.done_at = time.perf_counter()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                runtime.finished.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.finished.set()
        self.server.shutdown()
        self.server.server_close()


def response_summary(body):
    try:
        value = json.loads(body)
    except ValueError:
        return "(not JSON)"
    if isinstance(value, dict) and "statusCode" in value:
        return f"HTTP {value['statusCode']}"
    return "ok"


def environment(moto, name):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_ENDPOINT_URL": moto,
        "AWS_ACCESS_KEY_ID": "coldstart",
        "AWS_SECRET_ACCESS_KEY": "coldstart",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
        "RUST_LOG": "warn",
        # The template's Globals.
        "TABLE_NAME": TABLE,
        "SYNC_QUEUE_URL": f"{moto}/123456789012/sync",
        "ONBOARDING_QUEUE_URL": f"{moto}/123456789012/onboarding.fifo",
        "OFFBOARDING_QUEUE_URL": f"{moto}/123456789012/offboarding.fifo",
        "LICENSE_REFRESH_QUEUE_URL": f"{moto}/123456789012/license-refresh",
        "GRAPH_BASE_URL": "http://127.0.0.1:9/v1.0",
        "LOGIN_BASE_URL": "http://127.0.0.1:9",
        "SECRET_PREFIX": "coldstart/",
        "PLATFORM_APP_CLIENT_ID": "2c58ade3-708c-4d8d-8b47-69fef79c2741",
        "PLATFORM_APP_SECRET_ID": "coldstart/platform/app-secret",
        "PLATFORM_READ_APP_CLIENT_ID": "",
        "PLATFORM_READ_APP_SECRET_ID": "coldstart/platform/read-app-secret",
        "ALLOWED_RETURN_ORIGINS": "",
        "STATE_SIGNING_KEY_SECRET_ID": "coldstart/platform/state-signing-key",
        "PUBLIC_BASE_URL": "http://127.0.0.1:3000",
        "ORG_CLAIM": "org_id",
        "EVENT_BUS_NAME": "default",
    }
    return env


def one_cold_start(binary, name, event, moto):
    runtime = Runtime(event)
    env = environment(moto, name)
    env["AWS_LAMBDA_RUNTIME_API"] = runtime.address
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not runtime.finished.wait(60):
            raise RuntimeError(f"{name}: no answer within 60 s")
    finally:
        process.kill()
        _, stderr = process.communicate()
        runtime.close()
    if runtime.next_at is None:
        raise RuntimeError(f"{name}: {runtime.outcome}; {stderr.decode(errors='replace')[-500:]}")
    return (
        (runtime.next_at - started) * 1000,
        (runtime.done_at - runtime.next_at) * 1000,
        runtime.outcome,
    )


def start_moto():
    port = free_port()
    moto = os.environ.get("MOTO_SERVER", ".venv/bin/moto_server")
    process = subprocess.Popen(
        [moto, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    create_table(url)
    return process, url


def create_table(url):
    body = json.dumps(
        {
            "TableName": TABLE,
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.CreateTable",
            "Authorization": "AWS4-HMAC-SHA256 Credential=coldstart/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    urllib.request.urlopen(request, timeout=10).read()


def main():
    moto_process, moto = start_moto()
    try:
        print(f"cold starts of the {PROFILE} binaries in {TARGET}/{PROFILE} ({RUNS} runs each, median / min, ms)")
        print(f"{'function':<16} {'binary':>9} {'init':>15} {'first invocation':>19}  first event")
        for name, (what, event) in EVENTS.items():
            binary = os.path.join(TARGET, PROFILE, name)
            size = os.path.getsize(binary) / (1024 * 1024)
            inits, firsts, outcomes = [], [], set()
            for _ in range(RUNS):
                init, first, outcome = one_cold_start(binary, name, event, moto)
                inits.append(init)
                firsts.append(first)
                outcomes.add(outcome)
            print(
                f"{name:<16} {size:>6.1f} MiB "
                f"{statistics.median(inits):>7.1f} / {min(inits):>5.1f} "
                f"{statistics.median(firsts):>10.1f} / {min(firsts):>6.1f}  "
                f"{what} -> {', '.join(sorted(outcomes))}"
            )
    finally:
        moto_process.kill()
        moto_process.wait()


if __name__ == "__main__":
    sys.exit(main())
