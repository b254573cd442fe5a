# moto_server with DynamoDB's atomicity: every DynamoDB operation of the backend runs under one
# lock. moto's server is threaded and checks a ConditionExpression, then writes, without a lock,
# so two concurrent conditional PutItems on one key can both succeed there (seen: 1 trial in 30 of
# 20 concurrent `attribute_not_exists` puts had two winners), which DynamoDB never allows. The
# local stack must refuse what AWS refuses, so local-aws starts moto through this file.
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()


def _atomic(operation):
    def locked(*args, **kwargs):
        with _LOCK:
            return operation(*args, **kwargs)

    locked.__name__ = operation.__name__
    locked.__doc__ = operation.__doc__
    return locked


def _transact_write_items(self, transact_items):
    # moto 5.2.5's own TransactWriteItems deep-copies every table it touches before writing, to
    # roll back on a refusal: with this project's one table that is the whole table per call,
    # minutes at 100,000 accounts. DynamoDB's own order is kept instead: every condition is
    # checked first and nothing is written unless all hold (the same cancellation reasons), then
    # the writes are made; only the items written are kept for a rollback should a write fail.
    # Runs under the lock below, like every other operation, so nothing comes in between.
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen = set()
    planned = []
    reasons = []
    for entry in transact_items:
        if len(list(entry.keys())) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            reasons.append(("ValueError", "Unsupported transaction operation", None))
            continue
        table_name = op["TableName"]
        if op_type == "Put":
            table = self.get_table(table_name)
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        identity = (str(table_name), str(dict(sorted(key.items()))))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None:
            check = get_filter_expression(
                condition,
                op.get("ExpressionAttributeNames"),
                op.get("ExpressionAttributeValues"),
            )
            if not check.expr(current):
                old = None
                if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old = current.to_json()["Attributes"]
                reasons.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
                continue
        reasons.append((None, None, None))
        planned.append((op_type, op, table_name, key, current))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    written = []
    try:
        for op_type, op, table_name, key, current in planned:
            before = current.to_json()["Attributes"] if current else None
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            elif op_type == "Update":
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=op.get("ExpressionAttributeNames"),
                    expression_attribute_values=op.get("ExpressionAttributeValues"),
                )
            if op_type != "ConditionCheck":
                written.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(written):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

from moto.dynamodb.models.table import Table  # noqa: E402

_table_query = Table.query


_STRING_RANGES = {
    "=": lambda v, a: v == a[0],
    "<": lambda v, a: v < a[0],
    "<=": lambda v, a: v <= a[0],
    ">": lambda v, a: v > a[0],
    ">=": lambda v, a: v >= a[0],
    "BETWEEN": lambda v, a: a[0] <= v <= a[1],
    "BEGINS_WITH": lambda v, a: v.startswith(a[0]),
}


def _in_range(items, comparison, objects):
    # The partition's items the key condition keeps (moto checks them again, itself): string sort
    # keys by Python's string order, which is DynamoDB's (UTF-8 byte order is code point order).
    if not comparison:
        return list(items)
    test = _STRING_RANGES.get(comparison.upper())
    if test is not None and all(getattr(o, "type", None) == "S" for o in objects):
        values = [o.value for o in objects]
        return [
            i for i in items if i.range_key is not None and i.range_key.type == "S" and test(i.range_key.value, values)
        ]
    return [i for i in items if i.range_key is not None and i.range_key.compare(comparison, objects)]


def _partition_query(self, hash_key, *args, **kwargs):
    # moto 5.2.5 answers a Query of the table by sorting every item of the table, keeping the
    # partition's, then sizing each before its key condition: each Query costs the whole table,
    # seconds at 100,000 accounts. DynamoDB reads the one partition, and only the sort keys the
    # condition names; so does this, with the same answers (an index's Query is left as is).
    index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
    if index_name is not None or hash_key is None or not self.range_key_attr:
        return _table_query(self, hash_key, *args, **kwargs)
    comparison = args[0] if args else kwargs.get("range_comparison")
    objects = args[1] if len(args) > 1 else kwargs.get("range_objs") or []
    partition = _in_range(self.items.get(hash_key, {}).values(), comparison, objects)
    self.all_items = lambda: sorted(partition, key=lambda item: item.range_key)
    try:
        return _table_query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = _partition_query

for _name in (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
):
    if hasattr(DynamoDBBackend, _name):
        setattr(DynamoDBBackend, _name, _atomic(getattr(DynamoDBBackend, _name)))

# moto's server (after the patch, so it uses it), bound here rather than by `moto_server -p PORT`:
# the operating system picks a free port and this process keeps it from the first moment, then
# prints it. A port chosen by the caller and handed over could be taken in between by another
# test's moto or an outgoing connection, and the caller would then talk to the wrong server.
#
# Two ways to run (local-aws picks): `serve` starts one server in this process; `zygote SOCKET`
# imports and warms moto once (about a second of CPU), then forks a fresh server for each
# connection to the Unix socket SOCKET: the server's port goes back over that connection, and the
# server exits when the connection closes (its owner dropped it, or died). The zygote exits after
# ZYGOTE_IDLE_S without a request. Each forked server starts with moto's state empty.
import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402

from moto.server import DomainDispatcherApplication, MotoRequestHandler  # noqa: E402
from moto.server import create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

ZYGOTE_IDLE_S = 120


def application():
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server sets it
    return app


def serve(app, announce):
    """Binds port 0, tells `announce` the port, serves until the process ends."""
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
    )
    port = server.server_port
    # moto builds some URLs (SQS queue URLs among them) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    announce(port)
    return server


def warm(app):
    """Loads what the first requests of a test would load (services, their models), then empties
    moto's state again, so every forked server starts warm and empty."""
    from werkzeug.test import Client

    client = Client(app)

    def call(service, target, body, version="1.0"):
        client.post(
            "/",
            data=json.dumps(body),
            headers={
                "Content-Type": f"application/x-amz-json-{version}",
                "X-Amz-Target": target,
                "Authorization": "AWS4-HMAC-SHA256 Credential=warm/20260101/us-east-1/"
                f"{service}/aws4_request, SignedHeaders=host, Signature=0",
            },
        )

    key = [{"AttributeName": "pk", "KeyType": "HASH"}]
    call("dynamodb", "DynamoDB_20120810.CreateTable", {
        "TableName": "warm", "KeySchema": key, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
    call("dynamodb", "DynamoDB_20120810.PutItem", {"TableName": "warm", "Item": {"pk": {"S": "a"}}})
    call("dynamodb", "DynamoDB_20120810.Query", {
        "TableName": "warm", "KeyConditionExpression": "pk = :p",
        "ExpressionAttributeValues": {":p": {"S": "a"}}})
    call("sqs", "AmazonSQS.CreateQueue", {"QueueName": "warm"})
    call("secretsmanager", "secretsmanager.CreateSecret", {"Name": "warm", "SecretString": "w"}, "1.1")
    call("events", "AWSEvents.PutEvents", {"Entries": []}, "1.1")
    client.post(
        "/",
        data="Action=CreateUser&UserName=warm&Version=2010-05-08",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "AWS4-HMAC-SHA256 Credential=warm/20260101/us-east-1/iam/"
            "aws4_request, SignedHeaders=host, Signature=0",
        },
    )
    client.post("/moto-api/reset")


def zygote(path):
    # One zygote per socket path: the one holding the lock serves it, any other leaves.
    lock = open(path + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return
    app = application()
    try:
        warm(app)
    except Exception:  # noqa: BLE001  (warming is an optimisation: a cold server still serves)
        pass
    if os.path.exists(path):
        os.unlink(path)  # a dead zygote's socket: the lock says nobody serves it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    os.rename(path + ".new", path)
    listener.listen(64)
    listener.settimeout(ZYGOTE_IDLE_S)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked servers are reaped by the system
    while True:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            break
        fork(app, conn, listener, lock)
    # Idle: no new connection can arrive once the path is gone; serve those already waiting.
    os.unlink(path)
    listener.setblocking(False)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            break
        conn.setblocking(True)
        fork(app, conn, listener, lock)


def fork(app, conn, listener, lock):
    if os.fork() == 0:
        listener.close()
        lock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        try:
            run_forked(app, conn)
        finally:
            os._exit(0)
    conn.close()


def run_forked(app, conn):
    """A forked server: serves until its connection closes, then closes its port and exits."""
    conn.settimeout(None)
    server = serve(app, lambda port: conn.sendall(f"{port}\n".encode()))
    watcher = threading.Thread(target=server.serve_forever, daemon=True)
    watcher.start()
    while conn.recv(64):
        pass
    server.socket.close()
    conn.close()


if len(sys.argv) > 2 and sys.argv[1] == "zygote":
    zygote(sys.argv[2])
else:
    server = serve(application(), lambda port: print(port, flush=True))
    # Nobody reads on after the port: anything moto prints later goes nowhere, not into a full pipe.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    server.serve_forever()
