"""Dead letters: list them, send them back after a fix (``mtlid events dead-letters`` and
``mtlid events replay``). How they are made: services/common/consumer.py.

A dead letter's id is ``<service>:<sequence in MTLID_<SVC>_DEAD_LETTERS>``. Listing shows
where it came from and why it died — never its payload, which may hold a resident's data.
Replaying publishes it on the replay subject of the consumer that failed it (no other
consumer sees it again), then deletes the dead letter; the consumer applies it through its
inbox like any event (an event applied meanwhile is not applied twice) and, if it fails
again, dead-letters it again under a new id.
"""

from __future__ import annotations

from typing import Any

from nats.js.errors import NotFoundError

from services.common.consumer import dead_letter_stream_name, dead_letter_subject


def _header(msg, name: str) -> str:
    return (msg.headers or {}).get(name, "")


def describe(service: str, msg) -> dict[str, Any]:
    return {
        "id": f"{service}:{msg.seq}",
        "consumer": _header(msg, "Mtlid-Consumer"),
        "event_id": _header(msg, "Mtlid-Event-Id") or None,
        "subject": _header(msg, "Mtlid-Original-Subject"),
        "origin": _header(msg, "Mtlid-Original"),
        "reason": _header(msg, "Mtlid-Reason"),
        "deliveries": int(_header(msg, "Mtlid-Deliveries") or 0),
        "dead_at": _header(msg, "Mtlid-Dead-At"),
    }


async def list_dead_letters(js, service: str) -> list[dict[str, Any]]:
    """Every dead letter of ``service``'s consumers, oldest first."""
    stream = dead_letter_stream_name(service)
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    found: list[dict[str, Any]] = []
    sequence = info.state.first_seq
    subject = dead_letter_subject(service, "dead", "*")
    while info.state.messages and sequence <= info.state.last_seq:
        try:
            msg = await js.get_msg(stream, seq=sequence, subject=subject, next=True)
        except NotFoundError:
            break
        found.append(describe(service, msg))
        sequence = msg.seq + 1
    return found


def parse_id(dead_letter_id: str) -> tuple[str, int]:
    service, _, sequence = dead_letter_id.partition(":")
    if not service or not sequence.isdigit():
        raise ValueError(f"{dead_letter_id!r} is not a dead letter id (<service>:<number>)")
    return service, int(sequence)


async def replay(js, dead_letter_id: str) -> dict[str, Any]:
    """Send one dead letter back to its consumer; raises ``LookupError`` when there is none."""
    service, sequence = parse_id(dead_letter_id)
    stream = dead_letter_stream_name(service)
    try:
        msg = await js.get_msg(stream, seq=sequence)
    except NotFoundError:
        raise LookupError(f"no dead letter {dead_letter_id}") from None
    if not msg.subject.startswith(dead_letter_subject(service, "dead", "")):
        raise LookupError(f"no dead letter {dead_letter_id}")
    consumer = _header(msg, "Mtlid-Consumer")
    headers = {"Nats-Msg-Id": f"replay:{dead_letter_id}",
               "Mtlid-Original-Subject": _header(msg, "Mtlid-Original-Subject"),
               "Mtlid-Original": _header(msg, "Mtlid-Original"),
               "Mtlid-Replay-Of": dead_letter_id}
    if _header(msg, "traceparent"):
        headers["traceparent"] = _header(msg, "traceparent")
    await js.publish(dead_letter_subject(service, "replay", consumer), msg.data, stream=stream,
                     headers=headers, timeout=5.0)
    # Published (acknowledged) first, deleted second: a crash in between leaves the dead
    # letter listed, and replaying it again is harmless (same Nats-Msg-Id; the inbox).
    await js.delete_msg(stream, sequence)
    return {"id": dead_letter_id, "consumer": consumer, "event_id": _header(msg, "Mtlid-Event-Id") or None}
