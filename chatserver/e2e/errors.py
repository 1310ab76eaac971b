"""The one error of the end-to-end layer, with a stable ``reason`` a person is shown."""

from __future__ import annotations

__all__ = ["REASONS", "E2EError"]

#: Every reason code and what the user interface says about it.
REASONS = {
    "malformed": "The encrypted data is damaged.",
    "bad_key": "A key is not valid.",
    "bad_padding": "A message is damaged.",
    "decrypt_failed": "A message could not be decrypted: it was changed or is not for you.",
    "bad_signature": "A signature does not match: the data was changed or forged.",
    "unsupported_suite": "This version of the encryption is not supported.",
    "pin_mismatch": "The team key does not match the key this website pinned.",
    "wrong_team": "The keys belong to another team.",
    "not_yet_valid": "The team key is not valid yet.",
    "expired": "The team key has expired.",
    "window_too_long": "The team key claims too long a validity.",
    "epoch_rollback": "The team key is older than one already seen.",
    "roster_rollback": "The team's member list is older than one already seen.",
    "key_mismatch": "A private key does not match its public key.",
    "bad_parameter": "A protocol constant has an unexpected value.",
}


class E2EError(Exception):
    """Something failed a cryptographic check; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        assert reason in REASONS, reason
        super().__init__(message or REASONS[reason])
        self.reason = reason
