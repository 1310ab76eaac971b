"""The JSON endpoints under /api, one module per area."""
