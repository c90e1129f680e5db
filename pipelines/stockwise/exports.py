"""Files people open in a spreadsheet: no cell a spreadsheet would run (CSV/formula injection).

ERP data is typed by many people; a sku or an item name such as `=HYPERLINK("http://x","a")`,
`+1+1`, `-2+3` or `@SUM(1)` becomes a live formula when a planner opens the export in Excel.
Following OWASP, every text cell that starts with `= + - @`, a tab or a carriage return is
neutralised in every export made for people: in CSV with a leading `'`; in XLSX by writing the
cell as text with Excel's quote prefix (shown exactly as typed, never evaluated). Numbers are
never touched. Machine interfaces (the ERP write-back, `stockwise backtest`'s forecast file)
keep values exactly as they are: they are read by programs, not spreadsheets.
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


def xlsx_bytes(sheets: dict[str, pd.DataFrame]) -> bytes:
    """A workbook with one sheet per frame; text that looks like a formula stays text."""
    import pandas as pd

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, df in sheets.items():
            df.to_excel(writer, index=False, sheet_name=name)
        for ws in writer.book.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if risky(cell.value):
                        cell.data_type = "s"  # openpyxl takes a leading "=" for a formula
                        cell.quotePrefix = True
    return buf.getvalue()
