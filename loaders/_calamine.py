"""Child process that reads an .xls / .ods workbook with python-calamine, under a memory limit.

calamine builds each sheet as a dense grid (first used cell to last used cell), so a small
file with one cell in the last row and one in the last column asks for gigabytes. Run
here, by path, with nothing but the standard library and python_calamine imported, that
can only kill this process: the server (or the CLI) gets a refusal instead.

stdin: the file's bytes. argv: address-space limit (MB), cell budget, column limit, sheets
to read ("\\x1f"-joined names, or empty for all). stdout: a pickle of
``{"names": [...], "hidden": [...], "sheets": [(name, [(row, [(col, value), ...]), ...], error)]}``
with rows and columns 1-based, only filled cells; ``error`` is a reason code or "".
"""
from __future__ import annotations

import io
import pickle
import resource
import sys


def main() -> int:
    limit_mb, budget, max_cols = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    wanted = [s for s in (sys.argv[4] if len(sys.argv) > 4 else "").split("\x1f") if s]
    lim = limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    data = sys.stdin.buffer.read()
    import python_calamine as pc
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except Exception:  # calamine raises several types on damaged files
        pickle.dump({"error": "bad_book"}, sys.stdout.buffer)
        return 0
    names = list(wb.sheet_names)
    hidden = [m.name for m in wb.sheets_metadata if str(m.visible).rsplit(".", 1)[-1] != "Visible"]
    out = []
    for name in names:
        if wanted and name not in wanted:
            continue
        if name in hidden and not wanted:
            continue
        rows, err, cols = [], "", set()
        try:
            sheet = wb.get_sheet_by_name(name)
            start = sheet.start or (0, 0)
            r0, c0 = start
            for i, row in enumerate(sheet.iter_rows()):
                cells = [(c0 + j + 1, v) for j, v in enumerate(row) if v != "" and v is not None]
                if not cells:
                    continue
                budget -= len(cells)
                cols.update(c for c, _ in cells)
                if budget < 0:
                    err = "too_many_cells"
                    break
                if len(cols) > max_cols:
                    err = "too_many_columns"
                    break
                rows.append((r0 + i + 1, cells))
        except MemoryError:
            err = "sheet_too_big"
        except Exception as e:  # calamine's own cell limit, damaged sheets
            err = "sheet_too_big" if "limit" in str(e).lower() else "bad_book"
        if err:
            rows = []
        out.append((name, rows, err))
        if budget < 0:
            break
    pickle.dump({"names": names, "hidden": hidden, "sheets": out}, sys.stdout.buffer,
                protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
