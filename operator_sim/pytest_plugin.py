"""pytest plugin (entry point `pytest11`): an in-process simulator for your integration tests.

The `operator_sim` fixture serves a simulator on ephemeral loopback ports (mutual TLS, a fresh
SQLite database, a copy of a test PKI generated once per session) and hands back a ready
`Client`. Settings can be changed per test with `@pytest.mark.operator_sim(signatures=...)`.
Nothing is imported until a test asks for the fixture, so installing the package costs other
test suites nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .client import Client
    from .simulator import Simulator
    from .web.server import RunningSimulator

DEFAULT_SIREN = "491011698"
"""The default agent's collectivité (the same commune as `operator-sim serve`'s demo agent)."""

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture then explains what is missing
    _async_fixture: Callable[..., Any] | None = None
else:
    _async_fixture = pytest_asyncio.fixture


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "operator_sim(**settings): Config settings for the operator_sim fixture "
                   "(e.g. signatures='required', clock='virtual', itc='ABC').")


@dataclass
class Agent:
    """An enrolled agent: its SIREN and the PEM files to present (with the CA to trust)."""

    siren: str
    cert: Path
    key: Path
    ca: Path


@dataclass
class OperatorSim:
    """A served simulator, as the `operator_sim` fixture yields it."""

    served: RunningSimulator
    agent: Agent
    client: Client
    """A ready client for the default agent (SIREN `DEFAULT_SIREN`)."""
    _clients: list[Client] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return self.served.api_url

    @property
    def admin_url(self) -> str:
        return self.served.admin_url

    @property
    def admin_token(self) -> str:
        return self.served.admin_token

    @property
    def simulator(self) -> Simulator:
        """Its parts (config, pki, store, clock, engine) for assertions beyond the API."""
        return self.served.simulator

    @property
    def cert(self) -> Path:
        return self.agent.cert

    @property
    def key(self) -> Path:
        return self.agent.key

    @property
    def ca(self) -> Path:
        """The roots file your own HTTP client must trust."""
        return self.agent.ca

    def enrol_agent(self, siren: str, name: str = "Agent de test", *,
                    convention: bool = True) -> Agent:
        """Issue a certificate for another agent acting for `siren`; its files, no client.
        `siren` is given a convention (every matière, budget acts) unless it has one or
        `convention` is False: the strict profile refuses a sender without."""
        return _enrol(self.served, siren, name, convention=convention)

    def enrol(self, siren: str, name: str = "Agent de test", *,
              convention: bool = True) -> Client:
        """A ready client for a new agent acting for `siren` (closed with the fixture);
        `convention` as for `enrol_agent`."""
        from .client import Client  # only on use (see `operator_sim`)

        agent = self.enrol_agent(siren, name, convention=convention)
        client = Client(self.api_url, cert=agent.cert, key=agent.key, ca=agent.ca)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


def _enrol(served: RunningSimulator, siren: str, name: str, *, convention: bool = True) -> Agent:
    record = served.enrol(siren, name, convention=convention)
    pki = served.simulator.pki
    return Agent(siren, pki.directory / record.certificate, pki.directory / record.key,
                 pki.roots_path)


@pytest.fixture(scope="session")
def operator_sim_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test PKI generated once per session (the slow part); each test serves a copy.

    Its root key is RSA-2048, not `pki init`'s RSA-4096: generating a 4096-bit key takes
    0.1 to 1.4 s, at random, of every session's first test; 2048 bits is what the agents'
    certificates must have at least, and what the root of a test PKI needs."""
    import datetime as dt

    # The plugin loads in every pytest run: only on use.
    from .pki.profiles import RSA_2048
    from .pki.provision import ensure_pki

    folder = tmp_path_factory.mktemp("operator-sim-pki") / "certs"
    ensure_pki(folder, now=dt.datetime.now(dt.UTC).replace(microsecond=0), ca_key=RSA_2048)
    return folder


async def operator_sim(request: pytest.FixtureRequest, operator_sim_pki: Path,
                       tmp_path: Path) -> AsyncIterator[OperatorSim]:
    """A simulator served in-process on ephemeral ports, with a client for one agent."""
    # The plugin loads in every pytest run where the package is installed: the simulator
    # (aiohttp, cryptography, pyHanko…) is imported only when a test asks for the fixture.
    from .client import Client
    from .config import Config
    from .simulator import build_simulator
    from .web.server import running

    marker = request.node.get_closest_marker("operator_sim")
    # Receivers of a test suite's callbacks are local: loopback targets are allowed here
    # (the simulator's own ports never are); a marker may say callback_loopback="refuse".
    settings: dict[str, Any] = {"workers": 1, "callback_loopback": "allow",
                                **(marker.kwargs if marker else {})}
    root = tmp_path / "operator-sim"
    shutil.copytree(operator_sim_pki, root / "certs")
    simulator = build_simulator(Config(data_dir=root / "data", pki_dir=root / "certs",
                                       api_host="127.0.0.1", api_port=0,
                                       admin_host="127.0.0.1", admin_port=0, **settings),
                                processes=False)
    try:
        async with running(simulator) as served:
            agent = _enrol(served, DEFAULT_SIREN, "Agent de la fixture")
            client = Client(served.api_url, cert=agent.cert, key=agent.key, ca=agent.ca)
            handle = OperatorSim(served, agent, client, [client])
            try:
                yield handle
            finally:
                await handle.aclose()
    finally:
        simulator.close()


if _async_fixture is not None:
    operator_sim = _async_fixture(operator_sim)
else:  # pragma: no cover
    @pytest.fixture(name="operator_sim")
    def _needs_pytest_asyncio() -> None:
        pytest.fail("the operator_sim fixture needs pytest-asyncio (pip install pytest-asyncio)")
