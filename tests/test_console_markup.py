"""Text from data or the user is printed as text, never read as rich markup: `[/x]` raised
MarkupError (a traceback) and `[a, b]` or `[bold]` silently vanished from tables, paths,
cards, progress descriptions and server status lines."""

from __future__ import annotations

import io
import json

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.console import esc, print_rows
from curate.progress import Progress, Status

runner = CliRunner()
MARKUP = ["[/x]", "[a, b]", "[bold]x[/bold]", "[/bold]3", "\\[y]", "[link=http://a]b"]


@pytest.mark.parametrize("text", MARKUP)
def test_table_cells_and_headers_print_as_text(capsys, text):
    print_rows([{text: text, "n": 1}], title=text)
    out = capsys.readouterr().out
    assert out.count(text) >= 2, out


@pytest.mark.parametrize("text", MARKUP)
def test_esc_keeps_text_inside_markup(capsys, text):
    from curate.console import console

    console.print(f"[bold]path:[/bold] {esc(text)}")
    assert text in capsys.readouterr().out


def test_catalog_sql_and_show_print_brackets(home, tmp_path):
    rows = tmp_path / "b.jsonl"
    rows.write_text(json.dumps({"prompt": "[/x] interval [a, b]", "[/f]": "[bold]"}) + "\n")
    r = runner.invoke(app, ["import", str(rows), "--name", "brk"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["catalog", "sql", "select '[/x]' as \"[/h]\", '[a, b]' as b"])
    assert r.exit_code == 0, r.output
    assert "[/x]" in r.output and "[/h]" in r.output and "[a, b]" in r.output
    r = runner.invoke(app, ["catalog", "show", "brk"])
    assert r.exit_code == 0, r.output
    assert "[/f]" in r.output
    out = tmp_path / "[/x] out"
    r = runner.invoke(app, ["export", "brk", str(out)])
    assert r.exit_code == 0, r.output
    assert "[/x] out" in r.output


def test_verify_answer_shows_the_answer_it_read():
    r = runner.invoke(app, ["verify-answer", "--answer", "so \\boxed{[a, b]}",
                            "--reference", "[/b]"])
    assert r.exit_code == 0, r.output
    assert "[a, b]" in r.output


def test_progress_bar_and_status_take_text(monkeypatch):
    monkeypatch.setenv("CURATE_PROGRESS", "bar")
    buf = io.StringIO()
    with Status("[/x] loading [a, b]", stream=buf) as s:
        s.update("[/y] server log line")
    bar = Progress(transient=False, stream=buf)
    with bar:
        t = bar.add_task("[/z] task", total=1, note="[/w]")
        bar.advance(t)
    assert "[/z] task" in buf.getvalue()
