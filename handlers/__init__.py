"""Telegram handlers: translate updates to domain calls and back (no business rule here)."""
