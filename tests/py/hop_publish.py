"""Publish genuine Hopskotch traffic with hop-client itself (its own headers: _id, _sender, _test, _format).

Args: broker(host:port) topic testdata_dir [username password]
With a username, connects with SASL_PLAINTEXT/SCRAM-SHA-512 (so hop-client adds `_sender`); else no auth.
Publishes one message per hop model from the shared test data, a test message, and a message with user headers and
a key. Prints one JSON line per delivered message: {"case", "partition", "offset"}.
"""
import json
import os
import sys

from hop import io, models
from hop.auth import Auth

broker, topic, data = sys.argv[1], sys.argv[2], sys.argv[3]
auth = False
if len(sys.argv) > 5:
    auth = Auth(sys.argv[4], sys.argv[5], ssl=False, method="SCRAM-SHA-512")

cases = [
    ("voevent", models.VOEvent.load_file(os.path.join(data, "example_voevent.xml")), {}),
    ("gcntextnotice", models.GCNTextNotice.load_file(os.path.join(data, "example_gcn.txt")), {}),
    ("circular", models.GCNCircular.load_file(os.path.join(data, "example.gcn3")), {}),
    ("blob", models.Blob.load_file(os.path.join(data, "example_blob.txt")), {}),
    ("json", models.JSONBlob.load_file(os.path.join(data, "example_json.json")), {}),
    ("avro", models.AvroBlob.load_file(os.path.join(data, "example_avro.avro")), {}),
    ("test", models.JSONBlob(content={"test": True}), {"test": True}),
    ("user-headers", models.Blob(content=b"\x00\xff binary"), {"headers": [("origin", b"lab"), ("origin", b"\xfe")],
                                                                 "key": b"k1"}),
]
delivered = []


def recorder(case):
    def callback(err, msg):
        if err is not None:
            raise SystemExit(f"delivery failed: {err}")
        delivered.append({"case": case, "partition": msg.partition(), "offset": msg.offset()})
    return callback


stream = io.Stream(auth=auth)
with stream.open(f"kafka://{broker}/{topic}", "w") as producer:
    for case, message, extra in cases:
        producer.write(message, headers=extra.get("headers"), test=extra.get("test", False),
                       key=extra.get("key"), delivery_callback=recorder(case))
for d in delivered:
    print(json.dumps(d))
