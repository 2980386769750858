"""Every line ``gateway serve`` writes is one JSON object: uvicorn's own error lines and the supervisor's
through the gateway's formatter, and an access line per request with the route template, never the path
it was called with, its query string or its body."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from gateway.demo.data import demo_manifest
from tests.support.gateway_app import deployment_settings
from tests.support.served import bearer, served_gateway, stop_gateway, write_config


def test_every_line_is_json_and_access_lines_carry_the_template_only(tmp_path: Path) -> None:
    settings = deployment_settings(tmp_path)
    config = write_config(settings, tmp_path / "gateway.yaml")
    subject = demo_manifest().legal_person.value
    with served_gateway(config, workers=2, log_dir=tmp_path / "logs") as gw:
        body = {
            "purpose": "admin_licensing_review",
            "legal_basis": "admin_licensing_law_34",
            "items": ["market.admin_penalty"],
            "subjects": [{"id_type": "uscc", "value": subject}],
        }
        headers = bearer(settings, "platform")
        assert (
            httpx.post(f"{gw.base_url}/v1/queries?subject={subject}", json=body, headers=headers).status_code
            == 200
        )
        assert httpx.get(f"{gw.base_url}/v1/ledger/entries/{subject}").status_code in (401, 404, 422)
        assert httpx.get(f"{gw.base_url}/nowhere/{subject}?q={subject}").status_code == 404
        # Bytes that are not HTTP: uvicorn itself writes a warning line.
        with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw:
            raw.sendall(f"NOT HTTP {subject}\r\n\r\n".encode())
            raw.recv(1024)
        status = stop_gateway(gw)
    assert status == 0
    lines = gw.lines()
    records = []
    for line in lines:
        record = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(record, dict)
        records.append(record)
    assert not any(subject in line for line in lines)
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "gateway.access"} <= loggers
    messages = " ".join(r["message"] for r in records if r["logger"] == "uvicorn.error")
    assert "Application startup complete" in messages
    assert "Invalid HTTP request" in messages
    access = [r for r in records if r["logger"] == "gateway.access"]
    routes = {(r["method"], r["route"], r["status"]) for r in access}
    assert ("POST", "/v1/queries", 200) in routes
    assert ("GET", "unmatched", 404) in routes
    for r in access:
        assert set(r) == {"time", "level", "logger", "message", "method", "route", "status", "duration_ms"}
        assert r["duration_ms"] >= 0
        assert "?" not in r["route"]
