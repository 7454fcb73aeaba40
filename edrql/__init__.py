"""edrql: a local query language and REPL over raw EDR log exports."""

__version__ = "0.1.0"
