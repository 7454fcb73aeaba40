"""The one error a reader raises for a source it cannot read."""


class SourceError(Exception):
    """A source that cannot be read at all (the message names the file)."""
