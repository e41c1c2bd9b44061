"""Exceptions of the customs domain, each mapping to one HTTP status in the API."""

from __future__ import annotations


class CustomsError(Exception):
    """Base: a stable machine ``code`` and a readable message."""

    code = "customs_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFoundError(CustomsError):
    code = "not_found"


class ConflictError(CustomsError):
    """The request is valid but the current state forbids it (HTTP 409)."""

    code = "conflict"


class IllegalTransitionError(ConflictError):
    code = "illegal_transition"


class NoFreeSealError(ConflictError):
    code = "no_free_seal"


class SealRefusedError(ConflictError):
    code = "seal_refused"


class InvalidInputError(CustomsError):
    """Input that passed the schema but is semantically unusable (HTTP 422)."""

    code = "invalid_input"
