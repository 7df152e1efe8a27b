"""Scenarios: declarative rules deciding what the préfecture does with a submitted act and which
faults the service shows the client. First match wins; no match means today's behaviour, an
ARActe at once.

Rules are frozen data parsed from TOML (the config's `scenarios` file) or JSON (admin API) with
precise errors. The book keeps them in the database, so they survive restarts: the file seeds it
on first start and on every reset. Deciding is pure but for the hit counter of each rule.
Rules apply to readable acts the agent may submit (unreadable archives, foreign SIRENs are
refused as ever). The file (the admin API takes the same keys as JSON):

    [[rules]]
    id = "slow-ar"                                  # default: rule-<position>
    match = { header = "X-Scenario: slow-ar" }      # also siren, nature (DE or 1), matiere
                                                    # (prefix: "5" matches 5.2), objet
                                                    # (substring), objet_regex (RE2 search)
    outcome = { kind = "ar", delay = "P2D" }        # ar | anomalie (nature, detail) | hold |
                                                    # letter (code 2-1/3-1/4-1, text) | defere;
                                                    # delay: seconds, ISO 8601, or
                                                    # { min = "P1D", max = "P3D", seed = 7 }
    faults = { slow_ms = 1500 }                     # unavailable (503), slow_ms,
                                                    # drop_connection, corrupt_return
    times = 2                                       # optional: only the first 2 matches
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import re2

from ..errors import Kind, Refusal
from ..protocol.codes import AnomalieNature, NatureActe, Sender, TransactionType
from ..protocol.names import ascii_digits
from ..protocol.xmlsafe import NOT_XML_CHAR
from ..store.interface import AsyncSimulatorStore, SimulatorStore, StoredRule

if TYPE_CHECKING:
    from ..protocol.messages import Acte
    from ..store.interface import TransactionRow

AR, ANOMALIE, HOLD, LETTER, DEFERE = "ar", "anomalie", "hold", "letter", "defere"
KINDS = (AR, ANOMALIE, HOLD, LETTER, DEFERE)
LETTER_CODES = ("2-1", "3-1", "4-1")
MAX_SLOW_MS = 600_000
MAX_DURATION = dt.timedelta(days=36_500)
SEEDED = "scenario_rules_seeded"
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
DURATION = re.compile(r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
                      r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")


class ScenarioError(Refusal, ValueError):
    """A rule (or rules file) that cannot be used; `field` names the faulty member (may be "")."""

    field: str

    def __init__(self, field: str, message_fr: str, message_en: str, *,
                 code: str = "SCENARIO_INVALID", kind: Kind | None = None) -> None:
        super().__init__(code, message_fr, message_en, kind=kind)
        self.field = field
        self.args = (f"{field}: {message_en}",)


# -- durations ----------------------------------------------------------------------------------

def parse_duration(value: object, field: str = "delay") -> dt.timedelta:
    """Seconds (a number) or an ISO 8601 duration in weeks, days, hours, minutes, seconds
    ("P2D", "PT90S", "P1DT12H"). Months and years are refused: their length is ambiguous."""
    if isinstance(value, bool):
        value = None  # True is an int to Python, never a duration
    text = value.strip().upper() if isinstance(value, str) else ""
    found = DURATION.fullmatch(text)
    if isinstance(value, int | float):
        seconds = float(value) if abs(value) < 1e300 else float("inf")  # float(10**400) overflows
    elif text.isascii() and text.isdigit():
        seconds = float(text)
    elif found and any(found.groupdict().values()) and not text.endswith("T"):
        parts = {k: float(v) if v else 0.0 for k, v in found.groupdict().items()}
        seconds = (parts["w"] * 7 * 86400 + parts["d"] * 86400 + parts["h"] * 3600
                   + parts["m"] * 60 + parts["s"])
    else:
        raise ScenarioError(field, f"{value!r} n'est pas une durée (secondes, ou ISO 8601 comme "
                                   "P2D, PT90S)",
                            f"{value!r} is not a duration (seconds, or ISO 8601 like P2D, PT90S)")
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # nan fails both comparisons
        raise ScenarioError(field, f"une durée va de 0 à {MAX_DURATION.days} jours",
                            f"a duration is from 0 to {MAX_DURATION.days} days")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    """ISO 8601 for a duration: P2D, PT1H30M, PT0.25S, PT0S."""
    days, rest = delta.days, dt.timedelta(seconds=delta.seconds, microseconds=delta.microseconds)
    hours, rest = divmod(rest, dt.timedelta(hours=1))
    minutes, rest = divmod(rest, dt.timedelta(minutes=1))
    seconds = f"{rest.total_seconds():.6f}".rstrip("0").rstrip(".")
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M"), (seconds, "S"))
                   if n and n != "0")
    return f"P{f'{days}D' if days else ''}{f'T{time}' if time else ''}" if delta else "PT0S"


# -- the rule's parts -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What a rule may look at: the act, its sender and the request's headers (names lower-case)."""

    siren: str
    nature: NatureActe
    matiere: tuple[int, ...]
    objet: str
    numero_interne: str
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, acte: Acte, siren: str, headers: Mapping[str, str] | None) -> Facts:
        return cls(siren, acte.nature, tuple(c for c in acte.codes_matiere if c is not None),
                   acte.objet, acte.numero_interne,
                   {k.lower(): v for k, v in (headers or {}).items()})


@dataclass(frozen=True)
class Match:
    """Every criterion given must hold; a rule without any matches every act."""

    siren: str | None = None
    nature: NatureActe | None = None
    matiere: tuple[int, ...] | None = None  # a prefix: (5,) matches 5, 5.2 and 5.2.1
    objet: str | None = None  # substring, case-insensitive
    objet_regex: re2._Regexp | None = None  # RE2: linear time, see `_objet_regex`
    header: tuple[str, str | None] | None = None  # (lower-case name, exact value or None = present)

    def matches(self, facts: Facts) -> bool:
        if self.siren is not None and facts.siren != self.siren:
            return False
        if self.nature is not None and facts.nature is not self.nature:
            return False
        if self.matiere is not None and facts.matiere[:len(self.matiere)] != self.matiere:
            return False
        if self.objet is not None and self.objet.casefold() not in facts.objet.casefold():
            return False
        if self.objet_regex is not None and not self.objet_regex.search(facts.objet):
            return False
        if self.header is not None:
            name, value = self.header
            present = facts.headers.get(name)
            if present is None or (value is not None and present.strip() != value):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.siren is not None:
            data["siren"] = self.siren
        if self.nature is not None:
            data["nature"] = self.nature.abrege
        if self.matiere is not None:
            data["matiere"] = ".".join(map(str, self.matiere))
        if self.objet is not None:
            data["objet"] = self.objet
        if self.objet_regex is not None:
            data["objet_regex"] = self.objet_regex.pattern
        if self.header is not None:
            name, value = self.header
            data["header"] = name if value is None else f"{name}: {value}"
        return data


@dataclass(frozen=True)
class Delay:
    """Fixed (minimum == maximum) or drawn in [minimum, maximum] (whole seconds), reproducibly:
    the draw depends only on the seed, the rule and the act (SIREN, NumeroInterne)."""

    minimum: dt.timedelta = dt.timedelta(0)
    maximum: dt.timedelta = dt.timedelta(0)
    seed: int = 0

    def pick(self, key: str) -> dt.timedelta:
        if self.minimum == self.maximum:
            return self.minimum
        low, high = int(self.minimum.total_seconds()), int(self.maximum.total_seconds())
        return dt.timedelta(seconds=random.Random(f"{self.seed}:{key}").randint(low, high))

    def to_json(self) -> object:
        if self.minimum == self.maximum:
            return format_duration(self.minimum)
        return {"min": format_duration(self.minimum), "max": format_duration(self.maximum),
                "seed": self.seed}


@dataclass(frozen=True)
class Plan:
    """What the préfecture does: ar, anomalie (1-3), hold (a person decides), letter (2-1, 3-1,
    4-1 after the AR), defere (5-1 after the AR). `delay` postpones the answer (ar, anomalie) or
    the letter (letter, defere)."""

    kind: str = AR
    delay: Delay = Delay()
    nature: AnomalieNature | None = None
    detail: str = ""
    code: str | None = None  # the letter's code
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind != HOLD:
            data["delay"] = self.delay.to_json()
        if self.kind == ANOMALIE:
            assert self.nature is not None
            data.update(nature=self.nature.value, detail=self.detail)
        if self.kind == LETTER:
            data["code"] = self.code
        if self.kind in (LETTER, DEFERE) and self.text:
            data["text"] = self.text
        return data


@dataclass(frozen=True)
class Faults:
    """How the service misbehaves for a matched submission, to test a client's resilience.

    `unavailable`: 503 and nothing stored. `slow_ms`: the answer waits that long.
    `drop_connection`: the act is processed and stored, then the connection is closed without an
    answer. `corrupt_return`: what the préfecture returns for it (its messages — ARActe,
    AnomalieActe, letters, their receipts — and the return archive of a letter about it)
    downloads corrupted, by every route that serves it (`damaged`); what the collectivité sent,
    the signatures and the tokens beside the messages come back intact, so a client can tell.
    """

    unavailable: bool = False
    slow_ms: int = 0
    drop_connection: bool = False
    corrupt_return: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}


@dataclass(frozen=True)
class Rule:
    id: str
    match: Match = Match()
    plan: Plan = Plan()
    faults: Faults = Faults()
    times: int | None = None
    """Match at most this many submissions, then let the next rules decide (None: always)."""
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if self.description:
            data["description"] = self.description
        data.update(match=self.match.to_dict(), outcome=self.plan.to_dict(),
                    faults=self.faults.to_dict())
        if self.times is not None:
            data["times"] = self.times
        return data


# -- parsing (TOML tables and JSON objects share one shape) -------------------------------------

def _table(value: object, name: str, allowed: Sequence[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError(name, "doit être une table (objet)", "must be a table (object)")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ScenarioError(f"{name}.{unknown[0]}" if name else unknown[0],
                            f"clé inconnue (attendu : {', '.join(allowed)})",
                            f"unknown key (expected: {', '.join(allowed)})")
    return dict(value)


def _text(value: object, name: str, *, required: bool = False, limit: int = 1000) -> str | None:
    if value is None:
        if required:
            raise ScenarioError(name, "obligatoire", "required")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise ScenarioError(name, f"texte de 1 à {limit} caractères attendu",
                            f"text of 1 to {limit} characters expected")
    if NOT_XML_CHAR.search(value):  # details and texts end up in signed messages
        raise ScenarioError(name, "caractère de contrôle interdit",
                            "control characters are not allowed")
    return value


def _objet_regex(pattern: str) -> re2._Regexp:
    """`pattern` compiled by RE2, whose search time is linear in the objet: with `re`, a
    pattern like `(a+)+$` backtracks for hours on the event loop on a 40-letter objet. RE2
    refuses what needs backtracking (backreferences, lookarounds) as invalid."""
    options = re2.Options()
    options.log_errors = False  # the refusal says it; nothing on stderr
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) \
            else str(exc)
        raise ScenarioError("match.objet_regex", f"expression régulière invalide : {reason}",
                            f"invalid regular expression: {reason}") from None


def _flag(value: object, name: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ScenarioError(name, "true ou false attendu", "true or false expected")
    return value


def _count(value: object, name: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScenarioError(name, f"entier de {low} à {high} attendu",
                            f"whole number from {low} to {high} expected")
    return value


def _match(data: object) -> Match:
    raw = _table(data, "match", ("siren", "nature", "matiere", "objet", "objet_regex", "header"))
    siren = _text(raw.get("siren"), "match.siren")
    if siren is not None and not re.fullmatch(r"[0-9]{9}", siren):
        raise ScenarioError("match.siren", "9 chiffres attendus", "9 digits expected")
    nature = None
    if raw.get("nature") is not None:
        given = str(raw["nature"]).strip().upper()
        try:
            nature = NatureActe(int(given)) if ascii_digits(given) else NatureActe.from_abrege(given)
        except ValueError:
            raise ScenarioError("match.nature", f"{given!r} n'est pas DE, AR, AI, CC, BF, AU ou 1 à 6",
                                f"{given!r} is not DE, AR, AI, CC, BF, AU or 1 to 6") from None
    matiere = None
    if raw.get("matiere") is not None:
        given = str(raw["matiere"]).strip()
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", given):
            raise ScenarioError("match.matiere", f"{given!r} n'est pas une matière comme 5 ou 5.2",
                                f"{given!r} is not a matière like 5 or 5.2")
        matiere = tuple(int(p) for p in given.split("."))
    regex = None
    if (pattern := _text(raw.get("objet_regex"), "match.objet_regex")) is not None:
        regex = _objet_regex(pattern)
    header = None
    if (spec := _text(raw.get("header"), "match.header", limit=300)) is not None:
        name, colon, value = spec.partition(":")
        if not HEADER_NAME.fullmatch(name.strip()) or (colon and not value.strip()):
            raise ScenarioError("match.header", f"{spec!r} n'est pas « Nom » ou « Nom: valeur »",
                                f"{spec!r} is not 'Name' or 'Name: value'")
        header = (name.strip().lower(), value.strip() if colon else None)
    return Match(siren, nature, matiere, _text(raw.get("objet"), "match.objet", required=False),
                 regex, header)


def _delay(value: object) -> Delay:
    if value is None:
        return Delay()
    if isinstance(value, Mapping):
        raw = _table(value, "outcome.delay", ("min", "max", "seed"))
        low = parse_duration(raw.get("min", 0), "outcome.delay.min")
        high = parse_duration(raw.get("max", low.total_seconds()), "outcome.delay.max")
        if high < low:
            raise ScenarioError("outcome.delay", "max est avant min", "max is less than min")
        seed = raw.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ScenarioError("outcome.delay.seed", "entier attendu", "whole number expected")
        return Delay(low, high, seed)
    fixed = parse_duration(value, "outcome.delay")
    return Delay(fixed, fixed)


def _plan(data: object) -> Plan:
    raw = _table(data, "outcome", ("kind", "delay", "nature", "detail", "code", "text"))
    kind = raw.get("kind", AR)
    if kind not in KINDS:
        raise ScenarioError("outcome.kind", f"{kind!r} n'est pas {', '.join(KINDS)}",
                            f"{kind!r} is not one of {', '.join(KINDS)}")
    expected = {AR: {"kind", "delay"}, ANOMALIE: {"kind", "delay", "nature", "detail"},
                HOLD: {"kind"}, LETTER: {"kind", "delay", "code", "text"},
                DEFERE: {"kind", "delay", "text"}}[kind]
    extra = sorted(set(raw) - expected)
    if extra:
        raise ScenarioError(f"outcome.{extra[0]}", f"sans objet pour {kind}",
                            f"does not apply to {kind}")
    plan = Plan(kind, _delay(raw.get("delay")))
    if kind == ANOMALIE:
        given = str(raw.get("nature", "")).strip()
        try:
            nature = AnomalieNature(given.zfill(3))
        except ValueError:
            raise ScenarioError("outcome.nature", f"{given!r} n'est pas une nature d'anomalie (001 à 014)",
                                f"{given!r} is not an anomaly nature (001 to 014)") from None
        detail = _text(raw.get("detail"), "outcome.detail") or nature.libelle
        plan = replace(plan, nature=nature, detail=detail)
    if kind == LETTER:
        code = raw.get("code")
        if code not in LETTER_CODES:
            raise ScenarioError("outcome.code", f"{code!r} n'est pas 2-1, 3-1 ou 4-1 (5-1 : kind = defere)",
                                f"{code!r} is not 2-1, 3-1 or 4-1 (5-1: kind = defere)")
        plan = replace(plan, code=code)
    if kind in (LETTER, DEFERE):
        plan = replace(plan, text=_text(raw.get("text"), "outcome.text", limit=4000) or "")
    return plan


def _faults(data: object) -> Faults:
    raw = _table(data, "faults", ("unavailable", "slow_ms", "drop_connection", "corrupt_return"))
    faults = Faults(unavailable=_flag(raw.get("unavailable"), "faults.unavailable"),
                    slow_ms=_count(raw.get("slow_ms", 0), "faults.slow_ms", low=0, high=MAX_SLOW_MS),
                    drop_connection=_flag(raw.get("drop_connection"), "faults.drop_connection"),
                    corrupt_return=_flag(raw.get("corrupt_return"), "faults.corrupt_return"))
    if faults.unavailable and (faults.drop_connection or faults.corrupt_return):
        raise ScenarioError("faults.unavailable", "un 503 n'enregistre rien : ni coupure ni retour "
                                                  "corrompu possibles",
                            "a 503 stores nothing: it cannot also drop or corrupt")
    return faults


def parse_rule(data: object, *, default_id: str | None = None) -> Rule:
    """One rule from its TOML table or JSON object; `ScenarioError` names the faulty member."""
    raw = _table(data, "", ("id", "description", "match", "outcome", "faults", "times"))
    rule_id = raw.get("id", default_id)
    if not isinstance(rule_id, str) or not RULE_ID.fullmatch(rule_id):
        raise ScenarioError("id", "1 à 64 caractères parmi lettres, chiffres, _ . -",
                            "1 to 64 characters among letters, digits, _ . -")
    times = raw.get("times")
    return Rule(rule_id, _match(raw.get("match")), _plan(raw.get("outcome")),
                _faults(raw.get("faults")),
                None if times is None else _count(times, "times", low=1, high=10**9),
                _text(raw.get("description"), "description") or "")


def parse_rules(items: object, *, where: str = "rules") -> tuple[Rule, ...]:
    """An ordered list of rules; ids are generated (rule-1, …) where absent, and must be unique."""
    if not isinstance(items, list):
        raise ScenarioError(where, "liste de règles attendue", "a list of rules expected")
    parsed: list[Rule] = []
    for position, item in enumerate(items, start=1):
        try:
            rule = parse_rule(item, default_id=f"rule-{position}")
        except ScenarioError as exc:
            raise ScenarioError(f"{where}[{position - 1}].{exc.field}".rstrip("."), exc.message_fr,
                                exc.message_en) from None
        if any(r.id == rule.id for r in parsed):
            raise ScenarioError(f"{where}[{position - 1}].id", f"identifiant {rule.id!r} en double",
                                f"duplicate id {rule.id!r}")
        parsed.append(rule)
    return tuple(parsed)


def load_rules_file(path: str | Path) -> tuple[Rule, ...]:
    """The rules of a TOML file: an array of tables `[[rules]]`, in matching order."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ScenarioError("scenarios", f"{path} : {exc.strerror}", f"{path}: {exc.strerror}",
                            code="SCENARIO_FILE") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("scenarios", f"{path} : TOML invalide ({exc})",
                            f"{path}: not valid TOML ({exc})", code="SCENARIO_FILE") from None
    try:
        _table(data, "", ("rules",))
        return parse_rules(data.get("rules", []))
    except ScenarioError as exc:
        raise ScenarioError(exc.field, f"{path} : {exc.message_fr}", f"{path}: {exc.message_en}",
                            code="SCENARIO_FILE") from None


# -- decisions -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """The outcome chosen for one act: the rule that matched (None: the default) and its delay."""

    rule_id: str | None
    plan: Plan
    faults: Faults
    delay: dt.timedelta = dt.timedelta(0)

    @property
    def holds(self) -> bool:
        """The act waits at "transmis": for a person, or for the scheduled answer."""
        return self.plan.kind == HOLD or (self.plan.kind in (AR, ANOMALIE) and bool(self.delay))

    @property
    def anomalie_now(self) -> tuple[AnomalieNature, str] | None:
        if self.plan.kind == ANOMALIE and not self.delay:
            assert self.plan.nature is not None
            return self.plan.nature, self.plan.detail
        return None

    def followup(self, received_at: dt.datetime) -> tuple[dt.datetime, str, dict[str, Any]] | None:
        """(due, kind, payload) of what happens later: the delayed answer, or the letter."""
        due = received_at + self.delay
        plan = self.plan
        if plan.kind in (AR, ANOMALIE) and self.delay:
            anomalie = None if plan.nature is None else [plan.nature.value, plan.detail]
            return due, "answer", {"anomalie": anomalie, "rule": self.rule_id}
        if plan.kind in (LETTER, DEFERE):
            return due, "letter", {"code": plan.code or "5-1", "text": plan.text, "rule": self.rule_id}
        return None

    def recorder(self, at: dt.datetime, *, followup: bool
                 ) -> Callable[[SimulatorStore, TransactionRow], None]:
        """What to write with the new transaction, in its own commit: which rule decided it,
        and the follow-up event (unless the act was refused, when nothing follows)."""
        def record(store: SimulatorStore, row: TransactionRow) -> None:
            if self.rule_id is None:
                return

            def write() -> None:
                store.record_application(row.id, self.rule_id or "", self.to_dict(),
                                         self.faults.corrupt_return)
                later = self.followup(at) if followup else None
                if later is not None:
                    due, kind, payload = later
                    store.schedule_event(due_at=due, kind=kind, transaction_id=row.id,
                                         payload=payload, created_at=at)

            store.atomic(write)

        return record

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "outcome": self.plan.to_dict(),
                "delay": format_duration(self.delay), "faults": self.faults.to_dict()}


DEFAULT_DECISION = Decision(None, Plan(), Faults())


def corrupt(data: bytes) -> bytes:
    """The same length with a stretch in the middle inverted: neither the XML nor its signature
    survive, as after a transfer damaged on the way."""
    start = max(0, len(data) // 2 - 32)
    middle = bytes(b ^ 0xFF for b in data[start:start + 64])
    return data[:start] + middle + data[start + 64:]


def archive_sender(row: TransactionRow) -> Sender:
    """Who made a transaction's stored archive: the collectivité for an act, the préfecture
    for a letter (2-1, 3-1, 4-1, 5-1: its return archive); other transactions keep none."""
    return Sender.CL if row.type is TransactionType.ACTE else Sender.PREF


async def damaged(book: ScenarioBook | None, row: TransactionRow, sender: Sender,
                  read: Callable[[], bytes]) -> bytes | None:
    """The corrupted bytes a client downloads instead of something stored about `row` (`read`
    gives it), when `sender` is the préfecture and a rule asked (`Faults.corrupt_return`);
    None: serve it as stored. The one check every door's download routes make."""
    if book is None or sender is not Sender.PREF or not await book.corrupts(row):
        return None
    return corrupt(await asyncio.to_thread(read))


class ScenarioUnknown(Refusal, LookupError):
    """No rule has this id."""

    kind = Kind.NOT_FOUND
    code = "SCENARIO_UNKNOWN"

    def __init__(self, rule_id: str) -> None:
        super().__init__(message_fr=f"aucune règle {rule_id!r}", message_en=f"no rule {rule_id!r}")
        self.args = (rule_id,)
        self.rule_id = rule_id


class ScenarioBook:
    """The rules in force: read from memory to decide, written through to the database."""

    def __init__(self, store: AsyncSimulatorStore, source: str | Path | None = None) -> None:
        self.store = store
        self.source = None if source is None else Path(source)
        self._rules: tuple[Rule, ...] = ()

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def file_rules(self) -> tuple[Rule, ...]:
        return () if self.source is None else load_rules_file(self.source)

    def load(self) -> None:
        """At start: the stored rules, seeded from the file the first time."""
        store = self.store.store

        def seed() -> list[StoredRule]:
            if store.state(SEEDED) is None:
                _replaced(store, self.file_rules(), "config")
                store.set_state(SEEDED, str(self.source or ""))
            return store.scenario_rules()

        self._rules = tuple(parse_rule(s.body) for s in store.atomic(seed))

    async def listing(self) -> list[dict[str, Any]]:
        """Each rule as JSON (stored as `Rule.to_dict` wrote it) with where it came from and
        how often it matched."""
        return [{**s.body, "origin": s.origin, "hits": s.hits}
                for s in await self.store.query(lambda s: s.scenario_rules())]

    async def decide(self, facts: Facts) -> Decision:
        for rule in self._rules:
            if not rule.match.matches(facts):
                continue
            if not await self.store.call(lambda s, rule=rule: s.take_rule_hit(rule.id, rule.times)):
                continue  # used up (times), or removed meanwhile
            key = f"{rule.id}:{facts.siren}:{facts.numero_interne}"
            return Decision(rule.id, rule.plan, rule.faults, rule.plan.delay.pick(key))
        return DEFAULT_DECISION

    async def add(self, *rules: Rule, position: int | None = None) -> None:
        """Insert `rules` at `position` (0 = first to match; default: last), all of them or,
        when an id is taken (ids are unique), none."""
        def write(store: SimulatorStore) -> list[StoredRule]:
            stored = store.scenario_rules()
            taken = {s.id for s in stored}
            for rule in rules:
                if rule.id in taken:
                    raise ScenarioError("id", f"une règle {rule.id!r} existe déjà",
                                        f"a rule {rule.id!r} already exists", code="SCENARIO_EXISTS",
                                        kind=Kind.CONFLICT)
                taken.add(rule.id)
            at = len(stored) if position is None else max(0, min(position, len(stored)))
            stored[at:at] = [StoredRule(rule.id, "admin", rule.to_dict(), 0) for rule in rules]
            store.replace_scenario_rules(stored)
            return stored

        await self._apply(write)

    async def remove(self, rule_id: str) -> None:
        def write(store: SimulatorStore) -> list[StoredRule]:
            stored = store.scenario_rules()
            kept = [s for s in stored if s.id != rule_id]
            if len(kept) == len(stored):
                raise ScenarioUnknown(rule_id)
            store.replace_scenario_rules(kept)
            return kept

        await self._apply(write)

    async def replace_all(self, rules: Sequence[Rule], origin: str = "admin") -> None:
        """The whole list at once (an editor's "save"); hit counts start again."""
        await self._apply(lambda store: _replaced(store, rules, origin))

    async def reset(self) -> tuple[Rule, ...]:
        """Back to the file's rules (read again now), hit counts cleared."""
        rules = self.file_rules()
        await self._apply(lambda store: _replaced(store, rules, "config"))
        return rules

    async def _apply(self, write: Callable[[SimulatorStore], list[StoredRule]]) -> None:
        """Run `write` on the store as one commit; the rules in force become what it stored."""
        stored = await self.store.call(lambda store: store.atomic(lambda: write(store)))
        self._rules = tuple(parse_rule(s.body) for s in stored)

    async def corrupts(self, row: TransactionRow) -> bool:
        """Whether a rule asked to corrupt what the préfecture returns about this transaction
        (its own messages, or those of a letter about it)."""
        ids = [row.id] + ([row.related_transaction_id] if row.related_transaction_id else [])
        return await self.store.query(lambda s: s.corrupts_return(ids))


def _replaced(store: SimulatorStore, rules: Sequence[Rule], origin: str) -> list[StoredRule]:
    stored = [StoredRule(r.id, origin, r.to_dict(), 0) for r in rules]
    store.replace_scenario_rules(stored)
    return stored


__all__ = ["DEFAULT_DECISION", "Decision", "Delay", "Facts", "Faults", "Match", "Plan", "Rule",
           "ScenarioBook", "ScenarioError", "ScenarioUnknown", "archive_sender", "corrupt",
           "damaged", "format_duration", "load_rules_file", "parse_duration", "parse_rule",
           "parse_rules"]
