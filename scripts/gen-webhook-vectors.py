#!/usr/bin/env python3
"""Generate crates/core/tests/fixtures/webhook/vectors.json with an independent implementation.

The signatures come from the `standardwebhooks` package on PyPI (the Standard Webhooks
reference library), not from kipp, so `crates/core/tests/webhook_vectors.rs` cross-checks
our Rust sign/verify against it. Every vector's expected verdict is also confirmed by the
Python library's own `verify` (with its clock pinned to the vector's `now`).

Run from the repository root:

    python3 -m venv target/pyvenv
    target/pyvenv/bin/pip install standardwebhooks
    target/pyvenv/bin/python scripts/gen-webhook-vectors.py

The output is deterministic (fixed secrets, ids and timestamps); commit it. The Rust tests
read the committed JSON and never need Python.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import standardwebhooks.webhooks as swh
from standardwebhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/core/tests/fixtures/webhook/vectors.json"
EXAMPLES = ROOT / "crates/core/tests/fixtures/examples"
TOLERANCE_SECS = 300  # the Python library hard-codes 5 minutes; kipp's default matches


def secret(label: str, length: int = 32, prefix: bool = True, padded: bool = True) -> str:
    """A deterministic secret: the first `length` bytes of SHA-512(label), base64."""
    key = hashlib.sha512(label.encode()).digest()[:length]
    encoded = base64.b64encode(key).decode()
    if not padded:
        encoded = encoded.rstrip("=")
    return ("whsec_" if prefix else "") + encoded


def py_sign(secrets: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """The reference library signs with one secret; rotation joins the entries with a space."""
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return " ".join(Webhook(s).sign(msg_id, when, body) for s in secrets)


class _PinnedClock(datetime):
    """Stands in for `datetime` inside the library so `verify` sees a fixed `now`."""

    pinned: datetime

    @classmethod
    def now(cls, tz=None):  # noqa: ARG003 - same signature as datetime.now
        return cls.pinned


def py_verify(secrets: list[str], headers: dict[str, str], body: str, now: int) -> str:
    """'valid' if any secret verifies, else the library's last error message."""
    _PinnedClock.pinned = datetime.fromtimestamp(now, tz=timezone.utc)
    real = swh.datetime
    swh.datetime = _PinnedClock
    try:
        error = "no secret"
        for s in secrets:
            try:
                Webhook(s).verify(body, headers, json_parse=False)
                return "valid"
            except Exception as exc:  # the library raises ValueError on some malformed input
                error = f"{type(exc).__name__}: {exc}"
        return error
    finally:
        swh.datetime = real


def example(name: str) -> str:
    raw = (EXAMPLES / name).read_bytes()
    return raw.decode("utf-8")


S1 = secret("kipp webhook vector secret 1")
S2 = secret("kipp webhook vector secret 2")
S3 = secret("kipp webhook vector secret 3")
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TS = 1_780_684_419  # 2026-06-05T18:33:39Z, the finalized example's event time
KEVT = "kevt_62EvxyMEaAaHSGeoDTza47"
SMALL = '{"id":"kevt_754uIatTW0hmi10Gggqe2H","type":"ipp.session.activated"}'

POSITIVE = [
    # name, secrets, msg_id, timestamp, body
    ("spec-known-answer", [SPEC_SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330,
     '{"test": 2432232314}'),
    ("empty-body", [S1], KEVT, TS, ""),
    ("minified-json", [S1], "kevt_754uIatTW0hmi10Gggqe2H", TS, SMALL),
    ("unicode-body", [S1], KEVT, TS,
     '{"note":"Smörgåsbord – お支払い ✓ 🎉","currency":"SEK","emoji":"\U0001F9FE"}'),
    ("kustom-example-activated", [S1], "kevt_754uIatTW0hmi10Gggqe2H", 1_780_684_661,
     example("webhook.ipp.session.activated.json")),
    ("kustom-example-finalized", [S1], KEVT, TS, example("webhook.ipp.session.finalized.json")),
    ("whitespace-and-crlf", [S1], KEVT, TS, ' {\r\n\t"a": 1,\r\n\t"b": [ ]\r\n}\n '),
    ("body-with-dots-and-id", [S1], "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", TS,
     f"{KEVT}.{TS}.{{}}.."),
    ("bare-secret-without-prefix", [secret("kipp bare", prefix=False)], KEVT, TS, SMALL),
    ("unpadded-secret", [secret("kipp unpadded", length=32, padded=False)], KEVT, TS, SMALL),
    ("minimum-24-byte-secret", [secret("kipp short", length=24)], KEVT, TS, SMALL),
    ("64-byte-secret", [secret("kipp long", length=64)], KEVT, TS, SMALL),
    ("year-2100-timestamp", [S1], "msg_p5jXN8AQM9LWM0D4loKWxJek", 4_102_444_800, SMALL),
    ("large-body", [S1], KEVT, TS,
     json.dumps({"items": [{"n": i, "name": f"item {i} ✓"} for i in range(150)]})),
    ("rotation-two-secrets", [S1, S2], KEVT, TS, SMALL),
]


def vector(name, secrets, msg_id, timestamp, body, verify_overrides=None):
    signature = py_sign(secrets, msg_id, timestamp, body)
    check = {
        "secrets": secrets,
        "msg_id": msg_id,
        "timestamp": str(timestamp),
        "body": body,
        "signature": signature,
        "now": timestamp,
        "expect": "valid",
    }
    check.update(verify_overrides or {})
    return {
        "name": name,
        "secrets": secrets,
        "msg_id": msg_id,
        "timestamp": timestamp,
        "body": body,
        "signature": signature,
        "verify": check,
    }


def build() -> list[dict]:
    vectors = [vector(*v) for v in POSITIVE]
    for v in vectors:
        if v["name"].startswith("kustom-example-"):
            kind = v["name"].removeprefix("kustom-example-")
            v["body_file"] = f"tests/fixtures/examples/webhook.ipp.session.{kind}.json"
    good = py_sign([S1], KEVT, TS, SMALL)
    wrong = py_sign([S3], KEVT, TS, SMALL)
    # Same delivery (KEVT, TS, SMALL), with what the receiver sees or holds changed.
    variants = [
        ("rotation-receiver-has-new-secret-only", dict(secrets=[S2])),
        ("rotation-receiver-has-both-secrets", dict(secrets=[S3, S1])),
        ("wrong-secret", dict(secrets=[S3], expect="webhook_signature_invalid")),
        ("tampered-body", dict(body=SMALL.replace("activated", "activatee"),
                               expect="webhook_signature_invalid")),
        ("tampered-body-trailing-newline", dict(body=SMALL + "\n",
                                                expect="webhook_signature_invalid")),
        ("tampered-id", dict(msg_id="kevt_754uIatTW0hmi10Gggqe2I",
                             expect="webhook_signature_invalid")),
        ("tampered-timestamp", dict(timestamp=str(TS + 1), now=TS + 1,
                                    expect="webhook_signature_invalid")),
        ("tolerance-edge-old-passes", dict(now=TS + TOLERANCE_SECS)),
        ("tolerance-edge-new-passes", dict(now=TS - TOLERANCE_SECS)),
        ("too-old", dict(now=TS + TOLERANCE_SECS + 1, expect="webhook_timestamp_too_old")),
        ("too-new", dict(now=TS - TOLERANCE_SECS - 1, expect="webhook_timestamp_too_new")),
        ("one-of-several-entries-matches", dict(signature=f"{wrong} {good}")),
        ("only-other-versions", dict(signature=good.replace("v1,", "v1a,"),
                                     expect="webhook_signature_invalid")),
    ]
    for name, overrides in variants:
        signers = [S1, S2] if name.startswith("rotation") else [S1]
        vectors.append(vector(name, signers, KEVT, TS, SMALL, overrides))
    return vectors


def main() -> int:
    vectors = build()
    for v in vectors:
        c = v["verify"]
        headers = {
            "webhook-id": c["msg_id"],
            "webhook-timestamp": c["timestamp"],
            "webhook-signature": c["signature"],
        }
        verdict = py_verify(c["secrets"], headers, c["body"], c["now"])
        c["python_verdict"] = verdict
        if (verdict == "valid") != (c["expect"] == "valid"):
            print(f"{v['name']}: python says {verdict!r}, expected {c['expect']!r}",
                  file=sys.stderr)
            return 1
    document = {
        "about": "Standard Webhooks vectors signed by an independent implementation; "
                 "regenerate with scripts/gen-webhook-vectors.py, do not edit by hand.",
        "reference": f"standardwebhooks {metadata.version('standardwebhooks')} (PyPI): "
                     "Webhook(secret).sign(msg_id, datetime, payload), entries joined by ' ' "
                     "for several secrets; python_verdict is that library's verify() at `now`.",
        "tolerance_secs": TOLERANCE_SECS,
        "vectors": vectors,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
