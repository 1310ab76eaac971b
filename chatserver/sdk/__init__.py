"""A Python client of the chat server, for tests, benchmarks and scripts: the peers of the
wire protocol (``peers``), and the end-to-end layer on top of them as a widget (``e2e``)
and as a duty console (``desk``) run it."""
