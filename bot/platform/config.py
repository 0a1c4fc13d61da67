"""Settings from the environment (and a `.env` file in the working directory).

Every setting has an environment variable of the same name in capitals, e.g.
`TELEGRAM_BOT_TOKEN`, `DATABASE_URL`, `BOT_MODE`. The token is a secret: it is never
printed, logged or shown in an error (pydantic's SecretStr).

Where a setting comes from, first found wins:

1. a file named after it in /run/secrets (Docker and Compose secrets, e.g.
   /run/secrets/telegram_bot_token);
2. the process environment (Compose's `environment:` and `env_file:`, systemd's
   `Environment=` and `EnvironmentFile=`, the shell);
3. the `.env` file of the working directory;
4. the default.

An empty value (`WEBHOOK_SECRET=` as in .env.example) counts as not set. An invalid value
is refused with a message that names the setting and never repeats its value
(:func:`load_settings`).
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///boussole.db"
TELEGRAM_API = "https://api.telegram.org"


class BotMode(StrEnum):
    polling = "polling"
    webhook = "webhook"


#: Docker/Compose secrets: a file per setting (e.g. /run/secrets/telegram_bot_token)
SECRETS_DIR = Path("/run/secrets")
#: Telegram's rule for the webhook secret token (setWebhook's secret_token)
WEBHOOK_SECRET_RULE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        secrets_dir=str(SECRETS_DIR) if SECRETS_DIR.is_dir() else None,
    )

    #: the token given by @BotFather
    telegram_bot_token: SecretStr | None = None
    #: the Bot API server; tests point it at an emulator
    telegram_api_base_url: str = TELEGRAM_API
    database_url: str = DEFAULT_DATABASE_URL
    bot_mode: BotMode = BotMode.polling
    #: public HTTPS address Telegram posts updates to (webhook mode)
    webhook_url: str | None = None
    #: checked on every webhook request (X-Telegram-Bot-Api-Secret-Token)
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    #: seconds between two getUpdates calls in polling mode (Telegram long-polls anyway)
    poll_interval: float = Field(default=0.0, ge=0)
    #: conversations without any message for this long are deleted
    retention_days: int = Field(default=180, ge=1)
    #: updates handled at once by one process (the same chat is always handled in order)
    concurrent_updates: int = Field(default=32, ge=1)
    #: keep under Telegram's flood limits (about 30 messages a second); off only for tests
    rate_limit: bool = True
    #: the partner organisations that receive leads, and their operators (YAML, secret)
    partners_file: Path | None = None
    #: leads are deleted this many days after they were sent
    lead_retention_days: int = Field(default=365, ge=1)
    #: leads one person may send in 24 hours (one open lead per organisation in any case)
    lead_daily_cap: int = Field(default=5, ge=1)
    #: leads an operator may qualify on behalf of people in 24 hours
    lead_daily_cap_operator: int = Field(default=40, ge=1)
    #: level of the libraries' loggers (telegram, httpx, SQL drivers, uvicorn): they log
    #: request parameters (personal data, secrets) at DEBUG, so they stay quiet unless asked
    log_library_level: str = "WARNING"
    #: a partner who has not answered a lead is reminded after this many hours
    partner_reminder_hours: float = Field(default=72, gt=0)
    #: the person is asked whether they were contacted this many days after delivery
    followup_days: float = Field(default=14, gt=0)
    #: run the delivery worker in this process (several processes may run one each)
    outbox_worker: bool = True
    #: how often the delivery worker looks for due jobs (seconds)
    outbox_interval: float = Field(default=2.0, gt=0)
    #: wait before the first retry of a failed delivery (seconds); later waits grow from
    #: it (x2, x4, x10, x20, x60, then x120 each, about a day in all with the default)
    outbox_first_retry: float = Field(default=30.0, gt=0)
    #: outgoing mail for partners who receive leads by email
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "boussole@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    #: the web chat's public address (share links, embedding snippet), e.g.
    #: https://boussole.example.org; by default the address it listens on
    web_public_url: str | None = None
    #: serve the web chat (/chat) next to the webhook in webhook mode
    web_chat: bool = True
    #: sites allowed to embed the web chat in an iframe, separated by spaces
    #: (Content-Security-Policy frame-ancestors), e.g. https://www.cress-hdf.org
    web_frame_ancestors: str = "'self'"
    #: requests per minute a client (an IP address) may make to the web chat; 0: no limit
    web_rate_limit: int = Field(default=120, ge=0)
    #: signs the web chat's anti-forgery tokens; needed when several processes serve it
    #: (by default WEBHOOK_SECRET, or a random key per process)
    web_secret: SecretStr | None = None
    #: at start, attempts to reach the Bot API before giving up, and the first wait
    #: between two of them (seconds, doubled each time)
    startup_attempts: int = Field(default=6, ge=1)
    startup_first_wait: float = Field(default=2.0, gt=0)
    log_level: str = "INFO"
    #: `text` for a terminal, `json` (one object per line) for a log collector
    log_format: Literal["text", "json"] = "text"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """A secret file outranks the environment: an env file copied from .env.example
        must not hide /run/secrets (see the module's docstring)."""
        return init_settings, file_secret_settings, env_settings, dotenv_settings

    @field_validator("webhook_secret")
    @classmethod
    def _telegram_secret_rule(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not WEBHOOK_SECRET_RULE.fullmatch(value.get_secret_value()):
            raise ValueError("1 à 256 caractères parmi A-Z, a-z, 0-9, _ et - (règle de Telegram)")
        return value

    @model_validator(mode="after")
    def _webhook_needs_url_and_secret(self) -> Settings:
        if self.bot_mode is BotMode.webhook:
            missing = [
                name
                for name, value in (
                    ("WEBHOOK_URL", self.webhook_url),
                    ("WEBHOOK_SECRET", self.webhook_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(f"BOT_MODE=webhook demande aussi {' et '.join(missing)}")
        return self

    @property
    def token(self) -> str | None:
        value = self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""
        return value.strip() or None


class SettingsError(Exception):
    """Invalid settings, explained per setting without any of their values."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def explain(exc: ValidationError) -> list[str]:
    """One line per problem: the setting's name and what is wrong, never the value."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in error["loc"]).upper() or "configuration"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"configuration invalide : {where} : {message}")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """The settings, or :class:`SettingsError` naming each invalid setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(explain(exc)) from None
