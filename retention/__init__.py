"""Retention: rules per team and data category, hide-then-purge due times, the sweeper
that really deletes (crypto-shredding first), legal holds, preview and content-free
reports. docs/retention.md explains it for the people who sign it off."""
