"""hop-client's own credential handling, as the reference for lib/kafka/auth_toml.ts.

  hop_auth_peer.py select   stdin: [{"hosts": [hostname or "", ...], "broker": str, "username": str|null}, ...]
                            stdout: one result per case: the chosen entry's index, "AMBIGUOUS" or "NOTFOUND"
  hop_auth_peer.py load F   stdout: hop.auth.load_auth(F) as [{"username", "password", "protocol", "mechanism",
                            "hostname", "ssl_ca_location"}, ...]
"""
import json
import sys

from hop.auth import AmbiguousCredentialError, Auth, load_auth, select_matching_auth


def select(cases):
    results = []
    for case in cases:
        creds = [Auth(str(i), "unused", host=host) for i, host in enumerate(case["hosts"])]
        try:
            results.append(int(select_matching_auth(creds, case["broker"], case.get("username")).username))
        except AmbiguousCredentialError:
            results.append("AMBIGUOUS")
        except RuntimeError:
            results.append("NOTFOUND")
    return results


def load(path):
    return [{"username": a.username, "password": a.password, "protocol": a.protocol, "mechanism": a.mechanism,
             "hostname": a.hostname, "ssl_ca_location": a.ssl_ca_location} for a in load_auth(path)]


if sys.argv[1] == "select":
    print(json.dumps(select(json.load(sys.stdin))))
else:
    print(json.dumps(load(sys.argv[2])))
