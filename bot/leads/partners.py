"""Partner organisations and operators: deployment configuration, not public knowledge.

A YAML file (`PARTNERS_FILE`) says, for each organisation that accepts leads, how they
reach it (its Telegram group, an email address, a webhook), and which Telegram users are
its operators. It holds secrets (webhook keys) and addresses, so it lives with the
deployment, never in `knowledge/`. Example: `deploy/partners.example.yaml`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from knowledge.schema import Id

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Strict):
    id: Id
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    #: the directory contact (knowledge/directory) this organisation is, if any: the result
    #: then offers « Être mis en relation » next to it
    contact: Id | None = None
    telegram_chat_id: int | None = None
    email: str | None = None
    webhook_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    webhook_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _reachable(self) -> Organisation:
        if not (self.telegram_chat_id or self.email or self.webhook_url):
            raise ValueError(
                "aucun moyen de transmettre les demandes : indiquez telegram_chat_id, "
                "email ou webhook_url"
            )
        if self.email is not None and not EMAIL.match(self.email):
            raise ValueError(f"adresse e-mail invalide : {self.email!r}")
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("webhook_url demande webhook_secret (clé de signature HMAC)")
        if self.webhook_secret is not None:
            from bot.leads.delivery import webhook_key

            try:
                webhook_key(self.webhook_secret.get_secret_value())
            except ValueError as exc:
                raise ValueError(
                    f"webhook_secret : {exc} (secret Standard Webhooks ; en créer un : "
                    'python3 -c "import base64,os; '
                    "print('whsec_'+base64.b64encode(os.urandom(32)).decode())\")"
                ) from None
        return self

    @property
    def channels(self) -> list[str]:
        out = []
        if self.telegram_chat_id:
            out.append("telegram")
        if self.email:
            out.append("email")
        if self.webhook_url:
            out.append("webhook")
        return out


class Operator(_Strict):
    telegram_user_id: int
    organisation: Id
    name: str | None = None


class Partners(_Strict):
    organisations: list[Organisation] = Field(default_factory=list)
    operators: list[Operator] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Partners:
        ids = [o.id for o in self.organisations]
        doubles = sorted({i for i in ids if ids.count(i) > 1})
        if doubles:
            raise ValueError(f"organisation en double : {', '.join(doubles)}")
        unknown = sorted({op.organisation for op in self.operators} - set(ids))
        if unknown:
            raise ValueError(f"opérateur rattaché à une organisation inconnue : {unknown}")
        return self

    def get(self, organisation_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == organisation_id), None)

    def for_contact(self, contact_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.contact == contact_id), None)

    def operator(self, telegram_user_id: int | None) -> Operator | None:
        return next((o for o in self.operators if o.telegram_user_id == telegram_user_id), None)

    def for_chat(self, chat_id: int) -> Organisation | None:
        return next((o for o in self.organisations if o.telegram_chat_id == chat_id), None)


class PartnersError(Exception):
    pass


def _yaml_error(path: Path, exc: yaml.YAMLError) -> str:
    """Where the YAML syntax error is, without any of the file's content."""
    mark = getattr(exc, "problem_mark", None)
    where = f", ligne {mark.line + 1}, colonne {mark.column + 1}" if mark is not None else ""
    return (
        f"{path}{where} : erreur de syntaxe YAML ({type(exc).__name__}). Vérifiez à cet "
        "endroit les guillemets (fermés ?), les « : » dans une valeur (mettez-la entre "
        "guillemets) et l'indentation (des espaces, jamais de tabulation)."
    )


def load_partners(path: Path | None, contacts: set[str] | None = None) -> Partners:
    """The partners file, checked; no file means no partner (no lead can be sent)."""
    if path is None:
        return Partners()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise PartnersError(f"{path} : illisible ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:  # never its text: it quotes the line, a secret maybe
        raise PartnersError(_yaml_error(path, exc)) from None
    try:
        partners = Partners.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"])
            lines.append(f"- {path} [{where}] : {error['msg']}")
        raise PartnersError("Fichier des partenaires invalide :\n" + "\n".join(lines)) from exc
    if contacts is not None:
        unknown = [o.id for o in partners.organisations if o.contact and o.contact not in contacts]
        if unknown:
            raise PartnersError(
                f"{path} : `contact` inconnu de knowledge/directory pour {', '.join(unknown)} "
                "(indiquez l'id d'un contact de l'annuaire)"
            )
    return partners
