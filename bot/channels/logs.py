"""Logging for the bot process: levels, format, and no secret in any line."""

from __future__ import annotations

import logging

from bot.leads.partners import Partners
from bot.platform.config import Settings
from bot.platform.observe import LIBRARY_LOGGERS, JsonFormatter, use_secrets


def secrets_of(settings: Settings, partners: Partners | None = None) -> list[str]:
    """Every secret a log line must never show: the bot token, the webhook secret, the
    SMTP password, the partners' webhook keys. (The database URL is never logged, and its
    password is often a plain word, like the database's name, found in ordinary lines.)"""
    found = [settings.token or ""]
    for secret in (settings.webhook_secret, settings.smtp_password):
        if secret is not None:
            found.append(secret.get_secret_value())
    for organisation in partners.organisations if partners else []:
        if organisation.webhook_secret is not None:
            found.append(organisation.webhook_secret.get_secret_value())
    return [secret for secret in found if secret]


def configure_logging(settings: Settings, partners: Partners | None = None) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    root = logging.getLogger()
    if settings.log_format == "json":
        for handler in root.handlers:
            handler.setFormatter(JsonFormatter())
    # the libraries log every request (URLs with the token, parameters with people's
    # data and the webhook secret) at INFO or DEBUG: quiet unless LOG_LIBRARY_LEVEL asks
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(settings.log_library_level.upper())
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))
    secrets = secrets_of(settings, partners)
    for handler in root.handlers:
        use_secrets(handler, secrets)
