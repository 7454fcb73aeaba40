"""Parsed queries kept between one-shot runs (issue 13: a one-shot process pays only for what
its query touches).

A saved script or a ``| csv`` pipeline runs the same text again and again; parsing it needs
Lark (import ~20 ms, its cached parser ~13 ms, the lexer's regexes ~8 ms on first use), all to
rebuild the same syntax tree. ``statements(text)`` keeps the tree of a text that parsed,
pickled, in the user's cache folder beside Lark's own grammar cache (``parse._grammar_cache``:
the same folder, private to the user, the same trust as Lark's pickled cache), and a later run
of the same text loads it without importing Lark. The key is a hash of the text and of what
makes the tree: the grammar, edrql's parser modules (parse, parsestages, ast), Lark's and
edrql's versions (files' sizes and times: nothing is imported to read them). Text that does
not parse is never kept: its error comes from the parser each time. Any problem with the
cache (no folder, a damaged or stale file) parses as before.
"""
from __future__ import annotations

import os
import pickle

#: kept trees beyond this many: the oldest half goes (a tree is ~1 KB)
MAX_FILES = 2000
_SOURCES = ("parse.py", "parsestages.py", "ast.py", "records.py", "errors.py", "parseerrors.py",
            "grammarfile.py", "version.py")
_loaded: dict[str, list] = {}
#: a tree ``has`` read and nobody has been given yet
_pending: dict[str, list] = {}


def _sha256(data: bytes = b""):
    """A SHA-256 hash object: the interpreter's own where it has one (the same digest as
    hashlib's, without importing hashlib and OpenSSL: ~2.5 ms of every start)."""
    for name in ("_sha2", "_sha256"):
        try:
            return __import__(name).sha256(data)
        except (ImportError, AttributeError):
            pass
    import hashlib
    return hashlib.sha256(data)


def statements(text: str) -> list:
    """The statements of ``text``: from the cache, else parsed (edrql.parse) and kept."""
    got = cached(text)
    if got is not None:
        return got
    from .parse import parse
    out = parse(text)
    _keep(text, out)
    return out


def has(text: str) -> bool:
    """Are ``text``'s statements kept? The tree read to tell is the one the next
    ``cached(text)`` returns (the file is read and unpickled once per run)."""
    if text in _pending:
        return True
    out = cached(text)
    if out is not None:
        _pending[text] = out
    return out is not None


def cached(text: str) -> list | None:
    """The kept statements of ``text`` (a fresh copy each call after the first), or None."""
    if text in _pending:
        return _pending.pop(text)
    if text in _loaded:
        return _loads(_loaded[text]) if _loaded[text] else None
    path = _path(text)
    data, out = b"", None
    if path:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            out = _loads(data)
            if not isinstance(out, list):
                raise ValueError("not a list of statements")
        except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError,
                IndexError, pickle.UnpicklingError):
            data, out = b"", None
    _loaded[text] = data
    return out


class _TreeLoader(pickle.Unpickler):
    """Builds only edrql's syntax-tree classes: a kept file that names any other class (one
    put there by someone else, or a tree holding a parser object) is not loaded."""

    def find_class(self, module, name):
        if module == "edrql.ast":
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a syntax tree")


def _loads(data: bytes) -> list:
    import io
    return _TreeLoader(io.BytesIO(data)).load()


def _keep(text: str, out: list) -> None:
    path = _path(text)
    if not path or os.path.exists(path):
        return
    try:
        data = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return
    try:
        _loads(data)                # only syntax-tree classes: what loading will accept
    except pickle.UnpicklingError:
        return
    d = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        names = os.listdir(d)
        if len(names) > MAX_FILES:
            _prune(d, names)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass


def _prune(d: str, names: list[str]) -> None:
    """Remove the older half of the kept trees (by last use: reading does not update mtime,
    so by when each was written)."""
    trees = []
    for n in names:
        if n.endswith(".ast"):
            try:
                trees.append((os.path.getmtime(os.path.join(d, n)), n))
            except OSError:
                pass
    for _, n in sorted(trees)[:len(trees) // 2]:
        try:
            os.remove(os.path.join(d, n))
        except OSError:
            pass


_key_cache: list[str] = []


def _code_key() -> str | None:
    """What the parsed tree depends on besides the text, as a short hash (None: unknown)."""
    if _key_cache:
        return _key_cache[0] or None
    import importlib.util
    h = _sha256()
    try:
        from .grammarfile import grammar_text
        h.update(grammar_text().encode("utf-8"))
        here = os.path.dirname(os.path.abspath(__file__))
        spec = importlib.util.find_spec("lark")
        files = [os.path.join(here, n) for n in _SOURCES] + \
            ([spec.origin] if spec is not None and spec.origin else [])
        for f in files:
            st = os.stat(f)
            h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        # the node classes as this process loaded them: a process that imported edrql before
        # its files changed must not keep trees of the old shape under the new files' key
        from . import ast as A
        h.update(repr([(n, tuple(c.__dict__.get("__annotations__", ())))
                       for n, c in sorted(vars(A).items()) if isinstance(c, type)]).encode())
        key = h.hexdigest()[:16]
    except (OSError, ImportError, ValueError):
        key = ""
    _key_cache.append(key)
    return key or None


def folder() -> str | None:
    """The user's edrql cache folder's ``parsed/`` subfolder (made private), or None (also
    when it belongs to someone else or others may write to it)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = os.path.join(base, "edrql", "parsed")
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.stat(d)
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        return None             # a folder others can write: its pickles are not to be loaded
    return d if os.access(d, os.W_OK) else None


def _path(text: str) -> str | None:
    key = _code_key()
    d = folder() if key else None
    if not d:
        return None
    name = _sha256(f"{key}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return os.path.join(d, name + ".ast")
