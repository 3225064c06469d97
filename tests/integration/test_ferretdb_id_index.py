"""The local FerretDB serves lookups by `_id` from an index, not a table scan.

FerretDB v1's SQLite backend queries `_ferretdb_sjson->'$._id'` while indexing
`_ferretdb_sjson->"_id"`; deploy/local/ferretdb/idindex.go adds the index its query can use.
Only meaningful against the local FerretDB, so skipped when MONGO_URL points elsewhere.
"""

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from testkit.processes import ROOT

pytestmark = pytest.mark.integration

FERRETDB_DATA = ROOT / ".state" / "ferretdb"


@pytest.fixture
def local_ferretdb_file(settings, mongo_db) -> Path:
    if "127.0.0.1:27017" not in settings.mongo_url and "localhost:27017" not in settings.mongo_url:
        pytest.skip("MONGO_URL is not the local FerretDB")
    if not FERRETDB_DATA.is_dir():
        pytest.skip("no local FerretDB state folder")
    return FERRETDB_DATA / f"{mongo_db.name}.sqlite"


def _plan(file: Path, expression_query: str) -> str:
    # closing(): sqlite3's own context manager commits but leaves the connection open, and an
    # open connection when FerretDB drops the database leaves its -wal/-shm files behind.
    with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
        table = db.execute(
            "SELECT table_name FROM _ferretdb_collections WHERE name = 'booths'"
        ).fetchone()[0]
        rows = db.execute(
            f'EXPLAIN QUERY PLAN SELECT 1 FROM "{table}" WHERE {expression_query}', ['"B-1"']
        )
        return " ".join(str(r[3]) for r in rows)


def test_find_by_id_uses_an_index_on_the_local_ferretdb(mongo_db, local_ferretdb_file):
    mongo_db.booths.insert_many([{"_id": f"B-{i}", "n": i} for i in range(2000)])

    deadline = time.monotonic() + 10
    plan = ""
    while time.monotonic() < deadline:
        plan = _plan(local_ferretdb_file, "_ferretdb_sjson->'$._id' = ?")
        if "USING INDEX" in plan:
            break
        time.sleep(0.2)
    assert "USING INDEX" in plan, f"lookups by _id still scan: {plan}"

    # And the answers are the same as without it.
    assert mongo_db.booths.find_one({"_id": "B-1234"}) == {"_id": "B-1234", "n": 1234}
    mongo_db.booths.update_one({"_id": "B-7"}, {"$set": {"n": -7}})
    assert mongo_db.booths.find_one({"_id": "B-7"})["n"] == -7
    mongo_db.booths.delete_one({"_id": "B-8"})
    assert mongo_db.booths.count_documents({}) == 1999
