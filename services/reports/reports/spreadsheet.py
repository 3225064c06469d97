"""Rows to the files people open in a spreadsheet: CSV (UTF-8 with a byte-order mark, so Excel
reads Hindi right) and XLSX (SpreadsheetML in a zip, written with the standard library). Both
stream: rows go out as they come, a page at a time, so a district's export holds one page in
memory, never the whole file.

A cell is text, a number or empty (None). Text that a spreadsheet would take for a formula
(starting with =, +, -, @, or a tab or carriage return before one) gets a leading apostrophe, so
a worker's answer "=HYPERLINK(…)" is shown, never run. Numbers stay numbers."""

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from xml.sax.saxutils import escape

Cell = str | int | float | None
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
# XML 1.0 refuses these control characters even escaped; a pasted answer may hold them.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
PAGE_ROWS = 500


def neutralised(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def csv_chunks(header: list[str], rows: Iterable[list[Cell]]) -> Iterator[bytes]:
    """The CSV file in chunks of up to PAGE_ROWS rows, the byte-order mark first."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    out.writerow([neutralised(h) for h in header])
    for n, row in enumerate(rows, 1):
        out.writerow(["" if c is None else neutralised(c) for c in row])
        if n % PAGE_ROWS == 0:
            yield _drain(buffer).encode()
    yield _drain(buffer).encode()


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


# --- XLSX ------------------------------------------------------------------------------------

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

CONTENT_TYPES = (
    XML_HEAD + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.styles+xml"/></Types>'
)
ROOT_RELS = (
    XML_HEAD + f'<Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK_RELS = (
    XML_HEAD + f'<Relationships xmlns="{PACKAGE_RELS}">'
    f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{RELS}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# Two cell formats: 0 plain, 1 bold (the header row).
STYLES = (
    XML_HEAD + f'<styleSheet xmlns="{MAIN}">'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def xlsx_chunks(sheet: str, header: list[str], rows: Iterable[list[Cell]]) -> Iterator[bytes]:
    """The XLSX file in chunks: the zip is written to a sink that hands on what it holds after
    each page of rows (zipfile writes data descriptors to a stream it cannot seek)."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", _workbook(sheet))
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", STYLES)
        # No zip64: Excel trips on its streamed form, and a sheet stays far below 2 GiB (the
        # nation's million booths are a few hundred MB of XML).
        with book.open("xl/worksheets/sheet1.xml", "w") as part:
            part.write(
                (
                    XML_HEAD
                    + f'<worksheet xmlns="{MAIN}"><sheetViews><sheetView workbookViewId="0">'
                    '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
                    "</sheetView></sheetViews><sheetData>"
                ).encode()
            )
            part.write(_row(1, header, style=1).encode())
            for n, row in enumerate(rows, 2):
                part.write(_row(n, row).encode())
                if n % PAGE_ROWS == 0:
                    yield sink.take()
            part.write(b"</sheetData></worksheet>")
        yield sink.take()
    yield sink.take()


def _workbook(sheet: str) -> str:
    name = escape(NOT_XML.sub("", sheet)[:31] or "Sheet1", {'"': "&quot;"})
    return (
        XML_HEAD + f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
        f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )


def _row(number: int, cells: list[Cell], style: int = 0) -> str:
    out = [f'<row r="{number}">']
    for column, cell in enumerate(cells):
        ref = f"{column_name(column)}{number}"
        styled = f' s="{style}"' if style else ""
        if cell is None or cell == "":
            continue
        if isinstance(cell, bool):
            cell = str(cell)
        if isinstance(cell, (int, float)):
            out.append(f'<c r="{ref}"{styled}><v>{cell!r}</v></c>')
        else:
            text = escape(NOT_XML.sub("", str(neutralised(cell))))
            text = f'<is><t xml:space="preserve">{text}</t></is>'
            out.append(f'<c r="{ref}"{styled} t="inlineStr">{text}</c>')
    out.append("</row>")
    return "".join(out)


def column_name(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(65 + rest) + name
    return name


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream that keeps what was written until it is taken."""

    def __init__(self):
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.chunks)
        self.chunks.clear()
        return out
