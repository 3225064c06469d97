"""The newcomer's map (docs/architecture.md, CONTRIBUTING.md) must not drift from the code: its
topic tables are what the registry says, and every path and `file:name` it mentions exists."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
import gen_topic_table  # noqa: E402

from shared import topics  # noqa: E402

MAPS = [ROOT / "docs" / "architecture.md", ROOT / "CONTRIBUTING.md"]
FENCED = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
QUOTED = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"^[\w.\-/*]+$")


def mentions(text: str) -> list[str]:
    """The backquoted paths a map names (`dir/file.py`, `dir/`, `file.py:Name`), outside code
    blocks; placeholders (`<name>`), routes (`/v1/...`) and commands are not paths."""
    found = []
    for quoted in QUOTED.findall(FENCED.sub("", text)):
        path = quoted.split(":", 1)[0]
        if "/" in path and not path.startswith("/") and PATH.match(path):
            found.append(quoted)
    return found


def defines(source: str, name: str) -> bool:
    """`name` is a function, class or module-level name of `source`; `Class.method` a method of
    the class."""
    *owner, last = name.split(".")
    if owner and not re.search(rf"^class {re.escape(owner[0])}\b", source, re.MULTILINE):
        return False
    definition = rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(last)}\b|^{re.escape(last)}\s*[:=]"
    return re.search(definition, source, re.MULTILINE) is not None


def missing(mention: str) -> str | None:
    path, _, name = mention.partition(":")
    if "*" in path:
        return None if list(ROOT.glob(path)) else f"nothing matches {path}"
    if not (ROOT / path).exists():
        return f"{path} does not exist"
    if name and not defines((ROOT / path).read_text(encoding="utf-8"), name):
        return f"{path} defines no {name}"
    return None


def test_the_topic_tables_in_the_architecture_map_are_what_the_registry_says():
    text = gen_topic_table.TARGET.read_text(encoding="utf-8")
    assert gen_topic_table.current(text) == gen_topic_table.render(), (
        "regenerate: .venv/bin/python docs/gen_topic_table.py"
    )


def test_a_topic_added_to_the_registry_but_not_to_the_map_is_caught(monkeypatch):
    new = topics.Topic(
        "sangathan.new-things.v1", 12, "booth_id", (), "A topic the map does not know yet."
    )
    monkeypatch.setattr(gen_topic_table, "TOPICS", (*topics.TOPICS, new))
    assert new.name in gen_topic_table.render()
    assert new.name not in gen_topic_table.current(
        gen_topic_table.TARGET.read_text(encoding="utf-8")
    )


@pytest.mark.parametrize("document", MAPS, ids=lambda p: p.name)
def test_every_path_and_name_the_map_mentions_exists(document):
    found = mentions(document.read_text(encoding="utf-8"))
    assert len(found) > 20, "the map names the code it describes"
    problems = [f"`{m}`: {why}" for m in found if (why := missing(m))]
    assert not problems, "\n".join(problems)


def test_the_path_check_notices_a_renamed_file_or_function():
    assert missing("services/otp/otp/handlers.py:send_code") is None
    assert (
        missing("services/otp/otp/handlers.py:send_codes")
        == "services/otp/otp/handlers.py defines no send_codes"
    )
    assert missing("services/otp/otp/handler.py") == "services/otp/otp/handler.py does not exist"
    assert missing("services/appointments/appointments/domain.py:BoothTeam.appoint") is None
    assert missing("services/appointments/appointments/domain.py:Team.appoint") is not None


@pytest.mark.parametrize("document", MAPS, ids=lambda p: p.name)
def test_the_map_keeps_lines_within_120_characters(document):
    long = [
        n
        for n, line in enumerate(document.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > 120
    ]
    assert not long, f"{document.name}: lines {long} are longer than 120 characters"
