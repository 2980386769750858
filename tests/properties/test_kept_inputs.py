"""Property: the policy input kept for replay holds no identifier, however the subject was written.

Subjects of every kind (resident IDs, individual-business and legal-person credit codes) are sent to
a real deployment over real HTTP, in every written form the identifier parser accepts or refuses
(lower case, full-width, spaced, hyphenated, glued to text), as the subject and also in the free-text
fields that reach the policy input (purpose, legal basis, measure). Whatever the gateway answers,
no kept input may contain the identifier, judged on the raw and on the normalized text, nor anything
the one detector finds; and each kept input must match the digest in its ledger entry.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.domain.detector import contains_identifier, normalize
from tests.properties.test_no_identifier_leaks import FORMS
from tests.support.gateway_app import Deployment, deployment_settings, running_gateway
from tests.support.pii import resident_id, uscc

LICENSING = "admin_licensing_law_34"
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
KINDS = {"resident_id": "resident_id", "individual_business": "uscc", "legal_person": "uscc"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_gateway(deployment_settings(tmp_path_factory.mktemp("kept"))) as deployment:
        yield deployment


def _identifier(kind: str, seed: int) -> str:
    rng = random.Random(seed)
    if kind == "resident_id":
        return resident_id(rng)
    return uscc(rng, "92" if kind == "individual_business" else "91")


def _kept(gateway: Deployment) -> list[tuple[int, str, str]]:
    engine = sa.create_engine(gateway.settings.ledger_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT ledger_index, input_digest, input FROM policy_inputs"))
            return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
    finally:
        engine.dispose()


@SETTINGS
@given(
    kind=st.sampled_from(sorted(KINDS)),
    seed=st.integers(0, 2**32),
    form=st.sampled_from(sorted(FORMS)),
    where=st.sampled_from(["subject", "purpose", "legal_basis", "measure"]),
)
def test_no_kept_input_holds_an_identifier(
    gateway: Deployment, kind: str, seed: int, form: str, where: str
) -> None:
    identifier = _identifier(kind, seed)
    written = FORMS[form](identifier)
    body = {
        "purpose": "admin_licensing_review",
        "legal_basis": LICENSING,
        "items": ["market.admin_penalty"],
        "subjects": [{"id_type": "uscc", "value": gateway.manifest.legal_person.value}],
    }
    if where == "subject":
        body["subjects"] = [{"id_type": KINDS[kind], "value": written}]
    else:
        body[where] = written
    response = httpx.post(
        f"{gateway.base_url}/v1/queries",
        json=body,
        headers={"Authorization": f"Bearer {gateway.token('platform')}"},
        timeout=30,
    )
    assert response.status_code < 500, response.text
    records = gateway.ledger_records()
    kept = _kept(gateway)
    assert kept, "no input was kept at all"
    for index, digest, text in kept:
        assert identifier not in text
        assert normalize(identifier) not in normalize(text)
        assert not contains_identifier(text, skip_digests=True)
        assert records[index]["input_digest"] == digest
        assert digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
