"""The store's errors. They carry no HTTP status: the web boundary maps them
(``alphacut.http.errors``), the CLI prints their message."""

from __future__ import annotations

from alphacut.errors.base import AlphacutError


class StorageError(AlphacutError):
    """The store refused a change (a conflict, an unknown record, a schema it cannot run)."""


class StorageUnavailable(StorageError):
    """The store could not be reached or did not answer (locked too long, down, read-only).

    ``detail`` may name hosts, files and database messages: it is for the operator's log
    and the CLI, never for an HTTP answer."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"The account store is unavailable: {detail}")
        self.detail = detail


class DuplicateEmail(StorageError):
    def __init__(self, email: str) -> None:
        super().__init__(f"A user with the e-mail address '{email}' already exists.")
        self.email = email


class UnknownUser(StorageError):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"No user with id '{user_id}'.")
        self.user_id = user_id


class KeyConflict(StorageError):
    """An API key with the same prefix (or the same hash) exists: generate another key."""

    def __init__(self, prefix: str) -> None:
        super().__init__(f"An API key with the prefix '{prefix}' already exists.")
        self.prefix = prefix


class CustomerConflict(StorageError):
    """The Stripe customer is already linked to another user."""

    def __init__(self, customer_id: str, user_id: str) -> None:
        super().__init__(f"The Stripe customer '{customer_id}' is linked to user '{user_id}'.")
        self.customer_id = customer_id
        self.user_id = user_id


class SchemaError(StorageError):
    """The stored schema is newer than this code, or not one of ours."""


class UnsupportedStoreUrl(StorageError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Unsupported store URL: {detail}")
