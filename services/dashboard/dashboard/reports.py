"""The reports view's rules, without I/O: which published forms a viewer may pick, and one
report with each unit below it carrying its own sums (a seva tally per child unit).

Forms come from form-published events (docs/reports.md): their ids, kinds, titles and questions'
ids, types and options, and from v2 on the questions' and options' labels in Hindi and English.
A v1 form has none: its questions carry `label: null` and options labelled null, and the page shows
their ids in words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.orgtree.levels import overlap

FORM_FIELDS = ("form_id", "version", "owner_unit", "kind", "title", "questions")


class FormCatalogue:
    """The latest published version of every form, as form-published events arrive (in any
    order: an older version arriving late changes nothing)."""

    def __init__(self):
        self._forms: dict[str, dict[str, Any]] = {}

    def on_published(self, data: Mapping[str, Any]) -> bool:
        """Keep the version if it is the form's newest; True if it changed the catalogue."""
        known = self._forms.get(data["form_id"])
        if known is not None and known["version"] >= data["version"]:
            return False
        form = {name: data[name] for name in FORM_FIELDS}
        form["questions"] = [_labelled(q) for q in data["questions"]]
        self._forms[data["form_id"]] = form
        return True

    def readable_by(self, unit: str) -> list[dict[str, Any]]:
        """The forms a viewer of `unit` may see answers to: those owned above or at the unit (HQ's,
        its state's) or inside it (for HQ, every state's). Seva tallies last, then by title."""
        forms = [f for f in self._forms.values() if overlap([f["owner_unit"]], [unit])]
        return sorted(forms, key=lambda f: (f["kind"] == "seva", f["title"]["en"], f["form_id"]))


def _labelled(question: Mapping[str, Any]) -> dict[str, Any]:
    """A question of either version in one shape: v2's labels, or null ones for a v1 form."""
    options = question.get("options")
    if options is None:
        options = [{"option_id": o, "label": None} for o in question["option_ids"]]
    return {**question, "label": question.get("label"), "options": options}
