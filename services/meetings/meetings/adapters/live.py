"""A meeting's live half in MongoDB, on the documents adapters/store.py keeps:

`{prefix}meetings` gains `live`:

    state          starting | started | ending | ended | cancelled  (absent: not started)
    refused        {reason, at}: the sending policy forbade the start (meetings.live); kept so
                   a retried start announces the same decision instead of judging again
    claimed_by, claim_ts   the pod that starts (or ends) it and until when its lease holds
    bridges        only in a meeting started by the code before: now `{prefix}bridges`
    invited, started_at, end_requested, ended_at, totals

`{prefix}bridges`: one document per started meeting, `_id` the meeting's: {bridges {"<number>":
{bridge_id, ref, role, room_url}}}, 0 the speaker bridge. Not in the meeting's document: at 265
bridges they are ~42 KB, which FerretDB would decode for every read of the meeting's state (each
batch of calls, each redial, each attendance page) and for every query that scans the meetings;
a pod reads them once a meeting has started (meetings.live keeps them: they never change then).

`{prefix}invitees` is not written while a meeting runs: what a dial and a webhook change lives in
a small document of its own, so FerretDB (which rewrites a whole document on every update) rewrites
the attendance alone (0.5–1.2 KB over a call), not the invitee's fields besides (sealed phone,
booth path, role…: ~0.56 KB) as well.

`{prefix}attendance`: one document per invitee whose attendance was written (made by its first
dial, or by its first webhook if it was never dialled), `_id` the invitee's:

    meeting_id     the meeting (the end's recount and a dial-in read the meeting's documents)
    booth_id       the invitee's booth, copied when the document is made: a webhook needs nothing
                   else from the invitee (its events' booth_path is derived from it, the participant
                   id from the `_id`), so the hot path never reads the invitee
    dial_bridge    the bridge number it was dialled into (redials go there)
    caller_hash    keyed hash of the phone (shared/sending/signatures.caller_hash): a dial-in
                   is matched by it; the number never leaves the invitee's sealed field
    att            the participant's attendance (meetings.conference.Attendance, as a document)
    att_v          its version: a webhook's update is a compare-and-set on it, so two webhooks of
                   one participant handled at once both count; the first write of a participant
                   with no document is an insert, and an insert that finds one made meanwhile
                   lost its compare-and-set the same way
    att_w          the tokens of its last few writes (WRITES_KEPT): concurrent webhooks' compare-
                   and-sets go to the store together (`write_attendances`, one bulk write), whose
                   result counts matches without naming them; a short count reads the tokens back
    att_pending    {event_id: {type, data}}: attendance events written with the change that made
                   them (without what every event of the participant carries: its meeting, booth,
                   booth path and id, added as they go out: meetings.live._told) and removed
                   once Kafka took them (with the participant's next attendance
                   update from the pod that sent them, or its next flush_published, whichever
                   comes first), so a failed publish is sent again by the next webhook of that
                   participant or by the end's reconciliation

Meetings started by the code before (these fields embedded in the invitee): a participant with no
attendance document is read from its invitee (a projection of these fields), and the first write
makes the document from what was read (the embedded version, tokens and pending events carried
over); the invitee's embedded fields are then never read again (docs/meetings.md).

`{prefix}calls`: the dial-outs still to make, first calls and redials of busy and no-answer alike,
in one queue per (meeting, attempt) ({_id "<meeting id>:<attempt>:<place>", meeting_id, invitee,
attempt, bridge, due_ts, place}); a made call's document stays, behind its queue's `next` and
no longer held, so nothing reads it again, until the meeting's end drops the meeting's calls.

`{prefix}dial_queues`: one document per (meeting, attempt) queue ({_id "<meeting id>:<attempt>",
next, end, held {"<place>": until}}): `next` is the first place not yet taken, `end` the first
free one, `held` the places taken and not yet made. A queue's places come due in order (first
calls are spread at the pace, every redial of one attempt waits the same backoff), so a dialler
reads the next few calls by `_id` and claims those due with one compare-and-set on `next`: the
same cost with 60 or 60,000 calls queued, where a sort on `due_ts` costs FerretDB a scan of the
whole queue, and one claim and one release per batch of calls instead of per call.

`{prefix}attendance_counts`: one counter per (meeting, unit above a booth), `_id "<meeting
id>|<unit>"` ("*": the whole audience): {meeting_id, totals {invited, rang, answered, joined,
confirmed, attended_seconds}, units {"<child unit>": the same counts}}; the "*" counter also
`calls {made, settled}`: calls made (counted by the dialler once written) and calls whose outcome
came in (an attempt told by a webhook), whose difference is what the provider still owes the
meeting (the diallers wait above MEETINGS_DIAL_MAX_OWED). A participant's change is
added, right after the compare-and-set that made it, to this pod's tally of every counter on its
booth's path; the tally is written every half second (bootstrap.COUNTS_INTERVAL_S: one `$inc`
per counter touched, whatever the number of webhooks), so the attendance a page reads is one
counter by `_id`, never the invitees. The end's reconciliation sets every counter again from
the attendance documents (what a pod that died held in its tally is counted then).

Starting and ending are claimed with one find-and-modify on the meeting, so one pod does each.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from pymongo import ReturnDocument, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError, PyMongoError

from meetings.adapters.store import invitee_of
from meetings.conference import ROOT, Attendance, Leg, counted_levels
from shared.batching import Batcher
from shared.crypto.fields import FieldCipher
from shared.mongo import insert_ignoring_duplicates
from shared.orgtree.levels import booth_path

PHONE = "phone"
# What a dial or a webhook writes: a participant's attendance document, or, for a meeting started
# by the code before it, the same fields embedded in its invitee (read when it has no document).
LIVE_FIELDS = ("dial_bridge", "caller_hash", "att", "att_v", "att_w", "att_pending")
# An invitee read for its attendance (no document yet): these fields only, never the phone.
AS_PARTICIPANT = dict.fromkeys(("meeting_id", "booth_id", *LIVE_FIELDS), 1)
# Marks a participant read from its invitee: the first write makes its attendance document.
NOT_STORED = "_not_stored"
CLAIM_TRIES = 4
# Write tokens an invitee keeps (`att_w`): a batch reads its own back after a short count, and
# the few kept still show it when another pod's write came in between.
WRITES_KEPT = 8
DROP_CHUNK = 1000  # calls removed by one delete at a meeting's end


@dataclass(frozen=True)
class AttendanceWrite:
    """One participant's compare-and-set, an item of the webhooks' group commit."""

    key: str  # the invitee's _id
    version: int  # the `att_v` it was read at
    changes: dict  # the new attendance, its version, its write tokens and its new pending events
    gone: frozenset[str]  # events this pod published, removed from `att_pending` by this write
    token: str  # this write's own, added to `att_w`: tells whether it took
    insert: dict | None = None  # the whole document, when the participant had none: made so


@dataclass(frozen=True)
class Dialled:
    """A call the provider took, to be written to its invitee (MongoLive.note_calls)."""

    key: str  # the invitee's _id
    caller_hash: str
    bridge: int
    call_id: str
    attempt: int
    booth_id: str  # the invitee's: copied into its attendance document when it is made
    # The attendance a meeting started by the code before embedded in the invitee (its document,
    # made from it before the call is written; see `embedded_attendance`), else None.
    embedded: dict | None = None


class MongoLive:
    def __init__(self, db: Database, prefix: str, cipher: FieldCipher):
        self._meetings = db[f"{prefix}meetings"]
        self._invitees = db[f"{prefix}invitees"]
        self._calls = db[f"{prefix}calls"]
        self._queues = db[f"{prefix}dial_queues"]
        self._counters = db[f"{prefix}attendance_counts"]
        self._attendance = db[f"{prefix}attendance"]
        self._bridges = db[f"{prefix}bridges"]
        self._empty_places: dict[str, float] = {}
        self._tally: dict[str, dict[str, int]] = {}  # counter id -> field -> change not written
        self._tally_lock = threading.Lock()
        self._published: dict[str, set[str]] = {}  # invitee -> events out, still in att_pending
        self._published_lock = threading.Lock()
        self.cipher = cipher
        # The webhooks' group commit of `write_attendances` (bootstrap sets it; None: one by one).
        self.attendance_writes: Batcher[AttendanceWrite, bool] | None = None
        # ... and of their reads of a participant (`read_invitees`; None: one `find` each).
        self.invitee_reads: Batcher[str, dict | None] | None = None

    # --- the meeting ---------------------------------------------------------------------------

    def claim_start(self, now: datetime, pod: str, lease_s: float) -> str | None:
        """A meeting due to start (invitees recorded) that no live lease holds, claimed."""
        doc = self._meetings.find_one_and_update(
            {
                "state": "scheduled",
                "starts_at": {"$lte": now},
                "jobs.invite.done_at": {"$ne": None},
                "live.state": {"$nin": ["started", "ending", "ended"]},
                "$or": [{"live.claim_ts": None}, {"live.claim_ts": {"$lt": now.timestamp()}}],
            },
            {
                "$set": {
                    "live.state": "starting",
                    "live.claimed_by": pod,
                    "live.claim_ts": now.timestamp() + lease_s,
                }
            },
        )
        return doc["_id"] if doc else None

    def claim_end(self, now: datetime, pod: str, lease_s: float) -> str | None:
        """A started meeting past its end, or whose end a moderator asked for, claimed."""
        doc = self._meetings.find_one_and_update(
            {
                "live.state": {"$in": ["started", "ending"]},
                "$and": [
                    {"$or": [{"ends_at": {"$lte": now}}, {"live.end_requested": True}]},
                    {"$or": [{"live.claim_ts": None}, {"live.claim_ts": {"$lt": now.timestamp()}}]},
                ],
            },
            {
                "$set": {
                    "live.state": "ending",
                    "live.claimed_by": pod,
                    "live.claim_ts": now.timestamp() + lease_s,
                }
            },
        )
        return doc["_id"] if doc else None

    def hold(self, meeting_id: str, pod: str, until: float) -> bool:
        """Extend this pod's lease; False if another pod holds the meeting now."""
        result = self._meetings.update_one(
            {"_id": meeting_id, "live.claimed_by": pod}, {"$set": {"live.claim_ts": until}}
        )
        return result.matched_count == 1

    def release(self, meeting_id: str, pod: str) -> None:
        self._meetings.update_one(
            {"_id": meeting_id, "live.claimed_by": pod}, {"$set": {"live.claim_ts": None}}
        )

    def live(self, meeting_id: str) -> dict:
        doc = self._meetings.find_one({"_id": meeting_id}, {"live": 1})
        return (doc or {}).get("live") or {}

    def save_bridge(self, meeting_id: str, number: int, bridge: dict) -> None:
        self._bridges.update_one(
            {"_id": meeting_id}, {"$set": {f"bridges.{number}": bridge}}, upsert=True
        )

    def bridges(self, meeting_id: str) -> dict[str, dict]:
        """The meeting's bridges by number (a meeting started by the code before kept them in
        its document's `live`)."""
        doc = self._bridges.find_one({"_id": meeting_id})
        if doc is not None:
            return doc.get("bridges") or {}
        return self.live(meeting_id).get("bridges") or {}

    def started(self, meeting_id: str, at: datetime, invited: int) -> None:
        self._meetings.update_one(
            {"_id": meeting_id},
            {"$set": {"live.state": "started", "live.started_at": at, "live.invited": invited}},
        )

    def refuse_start(self, meeting_id: str, pod: str, reason: str, at: datetime) -> dict:
        """Record that this start is refused, unless a decision is recorded already; the one that
        stands. Only the pod holding the start writes it."""
        self._meetings.update_one(
            {"_id": meeting_id, "live.claimed_by": pod, "live.refused": None},
            {"$set": {"live.refused": {"reason": reason, "at": at}}},
        )
        return self.live(meeting_id).get("refused") or {"reason": reason, "at": at}

    def cancelled(self, meeting_id: str, reason: str, at: datetime) -> None:
        """The refused meeting, cancelled for `reason` once its event is out: it is never claimed
        to start again (claim_start takes scheduled meetings only)."""
        self._meetings.update_one(
            {"_id": meeting_id},
            {
                "$set": {
                    "state": "cancelled",
                    "cancelled_by": "sending-policy",
                    "cancelled_at": at,
                    "cancel_reason": reason,
                    "live.state": "cancelled",
                    "live.claim_ts": None,
                }
            },
        )

    def request_end(self, meeting_id: str) -> bool:
        result = self._meetings.update_one(
            {"_id": meeting_id, "live.state": {"$in": ["starting", "started"]}},
            {"$set": {"live.end_requested": True, "live.claim_ts": None}},
        )
        return result.matched_count == 1

    def ended(self, meeting_id: str, at: datetime, totals: dict) -> None:
        self._meetings.update_one(
            {"_id": meeting_id},
            {"$set": {"live.state": "ended", "live.ended_at": at, "live.totals": totals}},
        )

    # --- invitees ------------------------------------------------------------------------------

    def invitees(self, meeting_id: str, with_phones: bool = False) -> Iterator[dict]:
        """The meeting's invitees (phones opened only when asked, for dialling): what does not
        change during the meeting (the attendance: `attendances`)."""
        left_out = dict.fromkeys(LIVE_FIELDS, 0)
        fields = left_out if with_phones else {PHONE: 0, **left_out}
        for doc in self._invitees.find({"meeting_id": meeting_id}, fields):
            if with_phones:
                doc[PHONE] = self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else ""
            yield doc

    def attendances(self, meeting_id: str) -> Iterator[tuple[str, dict | None]]:
        """Every invitee's booth and attendance document (`att`; None: nothing written yet), for
        the end's recount: the meeting's attendance documents, then the invitees that have none
        (their embedded `att` if the meeting was started by the code before)."""
        seen = set()
        for doc in self._attendance.find({"meeting_id": meeting_id}, {"booth_id": 1, "att": 1}):
            seen.add(doc["_id"])
            yield doc["booth_id"], doc.get("att")
        for doc in self._invitees.find({"meeting_id": meeting_id}, {"booth_id": 1, "att": 1}):
            if doc["_id"] not in seen:
                yield doc["booth_id"], doc.get("att")

    def invitee(self, key: str, with_phone: bool = False) -> dict | None:
        """With the phone: the invitee's document, for dialling. Without: the participant as a
        webhook reads it (`read_invitees`), through the group commit when the pod has one."""
        if not with_phone:
            if self.invitee_reads is not None:
                return self.invitee_reads.submit(key)
            return self.read_invitees([key])[0]
        doc = self._invitees.find_one({"_id": key})
        if doc is not None:
            doc[PHONE] = self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else ""
        return doc

    def read_invitees(self, keys: list[str]) -> list[dict | None]:
        """The group commit's read (concurrent webhooks' participants): one document per key, in
        order, each caller its own copy (see `participants`)."""
        found = self.participants(list(set(keys)))
        return [dict(found[key]) if key in found else None for key in keys]

    def participants(self, keys: list[str]) -> dict[str, dict]:
        """Participants as a webhook reads them, by invitee `_id`: their attendance documents,
        read together (one `_id $in` find, which FerretDB narrows to its index), with the
        participant id and booth path derived; the invitee itself is read (the same way, a
        projection of its few fields) only for those with no attendance document yet."""
        docs = {doc["_id"]: doc for doc in self._attendance.find({"_id": {"$in": keys}})}
        missing = [key for key in keys if key not in docs]
        if missing:
            for doc in self._invitees.find({"_id": {"$in": missing}}, AS_PARTICIPANT):
                docs[doc["_id"]] = {**doc, NOT_STORED: True}
        return {key: self._unpublished(_participant(doc)) for key, doc in docs.items()}

    def invitees_by_key(self, keys: list[str], with_phone: bool = False) -> dict[str, dict]:
        """Invitees by `_id`, read together (FerretDB narrows `_id $in` to its index)."""
        found = self._invitees.find({"_id": {"$in": keys}}, None if with_phone else {PHONE: 0})
        docs = {}
        for doc in found:
            if with_phone:
                doc[PHONE] = self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else ""
            docs[doc["_id"]] = doc
        return docs

    def by_caller(self, meeting_id: str, caller_hash: str) -> dict | None:
        """The participant a dial-in's caller hash names: its attendance document (written by its
        dial), else an invitee of a meeting started by the code before, which kept it there."""
        match = {"meeting_id": meeting_id, "caller_hash": caller_hash}
        doc = self._attendance.find_one(match)
        if doc is None:
            doc = self._invitees.find_one(match, AS_PARTICIPANT)
            if doc is None:
                return None
            doc[NOT_STORED] = True
        return self._unpublished(_participant(doc))

    def note_call(self, key: str, caller_hash: str, bridge: int, booth_id: str) -> None:
        """Dialled into `bridge` (a redial goes there too); a dial-in is matched by the hash."""
        self._attendance.update_one(
            {"_id": key},
            {
                "$set": {"caller_hash": caller_hash, "dial_bridge": bridge},
                "$setOnInsert": {"meeting_id": invitee_of(key)[0], "booth_id": booth_id},
            },
            upsert=True,
        )

    def note_calls(self, dialled: list[Dialled]) -> list[int]:
        """Calls the provider took, each written to its participant's attendance document (one
        update command for them all, one upsert per participant: the first call makes the
        document): the bridge it was dialled into (a redial goes there too), the caller hash (a
        dial-in is matched by it) and the call in its attendance, whose version goes up, so a
        webhook's compare-and-set that read it before reads it again. The call's key in `att` is
        its own, so this update needs no compare-and-set of its own. A participant of a meeting
        started by the code before gets its document made from its invitee's embedded attendance
        first. The positions of the calls whose write failed (the others are written)."""
        if not dialled:
            return []
        insert_ignoring_duplicates(self._attendance, [d.embedded for d in dialled if d.embedded])
        updates = [
            {
                "q": {"_id": d.key},
                "u": {
                    "$set": {
                        "caller_hash": d.caller_hash,
                        "dial_bridge": d.bridge,
                        f"att.calls.{d.call_id}": d.attempt,
                    },
                    "$inc": {"att_v": 1},
                    "$setOnInsert": {"meeting_id": invitee_of(d.key)[0], "booth_id": d.booth_id},
                },
                "upsert": True,
            }
            for d in dialled
        ]
        # The update command itself, not bulk_write: pymongo's bulk result breaks on FerretDB's
        # reply to a failed update (no nModified). FerretDB v1 stops at the first failed update
        # and names it as index 0 whatever its place, so after a failure each update is sent
        # again on its own: those already written are written again (the same fields, and one
        # more version), and the ones that fail are known.
        store = self._attendance
        reply = store.database.command("update", store.name, updates=updates)
        if not reply.get("writeErrors"):
            return []
        failed = []
        for n, update in enumerate(updates):
            reply = store.database.command("update", store.name, updates=[update])
            if reply.get("writeErrors"):
                failed.append(n)
        return failed

    def save_attendance(
        self,
        key: str,
        version: int,
        state: Attendance,
        pending: dict[str, dict],
        read: dict | None = None,
    ) -> bool:
        """Compare-and-set: False if another writer changed the attendance since `version`. Events
        this pod published for the participant and has not yet removed from its `att_pending`
        are removed by the same update. `read`: the participant as read (`invitee`): its `att_w`,
        and, if it has no attendance document yet, what the insert that makes one carries.
        Through the group commit (`attendance_writes`) when the pod has one, else alone."""
        write = self._attendance_write(key, version, state, pending, read or {})
        if self.attendance_writes is None:
            [won] = self.write_attendances([write])
        else:
            won = self.attendance_writes.submit(write)
        if won:
            self._forget_published({key: set(write.gone)})
        return won

    def _attendance_write(
        self, key: str, version: int, state: Attendance, pending: dict, read: dict
    ) -> AttendanceWrite:
        with self._published_lock:
            gone = frozenset(set(self._published.get(key, ())) - set(pending))
        token = uuid.uuid4().hex[:16]
        changes = {
            "att": attendance_document(state),
            "att_v": version + 1,
            "att_w": [*(read.get("att_w") or ()), token][-WRITES_KEPT:],
        }
        if read.get(NOT_STORED):  # the first write: the whole document, made
            kept = {e: v for e, v in (read.get("att_pending") or {}).items() if e not in gone}
            insert = {
                "_id": key,
                "meeting_id": read["meeting_id"],
                "booth_id": read["booth_id"],
                **{f: read[f] for f in ("dial_bridge", "caller_hash") if f in read},
                **changes,
                "att_pending": {**kept, **pending},
            }
            return AttendanceWrite(key, version, changes, gone, token, insert)
        changes.update({f"att_pending.{event_id}": e for event_id, e in pending.items()})
        return AttendanceWrite(key, version, changes, gone, token)

    def write_attendances(self, writes: list[AttendanceWrite]) -> list[bool | Exception]:
        """The group commit's write: every compare-and-set in one `bulk_write(ordered=False)` (and
        the first writes of participants with no document in one `insert_many`, an `_id` taken
        meanwhile losing as a moved version does); per write, True if it took, False if another
        writer had moved the version (its caller reads again). The bulk result counts matches but
        names none, so only a short count reads back which tokens took (two writes of one
        participant in a batch: the second loses). A write that failed on its own is its caller's
        error; a failure of the whole write is raised (each caller's 503: its update may have
        taken, and the provider's retry then folds to nothing new and publishes what it left
        pending)."""
        inserts = [w.insert for w in writes if w.insert is not None]
        updates = [UpdateOne(_compared(w), _update(w)) for w in writes if w.insert is None]
        short = False
        try:
            if inserts:
                short = bool(insert_ignoring_duplicates(self._attendance, inserts))
            if updates:
                matched = self._attendance.bulk_write(updates, ordered=False).matched_count
                if matched == 0 and not inserts:
                    return [False] * len(writes)
                short = short or matched < len(updates)
        except BulkWriteError as failed:
            return self._taken(writes, failed)
        return self._taken(writes) if short else [True] * len(writes)

    def _taken(
        self, writes: list[AttendanceWrite], failed: Exception | None = None
    ) -> list[bool | Exception]:
        keys = list({w.key for w in writes})
        found = self._attendance.find({"_id": {"$in": keys}}, {"att_w": 1})
        tokens = {doc["_id"]: set(doc.get("att_w") or ()) for doc in found}
        return [w.token in tokens.get(w.key, ()) or failed or False for w in writes]

    def published(self, key: str, event_ids: list[str]) -> None:
        """Kafka took these events: they leave the participant's `att_pending` with its next
        attendance update from this pod, or with the next `flush_published`, whichever comes
        first (one write fewer per webhook that told something). Until then this pod reads the
        participant without them, so it never sends them again."""
        if event_ids:
            with self._published_lock:
                self._published.setdefault(key, set()).update(event_ids)

    def flush_published(self) -> int:
        """Remove the published events from their participants' `att_pending`: one `bulk_write`,
        one `$unset` per participant; how many. A failed write keeps them for the next flush
        (and were this pod gone, the events would be sent again, with the same ids)."""
        with self._published_lock:
            written = {key: set(ids) for key, ids in self._published.items() if ids}
        updates = [
            UpdateOne({"_id": key}, {"$unset": {f"att_pending.{e}": "" for e in ids}})
            for key, ids in written.items()
        ]
        for start in range(0, len(updates), 1000):
            self._attendance.bulk_write(updates[start : start + 1000], ordered=False)
        self._forget_published(written)
        return len(updates)

    def _forget_published(self, removed: dict[str, set[str]]) -> None:
        with self._published_lock:
            for key, ids in removed.items():
                left = self._published.get(key, set()) - ids
                if left:
                    self._published[key] = left
                else:
                    self._published.pop(key, None)

    def _unpublished(self, doc: dict | None) -> dict | None:
        """The document without the pending events this pod already published."""
        if doc is None or not doc.get("att_pending"):
            return doc
        with self._published_lock:
            sent = self._published.get(doc["_id"])
            if sent:
                doc["att_pending"] = {e: v for e, v in doc["att_pending"].items() if e not in sent}
        return doc

    # --- attendance counters --------------------------------------------------------------

    def count(self, meeting_id: str, booth_id: str, change: dict[str, int]) -> None:
        """Add one participant's change of counts to every unit above its booth, in this pod's
        tally: `flush_counts` writes the tally, so a burst of webhooks costs each counter one
        update per flush instead of one per webhook (FerretDB serialises every update)."""
        if not change:
            return
        with self._tally_lock:
            for unit, child in counted_levels(booth_id):
                fields = self._tally.setdefault(_counter_id(meeting_id, unit), {})
                for name, value in _fields(child, change).items():
                    fields[name] = fields.get(name, 0) + value

    def count_calls(self, meeting_id: str, made: int = 0, settled: int = 0) -> None:
        """Calls of the meeting made, and calls whose outcome came in, added to this pod's tally
        of the meeting's whole-audience counter (`calls {made, settled}`, written with the other
        counts by `flush_counts`): what the provider still owes, for the diallers' bound."""
        with self._tally_lock:
            fields = self._tally.setdefault(_counter_id(meeting_id, ROOT), {})
            for name, value in (("calls.made", made), ("calls.settled", settled)):
                if value:
                    fields[name] = fields.get(name, 0) + value

    def calls_owed(self, meeting_id: str) -> int:
        """The meeting's calls made and not settled: its whole-audience counter read by `_id`
        (a few fields), with what this pod has not written yet. Another pod's tally is at most
        a flush interval behind."""
        counter = _counter_id(meeting_id, ROOT)
        calls = (self._counters.find_one({"_id": counter}, {"calls": 1}) or {}).get("calls") or {}
        with self._tally_lock:
            mine = dict(self._tally.get(counter, {}))
        made = (calls.get("made") or 0) + mine.get("calls.made", 0)
        settled = (calls.get("settled") or 0) + mine.get("calls.settled", 0)
        return max(0, made - settled)

    def flush_counts(self) -> int:
        """Write the tally: one `$inc` per counter touched since the last flush; how many. A
        failed write puts its changes back for the next flush (the end's recount sets every
        counter from the invitees in any case)."""
        with self._tally_lock:
            tally, self._tally = self._tally, {}
        updates = [
            UpdateOne(
                {"_id": counter},
                {"$inc": fields, "$setOnInsert": {"meeting_id": counter.split("|", 1)[0]}},
                upsert=True,
            )
            for counter, fields in tally.items()
        ]
        try:
            for start in range(0, len(updates), 1000):
                self._counters.bulk_write(updates[start : start + 1000], ordered=False)
        except PyMongoError:
            with self._tally_lock:
                for counter, fields in tally.items():
                    into = self._tally.setdefault(counter, {})
                    for name, value in fields.items():
                        into[name] = into.get(name, 0) + value
            raise
        return len(updates)

    def set_counts(self, meeting_id: str, per_booth: dict[str, dict[str, int]]) -> None:
        """Set the named counts of every unit to what the booths' counts add up to (the start's
        invited; the end's recount after reconciliation)."""
        per_counter: dict[str, dict[str, int]] = {}
        for booth_id, counts in per_booth.items():
            for unit, child in counted_levels(booth_id):
                into = per_counter.setdefault(unit, {})
                for name, value in _fields(child, counts).items():
                    into[name] = into.get(name, 0) + value
        with self._tally_lock:  # what this pod has not written yet is in what is set now
            for unit in per_counter:
                self._tally.pop(_counter_id(meeting_id, unit), None)
        updates = [
            UpdateOne(
                {"_id": _counter_id(meeting_id, unit)},
                {"$set": fields, "$setOnInsert": {"meeting_id": meeting_id}},
                upsert=True,
            )
            for unit, fields in per_counter.items()
        ]
        for start in range(0, len(updates), 1000):
            self._counters.bulk_write(updates[start : start + 1000], ordered=False)

    def counts(
        self, meeting_id: str, unit: str
    ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """A unit's totals and its children's rows: its counter, read by `_id` (a booth, which
        has no children, is its row in its sector's counter)."""
        doc = self._counters.find_one({"_id": _counter_id(meeting_id, unit)})
        if doc is not None:
            units = {_unit_of(key): row for key, row in (doc.get("units") or {}).items()}
            return doc.get("totals") or {}, units
        above = unit.rsplit("-", 1)[0] if "-" in unit else ROOT
        parent = self._counters.find_one({"_id": _counter_id(meeting_id, above)}) or {}
        return (parent.get("units") or {}).get(_key_of(unit)) or {}, {}

    # --- calls to make ----------------------------------------------------------------------

    def queue_calls(self, calls: list[dict]) -> None:
        """Calls to make ({meeting_id, invitee, attempt, bridge, due_ts}), appended to their
        (meeting, attempt) queue. First calls come in one list, in dialling order: their places are
        their index, so a retried start queues nothing twice. A redial takes the next place."""
        for (meeting_id, attempt), queued in _by_queue(calls).items():
            queue = f"{meeting_id}:{attempt}"
            first_calls = attempt == 1
            first = 0 if first_calls else self._reserve(queue, meeting_id, attempt, len(queued))
            docs = [
                {**call, "_id": f"{queue}:{first + n}", "place": first + n}
                for n, call in enumerate(queued)
            ]
            for start in range(0, len(docs), 1000):
                insert_ignoring_duplicates(self._calls, docs[start : start + 1000])
            if first_calls:
                self._queues.update_one(
                    {"_id": queue},
                    {
                        "$max": {"end": len(docs)},
                        "$setOnInsert": {"meeting_id": meeting_id, "attempt": attempt, "next": 0},
                    },
                    upsert=True,
                )

    def _reserve(self, queue: str, meeting_id: str, attempt: int, count: int) -> int:
        before = self._queues.find_one_and_update(
            {"_id": queue},
            {
                "$inc": {"end": count},
                "$setOnInsert": {"meeting_id": meeting_id, "attempt": attempt, "next": 0},
            },
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return (before or {}).get("end") or 0

    def take_call(self, now_ts: float, hold_s: float) -> dict | None:
        """The next due call, held for `hold_s` (take_calls with a limit of one)."""
        taken = self.take_calls(now_ts, hold_s, 1)
        return taken[0] if taken else None

    def take_calls(
        self,
        now_ts: float,
        hold_s: float,
        limit: int,
        ahead_s: float = 0,
        skip: Callable[[str], bool] | None = None,
    ) -> list[dict]:
        """Up to `limit` calls of one queue, in order, the first due and the others due within
        `ahead_s` (the time the batch takes at the pace), held for `hold_s` so no other dialler
        takes them meanwhile.

        Each queue's calls come due in the order of their places (first calls are spread at the
        pace; a redial of one attempt waits the same backoff as the ones before it), so the next
        calls are those from the queue's `next` place on: claimed together by one
        compare-and-set on the queue's document and read by their `_id`, whatever the queue's
        length. A held call whose hold lapsed (its pod died, or the provider asked to wait) is
        taken again first, on its own. `skip`: meetings not to dial now (asked once each)."""
        skipped: dict[str, bool] = {}
        for queue in self._queues.find({}):  # a few documents per live meeting
            meeting_id = queue.get("meeting_id")
            if skip is not None and skipped.setdefault(meeting_id, skip(meeting_id)):
                continue
            for _ in range(CLAIM_TRIES):  # another dialler took the places: read the queue again
                call = self._retake(queue, now_ts, hold_s)
                if call is not None:
                    return [call]
                calls, moved = self._advance(queue, now_ts, hold_s, max(1, limit), ahead_s)
                if calls:
                    return calls
                if not moved:
                    break
                queue = self._queues.find_one({"_id": queue["_id"]}) or {}
        return []

    def _retake(self, queue: dict, now_ts: float, hold_s: float) -> dict | None:
        lapsed = [(until, place) for place, until in (queue.get("held") or {}).items()]
        for until, place in sorted(lapsed):
            if until > now_ts:
                break
            if self._queues.find_one_and_update(
                {"_id": queue["_id"], f"held.{place}": until},
                {"$set": {f"held.{place}": now_ts + hold_s}},
            ):
                call = self._calls.find_one({"_id": f"{queue['_id']}:{place}"})
                if call is not None:
                    return call
                # claimed in a batch and never written: its writer died (as _lost)
                self.release_calls([f"{queue['_id']}:{place}"], {})
        return None

    def _advance(
        self, queue: dict, now_ts: float, hold_s: float, limit: int, ahead_s: float
    ) -> tuple[list[dict], bool]:
        """The calls from the queue's next place on, claimed (at most `limit`) if the first is
        due; and whether `next` moved since the queue was read (another dialler's claim, or a
        lost place skipped). The places are claimed before the calls after the first are read,
        so diallers racing for one queue read no call in vain; a claimed call due more than
        `ahead_s` from now is held until it is due, and a place not written yet (a redial's
        place reserved, its call not stored yet) for `hold_s`: both are taken again then."""
        place, end, name = queue.get("next") or 0, queue.get("end") or 0, queue.get("_id")
        if place >= end:
            return [], False
        first = self._calls.find_one({"_id": f"{name}:{place}"})
        if first is None:
            if not self._lost(f"{name}:{place}", now_ts, hold_s):
                return [], False  # a redial's place reserved and not written yet
            self._queues.find_one_and_update(
                {"_id": name, "next": place}, {"$set": {"next": place + 1}}
            )
            return [], True
        if first["due_ts"] > now_ts:
            return [], False
        count = min(limit, end - place)
        held = {f"held.{place + n}": now_ts + hold_s for n in range(count)}
        if not self._queues.find_one_and_update(
            {"_id": name, "next": place}, {"$set": {"next": place + count, **held}}
        ):
            return [], True
        calls, later = [first], {}
        ids = [f"{name}:{at}" for at in range(place + 1, place + count)]
        read = {c["_id"]: c for c in self._calls.find({"_id": {"$in": ids}})} if ids else {}
        for call_id in ids:  # in the order of their places
            call = read.get(call_id)
            if call is None:
                later[call_id] = now_ts + hold_s
            elif call["due_ts"] > now_ts + ahead_s:
                later[call["_id"]] = call["due_ts"]
            else:
                calls.append(call)
        if later:
            self.release_calls([], later)
        return calls, True

    def _lost(self, call_id: str, now_ts: float, hold_s: float) -> bool:
        """A place still empty `hold_s` after this pod first saw it: its writer died between
        reserving and writing, and the queue must not wait for it forever."""
        first_seen = self._empty_places.setdefault(call_id, now_ts)
        if now_ts - first_seen < hold_s:
            return False
        del self._empty_places[call_id]
        return True

    def call_later(self, call_id: str, due_ts: float) -> None:
        """Keep the call held until `due_ts`: then it is taken again."""
        self.release_calls([], {call_id: due_ts})

    def call_made(self, call_id: str) -> None:
        self.release_calls([call_id], {})

    def release_calls(self, made: list[str], later: dict[str, float]) -> None:
        """Held calls let go: `made` for good, `later` held until their time (then taken again);
        one update per queue. A made call's document stays (its place is behind `next` and no
        longer held, so it is never read again) until the meeting's end drops its queues."""
        per_queue: dict[str, dict[str, dict]] = {}
        for op, held in (("$unset", dict.fromkeys(made, "")), ("$set", later)):
            for call_id, value in held.items():
                queue, place = call_id.rsplit(":", 1)
                per_queue.setdefault(queue, {}).setdefault(op, {})[f"held.{place}"] = value
        for queue, change in per_queue.items():
            self._queues.update_one({"_id": queue}, change)

    def drop_calls(self, meeting_id: str) -> None:
        """The meeting's calls, then its queues, removed. The calls go DROP_CHUNK at a time by
        `_id` (each queue's places): one delete of a state-wide meeting's 65,015 calls held
        FerretDB's one writer for 2 s, while the webhooks of the meeting's end waited. The last
        delete sweeps any call no queue named (a start that died between the two writes)."""
        queues = list(self._queues.find({"meeting_id": meeting_id}, {"end": 1}))
        for queue in queues:
            ids = [f"{queue['_id']}:{place}" for place in range(queue.get("end") or 0)]
            for start in range(0, len(ids), DROP_CHUNK):
                self._calls.delete_many({"_id": {"$in": ids[start : start + DROP_CHUNK]}})
        self._queues.delete_many({"meeting_id": meeting_id})
        self._calls.delete_many({"meeting_id": meeting_id})


def embedded_attendance(invitee: dict) -> dict | None:
    """The attendance document of an invitee of a meeting started by the code before, made from
    the fields embedded in it (None: nothing embedded, the invitee is this code's)."""
    if invitee.get("att_v") is None:
        return None
    kept = {f: invitee[f] for f in LIVE_FIELDS if f in invitee}
    return {
        "_id": invitee["_id"],
        "meeting_id": invitee["meeting_id"],
        "booth_id": invitee["booth_id"],
        **kept,
    }


def _participant(doc: dict) -> dict:
    """A participant as a webhook reads it: the participant id from the `_id`, the booth path
    from the booth (neither is stored with the attendance)."""
    doc["participant_id"] = invitee_of(doc["_id"])[1]
    doc["booth_path"] = booth_path(doc["booth_id"])
    return doc


def _compared(write: AttendanceWrite) -> dict:
    """The compare-and-set's match: the version it read (none yet: never written)."""
    return {"_id": write.key, "att_v": write.version or None}


def _update(write: AttendanceWrite) -> dict:
    update: dict = {"$set": write.changes}
    if write.gone:
        update["$unset"] = {f"att_pending.{event_id}": "" for event_id in write.gone}
    return update


def _by_queue(calls: list[dict]) -> dict[tuple[str, int], list[dict]]:
    queues: dict[tuple[str, int], list[dict]] = {}
    for call in calls:
        queues.setdefault((call["meeting_id"], call["attempt"]), []).append(call)
    return queues


def attendance_document(state: Attendance) -> dict:
    return {
        "calls": state.calls,
        "outcomes": state.outcomes,
        "rang": state.rang,
        "answered": state.answered,
        "joined": state.joined,
        "confirmed": state.confirmed,
        "seconds": state.seconds,
        "legs": {
            key: {
                "joined_at": leg.joined_at,
                "left_at": leg.left_at,
                "seconds": leg.seconds,
                "via": leg.via,
                "joined_told": leg.joined_told,
                "left_told": leg.left_told,
            }
            for key, leg in state.legs.items()
        },
        "confirmed_at": state.confirmed_at,
        "confirmed_via": state.confirmed_via,
        "seen": list(state.seen),
    }


def as_stored(state: Attendance) -> Attendance:
    """The attendance as it reads back: MongoDB keeps a time to the millisecond, so a time told
    again to the microsecond is no change."""
    legs = {
        key: replace(leg, joined_at=_ms(leg.joined_at), left_at=_ms(leg.left_at))
        for key, leg in state.legs.items()
    }
    return replace(state, legs=legs, confirmed_at=_ms(state.confirmed_at))


def _ms(at: datetime | None) -> datetime | None:
    return at.replace(microsecond=at.microsecond // 1000 * 1000) if at else None


def attendance_of(doc: dict | None) -> Attendance:
    if not doc:
        return Attendance()
    return Attendance(
        calls=dict(doc.get("calls", {})),
        outcomes=dict(doc.get("outcomes", {})),
        rang=doc.get("rang", False),
        legs={
            key: Leg(
                joined_at=_utc(leg.get("joined_at")),
                left_at=_utc(leg.get("left_at")),
                seconds=leg.get("seconds"),
                via=leg.get("via", "dial_out"),
                joined_told=leg.get("joined_told", False),
                left_told=leg.get("left_told", False),
            )
            for key, leg in doc.get("legs", {}).items()
        },
        confirmed_at=_utc(doc.get("confirmed_at")),
        confirmed_via=doc.get("confirmed_via"),
        seen=tuple(doc.get("seen", ())),
    )


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def _counter_id(meeting_id: str, unit: str) -> str:
    return f"{meeting_id}|{unit}"


def _fields(child: str, counts: dict[str, int]) -> dict[str, int]:
    """A unit's counter fields for one child's counts: its totals and the child's row."""
    fields = {f"totals.{name}": value for name, value in counts.items()}
    fields.update({f"units.{_key_of(child)}.{name}": value for name, value in counts.items()})
    return fields


def _key_of(unit: str) -> str:
    """A unit id as a field name (no dots in a MongoDB field name)."""
    return unit.replace("%", "%25").replace(".", "%2E")


def _unit_of(key: str) -> str:
    return key.replace("%2E", ".").replace("%25", "%")
