"""The short labels of every screen (categories, statuses, button words), from labels.yaml.

One place for them, so that a word is changed once for every channel and no sentence a
person reads lives in Python code. Whole messages are templates (see render.py).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

LABELS_FILE = Path(__file__).resolve().parent / "labels.yaml"


@cache
def _all() -> dict[str, object]:
    data = yaml.safe_load(LABELS_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{LABELS_FILE}: a mapping of label groups expected"
    return data


@cache
def group(name: str) -> dict[str, str]:
    """One group of labels, e.g. `group("lead_status")["taken"]`."""
    value = _all()[name]
    assert isinstance(value, dict), f"{LABELS_FILE}: {name} must be a mapping"
    return {str(k): str(v) for k, v in value.items()}


def label(name: str) -> str:
    """A single label at the top level of the file, e.g. `label("unknown_value")`."""
    return str(_all()[name])


def button(name: str, /, **values: str) -> str:
    """A button's words, with its placeholders filled: `button("fiche", name="SCIC")`."""
    return group("buttons")[name].format(**values)


AUDIENCE_LABELS = group("audiences")
KIND_LABELS = group("scheme_kinds")
MONEY_LABELS = group("money_topics")
DECLINE_REASONS = group("decline_reasons")
PARTNER_STATUS = group("partner_status")
LEAD_STATUS_LABELS = group("lead_status")
CONTACT_KINDS = group("contact_kinds")
