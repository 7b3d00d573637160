"""Read archive objects with hop-client's own BSON codec and print what it sees, as JSON.

Usage: read_archive.py FILE...  ->  a JSON list, one entry per file:
  {"check": <None or hop-client's complaint>, "message": <base64 | None | {"format", "content"}>,
   "metadata": {...}, "annotations": {...}}
Bytes are {"b64": "..."} and integers {"int": "<decimal>"} (JSON numbers lose int64 precision in
JavaScript); everything else is as hop-client decoded it. "zlib_crc32" is Python's zlib.crc32 of the
message when it is bytes, an independent reference for the stored con_message_crc32. The Deno tests compare this with
what lib/format/record.ts wrote, so the archive is checked against a reader that is not our own.
"""
import base64
import json
import sys
import types
import zlib

try:
    import six  # noqa: F401
except ImportError:
    # hop-client's vendored BSON codec imports `six` but hop-client does not declare it, and
    # python-dateutil >= 3 no longer pulls it in. Supply the five names the codec uses (their Python 3
    # meanings) so that the codec under test is still hop-client's, unchanged.
    six = types.ModuleType("six")
    six.PY3 = True
    six.integer_types = (int,)
    six.text_type = str
    six.iterkeys = lambda d: iter(d.keys())
    six.moves = types.ModuleType("six.moves")
    six.moves.xrange = range
    sys.modules["six"] = six
    sys.modules["six.moves"] = six.moves

from hop import bson  # noqa: E402
from hop.io import Consumer  # noqa: E402


def to_json(value):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def read(path):
    with open(path, "rb") as f:
        decoded = bson.loads(f.read())
    result = to_json(decoded)
    # The same check hop-client applies to an archived message before handing it to a user.
    message = decoded.get("message")
    result["zlib_crc32"] = str(zlib.crc32(message)) if isinstance(message, bytes) else None
    result["check"] = Consumer._check_bson_message_structure(decoded, path)
    return result


if __name__ == "__main__":
    json.dump([read(p) for p in sys.argv[1:]], sys.stdout)
