"""Dynamic values (KQL's ``dynamic``): JSON documents and lists.

Representation (docs/language.md, "Dynamic values"):

* a **bag** (JSON object) or any JSON document is **JSON text**: an Arrow string column.
  ``parse_json``/``todynamic`` return their text as it is, so a JSON text column from an
  export (Defender's ``AdditionalFields``) is already a dynamic value;
* a **list** is an Arrow ``list<…>`` column (what ``values()``, ``split()``,
  ``pack_array()``, ``extract_all()`` and ``dynamic([...])`` make);
* a **member** (``x.key``, ``x["key"]``, ``x[0]``) of JSON text is text: a JSON string
  as its value, a number or true/false as written, a nested object or array as its JSON
  text (so members chain: ``x.a.b``), and null when the document has no such member or
  is not JSON. A member of a list is its element (``x[-1]``: the last one).

pyarrow has no JSON path kernel: JSON text is parsed once per *distinct* value of the
column (dictionary encoding), never once per row, and the results are spread back to
the rows with one ``take``.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .textcast import _is_list, as_text, json_string, json_value

_BAD = object()        # not JSON


def _load(text):
    if text is None:
        return _BAD
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _BAD


def py_text(v):
    """A parsed JSON value as edrql shows a dynamic member (None: missing)."""
    if v is None or v is _BAD:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def per_distinct(a, fn, out_type, maybe=None):
    """fn(python value) for each distinct value of a text column (or a scalar), spread back
    to the rows: the JSON parsing of dynamic values runs once per distinct document.
    ``maybe(distinct values)``, when given, says which values can give a non-null result;
    fn runs on those only."""
    if isinstance(a, pa.Scalar):
        v = a.as_py() if a.is_valid else None
        return pa.scalar(fn(v), out_type)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    enc = a if pa.types.is_dictionary(a.type) else pc.dictionary_encode(a)
    docs = enc.dictionary
    mask = maybe(docs) if maybe is not None else None
    if mask is None or pc.all(mask).as_py():
        values = pa.array([fn(v) for v in docs.to_pylist()], out_type)
    else:
        some = pa.array([fn(v) for v in pc.filter(docs, mask).to_pylist()], out_type)
        values = pc.replace_with_mask(pa.nulls(len(docs), out_type), mask, some)
    return pc.take(values, enc.indices)


def _walk(doc, keys):
    for k in keys:
        if isinstance(k, str) and isinstance(doc, dict):
            doc = doc.get(k)
        elif isinstance(k, int) and isinstance(doc, list) and -len(doc) <= k < len(doc):
            doc = doc[k]
        else:
            return None
    return doc


def member(value, keys: list):
    """The member at ``keys`` (strings: bag keys; integers: list positions) of each value:
    JSON text (string column) or a list column. Raises TypeError on other values."""
    t = value.type
    if pa.types.is_dictionary(t):
        value, t = pc.cast(value, t.value_type), t.value_type
    if _is_list(t):
        if not isinstance(keys[0], int):
            raise TypeError(f"a list has no member {keys[0]!r}; index it with a number, e.g. [0]")
        out = list_element(value, keys[0])
        return member(out, keys[1:]) if len(keys) > 1 else out
    if t == pa.null():
        return value.cast(pa.string())
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        raise TypeError("only JSON text (dynamic values) and lists have members")
    names = [json.dumps(k, ensure_ascii=False) for k in keys if isinstance(k, str)]

    def spelled(docs):
        """Only documents that spell every key ("Key", or hold \\u escapes) can have the
        member: the others are null without being parsed."""
        every = pc.match_substring(docs, names[0])
        for k in names[1:]:
            every = pc.and_(every, pc.match_substring(docs, k))
        return pc.fill_null(pc.or_(pc.match_substring(docs, "\\u"), every), False)
    return per_distinct(value, lambda s: py_text(_walk(_load(s), keys)), pa.string(),
                        spelled if names else None)


def list_element(a, i: int):
    """Element i of each list (negative: from the end); null when out of range."""
    if isinstance(a, pa.Scalar):
        v = a.as_py() if a.is_valid else None
        return pa.scalar(v[i] if v is not None and -len(v) <= i < len(v) else None,
                         a.type.value_type)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    offsets = a.offsets.to_numpy()
    n = np.diff(offsets)
    idx = np.full(len(a), i) if i >= 0 else n + i
    ok = (idx >= 0) & (idx < n) & a.is_valid().to_numpy(zero_copy_only=False)
    pos = pa.array(offsets[:-1] + np.where(ok, idx, 0), pa.int64(), mask=~ok)
    return pc.take(a.values, pos)


# ---------------------------------------------------------------- functions
def parse_json(a):
    """The JSON text itself (a list becomes its JSON text)."""
    return as_text(a)


def array_length(a):
    """Elements of a list (or of a JSON array in text); null for anything else."""
    if _is_list(a.type):
        return pc.cast(pc.list_value_length(a), pa.int64())
    if a.type == pa.null():
        return a.cast(pa.int64())
    return per_distinct(as_text(a), lambda s: _len_of(_load(s)), pa.int64())


def _len_of(doc):
    return len(doc) if isinstance(doc, list) else None


def bag_keys(a):
    """The keys of each JSON object, as a list (null when the value is no object)."""
    return per_distinct(as_text(a), lambda s: _keys_of(_load(s)), pa.list_(pa.string()))


def _keys_of(doc):
    return list(doc) if isinstance(doc, dict) else None


def _common_type(arrs):
    types = {x.type for x in arrs if x.type != pa.null()}
    if not types:
        return pa.string()
    if len(types) == 1:
        return types.pop()
    if all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types):
        return pa.float64() if any(pa.types.is_floating(t) for t in types) else pa.int64()
    return None          # mixed kinds: elements as text


def pack_array(*args):
    """A list per row of the arguments (one type; mixed kinds become text)."""
    common = _common_type(args)
    if all(isinstance(a, pa.Scalar) for a in args):
        vals = [(a.cast(common) if common is not None else as_text(a)).as_py() for a in args]
        return pa.scalar(vals, pa.list_(common or pa.string()))
    n = next(len(a) for a in args if not isinstance(a, pa.Scalar))
    cols = []
    for a in args:
        a = pa.repeat(a, n) if isinstance(a, pa.Scalar) else a
        a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
        if pa.types.is_dictionary(a.type):
            a = pc.cast(a, a.type.value_type)
        cols.append(pc.cast(a, common) if common is not None else as_text(a))
    k = len(cols)
    values = pa.concat_arrays(cols)
    order = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()
    offsets = pa.array(np.arange(0, n * k + 1, k), pa.int32())
    return pa.ListArray.from_arrays(offsets, pc.take(values, pa.array(order)))


def bag_pack(*args):
    """A JSON object per row from key, value, key, value … (keys: constant text)."""
    if len(args) % 2:
        raise TypeError("bag_pack() takes pairs: key, value, key, value …")
    n = next((len(a) for a in args if not isinstance(a, pa.Scalar)), None)
    parts = []
    for i in range(0, len(args), 2):
        key, v = args[i], args[i + 1]
        if not isinstance(key, pa.Scalar) or not key.is_valid:
            raise TypeError("bag_pack() needs constant keys, e.g. bag_pack(\"host\", host)")
        one = v if n is None or not isinstance(v, pa.Scalar) else pa.repeat(v, n)
        if isinstance(one, pa.Scalar):
            one = pa.repeat(one, 1)
        parts += ["," if i else "", json.dumps(str(key.as_py()), ensure_ascii=False) + ":",
                  json_value(one)]
    out = pc.binary_join_element_wise("{", *[p if isinstance(p, pa.Array) else pa.scalar(p)
                                             for p in parts], "}", "")
    return out[0] if n is None else out


def dynamic_value(v):
    """The scalar for a ``dynamic(…)`` literal: a list → a list scalar (one element type,
    else its elements as JSON text); a bag → its JSON text; a plain value as it is."""
    if isinstance(v, dict):
        return pa.scalar(json.dumps(v, separators=(",", ":"), ensure_ascii=False), pa.string())
    if isinstance(v, list):
        kinds = {_py_kind(x) for x in v if x is not None}
        if len(kinds) <= 1 and kinds != {"nested"}:
            typ = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(),
                   "bool": pa.bool_()}.get(next(iter(kinds), "str"))
            return pa.scalar(v, pa.list_(typ))
        if kinds <= {"int", "float"}:
            return pa.scalar([None if x is None else float(x) for x in v], pa.list_(pa.float64()))
        return pa.scalar([x if isinstance(x, str) or x is None else py_text(x) for x in v],
                         pa.list_(pa.string()))
    if v is None:
        return pa.scalar(None, pa.null())
    return pa.scalar(v, {"str": pa.string(), "int": pa.int64(), "float": pa.float64(),
                         "bool": pa.bool_()}[_py_kind(v)])


def _py_kind(x) -> str:
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int"
    if isinstance(x, float):
        return "float"
    if isinstance(x, str):
        return "str"
    return "nested"


__all__ = ["member", "list_element", "parse_json", "array_length", "bag_keys", "pack_array",
           "bag_pack", "dynamic_value", "json_string", "per_distinct", "py_text"]


def split_member(name: str, known) -> tuple[str, list] | None:
    """``raw.AdditionalFields.Foo.Bar`` → ("raw.AdditionalFields", ["Foo", "Bar"]): the
    longest dotted prefix that ``known(prefix)`` accepts (a column or a let name), then the
    keys; None when no prefix is known."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if known(prefix):
            return prefix, parts[i:]
    return None


def member_name(base_name: str, keys: list) -> str:
    """The column name of a member expression: KQL's ``AdditionalFields_Foo``."""
    return "_".join([base_name] + [str(k) for k in keys])
