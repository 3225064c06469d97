"""The local MongoDB-API server keeps MongoDB's single-document atomicity (our FerretDB patch).

The outbox and every compare-and-set write rest on it: two concurrent updates of one document
must both land, and a filter on `_id` plus a version must use the `_id` index.
"""

import os
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# Where `stack.py` keeps FerretDB's SQLite files (one per database).
FERRETDB_FILES = (
    Path(os.environ.get("SANGATHAN_STATE", Path(__file__).parents[2] / ".state")) / "ferretdb"
)


def test_concurrent_updates_of_one_document_are_all_applied(mongo_db):
    counters = mongo_db.counters
    counters.insert_one({"_id": "booth", "n": 0, "events": []})

    def bump(worker: int) -> None:
        for i in range(40):
            counters.update_one(
                {"_id": "booth"}, {"$inc": {"n": 1}, "$push": {"events": f"{worker}-{i}"}}
            )

    threads = [threading.Thread(target=bump, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    doc = counters.find_one({"_id": "booth"})
    assert doc["n"] == 240
    assert len(set(doc["events"])) == 240


def test_compare_and_set_lets_exactly_one_of_two_writers_win(mongo_db):
    teams = mongo_db.teams
    teams.insert_one({"_id": "booth", "version": 0, "owner": None})
    results = []

    def claim(owner: str) -> None:
        r = teams.update_one(
            {"_id": "booth", "version": 0}, {"$set": {"owner": owner}, "$inc": {"version": 1}}
        )
        results.append(r.modified_count)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0] * 7 + [1]
    assert teams.find_one({"_id": "booth"})["version"] == 1


def test_a_filter_on_id_and_version_is_narrowed_by_id_on_the_server(mongo_db):
    """FerretDB's explain says whether the filter reached SQLite; MongoDB always uses _id's
    index."""
    teams = mongo_db.teams
    teams.insert_many([{"_id": f"B{i:05d}", "version": i % 3} for i in range(50)])
    plan = teams.find({"_id": "B00007", "version": 1}).explain()
    assert plan.get("filterPushdown", True), f"the _id condition was not pushed down: {plan}"
    assert list(teams.find({"_id": "B00007", "version": 1})) == [{"_id": "B00007", "version": 1}]
    assert list(teams.find({"_id": "B00007", "version": 2})) == [], (
        "the rest of the filter still applies"
    )


def test_a_bulk_write_of_more_updates_than_the_server_has_connections_completes(settings):
    """Each update of a bulk write reads its document first; if those reads stay open until the
    whole bulk ends, the 101st waits forever for one of SQLite's 100 pooled connections (and, with
    the atomic-writes lock held, stops every other write). The reports' rollups write such bulks."""
    from pymongo import MongoClient, UpdateOne

    client = MongoClient(settings.mongo_url, serverSelectionTimeoutMS=5000, socketTimeoutMS=30_000)
    db = client[f"test_bulk_{threading.get_ident()}"]
    try:
        db.booths.insert_many([{"_id": f"B{i:04d}", "n": 0} for i in range(250)])
        result = db.booths.bulk_write(
            [UpdateOne({"_id": f"B{i:04d}"}, {"$inc": {"n": 1}}) for i in range(250)]
        )
        assert result.modified_count == 250
        assert db.booths.count_documents({"n": 1}) == 250
        db.booths.update_one({"_id": "B0000"}, {"$inc": {"n": 1}})  # other writes still go
    finally:
        client.drop_database(db.name)
        client.close()


def test_a_delete_many_of_more_documents_than_sqlite_binds_in_one_statement_completes(mongo_db):
    """SQLite binds at most 32,766 variables in one statement; a meeting's end deletes a state's
    65,015 calls with one delete_many, which MongoDB takes whatever its size."""
    calls = mongo_db.calls
    calls.insert_many([{"_id": f"C{i:05d}", "meeting_id": "m1"} for i in range(33_000)])
    calls.insert_one({"_id": "other", "meeting_id": "m2"})
    assert calls.delete_many({"meeting_id": "m1"}).deleted_count == 33_000
    assert [d["_id"] for d in calls.find()] == ["other"]


def test_an_id_in_filter_reads_by_the_index_and_still_applies_the_whole_filter(mongo_db):
    docs = mongo_db.reports
    docs.insert_many([{"_id": f"r/{n}", "rev": n % 2} for n in range(5000)])
    wanted = [f"r/{n}" for n in range(0, 5000, 100)] + ["r/missing"]
    found = sorted(d["_id"] for d in docs.find({"_id": {"$in": wanted}}))
    assert found == sorted(wanted[:-1])
    odd = sorted(d["_id"] for d in docs.find({"_id": {"$in": ["r/1", "r/2", "r/3"]}, "rev": 1}))
    assert odd == ["r/1", "r/3"]
    mixed = sorted(str(d["_id"]) for d in docs.find({"_id": {"$in": ["r/4", 7]}}))
    assert mixed == ["r/4"]  # an id of another type: nothing narrowed, the filter still holds
    # Narrowed: fifty documents by id take a fraction of one whole-table read.
    started = time.perf_counter()
    list(docs.find({"_id": {"$in": wanted}}))
    by_id = time.perf_counter() - started
    started = time.perf_counter()
    list(docs.find({"rev": {"$gte": 0}, "_id": {"$exists": True}}))
    scanned = time.perf_counter() - started
    assert by_id < scanned / 3, (by_id, scanned)


def test_an_update_of_many_documents_applies_its_filter_to_each_and_counts_right(mongo_db):
    docs = mongo_db.outboxes
    docs.insert_many([{"_id": f"d/{n}", "rev": 1, "outbox": [n]} for n in range(300)])
    docs.update_one({"_id": "d/7"}, {"$set": {"rev": 2}})  # changed since the relay read it
    ids = [f"d/{n}" for n in range(300)]
    done = docs.update_many({"_id": {"$in": ids}, "rev": 1}, {"$set": {"outbox": [], "rev": 2}})
    assert (done.matched_count, done.modified_count) == (299, 299)
    assert docs.count_documents({"outbox": []}) == 299
    assert docs.find_one({"_id": "d/7"})["outbox"] == [7]


def test_the_write_ahead_log_is_checkpointed_though_no_commit_checkpoints_it(mongo_db):
    """Commits no longer copy SQLite's WAL into the database file (the atomic-writes lock held
    every other writer while one did); a background checkpoint once a second keeps the log from
    growing with everything ever written."""
    booths = mongo_db.booths
    booths.insert_one({"_id": "first"})
    wal = FERRETDB_FILES / f"{mongo_db.name}.sqlite-wal"
    if not wal.exists():
        pytest.skip("the server is not the local FerretDB on SQLite")
    payload = "x" * 2_000
    for second in range(8):
        booths.insert_many([{"_id": f"{second}-{i}", "payload": payload} for i in range(1_000)])
        time.sleep(1.5)
    written = 8 * 1_000 * len(payload)
    assert wal.stat().st_size < written / 3, f"the WAL holds {wal.stat().st_size:,} bytes"
    assert booths.count_documents({}) == 8_001
