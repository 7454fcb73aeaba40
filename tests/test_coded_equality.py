"""`field == "text"` on a dictionary-coded field is answered on the field's distinct values
(the rows are not decoded) and gives exactly what the comparison of the decoded rows gives."""
import pyarrow as pa
import pytest

from edrql import expr as X
from edrql.expr import Evaluator, Scope
from edrql.parse import parse

VALUES = ["cmd.exe", "CMD.EXE", "Cmd.Exe", "", None, "powershell.exe", "cmd.exe ", "ÇMD.exe", "çmd.exe"]
OPS = ["==", "!=", "=~", "!~", "===", "!=="]
RIGHT = ['"cmd.exe"', '"CMD.EXE"', '""', '"çmd.EXE"', '"nothing"']


def _eval(table, q):
    cond = parse(f"t | where {q}")[0].stages[0].expr
    return Evaluator(table, Scope()).eval(cond).to_pylist()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("right", RIGHT)
@pytest.mark.parametrize("negated", [False, True])
def test_coded_equality_is_the_decoded_answer(op, right, negated):
    plain = pa.table({"name": pa.array(VALUES, pa.string())})
    coded = pa.table({"name": pa.array(VALUES, pa.string()).dictionary_encode()})
    q = f"{'not ' if negated else ''}(name {op} {right})"
    assert _eval(coded, q) == _eval(plain, q)


def test_the_rows_of_a_coded_field_are_not_decoded(monkeypatch):
    decoded = []
    real = X._decode
    monkeypatch.setattr(X, "_decode", lambda col: decoded.append(len(col)) or real(col))
    coded = pa.table({"name": pa.array(VALUES, pa.string()).dictionary_encode()})
    assert _eval(coded, 'name == "cmd.exe"') == [True, True, True, False, False, False, False,
                                                 False, False]
    assert decoded == []
    plain = pa.table({"host": pa.array(["pc-01.corp", "PC-01"]).dictionary_encode()})
    assert _eval(plain, 'host == "pc-01"') == [True, True]      # host keeps its own rule
