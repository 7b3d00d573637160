"""Produce records with confluent-kafka (librdkafka): an independent, real Hopskotch-style peer.

Reads a JSON list of records from stdin: {"value": b64|null, "key": b64|null,
"headers": [[key, b64|null], ...], "partition": int?, "timestamp": ms?}
Args: brokers topic [compression] [extra librdkafka config as k=v ...]
Prints one JSON line per record, in input order: {"partition": p, "offset": o}.
"""
import base64
import json
import sys

from confluent_kafka import Producer


def b64(v):
    return None if v is None else base64.b64decode(v)


def main():
    brokers, topic = sys.argv[1], sys.argv[2]
    compression = sys.argv[3] if len(sys.argv) > 3 else "none"
    conf = {"bootstrap.servers": brokers, "compression.type": compression, "linger.ms": 50,
            "enable.idempotence": True, "message.max.bytes": 33554432}
    for kv in sys.argv[4:]:
        k, v = kv.split("=", 1)
        conf[k] = v
    producer = Producer(conf)
    records = json.load(sys.stdin)
    # Delivery reports arrive per partition batch, not in input order: slot each one by its input index.
    delivered = [None] * len(records)

    def reporter(index):
        def on_delivery(err, msg):
            if err is not None:
                raise SystemExit(f"delivery failed: {err}")
            delivered[index] = {"partition": msg.partition(), "offset": msg.offset()}
        return on_delivery

    for index, rec in enumerate(records):
        kwargs = {"value": b64(rec.get("value")), "key": b64(rec.get("key")),
                  "headers": [(k, b64(v)) for k, v in rec.get("headers", [])], "on_delivery": reporter(index)}
        if rec.get("partition") is not None:
            kwargs["partition"] = rec["partition"]
        if rec.get("timestamp") is not None:
            kwargs["timestamp"] = rec["timestamp"]
        producer.produce(topic, **kwargs)
    if producer.flush(30) != 0:
        raise SystemExit("flush timed out")
    if any(d is None for d in delivered):
        raise SystemExit("some records were not delivered")
    for d in delivered:
        print(json.dumps(d))


main()
