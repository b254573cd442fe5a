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
import os  # noqa: E402

from moto.server import DomainDispatcherApplication, MotoRequestHandler  # noqa: E402
from moto.server import create_backend_app  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

app = DomainDispatcherApplication(create_backend_app)
app.debug = True  # as moto_server sets it
server = make_server(
    "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
)
port = server.server_port
# moto builds some URLs (SQS queue URLs among them) from MOTO_PORT.
os.environ["MOTO_PORT"] = str(port)
print(port, flush=True)
# Nobody reads on after the port: anything moto prints later goes nowhere, never into a full pipe.
os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
server.serve_forever()
