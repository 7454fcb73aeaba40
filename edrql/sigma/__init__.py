"""Sigma rules over any vendor's events: load (pySigma) → map fields and logsources onto
edrql's columns → evaluate every rule in one pass → hits, receipt, output.

Modules: ``rules`` (load and compile), ``fieldmap`` (Sigma fields and logsources ↔ edrql
columns, per vendor), ``engine`` (one-pass evaluation), ``correlations`` (event_count,
value_count, temporal), ``hunt`` (the ``edrql hunt`` run and the ``sigma()`` stage's rows).
"""
