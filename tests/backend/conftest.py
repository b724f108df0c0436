"""Backend fixtures: the protocol on ape's anvil, a real API server (uvicorn, in a thread) on a
fresh database per test (SQLite, and PostgreSQL when one is reachable on localhost), and
wallets with real keys that sign in (EIP-4361) and sign submissions (EIP-712)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import create_engine, text

from fault_support import free_port
from labelshare.admin.deploy import RoleHolders, record_deployment
from labelshare.api.app import create_app
from labelshare.config import Settings
from labelshare.client import siwe_message, submission_body

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _postgres_reachable() -> bool:
    try:
        with create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 2}).connect():
            return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False


POSTGRES_REACHABLE = _postgres_reachable()
NO_POSTGRES = "no PostgreSQL reachable on 127.0.0.1:5432"
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not POSTGRES_REACHABLE, reason=NO_POSTGRES))]


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'labelshare.db'}"
        return
    if not POSTGRES_REACHABLE:  # a test parametrized with PostgreSQL alone
        pytest.skip(NO_POSTGRES)
    name = f"labelshare_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def deployment_file(chain, protocol, stablecoin, deployer, admin, guardian, verifier, qualifier, requester,
                    deploy_params, tmp_path) -> Path:
    roles = RoleHolders(admin=admin.address, guardian=guardian.address, verifier=verifier.address,
                        qualifier=qualifier.address, requester=requester.address)
    path = tmp_path / "deployment.json"
    record_deployment(chain, "ethereum:local:foundry", deployer, protocol | {"stablecoin": stablecoin}, roles,
                      deploy_params, path)
    return path


def pytest_configure(config):
    config.addinivalue_line("markers", "settings(**overrides): override backend Settings for a test")


@pytest.fixture
def settings(request, chain, deployment_file, database_url, verifier, qualifier, requester, tmp_path) -> Settings:
    """Backend settings for this test; ``@pytest.mark.settings(...)`` overrides fields."""
    marker = request.node.get_closest_marker("settings")
    overrides = marker.kwargs if marker else {}
    # Ape's test accounts are anvil's published development keys: fine for a local test chain.
    return Settings(
        rpc_url=chain.provider.uri, database_url=database_url, deployment_file=deployment_file,
        manifests_dir=tmp_path / "manifests", verifier_key=verifier.private_key, qualifier_key=qualifier.private_key,
        registrar_key=requester.private_key, requesters=requester_wallet_address(),
        epoch_max_age_seconds=0.5, settlement_poll_seconds=0.2, settlement_enabled=False,
    ).model_copy(update=overrides)


# A requester wallet distinct from the chain accounts: it only signs in.
_REQUESTER = Account.create()


def requester_wallet_address() -> str:
    return _REQUESTER.address


@pytest.fixture
def requester_account() -> LocalAccount:
    """The requester's key (a fresh one per test session, named in ``settings.requesters``)."""
    return _REQUESTER


@dataclass
class Api:
    url: str
    app: Any

    def client(self, token: str | None = None) -> httpx.Client:
        # Plain HTTP to localhost: no TLS context (building one costs ~50 ms; some files make hundreds).
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=False)

    @property
    def settler(self) -> Any:
        return self.app.state.settler

    def review(self) -> Any:
        """One review pass: aggregates complete tasks and decides their submissions."""
        return self.app.state.reviewer.run_once()

    @property
    def sessions(self) -> Any:
        return self.app.state.sessions


def start_api(settings: Settings, port: int | None = None) -> tuple[Api, uvicorn.Server, threading.Thread]:
    app = create_app(settings)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("API server did not start")
        time.sleep(0.05)
    return Api(f"http://127.0.0.1:{port}", app), server, thread


@pytest.fixture
def api_port() -> int:
    return free_port()


@pytest.fixture
def api(settings, api_port) -> Iterator[Api]:
    api, server, thread = start_api(settings, api_port)
    yield api
    server.should_exit = True
    thread.join(timeout=30)


class Wallet:
    """A real key that signs in and signs submissions, as a browser wallet would."""

    def __init__(self, account: LocalAccount | None = None) -> None:
        self.account = account or Account.create()
        self.address = self.account.address
        self.token: str | None = None

    def siwe_message(self, nonce: str, chain_id: int, domain: str = "localhost:8000",
                     issued_at: str | None = None) -> str:
        return siwe_message(self.address, nonce, chain_id, domain, f"http://{domain}", issued_at)

    def sign_text(self, message: str) -> str:
        return "0x" + bytes(self.account.sign_message(encode_defunct(text=message)).signature).hex()

    def sign_in(self, api: Api) -> httpx.Client:
        with api.client() as c:
            nonce = c.get("/auth/nonce").json()["nonce"]
            chain_id = c.get("/chain").json()["chain_id"]
            message = self.siwe_message(nonce, chain_id, domain=api.app.state.settings.siwe_domain)
            response = c.post("/auth/verify", json={"message": message, "signature": self.sign_text(message)})
        assert response.status_code == 200, response.text
        self.token = response.json()["token"]
        return api.client(self.token)

    def sign_submission(self, offer: dict[str, Any], payload: Any, nonce: int | None = None,
                        deadline: int | None = None, domain: dict[str, Any] | None = None) -> dict[str, Any]:
        """A submission body for ``offer`` (a /tasks/next response), signed with eth_signTypedData_v4."""
        return submission_body(self.account, offer, payload, nonce, deadline, domain)


@pytest.fixture
def wallet():
    return Wallet


@pytest.fixture
def proxy(chain) -> Iterator[Any]:
    """A fault-injecting proxy in front of ape's anvil (``fault_support.FaultProxy``): it passes
    everything until a test makes it fail."""
    from fault_support import FaultProxy

    proxy = FaultProxy(chain.provider.uri).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def requester_client(api) -> Iterator[httpx.Client]:
    client = Wallet(_REQUESTER).sign_in(api)
    yield client
    client.close()


CLASSIFICATION = {"type": "classification", "labels": ["cat", "dog", "bird"]}
REWARD = 10**18


@pytest.fixture
def make_project(requester_client):
    """Creates a project through the API and uploads ``tasks`` (ids) as JSONL; returns its JSON."""

    def make(tasks: int = 3, overlap: int = 3, schema: dict | None = None, domain: str = "general",
             gold_rate: float = 0.0, reward: int = REWARD) -> dict[str, Any]:
        response = requester_client.post("/projects", json={
            "name": "Pets", "instructions": "What animal is it?", "domain": domain,
            "label_schema": schema or CLASSIFICATION, "reward_per_label": str(reward), "overlap": overlap,
            "gold_rate": gold_rate})
        assert response.status_code == 201, response.text
        project = response.json()
        if tasks:
            body = "".join(f'{{"id": "t{i}", "data": {{"text": "item {i}"}}}}\n' for i in range(tasks))
            upload = requester_client.post(f"/projects/{project['id']}/tasks?format=jsonl", content=body)
            assert upload.status_code == 201, upload.text
        return project

    return make


@pytest.fixture
def annotator(api, wallet):
    """``annotator(project_id)`` -> (wallet, signed-in client, offer JSON); ``project_id=None``
    only signs in. Clients are closed at teardown."""
    clients: list[httpx.Client] = []

    def make(project_id: int | None = None):
        w = wallet()
        client = w.sign_in(api)
        clients.append(client)
        if project_id is None:
            return w, client, None
        offer = client.get("/tasks/next", params={"project_id": project_id})
        assert offer.status_code == 200, offer.text
        return w, client, offer.json()

    yield make
    for client in clients:
        client.close()
