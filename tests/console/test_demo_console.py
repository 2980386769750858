"""The demo prints a console account that signs in: what a new auditor does following the README."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.demo.setup import prepare_demo, print_welcome
from gateway.settings import load_settings
from tests.conftest import FixedClock
from tests.support.console import Person, sign_in
from tests.support.gateway_app import ROOT, running_gateway


def test_the_demo_auditor_signs_in_with_what_the_demo_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = prepare_demo(tmp_path / "demo", ROOT / "policies", host="127.0.0.1", port=8000)
    print_welcome(demo)
    out = capsys.readouterr().out
    account = demo.console_user
    assert account["password"] in out
    assert account["totp_seed"] in out
    again = prepare_demo(tmp_path / "demo", ROOT / "policies", host="127.0.0.1", port=8000)
    assert again.console_user == account  # later runs keep the account
    person = Person(account["username"], account["password"], account["totp_seed"], "auditor")
    clock = FixedClock()
    with running_gateway(load_settings(demo.config_file), clock) as deployment:
        client = httpx.Client(base_url=deployment.base_url, timeout=30)
        try:
            sign_in(client, person, clock)
            assert client.get("/console/ledger").status_code == 200
        finally:
            client.close()
