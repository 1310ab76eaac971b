"""What the installation records and reports: the audit log, anonymous statistics and
the privacy report."""
