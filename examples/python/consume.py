#!/usr/bin/env python3
"""Reads Pantau's events from NATS JetStream, as an analytics job would.

Run examples/python/generate.sh first and put its output directory on PYTHONPATH.
Example: python3 consume.py --subject 'pantau.identity.worker.*' --limit 10
         python3 consume.py --subject 'pantau.attendance.session.*' --json
         python3 consume.py --subject 'pantau.activity.day.>'
         python3 consume.py --subject 'pantau.scoring.score.>' --json
The subject's context picks the stream and the payload type.
"""
import argparse
import asyncio
import json
import sys

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import DeliverPolicy
from google.protobuf.json_format import MessageToDict

from pantau.events.v1.activity_pb2 import ActivityEvent
from pantau.events.v1.attendance_pb2 import AttendanceEvent
from pantau.events.v1.fraud_pb2 import FraudEvent
from pantau.events.v1.identity_pb2 import IdentityEvent
from pantau.events.v1.scoring_pb2 import ScoringEvent

# Context (the second token of a subject) -> stream and payload type.
CONTEXTS = {
    "identity": ("PANTAU_IDENTITY", IdentityEvent),
    "attendance": ("PANTAU_ATTENDANCE", AttendanceEvent),
    "activity": ("PANTAU_ACTIVITY", ActivityEvent),
    "scoring": ("PANTAU_SCORING", ScoringEvent),
    "fraud": ("PANTAU_FRAUD", FraudEvent),
}


def safe_fields(variant):
    """Ids only, never personal data. NIK, phone, email, bank account and
    address are sealed in EncryptedPersonalData anyway (unreadable here), but
    a worker's name, NIP and birth date are not, so leave them out."""
    keys = ("worker_id", "agency_id", "unit_id", "to_agency_id", "campaign_id",
            "session_id", "scanner_id", "leave_id", "report_id", "rebuild_id",
            "finding_id", "subject_id")
    return {k: getattr(variant, k) for k in keys if getattr(variant, k, "")}


async def main(args):
    context = args.subject.split(".")[1] if args.subject.count(".") >= 1 else ""
    if context not in CONTEXTS:
        print(f"unknown context in subject {args.subject!r}; expected pantau.<{'|'.join(CONTEXTS)}>.…",
              file=sys.stderr)
        return 2
    stream, payload_type = CONTEXTS[context]
    nc = await nats.connect(args.url)
    js = nc.jetstream()
    # An ordered consumer is ephemeral, needs no acks, and replays in order.
    sub = await js.subscribe(
        args.subject,
        stream=stream,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    seen = 0
    try:
        while args.limit is None or seen < args.limit:
            try:
                msg = await sub.next_msg(timeout=args.idle_timeout)
            except NatsTimeout:
                break  # caught up: nothing new within the idle timeout
            seq = msg.metadata.sequence.stream
            event_type = (msg.headers or {}).get("Pantau-Event-Type", "?")
            event = payload_type.FromString(msg.data)
            variant = getattr(event, event.WhichOneof("event") or "", None)
            if args.json:  # the whole event: names included, handle as personal data
                body = MessageToDict(event, preserving_proto_field_name=True)
                print(json.dumps({"seq": seq, "type": event_type, "event": body}))
            else:
                fields = safe_fields(variant) if variant is not None else {}
                # Check-ins and scans carry the worker in a nested message.
                inner = getattr(variant, "presence", None)
                if inner is not None and inner.worker_id:
                    fields.update(safe_fields(inner))
                pairs = " ".join(f"{k}={v}" for k, v in fields.items())
                print(f"{seq:>8} {event_type:<22} {pairs}")
            seen += 1
    finally:
        await sub.unsubscribe()
        await nc.close()
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="nats://127.0.0.1:4222")
    p.add_argument("--subject", default="pantau.identity.>",
                   help="e.g. 'pantau.identity.worker.*', 'pantau.attendance.>', "
                        "'pantau.activity.day.>' or 'pantau.scoring.score.>'")
    p.add_argument("--limit", type=int, help="stop after N events")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line: seq, type, event")
    p.add_argument("--idle-timeout", type=float, default=2.0,
                   help="seconds without a new event before exiting")
    sys.exit(asyncio.run(main(p.parse_args())))
