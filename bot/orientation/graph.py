"""The decision tree as a Mermaid flowchart, for curators and the README."""

from __future__ import annotations

from knowledge.loader import KnowledgeBase
from knowledge.schema import RESULT


def _label(text: str) -> str:
    return text.replace('"', "'").replace("|", "/")


def mermaid(kb: KnowledgeBase) -> str:
    lines = ["flowchart TD"]
    for q in kb.tree.questions:
        lines.append(f'    {q.id}["{_label(q.short)}<br/><small>{_label(q.text)}</small>"]')
    lines.append(f'    {RESULT}(["Résultat : fiches recommandées"])')
    for q in kb.tree.questions:
        by_target: dict[str, list[str]] = {}
        for opt in q.options:
            target = q.next_of(opt) or RESULT
            by_target.setdefault(target, []).append(opt.label)
        for target, labels in by_target.items():
            label = " / ".join(labels) if len(labels) <= 3 else f"{len(labels)} réponses"
            lines.append(f'    {q.id} -->|"{_label(label)}"| {target}')
    return "\n".join(lines) + "\n"
