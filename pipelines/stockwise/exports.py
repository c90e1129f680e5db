"""Files people open in a spreadsheet: no cell a spreadsheet would run (CSV/formula injection).

ERP data is typed by many people; a sku or an item name such as `=HYPERLINK("http://x","a")`,
`+1+1`, `-2+3` or `@SUM(1)` becomes a live formula when a planner opens the export in Excel.
Following OWASP, every text cell that starts with `= + - @`, a tab or a carriage return is
neutralised in every export made for people: in CSV with a leading `'`; in XLSX by writing the
cell as text with Excel's quote prefix (shown exactly as typed, never evaluated). Numbers are
never neutralised (the workbook rounds them to what their format shows). Machine interfaces
(the ERP write-back, `stockwise backtest`'s forecast file) keep values exactly as they are:
they are read by programs, not spreadsheets.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def risky(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def neutralize(value: Any) -> Any:
    """A text value a spreadsheet would read as a formula, made plain text (CSV)."""
    return "'" + value if risky(value) else value


def csv_bytes(df: pd.DataFrame, **to_csv: Any) -> bytes:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or str(out[c].dtype) == "string":
            out[c] = out[c].map(neutralize)
    # CRLF rows (RFC 4180, what spreadsheets expect): a field holding a lone \r is then quoted,
    # instead of ending its row early in the reader
    return out.to_csv(index=False, lineterminator="\r\n", **to_csv).encode()


# cell formats by kind of column; values are rounded to what the format shows (no 297.7499999)
FORMATS = {
    "qty": ("#,##0", 2),  # whole units shown, two decimals kept (an order-up-to of 318.33)
    "rate": ("#,##0.00", 2),
    "int": ("#,##0", 0),
    "money": ("#,##0.00", 2),
    "pct": ("0.0%", 4),
    "days": ("#,##0.0", 1),
    "date": ("yyyy-mm-dd", None),
}


def xlsx_bytes(sheets: dict[str, pd.DataFrame], kinds: dict[str, dict[str, str]] | None = None) -> bytes:
    """A workbook with one sheet per frame, made for people: bold frozen header, autofilter,
    column widths from the content, number and date formats per column kind (`kinds[sheet]
    [column]` in FORMATS; numbers rounded to what they show, dates as dates). Text that looks
    like a formula stays text."""
    import pandas as pd
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    kinds = kinds or {}
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in sheets.items():
            out = df.copy()
            own = dict(kinds.get(name, {}))
            for col in out.columns:  # columns without a kind: dates as dates, no float noise
                if col not in own and pd.api.types.is_datetime64_any_dtype(out[col]):
                    own[col] = "date"
                elif col not in own and pd.api.types.is_float_dtype(out[col]):
                    out[col] = out[col].round(4)
            for col, kind in own.items():
                if col not in out:
                    continue
                if kind == "date":
                    out[col] = pd.to_datetime(out[col], errors="coerce").dt.date
                elif FORMATS[kind][1] is not None:
                    out[col] = pd.to_numeric(out[col], errors="coerce").round(FORMATS[kind][1])
            out.to_excel(writer, index=False, sheet_name=name)
            ws = writer.sheets[name]
            ws.freeze_panes = "A2"
            if len(out.columns):
                ws.auto_filter.ref = ws.dimensions
            for j, col in enumerate(out.columns, start=1):
                letter = get_column_letter(j)
                ws[f"{letter}1"].font = Font(bold=True)
                fmt = FORMATS.get(own.get(col, ""), (None, None))[0]
                sample = [len(str(v)) for v in out[col].head(500) if v is not None and v == v]
                width = max([len(str(col)), *sample]) + 2
                ws.column_dimensions[letter].width = min(max(width, 8), 70)
                for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                    if fmt:
                        cell.number_format = fmt
                    if width > 70:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
        for ws in writer.book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if risky(cell.value):
                        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula
                        cell.quotePrefix = True
    return buf.getvalue()
