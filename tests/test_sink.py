"""Arrow files are written through caselock.open_sink: bounded write() calls, same bytes."""
import os

import pyarrow as pa

from edrql import caselock


def test_sink_writes_in_bounded_chunks_and_keeps_the_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(caselock, "WRITE_CHUNK", 4096)
    sizes = []
    real = os.write

    class Spy(caselock._ChunkedWrites):
        def __init__(self, path):
            super().__init__(path)
            fh = self._fh

            class Raw:
                def write(self, b):
                    sizes.append(len(b))
                    return real(fh.fileno(), b)

                def close(self):
                    fh.close()
            self._fh = Raw()
    monkeypatch.setattr(caselock, "_ChunkedWrites", Spy)
    t = pa.table({"s": [("x" * 997) + str(i) for i in range(200)], "n": list(range(200))})
    path = str(tmp_path / "t.arrow")
    with caselock.open_sink(path) as sink, pa.ipc.new_file(sink, t.schema) as w:
        w.write_table(t)
    assert max(sizes) <= 4096 and sum(sizes) == os.path.getsize(path) > 200_000
    assert pa.ipc.open_file(path).read_all().equals(t)
