"""The tables people upload and download: XLSX workbooks and CSV files.

Sheets are read with the standard library's XML parser, row by row, rather than
with openpyxl's reader, which is several times slower on a county's registry;
openpyxl writes the templates and error files, which are small.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import posixpath
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal
from xml.etree.ElementTree import Element, iterparse

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from intake.errors import BadFile, UnsupportedFile

Value = str | int | float | bool | None
Row = tuple[int, list[Value]]
Format = Literal["xlsx", "csv"]

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
_RELATIONSHIPS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SNIFF_BYTES = 64 * 1024
_DIGITS = "0123456789"


@dataclass
class Table:
    """A header row and the data rows under it, numbered as the file numbers them
    (the header is row 1 in a sheet that starts at the top). Blank rows are
    skipped; every row has one cell per header."""

    format: Format
    headers: list[str]
    rows: Iterator[Row]
    _close: Callable[[], None] = field(repr=False)

    def close(self) -> None:
        self._close()

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def open_table(path: Path, sheet: str | None = None) -> Table:
    """Open an XLSX workbook (the named sheet, else the first) or a CSV file.

    Raises :class:`UnsupportedFile` for anything else and :class:`BadFile` for an
    empty file or sheet.
    """
    with path.open("rb") as probe:
        start = probe.read(8)
    if not start:
        raise BadFile("the file is empty")
    if start.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, sheet)
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedFile(
            "this is an old Excel workbook (.xls); save it as an .xlsx workbook "
            "or as CSV and upload that"
        )
    return _open_csv(path)


def _headers(rows: Iterator[Row]) -> tuple[list[str], int]:
    for number, cells in rows:
        headers = [_text(cell) for cell in cells]
        while headers and not headers[-1]:
            headers.pop()
        if headers:
            return headers, number
    raise BadFile("the file has no header row and no data")


def _text(value: Value) -> str:
    return "" if value is None else str(value).strip()


def _aligned(rows: Iterator[Row], width: int) -> Iterator[Row]:
    for number, cells in rows:
        if all(cell is None or cell == "" for cell in cells):
            continue
        if len(cells) < width:
            cells = cells + [None] * (width - len(cells))
        yield number, cells[:width]


# --- CSV ------------------------------------------------------------------------


def _open_csv(path: Path) -> Table:
    with path.open("rb") as probe:
        sample = probe.read(_SNIFF_BYTES)
    encoding = _encoding(sample)
    handle = path.open(encoding=encoding, newline="")
    try:
        first_line = handle.readline()
        handle.seek(0)
        delimiter = max(",\t;", key=first_line.count)
        records = csv.reader(handle, delimiter=delimiter)
        rows = _csv_rows(records)
        headers, _ = _headers(rows)
    except UnicodeDecodeError:
        handle.close()
        raise UnsupportedFile("the file is neither UTF-8 nor GB18030 text") from None
    except BaseException:
        handle.close()
        raise
    return Table("csv", headers, _aligned(rows, len(headers)), handle.close)


def _encoding(sample: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) or GB18030, as Chinese Excel
    saves CSV; binary content is no CSV at all."""
    controls = sum(byte < 0x20 and byte not in b"\t\r\n" for byte in sample)
    if b"\x00" in sample or controls > len(sample) // 100:
        raise UnsupportedFile("the file is neither an XLSX workbook nor CSV text")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        try:
            codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
        except UnicodeDecodeError:
            raise UnsupportedFile(
                "the file is neither UTF-8 nor GB18030 text"
            ) from None
        return "gb18030"
    return "utf-8-sig"


def _csv_rows(records: Iterable[list[str]]) -> Iterator[Row]:
    for number, record in enumerate(records, start=1):
        yield number, [cell.strip() or None for cell in record]


# --- XLSX -----------------------------------------------------------------------


def _open_xlsx(path: Path, sheet: str | None) -> Table:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise UnsupportedFile(
            "the file is a damaged ZIP archive, not a workbook"
        ) from None
    try:
        member = _sheet_member(archive, sheet)
        shared = _shared_strings(archive)
        rows = _xlsx_rows(archive.open(member), shared)
        headers, _ = _headers(rows)
    except (KeyError, SyntaxError, zipfile.BadZipFile):
        archive.close()
        raise UnsupportedFile(
            "the file is a ZIP archive but not an XLSX workbook"
        ) from None
    except BaseException:
        archive.close()
        raise
    return Table("xlsx", headers, _aligned(rows, len(headers)), archive.close)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _sheet_member(archive: zipfile.ZipFile, wanted: str | None) -> str:
    """The archive path of the named sheet, or of the first one."""
    targets = {}
    with archive.open("xl/_rels/workbook.xml.rels") as rels:
        for _, element in iterparse(rels):
            if _local(element.tag) == "Relationship":
                target = element.get("Target", "")
                targets[element.get("Id")] = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else posixpath.normpath(posixpath.join("xl", target))
                )
    sheets: list[tuple[str, str]] = []
    with archive.open("xl/workbook.xml") as workbook:
        for _, element in iterparse(workbook):
            if _local(element.tag) == "sheet":
                relation = element.get(f"{{{_RELATIONSHIPS}}}id") or next(
                    (v for k, v in element.attrib.items() if _local(k) == "id"), ""
                )
                sheets.append((element.get("name", ""), targets[relation]))
    if not sheets:
        raise BadFile("the workbook has no sheets")
    for name, member in sheets:
        if name == wanted:
            return member
    return sheets[0][1]


def _shared_strings(archive: zipfile.ZipFile) -> list[str]:
    if "xl/sharedStrings.xml" not in archive.namelist():
        return []
    strings = []
    with archive.open("xl/sharedStrings.xml") as stream:
        for _, element in iterparse(stream):
            if _local(element.tag) == "si":
                strings.append(_rich_text(element))
                element.clear()
    return strings


def _rich_text(element: Element) -> str:
    """The text of a string item: its own text, or its runs' text; phonetic
    guides (rPh) are not part of it."""
    parts = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


@functools.lru_cache(maxsize=4096)
def _column_index(letters: str) -> int:
    """0 for A, 25 for Z, 26 for AA; a sheet has few columns, each seen often."""
    index = 0
    for character in letters.upper():
        index = index * 26 + ord(character) - 64
    return index - 1


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _xlsx_rows(stream: IO[bytes], shared: list[str]) -> Iterator[Row]:
    # The tree built by iterparse is cut back after every row: a sheet of a
    # million rows is read in constant memory.
    namespace = ""
    sheet_data: Element | None = None
    next_row = 1
    with stream:
        for event, element in iterparse(stream, events=("start", "end")):
            if event == "start":
                if sheet_data is None and _local(element.tag) == "sheetData":
                    sheet_data = element
                    namespace = element.tag[: -len("sheetData")]
                continue
            if sheet_data is None or element.tag != namespace + "row":
                continue
            reference = element.get("r")
            number = int(reference) if reference else next_row
            next_row = number + 1
            yield number, _cells(element, namespace, shared)
            sheet_data.clear()


def _cells(row: Element, namespace: str, shared: list[str]) -> list[Value]:
    cells: list[Value] = []
    value_tag, inline_tag = namespace + "v", namespace + "is"
    for cell in row:
        reference = cell.get("r")
        index = _column_index(reference.rstrip(_DIGITS)) if reference else len(cells)
        if index >= len(cells):
            cells.extend([None] * (index + 1 - len(cells)))
        kind = cell.get("t")
        if kind == "inlineStr":
            inline = cell.find(inline_tag)
            cells[index] = _rich_text(inline) if inline is not None else None
            continue
        value = cell.find(value_tag)
        if value is None or value.text is None:
            continue
        text = value.text
        if kind == "s":
            cells[index] = shared[int(text)]
        elif kind == "b":
            cells[index] = text == "1"
        elif kind in ("str", "e", "d"):
            cells[index] = text
        else:
            cells[index] = _number(text)
    return cells


# --- writing --------------------------------------------------------------------


@dataclass
class SheetOut:
    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence[Value]]
    widths: Sequence[int] = ()
    text_columns: Sequence[int] = ()


def xlsx_bytes(sheets: Sequence[SheetOut]) -> bytes:
    """A workbook with a bold header row on each sheet; ``text_columns`` are
    formatted as text, so long numbers typed into them keep every digit."""
    workbook = Workbook(write_only=True)
    bold = Font(bold=True)
    for spec in sheets:
        sheet = workbook.create_sheet(spec.title)
        for index, width in enumerate(spec.widths, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        for index in spec.text_columns:
            sheet.column_dimensions[get_column_letter(index + 1)].number_format = "@"
        header = []
        for text in spec.headers:
            cell = WriteOnlyCell(sheet, value=text)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(cell)
        sheet.append(header)
        for row in spec.rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[Value]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel shows the Chinese correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
