"""Placeholder: being written."""


class _Stub:
    name = "squid"
    vendor = "Squid"
    dedup_key = None

    def detect(self, columns):
        return 0

    def normalize(self, raw, ctx):
        raise NotImplementedError


SQUID = _Stub()
