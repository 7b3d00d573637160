"""Publish with hop-client through a hop auth.toml, the way `hop publish` reads it (protocol, mechanism,
ssl_ca_location all come from the file).

Args: broker(host:port) topic auth_toml count
Publishes `count` JSON messages {"n": i}. Prints one JSON line per delivered message: {"n", "partition", "offset"}.
"""
import json
import sys

from hop import io, models
from hop.auth import load_auth, select_matching_auth

broker, topic, auth_path, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
auth = select_matching_auth(load_auth(auth_path), broker)
delivered = []


def recorder(n):
    def callback(err, msg):
        if err is not None:
            raise SystemExit(f"delivery failed: {err}")
        delivered.append({"n": n, "partition": msg.partition(), "offset": msg.offset()})
    return callback


with io.Stream(auth=auth).open(f"kafka://{broker}/{topic}", "w") as producer:
    for n in range(count):
        producer.write(models.JSONBlob(content={"n": n}), delivery_callback=recorder(n))
for d in delivered:
    print(json.dumps(d))
