"""Sigma's rule levels, lowest first: ``--level`` / ``level=`` keep that level and above."""
LEVELS = ("informational", "low", "medium", "high", "critical")
