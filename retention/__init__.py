"""Retention: rules, sweeps and key destruction (see the retention issue; not built yet)."""
