"""Implementations of the language's functions and aggregations, one module per topic.
Each module declares its entries with the types of ``edrql.fnspec``; ``edrql.functions``
gathers them into the registries every consumer reads."""
