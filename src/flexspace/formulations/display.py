"""Notebook views of results (``_repr_html_``): compact HTML tables, every text escaped.

:func:`result_html` renders a flexibility index or test result (with recourse: also its
route, critical z and exactness condition); the helpers (:func:`html_table`,
:func:`status_badge`, :func:`fmt`) are shared with :mod:`flexspace.designspace.display`.
The plain ``str()`` / ``repr()`` of every result is unchanged.
"""
from __future__ import annotations

import html
import math
from typing import Iterable, Optional, Sequence

__all__ = ["result_html", "html_table", "status_badge", "fmt", "esc"]

#: colour of a status word: proven (green), trusted only by sampling or one-sided (amber), untrusted (red)
STATUS_COLOURS = {"ok": "#1a7f37", "nominal infeasible": "#1a7f37", "bound": "#9a6700", "sampled": "#9a6700",
                  "uncertified": "#cf222e", "contradicted": "#cf222e", "failed": "#cf222e",
                  "inferred": "#57606a", "outside rectangle": "#57606a"}
_CELL = "text-align:left;vertical-align:top;padding:1px 8px"


def esc(value) -> str:
    """``value`` as text, HTML-escaped (quotes too)."""
    return html.escape(str(value), quote=True)


def fmt(value, digits: int = 6) -> str:
    """A number or flag as short text (not escaped): None -> "–", NaN -> "nan",
    True/False -> "yes"/"no", floats to ``digits`` significant digits."""
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def status_badge(status) -> str:
    """The status word, escaped, in its colour (bold)."""
    text = str(getattr(status, "value", status))
    colour = STATUS_COLOURS.get(text, "#24292f")
    return f'<span style="color:{colour};font-weight:bold">{esc(text)}</span>'


def html_table(rows: Iterable[Sequence[str]], header: Optional[Sequence[str]] = None,
               caption: Optional[str] = None) -> str:
    """A table of cells that are already HTML (escape texts with :func:`esc` first); a row
    of two cells is a (name, value) row with the name as a header cell.  ``header`` and
    ``caption`` are texts (escaped here)."""
    out = ['<table style="border-collapse:collapse;margin:4px 0">']
    if caption:
        out.append(f'<caption style="text-align:left;font-weight:bold;padding:2px 0">{esc(caption)}</caption>')
    if header:
        out.append("<thead><tr>" + "".join(f'<th style="{_CELL}">{esc(h)}</th>' for h in header) + "</tr></thead>")
    out.append("<tbody>")
    for row in rows:
        cells = list(row)
        if header is None and len(cells) == 2:
            out.append(f'<tr><th style="{_CELL}">{cells[0]}</th><td style="{_CELL}">{cells[1]}</td></tr>')
        else:
            out.append("<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _values(values, units) -> str:
    """``name=value unit, ...`` escaped."""
    return esc(", ".join(f"{k}={fmt(float(v))}" + (f" {units[k]}" if units.get(k) else "")
                         for k, v in (values or {}).items()))


def _index_rows(res) -> list:
    capped = f" (capped at delta_max = {fmt(res.delta_max)})" if res.capped else ""
    rows = [(esc("delta"), esc(fmt(res.delta) + capped)), (esc("probability"), esc(fmt(res.probability)))]
    if res.delta_lower_bound is not None or res.delta_upper_bound is not None:
        rows.append((esc("bounds (proven)"),
                     esc(f"{fmt(res.delta_lower_bound)} <= delta <= {fmt(res.delta_upper_bound)}")))
    if res.delta_sampled is not None:
        rows.append((esc("delta sampled"), esc(f"{fmt(res.delta_sampled)} (largest set free of sampled violations)")))
    if res.worst_constraint:
        rows.append((esc("active constraint"),
                     esc(res.worst_constraint) + (f" at theta_m = ({_values(res.worst_theta_m, res.units)})"
                                                  if res.worst_theta_m else "")))
    return rows


def _test_rows(res) -> list:
    rows = [(esc("chi"), esc(f"{fmt(res.chi)} -> {res._verdict()}")), (esc("delta_m"), esc(fmt(res.delta_m)))]
    if res.delta_p is not None:
        rows.append((esc("delta_p"), esc(fmt(res.delta_p))))
    if res.chi_lower_bound is not None or res.chi_upper_bound is not None:
        rows.append((esc("bounds (proven)"), esc(f"{fmt(res.chi_lower_bound)} <= chi <= {fmt(res.chi_upper_bound)}")))
    if res.worst_constraint:
        rows.append((esc("worst constraint"), esc(res.worst_constraint)))
    return rows


def _recourse_rows(res) -> list:
    if not getattr(res, "route", ""):
        return []
    z = ", ".join(f"{k}={fmt(float(v))}" for k, v in (res.critical_z or {}).items())
    rows = [(esc("recourse route"), esc(res.route)), (esc("critical z"), esc(z or "\u2013")),
            (esc("active at the critical point"), esc(", ".join(map(str, res.active_constraints)) or "\u2013")),
            (esc("exact if"), esc(f"{res.assumption} [{'proven' if res.assumption_verified else 'not proven'}]"))]
    if res.bracket:
        _, lo, hi, _ = res.bracket[-1]
        rows.append((esc("bracket"), esc(f"{len(res.bracket)} iteration(s), last {fmt(lo, 9)} .. {fmt(hi, 9)}")))
    return rows


def _provenance_rows(res) -> list:
    rows = [(esc("solver"), esc(f"{res.solver} ({'global' if res.is_global else 'local'})")),
            (esc("certified"), esc(fmt(res.certified))),
            (esc("set / method"), esc(f"{res.set_kind} / {getattr(res.method, 'value', res.method)}"))]
    if res.domain:
        rows.append((esc("domain"), esc(res.domain)))
    statement = (res.certification or {}).get("statement")
    if statement and str(statement) not in res.solve_quality:  # a sampled status says it already
        rows.append((esc("certification"), esc(statement)))
    rows.append((esc("time"), esc(f"{res.time:.3f} s")))
    if res.diagnostics:
        rows.append((esc("diagnostics"), f'<pre style="margin:0;white-space:pre-wrap">{esc(res.diagnostics)}</pre>'))
    return rows


def _subproblem_table(res, symbol: str) -> str:
    if not res.subproblems:
        return ""
    rows = [(esc(s.constraint), esc(fmt(s.value)), status_badge(s.status), esc(fmt(s.bound)),
             esc("yes" if s.capped else ""), esc(f"{s.time:.3f}"), esc(s.message)) for s in res.subproblems]
    return html_table(rows, header=["constraint", f"{symbol}_k", "status", "bound", "capped", "time [s]", "message"])


def result_html(res) -> str:
    """A flexibility index or test result (or one with recourse) as a compact HTML table,
    then one row per subproblem (per constraint g_k, or the MINLP)."""
    is_index = hasattr(res, "delta_max")
    what = ("Flexibility index" if is_index else "Flexibility test") + (" with recourse" if getattr(res, "route", "")
                                                                      else "")
    at = ", ".join(f"{k}={fmt(float(v))}" + (f" {res.units[k]}" if res.units.get(k) else "")
                   for k, v in res.theta_p.items())
    caption = f"{what} ({res.set_kind}, {getattr(res.method, 'value', res.method)}, solver={res.solver})" + \
        (f" at {at}" if at else "")
    rows = [(esc("status"), f"{status_badge(res.status)} [{esc(res.solve_quality)}]")]
    if getattr(res, "timed_out", False):
        rows.append((esc("time limit"), esc(res.timeout)))
    rows += (_index_rows(res) if is_index else _test_rows(res)) + _recourse_rows(res) + \
        _provenance_rows(res)
    return (f'<div class="flexspace-result">{html_table(rows, caption=caption)}'
            f'{_subproblem_table(res, "delta" if is_index else "chi")}</div>')
