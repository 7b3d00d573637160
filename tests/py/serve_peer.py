"""hop-client against `housekeeping serve`: its own HTTP SCRAM client, and its producer's automatic offload.

  serve_peer.py http       stdin: {"method", "url", "body"?, "username"?, "password"?}; the request with hop-client's
                           SCRAMAuth (shortcut, as its producer and consumer use it); stdout: {"status", "body",
                           "headers"} (base64 body), or {"status": null, "error"} when the SCRAM client gives up
  serve_peer.py user       as roundtrip, with offload_url ignored: both clients find serve through sys.metadata
  serve_peer.py roundtrip  stdin: {"broker", "topic", "username", "password", "offload_url", "payload", "headers",
                           "key"} (bytes as base64); a hop-client producer writes a Blob too large for the topic, so it
                           offloads it to offload_url and sends a placeholder; a hop-client consumer reads the topic
                           from the start and fetches the original. stdout: {"messages": [{"content", "headers",
                           "key", "timestamp"}, ...], "placeholder_sent": bool}
"""
import base64
import json
import sys
from urllib.parse import urlparse

import requests
from hop import io, models
from hop.auth import Auth
from hop.http_scram import SCRAMAuth


def b64(data):
    return None if data is None else base64.b64encode(bytes(data)).decode()


def unb64(text):
    return None if text is None else base64.b64decode(text)


def http(args):
    auth = None
    if args.get("username") is not None:
        auth = SCRAMAuth(Auth(args["username"], args["password"], ssl=False, method="SCRAM-SHA-512"),
                         shortcut=True)
    try:
        resp = requests.request(args["method"], args["url"], data=unb64(args.get("body")), auth=auth)
    except RuntimeError as err:  # hop-client's SCRAM client refusing the server (e.g. a bad server signature)
        return {"status": None, "error": str(err)}
    return {"status": resp.status_code, "body": b64(resp.content),
            "headers": {k.lower(): v for k, v in resp.headers.items()}}


def roundtrip(args, as_user=False):
    auth = Auth(args["username"], args["password"], ssl=False, method="SCRAM-SHA-512")
    url = f"kafka://{args['broker']}/{args['topic']}"
    errors = []

    def delivered(err, msg):
        if err is not None:
            errors.append(str(err))

    producer = io.Stream(auth=auth).open(url, "w")
    if not as_user:
        # Where the broker's sys.metadata would point it; set on the client so that the shared test broker stays as is.
        producer.offload_url = args["offload_url"]
    headers = [(k, unb64(v)) for k, v in args["headers"]]
    producer.write(models.Blob(content=unb64(args["payload"])), headers=headers, key=unb64(args.get("key")),
                   delivery_callback=delivered)
    producer.close()
    if errors:
        raise SystemExit(f"producer failed: {errors}")

    consumer = io.Stream(auth=auth, start_at=io.StartPosition.EARLIEST, until_eos=True).open(
        url, "r", group_id=f"serve-peer-{args['topic']}")
    if not as_user:
        consumer.trusted_offload_url = urlparse(args["offload_url"])
    messages = []
    for payload, metadata in consumer.read(metadata=True):
        messages.append({"content": b64(payload.content), "headers": [[k, b64(v)] for k, v in metadata.headers],
                         "key": b64(metadata.key), "timestamp": metadata.timestamp})
    consumer.close()
    return {"messages": messages}


mode = sys.argv[1]
if mode == "http":
    print(json.dumps(http(json.load(sys.stdin))))
else:
    # "user": configured only as a user configures hop-client; the offload URL comes from sys.metadata.
    print(json.dumps(roundtrip(json.load(sys.stdin), as_user=mode == "user")))
