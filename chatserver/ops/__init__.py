"""For operators: the command line, backups, the demo."""
