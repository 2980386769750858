"""A gateway deployment with console users, and an HTTP client that signs in as a person would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pyotp

from gateway.adapters.console_users import UserFile, add_user, users_file_beside
from gateway.settings import Settings
from tests.conftest import FixedClock
from tests.support.gateway_app import Deployment
from tests.support.identity import FAST_SCRYPT

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    """A console account the test knows the secrets of."""

    username: str
    password: str
    seed: str
    role: str

    def code(self, clock: FixedClock) -> str:
        """The TOTP code at the clock's time."""
        return pyotp.TOTP(self.seed).at(clock.now())


DEPARTMENTS = {"auditor": "audit_office", "security": "security_team", "source": "market_regulation"}


def add_person(settings: Settings, username: str, role: str = "auditor") -> Person:
    """Add a console user to the deployment's users file (a running gateway picks it up at once)."""
    path = users_file_beside(settings.clients_file)
    users = UserFile.load(path)
    record, password = add_user(
        users, username, department=DEPARTMENTS[role], role=role, password=PASSWORD, **FAST_SCRYPT
    )
    users.save(path)
    return Person(username, password, record.totp_secret, role)


class ConsoleSite:
    """A running deployment, people to sign in with, and HTTP clients closed at the end."""

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.clock = deployment.clock
        self.clients: list[httpx.Client] = []
        self._count = 0

    def person(self, role: str = "auditor") -> Person:
        """A fresh account, so each test has its own failure count and TOTP steps."""
        self._count += 1
        return add_person(self.deployment.settings, f"{role}.{self._count}", role)

    def client(self) -> httpx.Client:
        """An HTTP client without a session."""
        client = httpx.Client(base_url=self.deployment.base_url, timeout=30)
        self.clients.append(client)
        return client

    def sign_in(self, person: Person) -> httpx.Client:
        """A client with a full session of ``person``."""
        return sign_in(self.client(), person, self.clock)

    def close(self) -> None:
        for client in self.clients:
            client.close()


def next_step(clock: FixedClock) -> None:
    """Move the clock to the next TOTP step (each step's code is accepted once)."""
    clock.current += timedelta(seconds=30)


def form_token(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: httpx.Client, person: Person, clock: FixedClock) -> httpx.Client:
    """Sign ``client`` in as ``person``, enrolling the seed first if needed."""
    page = client.get("/console/login")
    response = client.post(
        "/console/login",
        data={
            "csrf": form_token(page.text),
            "username": person.username,
            "password": person.password,
            "code": person.code(clock),
        },
    )
    assert response.status_code == 303, response.text
    if response.headers["location"] == "/console/enrol":
        enrol = client.get("/console/enrol")
        response = client.post(
            "/console/enrol", data={"csrf": form_token(enrol.text), "code": person.code(clock)}
        )
        assert response.status_code == 303
    assert response.headers["location"] == "/console/overview", response.headers["location"]
    next_step(clock)
    return client
