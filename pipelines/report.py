"""One self-contained HTML file per train run: readable offline, in a browser, with no server.

Figures are embedded as PNG data URIs, tables as HTML tables, styles inline; nothing is fetched.
:func:`train_report` lays out what a reviewer of a train run looks for (the decision first, then
the evidence): promotion, leaderboard, hold-out figures beside seasonal naive, hold-out forecast
and error-by-horizon plots, training curves of every candidate, the gradient-through-time
diagnostic.
"""

from __future__ import annotations

import base64
import html
import io

from . import describe

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1000px;
  color:#222;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3} td:first-child,th:first-child{text-align:left}
tr.best td{background:#eef6ee;font-weight:600}
img{max-width:100%;border:1px solid #eee} .meta{color:#555}
.decision{background:#f7f7f2;border-left:4px solid #b9a;padding:.5em 1em}
"""


def png(fig_or_bytes):
    """A matplotlib Figure (or PNG bytes) as an <img> with a data URI."""
    if isinstance(fig_or_bytes, (bytes, bytearray)):
        data = bytes(fig_or_bytes)
    else:
        buf = io.BytesIO()
        fig_or_bytes.savefig(buf, format="png", dpi=100)
        data = buf.getvalue()
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


def table(frame, highlight=None):
    """A DataFrame as an HTML table (numbers to 4 significant digits); the row whose first cell
    is ``highlight`` is marked."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cls = ' class="best"' if highlight is not None and str(row[0]) == str(highlight) else ""
        cells = "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(value):
    return describe.number(value) if isinstance(value, float) else str(value)


def page(title, sections, meta=()):
    """The whole document: a title, a line of facts and (heading, html) sections."""
    facts = " · ".join(html.escape(str(m)) for m in meta)
    body = "".join(f"<h2>{html.escape(h)}</h2>\n{content}\n" for h, content in sections if content)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta '
        f'charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p "
        f'class="meta">{facts}</p>\n'
        f"{body}</body></html>\n"
    )


def train_report(title, facts, board, holdout, promotion, figures, links=None):
    """The train run's report.

    ``facts``: as :func:`pipelines.describe.train_description`; ``board``, ``holdout``: the
    leaderboard and hold-out tables; ``figures``: {caption: Figure or PNG bytes} in the order
    shown; ``links``: {label: url}.
    """
    meta = [
        f"data {facts['data']}",
        f"{facts['n_series']} series",
        f"horizon {facts['horizon']}",
        f"metric {facts['metric']}",
        f"validation tail {facts.get('val_size') or 'off'}",
    ]
    link_html = " · ".join(
        f'<a href="{html.escape(url)}">{html.escape(label)}</a>'
        for label, url in (links or {}).items()
        if url and label != "report"
    )
    rank_col = board.columns[0]
    board = board[[c for c in board.columns if c != rank_col]].assign(
        **{rank_col: board[rank_col].to_numpy()}
    )
    sections = [
        (
            "Decision",
            f'<p class="decision"><b>{html.escape(str(facts["best"]))}</b> chosen. '
            f"{html.escape(str(promotion))}</p>" + (f"<p>{link_html}</p>" if link_html else ""),
        ),
        (
            facts.get("board_title", "Leaderboard (selection backtest, best first)"),
            table(board, highlight=facts["best"])
            + (f"<p>{html.escape(facts['board_note'])}</p>" if facts.get("board_note") else ""),
        ),
        ("Hold-out: the model beside seasonal naive", table(holdout)),
    ]
    sections += [
        (caption, f"<p>{html.escape(fig)}</p>" if isinstance(fig, str) else png(fig))
        for caption, fig in figures.items()
        if fig is not None
    ]  # a str: why a figure could not be drawn
    return page(title, sections, meta)
