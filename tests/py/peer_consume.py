"""Consume records with confluent-kafka (librdkafka): the independent reader that checks what kafkajs wrote.

Args: brokers topic count [extra librdkafka config as k=v ...]
Reads every partition from the beginning until `count` records arrived (30 s at most) and prints one JSON
list ordered by (partition, offset): {"partition", "offset", "key": b64|null, "value": b64|null,
"headers": [[key, b64|null], ...], "timestampType": "CreateTime"|"LogAppendTime"|null, "timestamp": ms}.
"""
import base64
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME

TIMESTAMP_TYPES = {TIMESTAMP_CREATE_TIME: "CreateTime", TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime"}


def b64(v):
    return None if v is None else base64.b64encode(v).decode()


def main():
    brokers, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Named after the topic so that the test deleting the topic can find and delete the group too.
    conf = {"bootstrap.servers": brokers, "group.id": f"{topic}-peer-{uuid.uuid4()}",
            "auto.offset.reset": "earliest", "enable.auto.commit": False}
    for kv in sys.argv[4:]:
        k, v = kv.split("=", 1)
        conf[k] = v
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + 30
    try:
        while len(records) < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise SystemExit(f"consume failed: {msg.error()}")
            ts_type, ts = msg.timestamp()
            records.append({
                "partition": msg.partition(), "offset": msg.offset(),
                "key": b64(msg.key()), "value": b64(msg.value()),
                "headers": [[k, b64(v)] for k, v in (msg.headers() or [])],
                "timestampType": TIMESTAMP_TYPES.get(ts_type), "timestamp": ts,
            })
    finally:
        consumer.close()
    if len(records) < count:
        raise SystemExit(f"only {len(records)} of {count} records arrived within 30 s")
    records.sort(key=lambda r: (r["partition"], r["offset"]))
    print(json.dumps(records))


main()
