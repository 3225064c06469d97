"""The simulated provider's state and one function per command: sends decided as a provider
decides them (idempotency, rate per sender, template and DLT checks, failures), the status reports
each accepted message will get, replies, and erasure. All state is in memory and owned by the
event loop; `handle` routes a command to its function."""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from shared.sending.signatures import caller_hash
from simulator import commands
from simulator import domain as d
from simulator.conference import ConferenceRules, Conferences
from simulator.settings import SimulatorSettings


class Provider:
    """Limits, decisions, what was accepted, and the reports and replies still to call back."""

    def __init__(
        self,
        settings: SimulatorSettings,
        clock: Callable[[], float] = time.monotonic,
        caller_key: bytes = b"",
    ):
        self.settings, self.clock = settings, clock
        self.rng = random.Random(settings.seed)
        self.limits = d.TokenBucket(settings.rate_per_sender)
        self.fates = d.Fates(
            transient=settings.transient_failure_share,
            permanent=settings.permanent_failure_share,
            rng=self.rng,
        )
        self.reporting = d.Reporting(
            read_share=settings.read_share,
            read_before_delivered_share=settings.read_before_delivered_share,
            duplicate_share=settings.duplicate_share,
            undeliverable_share=settings.undeliverable_share,
            delivered_delay_s=tuple(ms / 1000 for ms in settings.delivered_delay_ms),
            read_delay_s=tuple(ms / 1000 for ms in settings.read_delay_ms),
        )
        self.messages = d.Bounded(settings.messages_kept)  # id -> record
        self.answers = d.Bounded(settings.idempotency_kept)  # idempotency key -> message id
        self.stats: Counter[str] = Counter()
        self.per_sender: Counter[str] = Counter()
        self._due: list[tuple[float, int, dict]] = []  # (due, seq, status or inbound message)
        self._seq = 0
        self.conferences = Conferences(
            conference_rules(settings),
            caller_hash=lambda phone: caller_hash(caller_key, phone),
            wall_offset=time.time() - clock(),
        )

    def send(
        self,
        channel: str,
        sender: str,
        to: str,
        content: dict[str, Any],
        idempotency_key: str | None,
        refusal: d.Refusal | None,
    ) -> d.Answer:
        if idempotency_key and idempotency_key in self.answers:
            self.stats["duplicates"] += 1
            return d.Answer(200, {"id": self.answers[idempotency_key], "duplicate": True})
        wait = self.limits.take(f"{channel}:{sender}", self.clock())
        if wait:
            rate = f"{sender} exceeded {self.settings.rate_per_sender:g} messages/s"
            return self._refuse(d.Refusal(429, d.RATE_LIMITED, rate), retry_after_s=wait)
        refusal = refusal or self.fates.refusal(channel, to)
        if refusal is not None:
            return self._refuse(refusal)
        message_id = f"{channel[:2]}.{uuid.uuid4().hex}"
        if idempotency_key:
            self.answers[idempotency_key] = message_id
        self.messages[message_id] = {
            "id": message_id,
            "channel": channel,
            "sender": sender,
            "to": to,
            **content,
            "idempotency_key": idempotency_key,
            "accepted_at": time.time(),
        }
        self.stats[f"accepted:{channel}"] += 1
        self.stats["accepted"] += 1
        self.per_sender[f"{channel}:{sender}"] += 1
        for report in self.reporting.plan(message_id, self.clock(), self.rng):
            self.schedule(report.due, {"statuses": [_status(report, channel, to)]})
        return d.Answer(200, {"id": message_id})

    def _refuse(self, refusal: d.Refusal, retry_after_s: float | None = None) -> d.Answer:
        self.stats[f"refused:{refusal.code}"] += 1
        return d.refused(refusal, retry_after_s)

    # --- what is owed to the callback URL ------------------------------------------------------

    def schedule(self, due: float, item: dict, attempt: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, {**item, "_attempt": attempt}))

    def take_due(self, limit: int) -> list[dict]:
        """The reports and replies due by now, oldest first, at most `limit`."""
        now, due = self.clock(), []
        while self._due and self._due[0][0] <= now and len(due) < limit:
            due.append(heapq.heappop(self._due)[2])
        return due

    def try_again(self, items: list[dict]) -> None:
        """A callback failed: each item again later, backing off, until its attempts run out."""
        for item in items:
            attempt = item["_attempt"] + 1
            if attempt < self.settings.callback_attempts:
                self.schedule(self.clock() + min(2**attempt * 0.5, 30), item, attempt)
            else:
                self.stats["callbacks_abandoned"] += 1

    def drop_owed(self, message_ids: set[str]) -> None:
        """Forget the reports and replies still owed on these messages."""
        self._due = [entry for entry in self._due if not _concerns(entry[2], message_ids)]
        heapq.heapify(self._due)

    @property
    def pending_reports(self) -> int:
        return len(self._due)


def _status(report: d.Report, channel: str, to: str) -> dict:
    return {
        "message_id": report.message_id,
        "status": report.status,
        "channel": channel,
        "recipient": to,
        # Stamped when the report is sent (formatting a time per message cost ~9% of the CPU).
        "timestamp": None,
        "error": {"code": report.error} if report.error else None,
    }


# --- one function per command ------------------------------------------------------------------


def send_whatsapp(provider: Provider, command: commands.SendWhatsApp) -> d.Answer:
    refusal = None
    if command.kind == "template":
        approved = provider.settings.approved_templates
        if command.template is None or command.template["name"] not in approved:
            refusal = d.Refusal(
                400, d.TEMPLATE_NOT_APPROVED, "the template is not approved for this business"
            )
    elif not command.text:
        refusal = d.Refusal(400, "131008", "text messages need a text")
    content = {"template": command.template, "text": command.text, "reference": command.reference}
    return provider.send(
        "whatsapp", command.sender, command.to, content, command.idempotency_key, refusal
    )


def send_sms(provider: Provider, command: commands.SendSms) -> d.Answer:
    refusal = None
    if command.sender not in provider.settings.sms_headers:
        refusal = d.Refusal(
            400, d.DLT_HEADER_UNREGISTERED, "the sender header is not registered on DLT"
        )
    elif command.dlt_template_id not in provider.settings.dlt_templates:
        refusal = d.Refusal(
            400, d.DLT_TEMPLATE_MISMATCH, "the message matches no registered DLT template"
        )
    content = {
        "text": command.text,
        "dlt_template_id": command.dlt_template_id,
        "reference": command.reference,
    }
    return provider.send(
        "sms", command.sender, command.to, content, command.idempotency_key, refusal
    )


def send_push(provider: Provider, command: commands.SendPush) -> d.Answer:
    content = {
        "title": command.title,
        "text": command.body,
        "link": command.link,
        "reference": command.to,
    }
    return provider.send(
        "app_push", command.app, command.to, content, command.idempotency_key, None
    )


def invite_to_bridge(provider: Provider, command: commands.InviteToBridge) -> d.Answer:
    content = {
        "pin": command.pin,
        "starts_at": command.starts_at.isoformat(),
        "reference": command.reference,
    }
    return provider.send(
        "audio_bridge", command.bridge, command.to, content, command.idempotency_key, None
    )


def make_reply(provider: Provider, command: commands.MakeReply) -> dict:
    """The inbound message, to be called back at once; {} if the message named is unknown. Like
    a status report it may arrive twice (SIMULATOR_DUPLICATE_SHARE, or `twice`): the same id."""
    original = provider.messages.get(command.message_id) if command.message_id else None
    if command.message_id and original is None:
        return {}
    received_at = datetime.now(timezone.utc).isoformat()
    inbound = {
        "id": f"in.{uuid.uuid4().hex}",
        "from": original["to"] if original else command.sender,
        "channel": original["channel"] if original else command.channel,
        "text": command.text,
        "received_at": received_at,
        "timestamp": received_at,  # the older name, kept for receivers that read it
        "context": {"message_id": command.message_id} if original else None,
    }
    provider.stats["replies"] += 1
    provider.schedule(provider.clock(), {"messages": [inbound]})
    if command.twice or provider.rng.random() < provider.settings.duplicate_share:
        provider.stats["reply_duplicates"] += 1
        provider.schedule(provider.clock(), {"messages": [inbound]})
    return inbound


def forget_people(provider: Provider, command: commands.ForgetPeople) -> int:
    """Drop the messages sent for these references, with the status reports and replies still
    due on them; returns how many messages went."""
    gone = {
        message_id
        for message_id, record in provider.messages.items()
        if record.get("reference") in command.references
    }
    for message_id in gone:
        del provider.messages[message_id]
    provider.drop_owed(gone)
    provider.stats["erased"] += len(gone)
    return len(gone)


# --- the conference provider: time moves to now before each request --------------------------


def create_bridge(provider: Provider, command: commands.CreateBridge) -> tuple[dict, bool]:
    """The bridge's answer, and whether it was made by this request."""
    conferences = _now(provider)
    bridge, made = conferences.create_bridge(command, provider.clock())
    rules = conferences.rules
    return {
        "bridge_id": bridge.bridge_id,
        "capacity": bridge.capacity,
        "dial_in_number": rules.dial_in_number if bridge.kind == "audio" else None,
        "pin": bridge.pin,
        "room_url": f"{rules.base_url}/conference/v1/rooms/{bridge.bridge_id}"
        if bridge.kind == "video"
        else None,
    }, made


def dial_out(provider: Provider, command: commands.DialOut) -> dict:
    call_id, _ = _now(provider).dial_out(command, provider.clock())
    return {"call_id": call_id}


def mute_bridge(provider: Provider, command: commands.MuteBridge) -> None:
    _now(provider).mute(command.bridge_id, command.muted, command.call_id)


def play_recording(provider: Provider, command: commands.PlayRecording) -> None:
    _now(provider).play(command.bridge_id, command.recording_url)


def kick_call(provider: Provider, command: commands.KickCall) -> None:
    _now(provider).kick(command.bridge_id, command.call_id, provider.clock())


def end_bridge(provider: Provider, command: commands.EndBridge) -> None:
    _now(provider).end(command.bridge_id, provider.clock())


def dial_in(provider: Provider, command: commands.DialIn) -> dict:
    leg = _now(provider).dial_in(command.pin, command.caller, provider.clock())
    return {"call_id": leg.call_id, "bridge_id": leg.bridge_id}


def join_room(provider: Provider, command: commands.JoinRoom) -> dict:
    leg = _now(provider).join_room(command.bridge_id, command.participant_ref, provider.clock())
    return {"call_id": leg.call_id, "bridge_id": leg.bridge_id}


def participants(provider: Provider, bridge_id: str) -> dict:
    """The bridge's legs, and the recordings played into it (what a test can hear)."""
    conferences = _now(provider)
    return {
        "participants": conferences.participants(bridge_id, provider.clock()),
        "plays": list(conferences.bridge(bridge_id).plays),
    }


def _now(provider: Provider) -> Conferences:
    provider.conferences.advance(provider.clock())
    return provider.conferences


def conference_rules(settings: SimulatorSettings) -> ConferenceRules:
    return ConferenceRules(
        cap=settings.conference_cap,
        calls_per_second=settings.conference_cps,
        no_answer_share=settings.conference_no_answer_share,
        busy_share=settings.conference_busy_share,
        failed_share=settings.conference_failed_share,
        leave_early_share=settings.conference_leave_early_share,
        confirm_share=settings.conference_confirm_share,
        ring_s=settings.conference_ring_ms / 1000,
        early_stay_s=settings.conference_early_stay_ms / 1000,
        duplicate_share=settings.conference_duplicate_share,
        out_of_order_share=settings.conference_out_of_order_share,
        lost_share=settings.conference_lost_share,
        base_url=settings.conference_base_url.rstrip("/"),
        dial_in_number=settings.conference_dial_in_number,
    )


def _concerns(item: dict, message_ids: set[str]) -> bool:
    """Whether a scheduled report (statuses) or reply (inbound messages) is about these messages."""
    return any(status["message_id"] in message_ids for status in item.get("statuses", ())) or any(
        (inbound.get("context") or {}).get("message_id") in message_ids
        for inbound in item.get("messages", ())
    )


HANDLERS: dict[type, Callable[[Provider, Any], Any]] = {
    commands.SendWhatsApp: send_whatsapp,
    commands.SendSms: send_sms,
    commands.SendPush: send_push,
    commands.InviteToBridge: invite_to_bridge,
    commands.MakeReply: make_reply,
    commands.ForgetPeople: forget_people,
    commands.CreateBridge: create_bridge,
    commands.DialOut: dial_out,
    commands.MuteBridge: mute_bridge,
    commands.PlayRecording: play_recording,
    commands.KickCall: kick_call,
    commands.EndBridge: end_bridge,
    commands.DialIn: dial_in,
    commands.JoinRoom: join_room,
}


def handle(provider: Provider, command: commands.Command):
    return HANDLERS[type(command)](provider, command)
