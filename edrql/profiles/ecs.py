"""Placeholder: being written."""


class _Stub:
    name = "ecs"
    vendor = "ecs"
    dedup_key = None

    def detect(self, columns):
        return 0

    def normalize(self, raw, ctx):
        raise NotImplementedError


PROFILE = _Stub()
