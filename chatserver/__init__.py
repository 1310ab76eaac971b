"""Self-hosted, privacy-first, end-to-end encrypted counselling chat."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
