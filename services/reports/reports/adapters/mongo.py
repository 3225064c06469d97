"""Forms, plans, rounds and booth reports in MongoDB (FerretDB locally).

Every hot read and write names one document by `_id`, the only filter FerretDB v1 serves from an
index: a booth's report is `<dispatch_id>/<booth_id>`, and its dispatch, booth and booth path are
read from that id, not stored again (`_report`). The scans (active plans, rounds still
fanning out, forms a unit may read) read small collections: a few documents a day.

A form, a booth's report and a booth's WhatsApp groups each carry their unpublished events in an
`outbox` field, written in the same single-document write as the change (compare-and-set on
`rev`), so neither exists without the other. Before that write, a pointer in
`report_outbox_pending` (`<collection>:<_id>`, with the `rev` the write makes) sends the relay
(adapters/outbox.py) there: pointer first, so no document holds events without a pointer and
nothing has to sweep the collections for them (FerretDB reads every document for such a scan).
A pointer whose write never landed (the document older than its `rev`) is waited for, then
dropped with the events the document does hold. Times are stored as ISO 8601 strings with their
offset, so they read back exactly.

A booth's first report (the common case: a booth answers once) goes through a group commit
(shared/batching.py) and costs the store far less: its events are never written into the document,
so the relay never reads nor rewrites it. Concurrent first answers are two writes of one row
and of one row per booth: one pointer that carries the whole batch's events (`carry`), then one
`insert_many(ordered=False)` of the documents, without outbox. The pointer first, so no document
is ever written without the pointer that publishes its events. The writer remembers (`Written`,
bounded) which of a pointer's documents it saw written, and the relay publishes just those; a
process that does not know (restarted, or another replica) judges each entry by the stored
document (`holds_submission`): it holds the submission as that attempt made it (published), it
holds another (a taken `_id`: the booth has answered, or the same submission came twice: never
published), or it is not there (a write on its way, or cut off by a crash or an outage: waited
for, then given up). Each caller returns once its own document is written. A document whose `_id`
is taken is that one caller's ConcurrentUpdate, and the handler's compare-and-set reads it and
goes on as for any concurrent write.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields
from datetime import date, datetime, time, timedelta
from typing import Any

from pymongo import DeleteOne, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from reports.domain import (
    Answer,
    BoothReport,
    Form,
    Option,
    Plan,
    Question,
    Round,
    ShowIf,
    Submission,
    Version,
)
from reports.ports import AlreadyExists, ConcurrentUpdate
from shared.batching import Batcher
from shared.mongo import DUPLICATE_KEY, insert_ignoring_duplicates
from shared.orgtree.levels import booth_path, is_within


class OutboxPointers:
    """Which documents hold events to publish: `<collection>:<_id>` pointers, each with the `rev`
    its write makes, and the pointers that carry first answers' events (`carry`)."""

    def __init__(self, db: Database):
        self.pending = db.report_outbox_pending

    def expect(self, collection: str, doc_id: str, rev: int) -> None:
        """Point the relay at a document about to be written at `rev` (before the write: see the
        module's docstring). A later write's pointer replaces an earlier one's, and its `at`
        starts the wait for its write again."""
        self.pending.update_one(
            {"_id": f"{collection}:{doc_id}"},
            {"$set": {"rev": rev, "at": _iso(None)}},
            upsert=True,
        )

    def carry(
        self, pointer_id: str, collection: str, carried: list[tuple[str, list[dict]]]
    ) -> None:
        """One pointer that carries many documents' new events, (document id, its events) each,
        written before the documents (see the module's docstring). Its id is the writer's, random,
        so a retried write never meets an earlier attempt's pointer."""
        entries = [{"doc_id": d, "events": events} for d, events in carried]
        self.pending.insert_one(
            {
                "_id": pointer_id,
                "collection": collection,
                "carried": pack_carried(entries),
                "at": _iso(None),
            }
        )

    def take(
        self, limit: int, passing: Iterable[str] = ()
    ) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
        """Up to `limit` pointers, but for the ids `passing` (left for later), in one round trip:
        (the documents pointed at, the pointers that carry their events)."""
        passing = list(passing)
        query = {"_id": {"$nin": passing}} if passing else {}
        found = list(self.pending.find(query).limit(limit).batch_size(limit))
        pointed = [_pointed(d) for d in found if "carried" not in d]
        carrying = [{**d, "carried": carried_entries(d)} for d in found if "carried" in d]
        return pointed, carrying

    def drop(self, ids: list[str]) -> None:
        """Delete pointers by id (carrying ones, published or found to point at nothing)."""
        if ids:
            self.pending.delete_many({"_id": {"$in": ids}})

    def clear(self, pointed: Iterable[dict[str, Any]]) -> None:
        """Delete the pointers the relay is done with, each only as it read it (same `rev`): one
        that a write has set again since points at events still to publish, and stays."""
        ops = [DeleteOne({"_id": p["_id"], "rev": _rev_as_read(p)}) for p in pointed]
        if ops:
            self.pending.bulk_write(ops, ordered=False)


def pack_carried(entries: list[dict]) -> bytes:
    """A carrying pointer's entries as stored: their JSON, compressed, as bytes. Not nested
    documents, which the store converts field by field, nor a JSON string, whose every quote it
    escapes (a batch's events are tens of KB of JSON, ~60 us of the local FerretDB's CPU per answer
    written and as much read back): its events repeat their fields and most of their values, so a
    batch's are a few KB, copied as they are; and only the relay reads them."""
    return zlib.compress(json.dumps(entries, separators=(",", ":")).encode(), 1)


def carried_entries(pointer: dict[str, Any]) -> list[dict]:
    """A carrying pointer's entries, ({doc_id, events}) each: packed, or a JSON string as the
    pointers written before they were packed hold them."""
    carried = pointer["carried"]
    return json.loads(zlib.decompress(carried) if isinstance(carried, bytes) else carried)


def _pointed(doc: dict[str, Any]) -> dict[str, Any]:
    """A pointer at one document: its id, collection, document id, the `rev` its write makes
    (None for a pointer written before pointers said: any stored revision will do) and when."""
    collection, doc_id = doc["_id"].split(":", 1)
    return {**doc, "collection": collection, "doc_id": doc_id, "rev": doc.get("rev")}


def _rev_as_read(pointer: dict[str, Any]) -> Any:
    # A pointer from before pointers said their rev has none; it matches only while still so.
    return pointer["rev"] if pointer["rev"] is not None else {"$exists": False}


def save_with_outbox(
    collection: Collection, pointers: OutboxPointers, doc: dict[str, Any], rev: int
) -> int:
    """Insert (rev 0) or compare-and-set the document; if it holds events, point the relay at it
    first (the module's docstring). Returns the new rev."""
    doc = {**doc, "rev": rev + 1}
    if doc.get("outbox"):
        pointers.expect(collection.name, doc["_id"], rev + 1)
    if rev == 0:
        try:
            collection.insert_one(doc)
        except DuplicateKeyError:
            raise ConcurrentUpdate(doc["_id"]) from None
    elif collection.replace_one({"_id": doc["_id"], "rev": rev}, doc).matched_count == 0:
        raise ConcurrentUpdate(doc["_id"])
    return rev + 1


def take_published(collection: Collection, taken: list[tuple[dict[str, Any], set[str]]]) -> int:
    """Remove published events from documents as the relay read them (each one's `outbox` and
    `rev`, with the ids of its events published), without reading them again. The documents whose
    every event went out (nearly all) are emptied with one `update_many` per revision read
    (`rev` unchanged: compare-and-set), the others with one bulk write of compare-and-sets. Where
    fewer matched (another write came between the read and this one) each of those is read again
    and retried: removing ids is idempotent. Returns how many events were removed."""
    emptied: dict[int, list[tuple[dict[str, Any], set[str]]]] = {}
    partly: list[tuple[dict[str, Any], set[str]]] = []
    for doc, event_ids in taken:
        whole = all(e["id"] in event_ids for e in doc.get("outbox") or [])
        (emptied.setdefault(doc["rev"], []) if whole else partly).append((doc, event_ids))
    removed = 0
    for rev, docs in emptied.items():
        ids = [d["_id"] for d, _ in docs]
        change = {"$set": {"outbox": [], "rev": rev + 1}}
        done = collection.update_many({"_id": {"$in": ids}, "rev": rev}, change)
        if done.matched_count == len(ids):
            removed += sum(len(d.get("outbox") or []) for d, _ in docs)
        else:
            partly += docs
    if not partly:
        return removed
    changes = [(doc, _taken(doc, event_ids)) for doc, event_ids in partly]
    ops = [UpdateOne({"_id": d["_id"], "rev": d["rev"]}, {"$set": c}) for d, c in changes]
    if collection.bulk_write(ops, ordered=False).matched_count == len(ops):
        return removed + sum(len(d.get("outbox", [])) - len(c["outbox"]) for d, c in changes)
    return removed + sum(take_outbox(collection, d["_id"], ids) for d, ids in partly)


def _taken(doc: dict[str, Any], event_ids: set[str]) -> dict[str, Any]:
    left = [e for e in doc.get("outbox", []) if e["id"] not in event_ids]
    return {"outbox": left, "rev": doc["rev"] + 1}


def take_outbox(collection: Collection, doc_id: str, event_ids: set[str]) -> int:
    """Remove published events from the document's outbox; returns how many were removed."""
    for _ in range(10):
        doc = collection.find_one({"_id": doc_id}, {"outbox": 1, "rev": 1})
        if doc is None:
            return 0
        change = _taken(doc, event_ids)
        if collection.update_one(
            {"_id": doc_id, "rev": doc["rev"]}, {"$set": change}
        ).matched_count:
            return len(doc.get("outbox", [])) - len(change["outbox"])
    raise ConcurrentUpdate(doc_id)


# --- forms -----------------------------------------------------------------------------------


class Forms:
    def __init__(self, db: Database, pointers: OutboxPointers):
        self.forms, self.pointers = db.report_forms, pointers

    def get(self, form_id: str) -> Form | None:
        doc = self.forms.find_one({"_id": form_id})
        return _form(doc) if doc else None

    def add(self, form: Form) -> None:
        try:
            form.rev = save_with_outbox(self.forms, self.pointers, _form_doc(form), 0)
        except ConcurrentUpdate:
            raise AlreadyExists(form.form_id) from None

    def save(self, form: Form) -> None:
        form.rev = save_with_outbox(self.forms, self.pointers, _form_doc(form), form.rev)

    def readable_by(self, unit: str) -> list[Form]:
        # A small collection (forms are designed by HQ and 36 states): filtered here.
        with self.forms.find({}) as cursor:
            forms = [_form(d) for d in cursor]
        return sorted(
            (f for f in forms if is_within(unit, f.owner_unit) or is_within(f.owner_unit, unit)),
            key=lambda f: f.form_id,
        )


def _form_doc(form: Form) -> dict[str, Any]:
    return {
        "_id": form.form_id,
        "owner_unit": form.owner_unit,
        "kind": form.kind,
        "versions": [_version_doc(v) for v in form.versions],
        "outbox": form.outbox,
    }


def _version_doc(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "title": version.title,
        "questions": [asdict(q) for q in version.questions],
        "published_at": _iso(version.published_at) if version.published_at else None,
        "published_by": version.published_by,
    }


def _form(doc: dict[str, Any]) -> Form:
    return Form(
        doc["_id"],
        doc["owner_unit"],
        doc["kind"],
        [_version(v) for v in doc["versions"]],
        rev=doc["rev"],
        outbox=doc.get("outbox", []),
    )


def _version(doc: dict[str, Any]) -> Version:
    return Version(
        doc["number"],
        doc["title"],
        tuple(_question(q) for q in doc["questions"]),
        _time(doc["published_at"]),
        doc["published_by"],
    )


def _question(doc: dict[str, Any]) -> Question:
    show_if = doc.get("show_if")
    return Question(
        **{
            **doc,
            "options": tuple(Option(**o) for o in doc["options"]),
            "show_if": ShowIf(**show_if) if show_if else None,
        }
    )


# --- plans and rounds ------------------------------------------------------------------------


class Plans:
    def __init__(self, db: Database):
        self.plans = db.report_plans

    def add(self, plan: Plan) -> None:
        doc = asdict(plan)
        self.plans.insert_one(
            {
                **{k: _plain(v) for k, v in doc.items()},
                "occurrences": [at.isoformat() for at in plan.occurrences],
                "_id": plan.plan_id,
                "last_day": None,
                "finished": False,
            }
        )

    def active(self) -> list[tuple[Plan, date | None]]:
        with self.plans.find({"finished": False}) as cursor:
            return [(_plan(d), _day(d["last_day"])) for d in cursor]

    def made_rounds_until(self, plan_id: str, day: date, finished: bool) -> None:
        self.plans.update_one(
            {"_id": plan_id}, {"$set": {"last_day": day.isoformat(), "finished": finished}}
        )


def _plan(doc: dict[str, Any]) -> Plan:
    return Plan(
        plan_id=doc["plan_id"],
        form_id=doc["form_id"],
        form_version=doc["form_version"],
        owner_unit=doc["owner_unit"],
        scope=tuple(doc["scope"]),
        audience=tuple(doc["audience"]),
        cadence=doc["cadence"],
        weekdays=tuple(doc["weekdays"]),
        starts_on=date.fromisoformat(doc["starts_on"]),
        send_time=time.fromisoformat(doc["send_time"]),
        due_after=timedelta(seconds=doc["due_after"]),
        remind_before=timedelta(seconds=doc["remind_before"]),
        dispatched_by=doc["dispatched_by"],
        dispatched_at=datetime.fromisoformat(doc["dispatched_at"]),
        until=_day(doc["until"]),
        directive_id=doc.get("directive_id"),
        occurrences=tuple(datetime.fromisoformat(at) for at in doc.get("occurrences") or ()),
    )


class Rounds:
    """Rounds, and how far each one's fan-out to its booths has come (`fanout`)."""

    def __init__(self, db: Database):
        self.rounds = db.report_rounds

    def ensure_indexes(self) -> None:
        """At start, once MongoDB answers (never in the constructor: a service must come up and
        say on /readyz that MongoDB is away)."""
        self.rounds.create_index("scope")  # a reply finds the rounds asking its booth

    def add(self, rounds: Iterable[Round]) -> None:
        docs = [
            {
                **{k: _plain(v) for k, v in asdict(r).items()},
                "_id": r.dispatch_id,
                "fanout": {"unit": 0, "page": 0, "booths": 0, "done": False},
                "fanout_lease": {"owner": None, "until": 0.0},
            }
            for r in rounds
        ]
        insert_ignoring_duplicates(self.rounds, docs)

    def get(self, dispatch_id: str) -> Round | None:
        doc = self.rounds.find_one({"_id": dispatch_id})
        return _round(doc) if doc else None

    def asking(self, units: list[str], role: str) -> list[Round]:
        query = {"scope": {"$in": units}, "audience": role}
        with self.rounds.find(query, {"fanout": 0, "fanout_lease": 0}) as cursor:
            return [_round(doc) for doc in cursor]

    def progress(self, dispatch_id: str) -> dict[str, Any] | None:
        doc = self.rounds.find_one({"_id": dispatch_id}, {"fanout": 1})
        return doc["fanout"] if doc else None

    def fanning_out(self, limit: int = 10) -> Iterator[tuple[Round, dict[str, Any]]]:
        with self.rounds.find({"fanout.done": False}).limit(limit) as cursor:
            docs = list(cursor)
        for doc in docs:
            yield _round(doc), doc["fanout"]

    def claim(self, dispatch_id: str, owner: str, now: float, lease_s: float) -> dict | None:
        """The round's cursor if `owner` may fan it out now (no one else holds a live lease),
        leased to it for `lease_s`; None while another process holds it."""
        taken = lease(
            self.rounds,
            {"_id": dispatch_id, "fanout.done": False},
            "fanout_lease",
            owner,
            now,
            lease_s,
        )
        return self.progress(dispatch_id) if taken else None

    def advance(self, dispatch_id: str, fanout: dict, owner: str, until: float) -> bool:
        """Move the cursor and renew the lease; False if the lease was lost to another process."""
        moved = self.rounds.update_one(
            {"_id": dispatch_id, "fanout_lease.owner": owner},
            {"$set": {"fanout": fanout, "fanout_lease.until": until}},
        )
        return moved.matched_count == 1


def lease(
    collection: Collection, match: dict, field: str, owner: str, now: float, lease_s: float
) -> bool:
    """Lease the document `match` finds to `owner` for `lease_s` (in its `field`) unless another
    process holds a live lease on it; whether `owner` holds it now. A crashed holder's lease runs
    out and another process takes the work over."""
    taken = collection.update_one(
        {
            **match,
            "$or": [
                {field: {"$exists": False}},
                {f"{field}.until": {"$lt": now}},
                {f"{field}.owner": owner},
            ],
        },
        {"$set": {field: {"owner": owner, "until": now + lease_s}}},
    )
    return taken.matched_count == 1


def _round(doc: dict[str, Any]) -> Round:
    return Round(
        dispatch_id=doc["dispatch_id"],
        plan_id=doc["plan_id"],
        form_id=doc["form_id"],
        form_version=doc["form_version"],
        scope=tuple(doc["scope"]),
        audience=tuple(doc["audience"]),
        period_key=doc["period_key"],
        send_at=datetime.fromisoformat(doc["send_at"]),
        due_at=datetime.fromisoformat(doc["due_at"]),
        remind_at=datetime.fromisoformat(doc["remind_at"]),
    )


# --- booth reports ---------------------------------------------------------------------------


class BoothReports:
    """Booth reports; a first report goes through `first_inserts` (a group commit) if given."""

    def __init__(
        self, db: Database, pointers: OutboxPointers, first_inserts: Batcher | None = None
    ):
        self.reports, self.pointers = db.report_booth_reports, pointers
        self.first_inserts = first_inserts
        self.written = Written()  # which documents of its carrying pointers this process wrote

    def get(self, dispatch_id: str, booth_id: str) -> BoothReport | None:
        doc = self.reports.find_one({"_id": report_id(dispatch_id, booth_id)})
        return _report(doc) if doc else None

    def save(self, report: BoothReport) -> None:
        doc = _report_doc(report)
        if report.rev == 0 and self.first_inserts is not None:
            # The events ride in the pointer, not in the document (the module's docstring).
            self.first_inserts.submit(({**doc, "rev": 1}, report.outbox))
            report.rev, report.outbox = 1, []
            return
        doc["outbox"] = report.outbox
        report.rev = save_with_outbox(self.reports, self.pointers, doc, report.rev)

    async def add_first(self, report: BoothReport) -> None:
        """`save` of a booth's first report (rev 0), awaited on the event loop: through the
        group commit, or in a thread without one. ConcurrentUpdate if the booth has a report."""
        if self.first_inserts is None:
            await asyncio.to_thread(self.save, report)
            return
        await self.first_inserts.submit_async(({**_report_doc(report), "rev": 1}, report.outbox))
        report.rev, report.outbox = 1, []

    def insert_first(
        self, items: list[tuple[dict[str, Any], list[dict]]]
    ) -> list[None | Exception]:
        """The group commit's writes (see the module's docstring) of (document, its events): one
        outcome per document, None once written, ConcurrentUpdate if its `_id` is taken (by an
        earlier write or by one before it in this batch); a failure of a whole write is raised,
        and the pointers it leaves are the relay's to judge."""
        docs = [doc for doc, _ in items]
        outcomes: list[None | Exception] = [None] * len(docs)
        first: dict[str, int] = {}
        for n, doc in enumerate(docs):
            if doc["_id"] in first:  # the same booth twice in one batch: the later one reads it
                outcomes[n] = ConcurrentUpdate(doc["_id"])
            else:
                first[doc["_id"]] = n
        sent = list(first.values())
        carried = [(docs[n]["_id"], items[n][1]) for n in sent if items[n][1]]
        pointer = uuid.uuid4().hex
        self.written.writing(pointer)  # this process's relay waits for it, reading nothing
        try:
            if carried:
                self.pointers.carry(pointer, self.reports.name, carried)
            self._insert(docs, sent, outcomes)
        except BaseException:
            self.written.forget([pointer])  # the relay judges what it left by the store
            raise
        self.written.add(pointer, {docs[n]["_id"] for n in sent if outcomes[n] is None})
        return outcomes

    def _insert(self, docs: list[dict], sent: list[int], outcomes: list) -> None:
        """Insert the documents `sent` (by index), setting the outcome of each refused one."""
        try:
            self.reports.insert_many([docs[n] for n in sent], ordered=False)
        except BulkWriteError as exc:
            for error in exc.details["writeErrors"]:
                n = sent[error["index"]]
                if error["code"] == DUPLICATE_KEY:
                    outcomes[n] = ConcurrentUpdate(docs[n]["_id"])
                else:
                    outcomes[n] = _write_error(error)


def holds_submission(doc: dict[str, Any], event: dict) -> bool:
    """Whether a stored booth report holds the submission a carried report-submitted tells of,
    as that very attempt stored it (its id, its time and its attempt number): a retried attempt
    refused as a duplicate made an event of the same id but its own time, and a resubmission's
    first try (the booth's report taken for blank, refused) one of the same time but attempt 1;
    neither is published."""
    data = event["data"]
    return any(
        s["submission_id"] == data["submission_id"]
        and s["submitted_at"] == data["submitted_at"]
        and s.get("attempt") == data.get("attempt")
        for s in doc.get("submissions") or ()
    )


class Written:
    """Which documents of each carrying pointer this process saw written, for the latest `size`
    pointers: the relay publishes those entries without reading the documents, and no other.
    Forgotten once published; a process that forgot (restarted) or never knew (another replica
    wrote them) reads the documents."""

    def __init__(self, size: int = 10_000):
        self.size, self.lock = size, threading.Lock()
        # A dict keeps the order they came in; None: being written now.
        self.docs: dict[str, frozenset[str] | None] = {}

    def writing(self, pointer_id: str) -> None:
        self._keep(pointer_id, None)

    def add(self, pointer_id: str, doc_ids: Iterable[str]) -> None:
        self._keep(pointer_id, frozenset(doc_ids))

    def _keep(self, pointer_id: str, docs: frozenset[str] | None) -> None:
        with self.lock:
            self.docs[pointer_id] = docs
            while len(self.docs) > self.size:
                del self.docs[next(iter(self.docs))]

    def of(self, pointer_id: str) -> frozenset[str] | None:
        """The pointer's documents written, or None: not known (yet) here."""
        with self.lock:
            return self.docs.get(pointer_id)

    def being_written(self, pointer_id: str) -> bool:
        with self.lock:
            return pointer_id in self.docs and self.docs[pointer_id] is None

    def forget(self, pointer_ids: Iterable[str]) -> None:
        with self.lock:
            for p in pointer_ids:
                self.docs.pop(p, None)


def _write_error(error: dict[str, Any]) -> Exception:
    return WriteError(error.get("errmsg", "write error"), error.get("code"), error)


def _report_doc(report: BoothReport) -> dict[str, Any]:
    return {
        "_id": report_id(report.dispatch_id, report.booth_id),
        "period_key": report.period_key,
        "form_id": report.form_id,
        "form_version": report.form_version,
        "submissions": [_submission_doc(s) for s in report.submissions],
    }


def _submission_doc(submission: Submission) -> dict[str, Any]:
    """A submission as stored: fields left empty are left out (an answer fills one of its five
    values; a submission is reviewed later, if at all), so the store converts a third fewer
    fields per answer; they read back as their defaults. Field by field, not
    dataclasses.asdict, which deep-copies every value."""
    doc = _given(submission, _SUBMISSION_FIELDS)
    doc["answers"] = [_given(a, _ANSWER_FIELDS) for a in submission.answers]
    return doc


def _given(value: Any, names: tuple[str, ...]) -> dict[str, Any]:
    found = ((f, getattr(value, f)) for f in names)
    return {f: _plain(v) for f, v in found if v is not None}


_SUBMISSION_FIELDS = tuple(f.name for f in fields(Submission) if f.name != "answers")
_ANSWER_FIELDS = tuple(f.name for f in fields(Answer))


def report_id(dispatch_id: str, booth_id: str) -> str:
    return f"{dispatch_id}/{booth_id}"


def report_of(doc_id: str) -> tuple[str, str]:
    """(dispatch id, booth id) of a booth report's `_id`."""
    dispatch_id, booth_id = doc_id.split("/", 1)
    return dispatch_id, booth_id


def _report(doc: dict[str, Any]) -> BoothReport:
    """A stored booth report. Its dispatch and booth are its `_id`'s, and its booth's path is the
    booth id's (shared/orgtree/levels.py): not stored again in the document, whose every field
    the local FerretDB converts on each write (those four, a third of a first answer's insert);
    documents written before hold them, the same values."""
    dispatch_id, booth_id = report_of(doc["_id"])
    return BoothReport(
        dispatch_id,
        booth_id,
        doc.get("booth_path") or booth_path(booth_id),
        doc["period_key"],
        doc["form_id"],
        doc["form_version"],
        [_submission(s) for s in doc["submissions"]],
        rev=doc["rev"],
        outbox=doc.get("outbox", []),
    )


def _submission(doc: dict[str, Any]) -> Submission:
    answers = tuple(
        Answer(**{**a, "option_ids": tuple(a["option_ids"]) if a.get("option_ids") else None})
        for a in doc["answers"]
    )
    return Submission(
        **{
            **doc,
            "answers": answers,
            "submitted_at": datetime.fromisoformat(doc["submitted_at"]),
            "reviewed_at": _time(doc.get("reviewed_at")),
        }
    )


# --- values ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as stored: times and dates as ISO strings, durations in seconds, tuples as lists."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, tuple):
        return list(value)
    return value


def _iso(value: datetime | None) -> str:
    return (value or datetime.now().astimezone()).isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
