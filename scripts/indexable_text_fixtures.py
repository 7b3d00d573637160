"""Runs archive-core's own text extraction (Decider.get_data_format and get_indexable_text, archive-core
v1.3.0 archive/decision_api.py) on the cases that scripts/indexable_text_cases.ts writes, and prints the
fixtures that tests/unit/text_extract_test.ts compares lib/text/ with. Run through scripts/indexable_text_fixtures.sh,
which sets up the Python environment; not run by the tests.

Usage: python indexable_text_fixtures.py ARCHIVE_CORE_DIR CASES.json > fixtures.json
"""
import base64
import importlib.metadata
import json
import logging
import sys

sys.path.insert(0, sys.argv[1])
from archive import decision_api  # noqa: E402
import magic  # noqa: E402


def decider(limits):
    # Decider.__init__ also wants hopauth credentials, which text extraction never uses.
    d = decision_api.Decider.__new__(decision_api.Decider)
    d.magic = magic.Magic(flags=magic.MAGIC_MIME_TYPE)
    d.text_index_message_size_limit = limits.get("message", 1 << 22)
    d.text_index_size_limit = limits.get("text", 1 << 14)
    return d


def run(case):
    headers = [(k, None if v is None else base64.b64decode(v)) for k, v in case["headers"]]
    value = base64.b64decode(case["value"])
    d = decider(case.get("limits", {}))
    out = {}
    try:
        out["media_type"] = d.get_data_format(value, headers)
    except Exception as e:
        out["media_type_error"] = f"{type(e).__name__}: {e}"[:200]
        return out
    annotations = {"media_type": out["media_type"]}
    try:
        out["text"] = d.get_indexable_text(value, headers, annotations)
        out["text_fully_indexed"] = annotations["text_fully_indexed"]
    except BaseException as e:  # RecursionError included
        out["error"] = f"{type(e).__name__}: {e}"[:200]
        # What the headers alone give (no extractor for this media type): this archiver's answer when the
        # extractor fails, since archive-core then stores nothing at all.
        fallback = {"media_type": "housekeeping/no-extractor"}
        out["text"] = d.get_indexable_text(value, headers, fallback)
        out["text_fully_indexed"] = False
    return out


def main():
    with open(sys.argv[2]) as f:
        cases = json.load(f)
    logging.disable(logging.WARNING)  # its truncation warnings
    sys.setrecursionlimit(1000)  # Python's default, as archive-core runs
    fixtures = []
    for case in cases:
        fixtures.append({**case, **run(case)})
    json.dump({
        "made_by": "scripts/indexable_text_fixtures.sh (archive-core v1.3.0 decision_api.Decider)",
        "versions": {
            "python": sys.version.split()[0],
            "hop-client": importlib.metadata.version("hop-client"),
            "xmltodict": importlib.metadata.version("xmltodict"),
            "fastavro": importlib.metadata.version("fastavro"),
        },
        "fixtures": fixtures,
    }, sys.stdout, indent=1, ensure_ascii=True)
    sys.stdout.write("\n")


main()
