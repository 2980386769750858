"""The demo's settings: the ledger keeps the origin it was created with, whatever the port."""

from __future__ import annotations

from pathlib import Path

import yaml

from gateway.demo.setup import DEMO_ORIGIN, prepare_demo

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def origin_of(config_file: Path) -> str:
    return str(yaml.safe_load(config_file.read_text(encoding="utf-8"))["ledger_origin"])


def test_the_demo_origin_does_not_follow_the_port(tmp_path: Path) -> None:
    first = prepare_demo(tmp_path / "demo", POLICIES, host="127.0.0.1", port=8000)
    assert origin_of(first.config_file) == DEMO_ORIGIN
    again = prepare_demo(tmp_path / "demo", POLICIES, host="0.0.0.0", port=9123)  # noqa: S104
    assert origin_of(again.config_file) == DEMO_ORIGIN
    assert again.base_url.endswith(":9123")


def test_a_demo_prepared_earlier_keeps_its_origin(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    directory.mkdir()
    (directory / "gateway.yaml").write_text(
        yaml.safe_dump({"ledger_origin": "127.0.0.1:8000/credit-gateway-demo"})
    )
    demo = prepare_demo(directory, POLICIES, host="127.0.0.1", port=8001)
    assert origin_of(demo.config_file) == "127.0.0.1:8000/credit-gateway-demo"
