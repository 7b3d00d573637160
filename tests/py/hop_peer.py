"""Real hop-client (hop.models, hop.io) as the reference for mock-hop's payloads and headers.

Usage: hop_peer.py pack          stdin: [{"format": f, "path": p} | {"format": "circular", "text": t}, ...]
                                 prints [{"payload": b64}, ...]: the value `Producer.pack` makes of the loaded model
       hop_peer.py read          stdin: [{"value": b64, "headers": [[k, b64|null], ...]}, ...]
                                 prints [{"model": class name, "format": model format}, ...] (hop's Deserializer)
       hop_peer.py publish BROKER USER PASSWORD TOPIC
                                 stdin: [{"format": f, "path": p, "test": bool}, ...]; publishes each with
                                 hop.io.Stream over SASL_PLAINTEXT (SCRAM-SHA-512), in order
"""
import base64
import json
import sys

from hop import io, models
from hop.auth import Auth

LOADERS = {
    "voevent": models.VOEvent,
    "gcntextnotice": models.GCNTextNotice,
    "circular": models.GCNCircular,
    "json": models.JSONBlob,
    "blob": models.Blob,
    "avro": models.AvroBlob,
}


def b64(v):
    return None if v is None else base64.b64encode(v).decode()


def unb64(v):
    return None if v is None else base64.b64decode(v)


def load(item):
    model = LOADERS[item["format"]]
    if "text" in item:
        return model.load(item["text"])
    return model.load_file(item["path"])


class FakeMessage:
    """What io.Deserializer reads from a confluent_kafka.Message."""

    def __init__(self, value, headers):
        self._value = value
        self._headers = headers

    def value(self):
        return self._value

    def headers(self):
        return self._headers


def pack(items):
    return [{"payload": b64(io.Producer.pack(load(item))[0])} for item in items]


def read(items):
    out = []
    for item in items:
        headers = [(k, unb64(v)) for k, v in item["headers"]] or None
        model = io.Deserializer.deserialize(FakeMessage(unb64(item["value"]), headers))
        out.append({"model": type(model).__name__, "format": models.format_name(type(model))})
    return out


def publish(broker, user, password, topic, items):
    auth = Auth(user, password, ssl=False)
    with io.Stream(auth=auth).open(f"kafka://{broker}/{topic}", "w") as producer:
        for item in items:
            producer.write(load(item), test=bool(item.get("test")))
    return len(items)


def main():
    command = sys.argv[1]
    items = json.load(sys.stdin)
    if command == "pack":
        result = pack(items)
    elif command == "read":
        result = read(items)
    elif command == "publish":
        result = publish(*sys.argv[2:6], items)
    else:
        raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


main()
