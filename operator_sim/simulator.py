"""The composition root: one running simulator's parts, made from a `Config` and closed together.

`build_simulator(config)` makes every part (creating the PKI and the data folder on first
start); `Simulator.pumps()` runs its background work (due scheduled events, the callback
outbox) while it is served; `seed_demo` gives `operator-sim serve` its demonstration agent and
commune. The web layer (`web.app`, `web.admin`, `web.server`) only serves what is built here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.serialization import pkcs12

from .config import Config, ConfigError
from .engine.callbacks import Callbacks, Limits, RetryPolicy, Targets
from .engine.clock import Clock, SystemClock, VirtualClock
from .engine.intake import Engine
from .engine.prefecture import Prefecture
from .engine.receipts import ReceiptSigners
from .engine.scenarios import ScenarioBook, ScenarioError, load_rules_file
from .engine.scheduler import Scheduler
from .engine.simulation import scenario_handlers
from .engine.workers import WorkerPool
from .pki.enrol import bind_record, enrol_agent
from .pki.identity import Account
from .pki.provision import ensure_pki
from .pki.store import PkiStore, fingerprint
from .pki.tls import HandshakeRefusal, server_ssl_context
from .protocol import envelope
from .protocol.classification import Classification, bundled_classifications
from .signature.archive import Signer
from .signature.cms import ministere_material, sign_outgoing
from .signature.policy import SignatureMode, SignaturePolicy
from .store import AsyncStore, Collectivite, SqliteStore
from .store.blobs import remove_stale_files
from .store.identities import StoreDirectory, adopt_pki_bindings
from .timestamp import TimeStampAuthority, authority_from_pki
from .validation.profiles import PlatformProfile
from .validation.registry import default_registry
from .validation.validator import ValidationPolicy

log = logging.getLogger(__name__)


@dataclass
class Simulator:
    """One running instance's parts, owned together and closed together."""

    config: Config
    pki: PkiStore
    store: SqliteStore
    clock: Clock
    engine: Engine
    executor: WorkerPool | None
    tsa: TimeStampAuthority
    admin_token: str
    identities: StoreDirectory
    """Which certificate is which agent: the store's agents tables, cached in memory."""
    prefecture: Prefecture = field(init=False)
    scheduler: Scheduler = field(init=False)
    callbacks: Callbacks = field(init=False)
    on_handshake_refused: Callable[[HandshakeRefusal], None] | None = field(default=None,
                                                                          init=False)
    """Told of each TLS handshake the API port refuses (`web.app.create_app` sets the journal's)."""

    def __post_init__(self) -> None:
        self.prefecture = Prefecture(self.engine)
        self.scheduler = Scheduler(self.engine.store, self.clock, scenario_handlers(self.prefecture))
        config = self.config
        retries = RetryPolicy(attempts=config.callback_attempts,
                              first_delay=dt.timedelta(milliseconds=config.callback_retry_ms),
                              timeout_seconds=config.callback_timeout_ms / 1000)
        limits = Limits(total=config.callback_concurrency, per_siren=config.callback_siren_concurrency,
                        per_target=config.callback_target_concurrency,
                        registrations_per_siren=config.callback_max_per_siren)
        targets = Targets(allow_loopback=config.callback_loopback == "allow",
                          own_ports={p for p in (config.api_port, config.admin_port) if p})
        self.callbacks = Callbacks(self.engine.store, self.clock, retries, limits=limits,
                                   targets=targets)
        self.scheduler.on_moved.append(self.callbacks.clock_moved)

    @property
    def scenarios(self) -> ScenarioBook:
        """The scenario book (`build_simulator` always gives the engine one)."""
        assert self.engine.scenarios is not None
        return self.engine.scenarios

    def server_ssl_context(self) -> ssl.SSLContext:
        return server_ssl_context(certificate_chain=self.pki.server_chain_path,
                                  key=self.pki.server_key_path,
                                  client_cas=[self.pki.roots_path, self.pki.intermediates_path],
                                  on_refused=self._handshake_refused)

    def _handshake_refused(self, refusal: HandshakeRefusal) -> None:
        if self.on_handshake_refused is not None:
            self.on_handshake_refused(refusal)

    @asynccontextmanager
    async def pumps(self) -> AsyncIterator[None]:
        """Run the scheduler (due events) and the callback outbox until the block ends."""
        tasks = [asyncio.create_task(self.scheduler.run(), name="scheduler"),
                 asyncio.create_task(self.callbacks.run(), name="callbacks")]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
        self.engine.store.close()  # its reader threads first: their connections close with them
        self.store.close()


def validation_workers(count: int) -> WorkerPool:
    """`count` validation processes (started by a fork server, replaced if one is killed)."""
    return WorkerPool(count, preload=("operator_sim.engine.intake",), initializer=default_registry)


def remove_leftovers(folder: Path) -> None:
    """Temporary files a killed run left behind (half an upload, half a blob): this server
    owns the data folder, so any older than this process belongs to no live request."""
    removed = remove_stale_files(folder)
    if removed:
        log.warning("removed %d leftover temporary file(s) from %s (a previous run was "
                    "stopped abruptly)", removed, folder)


def build_simulator(config: Config, *, processes: bool = True) -> Simulator:
    """Every part of a simulator from its config; the PKI is created on first start."""
    clock: Clock = SystemClock()
    if config.clock == "virtual":
        start = (dt.datetime.fromisoformat(config.clock_start) if config.clock_start
                 else dt.datetime.now(dt.UTC))
        clock = VirtualClock(start)
    if config.scenarios:  # a broken rules file is a start-up error, even once seeded
        try:
            load_rules_file(config.scenarios)
        except ScenarioError as error:
            raise ConfigError(f"scenarios: {error.message_en}") from None
    ensure_pki(config.pki_dir, now=clock.now())
    pki = PkiStore(config.pki_dir)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore.open(config.data_dir, busy_timeout_ms=config.db_busy_timeout_ms)
    remove_leftovers(store.blobs.temporary_dir)
    if isinstance(clock, VirtualClock):  # a restart resumes where the clock was moved to
        saved = store.saved_virtual_clock()
        if saved is not None:
            clock.set(saved)
    identities = StoreDirectory(store)
    try:
        adopt_pki_bindings(identities, pki, at=clock.now())
    except ValueError as error:  # a damaged identities.json from an older version
        store.close()
        raise ConfigError(str(error)) from None
    tsa = authority_from_pki(config.pki_dir, clock=clock.now)
    signatures = SignaturePolicy(mode=SignatureMode(config.signatures))
    current = max(bundled_classifications().values(), key=lambda c: c.date)

    def policy() -> ValidationPolicy:
        # The trust store as of now: `pki revoke` beside a running service takes effect on the
        # next act (the store is cached until the PKI index changes; one stat per call).
        return ValidationPolicy(today=clock.today(), signatures=signatures,
                                trust=pki.trust_store(), received_at=clock.now())

    def classification() -> Classification:
        return current

    executor = validation_workers(config.workers) if processes else None
    operator = pki.ensure_operator(now=clock.now())
    engine = Engine(store=AsyncStore(store), clock=clock, policy=policy,
                    stamp=tsa.stamp_digest, sign=lambda xml: sign_outgoing(xml, pki),
                    classification=classification, executor=executor, itc=config.itc,
                    profile=PlatformProfile(config.profile),
                    receipts=ReceiptSigners(tsa, lambda: ministere_material(pki), clock.now,
                                             lambda: classification().date),
                    operator_signer=Signer(pki.certificate(operator), pki.private_key(operator),
                                           (pki.ca(operator.issuer).certificate,)))
    engine.scenarios = ScenarioBook(engine.store, config.scenarios)
    engine.scenarios.load()
    token = config.admin_token or secrets.token_urlsafe(24)
    return Simulator(config, pki, store, clock, engine, executor, tsa, token, identities)


DEMO_COMMUNE = envelope.Collectivite(siren="491011698", departement="034", arrondissement=3,
                                     adresses_retour=("actes@mairie.example.org",))
"""The collectivité `operator-sim serve` knows from the start. The generated corpus is sent by
the same commune (`operator_sim.testing.corpus.COMMUNE`, which the simulator may not import),
so `fixtures/` can be submitted as is: tests/validation/test_corpus.py keeps them equal."""
DEMO_NAME = "Commune de démonstration"


def seed_demo(simulator: Simulator) -> Path:
    """What `operator-sim serve` offers a first visitor: the demonstration agent's PKCS#12
    (kept with the PKI; its path is returned) and its commune, registered with a convention."""
    demo = simulator.config.pki_dir / "demo-agent.p12"
    commune = DEMO_COMMUNE
    _demo_agent(simulator, demo, commune.siren)
    if simulator.store.get_collectivite(commune.siren) is None:
        # Known to the platform from the start, as a registered collectivité would be: the
        # operator door and S²LOW's create need its département before any transmission.
        simulator.store.add_collectivite(Collectivite(
            commune.siren, commune.departement, str(commune.arrondissement), commune.nature,
            DEMO_NAME))
    # With its convention (every matière, budget acts), which the strict profile requires.
    simulator.store.ensure_convention(commune.siren, simulator.config.itc)
    return demo


def _demo_agent(simulator: Simulator, demo: Path, siren: str) -> None:
    """Issue `demo` once, and bind it in this data folder: again when the data folder, which
    holds the accounts, was reset and the PKI kept."""
    name, now = "Agent de démonstration", simulator.clock.now()
    if not demo.exists():
        record = enrol_agent(simulator.pki, simulator.identities, siren=siren, name=name, now=now,
                             collectivite=DEMO_NAME)
        simulator.pki.export_p12(record.fingerprint, demo)
        return
    certificate = pkcs12.load_key_and_certificates(demo.read_bytes(), None)[1]
    if certificate is not None and simulator.identities.binding(fingerprint(certificate)) is None:
        record = simulator.pki.find(fingerprint(certificate))
        simulator.identities.bind(bind_record(record, siren, Account(
            name=name, sirens=frozenset({siren}))), at=now)
