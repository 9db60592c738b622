"""Input tables as people publish them (issue 14): delimiter and encoding detected and reported,
.xlsx / .parquet through pandas when their engine is installed, a clear error naming the file
when it is not."""
from __future__ import annotations

import builtins

import pandas as pd
import pytest

from auditkit.data.table_formats import detect_delimiter, detect_encoding
from auditkit.data.tables import TableError, load_table

FRAME = pd.DataFrame({"ville": ["Évry", "Orléans", "Besançon", "Évry"], "âge": ["31", "45", "52", "31"],
                      "taille": ["1,72", "1,80", "1,65", "1,72"]})


@pytest.mark.parametrize("sep,name", [(";", "semicolon"), (",", "comma"), ("\t", "tab"), ("|", "pipe")])
@pytest.mark.parametrize("encoding,expected", [("latin-1", "cp1252"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig")])
def test_delimiter_and_encoding_detected_and_reported(tmp_path, sep, name, encoding, expected):
    p = tmp_path / "t.csv"
    FRAME.to_csv(p, sep=sep, index=False, encoding=encoding)
    t = load_table(p)
    assert t.reading == {"format": "csv", "delimiter": name, "encoding": expected, "detected": True}
    assert list(t.df.columns) == ["ville", "âge", "taille"]
    assert t.df["ville"].tolist() == FRAME["ville"].tolist()  # accents decoded, not replaced
    assert t.columns["âge"].kind == "numeric"


def test_decimal_commas_do_not_fool_the_delimiter():
    text = "a;b;c\n1,5;2,25;3\n4;5,5;6,75\n"
    assert detect_delimiter(text) == ";"
    assert detect_delimiter("x\n1\n2\n") == ","  # one column: comma by default
    assert detect_delimiter('name,quote\n"Smith; J.","a;b"\n"Li; K.","c;d"\n') == ","  # ';' inside quotes


def test_encoding_fallbacks():
    assert detect_encoding("é".encode()) == "utf-8"
    assert detect_encoding("é".encode("cp1252")) == "cp1252"
    assert detect_encoding(b"\x81\x8d") == "latin-1"  # undefined in cp1252: latin-1 decodes any byte


def test_tsv_is_tab_by_name(tmp_path):
    p = tmp_path / "t.tsv"
    FRAME.to_csv(p, sep="\t", index=False)
    assert load_table(p).reading["detected"] is False


def _hide(monkeypatch, module: str) -> None:
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {module!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


@pytest.mark.parametrize("suffix,module", [(".xlsx", "openpyxl"), (".parquet", "pyarrow")])
def test_missing_engine_names_the_file_and_the_package(tmp_path, monkeypatch, suffix, module):
    p = tmp_path / f"people{suffix}"
    p.write_bytes(b"not really")
    _hide(monkeypatch, module)
    with pytest.raises(TableError, match=rf"people{suffix}.*{module}.*auditkit\[spreadsheets\]"):
        load_table(p)


def test_xlsx_read_when_openpyxl_is_installed(tmp_path):
    pytest.importorskip("openpyxl")
    p = tmp_path / "people.xlsx"
    FRAME.to_excel(p, index=False, sheet_name="release")
    t = load_table(p)
    assert t.reading == {"format": "xlsx", "sheet": "release", "sheets": 1}
    assert t.df["ville"].tolist() == FRAME["ville"].tolist()


def test_parquet_read_when_pyarrow_is_installed(tmp_path):
    pytest.importorskip("pyarrow")
    p = tmp_path / "people.parquet"
    FRAME.to_parquet(p, index=False)
    t = load_table(p)
    assert t.reading == {"format": "parquet"}
    assert t.columns["âge"].kind == "numeric"


def test_unknown_suffix_and_empty_file(tmp_path):
    p = tmp_path / "people.ods"
    p.write_text("x")
    with pytest.raises(TableError, match=r"people.ods.*unsupported file type '\.ods'"):
        load_table(p)
    e = tmp_path / "empty.csv"
    e.write_text("\n")
    with pytest.raises(TableError, match="empty.csv is empty"):
        load_table(e)
