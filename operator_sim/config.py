"""Service configuration: embedded defaults, then a TOML file, then OPERATOR_SIM_* variables.

Every setting has a default that works on a fresh machine (data and PKI folders beside the
current directory, loopback ports), so `operator-sim serve` needs no flags at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "OPERATOR_SIM_"


class ConfigError(ValueError):
    """A setting that cannot be used, named precisely."""


def default_workers(cores: int | None = None) -> int:
    """Validation processes for `cores` (default: those this process may run on): one per
    core less the one the service's own process keeps busy (event loop, store writer), at
    least one, at most four. On two cores a second worker only made the processes take turns
    on them: more CPU per submission, no more submissions per second (`bench/e2e.py`). A long
    examination (a 100 MB archive) does not hold the next ones back: they get a spare worker
    once it has run `engine.workers.SPARE_AFTER`."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    return max(1, min(4, cores - 1))


@dataclass(frozen=True)
class Config:
    """All settings of one simulator instance."""

    data_dir: Path = Path("data")
    pki_dir: Path = Path("certs")
    api_host: str = "127.0.0.1"
    api_port: int = 8443
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    admin_token: str | None = None
    """Bearer token for the admin port; generated and printed at start when unset."""
    itc: str = "SLO"
    """Operator trigram used when the simulator builds archives itself (operator door)."""
    signatures: str = "verify-if-present"
    """off, verify-if-present or required: what to do with signatures acts carry."""
    clock: str = "real"
    """real, or virtual (then set or advanced through the admin API)."""
    clock_start: str | None = None
    """ISO date-time a virtual clock starts at on a new database (default: now); once moved,
    a restart resumes from where it was moved to."""
    max_archive_bytes: int = 150 * 1024 * 1024
    read_timeout: int = 60
    """Seconds a client has to send a request's headers, and then its body (plus one second
    per 64 KiB received): slower clients are cut off or get 408 (slowloris guard). Idle
    keep-alive connections are closed after as long."""
    db_busy_timeout_ms: int = 10_000
    """How long a write waits for a database another process holds before the request is
    refused 503 with Retry-After (nothing stored)."""
    max_connections: int = 1024
    """TCP connections open at once on each port; more are closed as soon as accepted."""
    max_connections_per_address: int = 256
    """TCP connections open at once from one client address on each port."""
    shutdown_grace: int = 10
    """Seconds requests in flight have to finish once SIGTERM or SIGINT asked `serve` to stop
    (new connections are refused at once); those still running then are cut."""
    workers: int = field(default_factory=default_workers)
    """Processes that validate archives beside the event loop (`default_workers`)."""
    scenarios: str | None = None
    """TOML file of scenario rules (`[[rules]]`): seeds the rules on first start and on reset."""
    callback_attempts: int = 6
    """POSTs per callback delivery at most (the first one included)."""
    callback_retry_ms: int = 1000
    """Wait before the first retry of a delivery; each next retry waits twice as long."""
    callback_timeout_ms: int = 10_000
    """Time a callback receiver has to answer one POST."""
    callback_concurrency: int = 16
    """Callback POSTs in flight at most, in all."""
    callback_siren_concurrency: int = 4
    """Callback POSTs in flight at most for one SIREN (one collectivité cannot take them all)."""
    callback_target_concurrency: int = 2
    """Callback POSTs in flight at most to one target (scheme, host and port)."""
    callback_max_per_siren: int = 100
    """Live callback registrations of one SIREN at most (each event is POSTed to each)."""
    callback_loopback: str = "refuse"
    """refuse or allow: whether callback URLs may reach this machine (127.0.0.0/8, ::1,
    localhost, 0.0.0.0) on other ports than the simulator's own, which are always refused.
    The pytest plugin allows it, its receivers being local."""
    trusted_intermediaries: str = ""
    """Who may forward a user's certificate in S²LOW's `org.s2low.forward-x509-identification`
    header (Pastell does): SHA-256 fingerprints of client certificates and/or IP addresses,
    separated by commas or spaces. Empty: the header is refused from everyone."""

    profile: str = "strict"
    """Platform profile: strict (a sender needs a convention; the ministry schema's rules) or
    lenient (today's leniencies as warnings, unknown senders registered on first sending)."""

    def intermediaries(self) -> tuple[frozenset[str], frozenset[str]]:
        """`trusted_intermediaries` read: (certificate fingerprints, addresses)."""
        return parse_intermediaries(self.trusted_intermediaries)


def parse_intermediaries(raw: str) -> tuple[frozenset[str], frozenset[str]]:
    """Fingerprints (64 hex digits, colons allowed, any case) and IP addresses, or ConfigError."""
    prints, addresses = set(), set()
    for item in raw.replace(",", " ").split():
        digits = item.replace(":", "").lower()
        if len(digits) == 64 and all(c in "0123456789abcdef" for c in digits):
            prints.add(digits)
            continue
        try:
            addresses.add(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ConfigError(f"trusted_intermediaries: {item!r} is neither a SHA-256 "
                              "certificate fingerprint nor an IP address") from None
    return frozenset(prints), frozenset(addresses)


def load_config(path: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None, **overrides: object) -> Config:
    """Defaults ← TOML file (if given) ← environment ← explicit overrides (CLI flags)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                values.update(tomllib.load(fh))
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    fields = {f.name: f for f in dataclasses.fields(Config)}
    for name in fields:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            values[name] = environ[key]
    values.update({k: v for k, v in overrides.items() if v is not None})
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    return _validated(Config(**{k: _coerce(fields[k], k, v) for k, v in values.items()}))


def _coerce(spec: dataclasses.Field, name: str, value: object) -> Any:
    """`value` read as the field's type (the settings come as text or TOML values)."""
    kind = spec.type if isinstance(spec.type, str) else getattr(spec.type, "__name__", "")
    try:
        if kind == "Path":
            return Path(str(value))
        if kind == "int":
            return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a whole number") from None
    return value if value is None else str(value)


def _validated(config: Config) -> Config:
    if config.signatures not in ("off", "verify-if-present", "required"):
        raise ConfigError(f"signatures: {config.signatures!r} is not off, verify-if-present "
                          "or required")
    if config.profile not in ("strict", "lenient"):
        raise ConfigError(f"profile: {config.profile!r} is not strict or lenient")
    if config.clock not in ("real", "virtual"):
        raise ConfigError(f"clock: {config.clock!r} is not real or virtual")
    for name in ("api_port", "admin_port"):
        port = getattr(config, name)
        if not 0 <= port <= 65535:
            raise ConfigError(f"{name}: {port} is not a TCP port")
    if len(config.itc) != 3 or not config.itc.isupper() or not config.itc.isalpha():
        raise ConfigError(f"itc: {config.itc!r} is not a trigram of 3 capital letters")
    if config.max_archive_bytes <= 0 or config.workers <= 0 or config.read_timeout <= 0 \
            or config.db_busy_timeout_ms <= 0:
        raise ConfigError("max_archive_bytes, workers, read_timeout and db_busy_timeout_ms must "
                          "be positive")
    parse_intermediaries(config.trusted_intermediaries)
    if config.max_connections <= 0 or config.max_connections_per_address <= 0:
        raise ConfigError("max_connections and max_connections_per_address must be positive")
    if config.shutdown_grace < 0:
        raise ConfigError("shutdown_grace must not be negative")
    if config.callback_attempts <= 0 or config.callback_retry_ms < 0 or config.callback_timeout_ms <= 0:
        raise ConfigError("callback_attempts and callback_timeout_ms must be positive, "
                          "callback_retry_ms not negative")
    if min(config.callback_concurrency, config.callback_siren_concurrency,
           config.callback_target_concurrency, config.callback_max_per_siren) <= 0:
        raise ConfigError("callback_concurrency, callback_siren_concurrency, "
                          "callback_target_concurrency and callback_max_per_siren must be positive")
    if config.callback_loopback not in ("refuse", "allow"):
        raise ConfigError(f"callback_loopback: {config.callback_loopback!r} is not refuse or allow")
    return config
