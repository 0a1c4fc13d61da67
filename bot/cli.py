"""Command line: `python -m bot run | chat | db upgrade | where | kb …`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from knowledge.loader import KnowledgeBase, KnowledgeError, load_cases, load_knowledge


def _load(root: Path | None) -> KnowledgeBase | None:
    from knowledge.routing_rules import load_routing_rules

    try:
        kb = load_knowledge(root)
        load_routing_rules(kb)  # the routing rules are part of the knowledge base
        return kb
    except KnowledgeError as exc:
        print(exc.render(), file=sys.stderr)
        return None


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from bot.console import Console
    from bot.conversation import Conversation
    from bot.service import ChatService
    from bot.storage import ConversationStore

    kb = _load(args.knowledge)
    if kb is None:
        return 2
    url = args.database or Settings().database_url

    async def main() -> int:
        store = ConversationStore(url)
        try:
            await store.migrate()
            conversation = Conversation(kb, retention_days=Settings().retention_days)
            service = ChatService(conversation, store)
            console = Console(service, chat_key=f"console:{args.user}")
            return await console.run(fresh=args.new)
        finally:
            await store.close()

    return asyncio.run(main())


NO_TOKEN = """\
Boussole ne peut pas démarrer sur Telegram : TELEGRAM_BOT_TOKEN n'est pas défini.

  1. Créez un bot auprès de @BotFather sur Telegram et copiez le jeton qu'il donne.
  2. Mettez-le dans l'environnement, ou dans un fichier .env du dossier courant :
       TELEGRAM_BOT_TOKEN=123456:ABC...
  3. Relancez : python -m bot run

Pour essayer l'orientation sans Telegram, dans ce terminal : python -m bot chat
"""


def cmd_run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from bot.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "configuration"
            print(f"configuration invalide ({where}) : {error['msg']}", file=sys.stderr)
        return 2
    if settings.token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    kb = _load(args.knowledge)
    if kb is None:
        return 2
    from bot.app import run
    from bot.partners import PartnersError

    try:
        return run(settings, kb, args.knowledge)
    except PartnersError as exc:
        print(exc, file=sys.stderr)
        return 2


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.config import Settings
    from bot.storage import ConversationStore

    url = args.database or Settings().database_url

    async def main() -> str:
        store = ConversationStore(url)
        try:
            return await store.migrate()
        finally:
            await store.close()

    print(f"✓ base de données à jour (migration {asyncio.run(main())})")
    return 0


def cmd_kb_check(args: argparse.Namespace) -> int:
    kb = _load(args.knowledge)
    if kb is None:
        print("\n✗ base refusée : corrigez les problèmes ci-dessus.", file=sys.stderr)
        return 1
    s = kb.stats
    print(f"✓ base de connaissances valide (version {kb.version})")
    print(f"  fiches            : {s.schemes}")
    print(f"  questions         : {s.questions} ({s.options} réponses possibles)")
    print(f"  chemins           : {s.paths}")
    print(f"  chemin le plus long : {s.longest_path} questions")
    print(f"  sources citées    : {s.sources}")
    inactive = sum(not c.active for c in kb.contacts)
    print(f"  contacts          : {len(kb.contacts)} ({inactive} inactifs)")
    print(f"  financements      : {len(kb.funders)}")
    from knowledge.routing_rules import load_routing_rules

    rules = load_routing_rules(kb)
    count = sum(len(x) for x in (rules.reach, rules.national, rules.first, rules.instruments))
    print(f"  règles d'orientation : {count + len(rules.main_need)}")
    from bot.geography import Geography
    from bot.routing import KIND_LABELS, Router, in_region
    from knowledge.schema import REGIONS

    gaps = Router(kb, Geography()).gaps()
    missing = {code: kinds for code, kinds in gaps.items() if kinds}
    print(f"  régions complètes : {len(gaps) - len(missing)} sur {len(gaps)}")
    for code, kinds in sorted(missing.items(), key=lambda kv: REGIONS[kv[0]]):
        labels = ", ".join(KIND_LABELS[k] for k in kinds)
        print(f"    manque {in_region(code)} : {labels}")
    return 0


def cmd_kb_graph(args: argparse.Namespace) -> int:
    from bot.graph import mermaid

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    text = mermaid(kb)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"diagramme écrit dans {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_kb_cases(args: argparse.Namespace) -> int:
    from statistics import median

    from bot.cases import play_case, run_case
    from bot.engine import Engine

    kb = _load(args.knowledge)
    if kb is None:
        return 1
    try:
        cases = load_cases(args.knowledge)
    except KnowledgeError as exc:
        print(exc.render(), file=sys.stderr)
        return 1
    engine = Engine(kb)
    failed = 0
    counts: list[int] = []
    for name, case in cases:
        failures = run_case(engine, case)
        asked = len(play_case(engine, case).asked)
        if case.expect_next_question is None:  # a whole orientation, not a step of the path
            counts.append(asked)
        if failures:
            failed += 1
            print(f"✗ {name} ({asked} q.)")
            for f in failures:
                print(f"    {f}")
        else:
            print(f"✓ {name} ({asked} q.)")
    print(f"{len(cases) - failed} passed, {failed} failed")
    if counts:
        print(f"questions posées : médiane {median(counts):g}, max {max(counts)}")
    return 1 if failed else 0


def cmd_where(args: argparse.Namespace) -> int:
    import json

    from bot.geography import Geography

    resolution = Geography().resolve(args.text)
    print(json.dumps(resolution.as_dict(), ensure_ascii=False, indent=2))
    return 0 if resolution.candidates else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Boussole : orientation vers les coopérations de l'ESS"
    )
    parser.add_argument(
        "--knowledge", type=Path, default=None, help="dossier de la base (par défaut : knowledge/)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    chat = sub.add_parser("chat", help="l'orientation dans le terminal")
    chat.add_argument("--new", action="store_true", help="repartir de zéro")
    chat.add_argument("--user", default="local", help="nom de la conversation (par défaut : local)")
    chat.add_argument(
        "--database", help="URL SQLAlchemy (par défaut : DATABASE_URL, ou SQLite boussole.db)"
    )
    chat.set_defaults(func=cmd_chat)
    sub.add_parser(
        "run", help="le bot Telegram (TELEGRAM_BOT_TOKEN, BOT_MODE, DATABASE_URL…)"
    ).set_defaults(func=cmd_run)
    db = sub.add_parser("db", help="la base de données des conversations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="appliquer les migrations (Alembic)")
    upgrade.add_argument("--database", help="URL SQLAlchemy (par défaut : DATABASE_URL)")
    upgrade.set_defaults(func=cmd_db_upgrade)
    where = sub.add_parser("where", help="résoudre un territoire (code postal, commune…) en JSON")
    where.add_argument("text", help="ce que la personne tape, ex. « 62000 » ou « colombelle »")
    where.set_defaults(func=cmd_where)
    kb = sub.add_parser("kb", help="la base de connaissances")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    kb_sub.add_parser("check", help="valider la base et afficher un résumé").set_defaults(
        func=cmd_kb_check
    )
    graph = kb_sub.add_parser("graph", help="l'arbre de décision en diagramme Mermaid")
    graph.add_argument("-o", "--output", help="fichier de sortie (sinon : écran)")
    graph.set_defaults(func=cmd_kb_graph)
    kb_sub.add_parser("cases", help="jouer les cas de test des curateurs").set_defaults(
        func=cmd_kb_cases
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
