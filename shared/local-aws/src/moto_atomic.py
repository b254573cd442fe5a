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

from moto.server import main  # noqa: E402  (after the patch, so the server uses it)

sys.argv[0] = "moto_server"
sys.exit(main())
