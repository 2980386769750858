"""Export lines."""

from __future__ import annotations

from gateway.domain.ledger.export import export_checkpoint_line, export_header_line, parse_export_line


def test_export_lines_are_told_apart() -> None:
    assert parse_export_line(b'{"index":3,"logged_at":"x","record":{}}') == ("entry", None)
    assert parse_export_line(export_checkpoint_line("note\n")) == ("checkpoint", "note\n")
    kind, header = parse_export_line(export_header_line("o/l", 5, {"ed25519": "k"}))
    assert kind == "header"
    assert header["size"] == 5
    assert parse_export_line(b"{}") == ("unknown", None)
    assert parse_export_line(b"not json") == ("unknown", None)
