"""The SQLite schema, as named migrations (sqlite-utils `Migrations`), applied in order once each.

Owns every table, index, constraint and trigger. Never edit an applied migration: add a new
named one. DDL is written as SQL because STRICT tables, CHECKs, AUTOINCREMENT, partial unique
indexes and triggers are what carry the invariants, and `Table.create()` cannot say them.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

MIGRATION_SET = "operator_sim"
migrations = Migrations(MIGRATION_SET)

_INITIAL = """
CREATE TABLE collectivites (
    siren TEXT PRIMARY KEY CHECK (length(siren) = 9),
    departement TEXT NOT NULL,
    arrondissement TEXT NOT NULL,
    nature TEXT NOT NULL,
    nom TEXT NOT NULL
) STRICT;

CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_fingerprint TEXT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles)),
    login TEXT,
    password_hash TEXT,
    CHECK ((login IS NULL) = (password_hash IS NULL))
) STRICT;
-- A certificate maps to one account, or to several told apart by login (shared certificate).
CREATE UNIQUE INDEX agents_certificate_login ON agents (certificate_fingerprint, ifnull(login, ''));

CREATE TABLE agent_sirens (
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    siren TEXT NOT NULL REFERENCES collectivites (siren),
    PRIMARY KEY (agent_id, siren)
) STRICT, WITHOUT ROWID;
CREATE INDEX agent_sirens_siren ON agent_sirens (siren);

CREATE TABLE transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    type INTEGER NOT NULL CHECK (type BETWEEN 1 AND 7),
    status INTEGER NOT NULL CHECK (status BETWEEN -1 AND 22),
    siren TEXT NOT NULL REFERENCES collectivites (siren),
    related_transaction_id INTEGER REFERENCES transactions (id),
    id_acte TEXT,
    numero_interne TEXT,
    nature INTEGER CHECK (nature BETWEEN 1 AND 6),
    matiere TEXT,
    objet TEXT,
    decision_date TEXT,
    archive_name TEXT,
    archive_sha256 TEXT CHECK (archive_sha256 IS NULL OR length(archive_sha256) = 64),
    agent_id INTEGER REFERENCES agents (id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK (type <> 1 OR numero_interne IS NOT NULL)
) STRICT;
-- The duplicate rule, enforced by the database so that two racing submissions cannot both
-- win: one live act per (SIREN, NumeroInterne); an act in error (-1) or cancelled (0) frees it.
CREATE UNIQUE INDEX transactions_live_acte ON transactions (siren, numero_interne)
    WHERE type = 1 AND status NOT IN (-1, 0);
CREATE UNIQUE INDEX transactions_id_acte ON transactions (id_acte)
    WHERE type = 1 AND id_acte IS NOT NULL;
CREATE INDEX transactions_siren_created ON transactions (siren, created_at);
CREATE INDEX transactions_status ON transactions (status);
CREATE INDEX transactions_related ON transactions (related_transaction_id);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    code TEXT NOT NULL CHECK (code GLOB '[1-7]-[1-5]'),
    direction TEXT NOT NULL CHECK (direction IN ('CL', 'PREF')),
    file_name TEXT NOT NULL,
    xml_sha256 TEXT NOT NULL CHECK (length(xml_sha256) = 64),
    signature_sha256 TEXT CHECK (signature_sha256 IS NULL OR length(signature_sha256) = 64),
    timestamp_token_sha256 TEXT
        CHECK (timestamp_token_sha256 IS NULL OR length(timestamp_token_sha256) = 64),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX messages_transaction ON messages (transaction_id);

CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    role TEXT NOT NULL CHECK (role IN ('main', 'annexe', 'piece')),
    position INTEGER NOT NULL CHECK (position >= 0),
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    mimetype TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    UNIQUE (transaction_id, role, position)
) STRICT;

CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id INTEGER NOT NULL REFERENCES transactions (id),
    at TEXT NOT NULL,
    from_status INTEGER CHECK (from_status IS NULL OR from_status BETWEEN -1 AND 22),
    to_status INTEGER NOT NULL CHECK (to_status BETWEEN -1 AND 22),
    actor TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    message_id INTEGER REFERENCES messages (id)
) STRICT;
CREATE INDEX journal_transaction ON journal (transaction_id, id);
CREATE TRIGGER journal_refuses_update BEFORE UPDATE ON journal
BEGIN
    SELECT RAISE(ABORT, 'journal is append-only: UPDATE refused');
END;
CREATE TRIGGER journal_refuses_delete BEFORE DELETE ON journal
BEGIN
    SELECT RAISE(ABORT, 'journal is append-only: DELETE refused');
END;

-- Monotonic named counters (TSA serial numbers, message _N suffixes...) that survive restarts.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
"""


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    """Collectivités, agents, transactions, messages, documents, journal, counters."""
    db.executescript(_INITIAL)


@migrations(name="0002_transaction_reads")
def m0002_transaction_reads(db: Database) -> None:
    """When the collectivité's software first marked a préfecture message as read."""
    db.execute("""
CREATE TABLE transaction_reads (
    transaction_id INTEGER PRIMARY KEY REFERENCES transactions (id),
    read_at TEXT NOT NULL,
    actor TEXT NOT NULL
) STRICT""")


_SIMULATION = (
    # Scenario rules in matching order (first match wins); hits count uses of limited rules.
    """CREATE TABLE scenario_rules (
    position INTEGER PRIMARY KEY CHECK (position >= 0),
    id TEXT NOT NULL UNIQUE,
    origin TEXT NOT NULL CHECK (origin IN ('config', 'admin')),
    body TEXT NOT NULL CHECK (json_valid(body)),
    hits INTEGER NOT NULL DEFAULT 0 CHECK (hits >= 0)
) STRICT""",
    # Which rule decided an act, and whether what the préfecture returns for it is corrupted.
    """CREATE TABLE scenario_applications (
    transaction_id INTEGER PRIMARY KEY REFERENCES transactions (id),
    rule_id TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (json_valid(decision)),
    corrupt_return INTEGER NOT NULL DEFAULT 0 CHECK (corrupt_return IN (0, 1))
) STRICT""",
    # Outcomes due later on the clock: fired in (due_at, id) order, fired_at set exactly once.
    """CREATE TABLE scheduled_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    due_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    transaction_id INTEGER REFERENCES transactions (id),
    payload TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
    created_at TEXT NOT NULL,
    fired_at TEXT,
    outcome TEXT CHECK (outcome IS NULL OR outcome IN ('done', 'skipped', 'failed')),
    result TEXT,
    CHECK (outcome IS NULL OR fired_at IS NOT NULL)
) STRICT""",
    "CREATE INDEX scheduled_events_pending ON scheduled_events (due_at, id) WHERE fired_at IS NULL",
    """CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    siren TEXT NOT NULL CHECK (length(siren) = 9),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    owner_fingerprint TEXT NOT NULL,
    owner_name TEXT NOT NULL,
    since_event INTEGER NOT NULL DEFAULT 0,  -- only journal events after the registration
    created_at TEXT NOT NULL,
    deleted_at TEXT
) STRICT""",
    "CREATE INDEX callbacks_siren ON callbacks (siren) WHERE deleted_at IS NULL",
    # One row per (registration, journal event); payload is the exact JSON text POSTed.
    """CREATE TABLE callback_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    callback_id INTEGER NOT NULL REFERENCES callbacks (id),
    event_id INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload)),
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (callback_id, event_id)
) STRICT""",
    "CREATE INDEX callback_deliveries_due ON callback_deliveries (next_attempt_at) WHERE state = 'pending'",
    """CREATE TABLE callback_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES callback_deliveries (id),
    attempt INTEGER NOT NULL CHECK (attempt >= 1),
    at TEXT NOT NULL,
    status INTEGER,
    error TEXT,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0)
) STRICT""",
    "CREATE INDEX callback_attempts_delivery ON callback_attempts (delivery_id, id)",
    # Every API request with the certificate it presented; status NULL when no answer was sent.
    """CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    query TEXT NOT NULL DEFAULT '',
    status INTEGER,
    duration_ms INTEGER NOT NULL CHECK (duration_ms >= 0),
    remote TEXT,
    subject TEXT,
    issuer TEXT,
    serial TEXT,
    fingerprint TEXT,
    verdict TEXT NOT NULL,
    indication TEXT,
    sub_indication TEXT,
    identity TEXT CHECK (identity IS NULL OR json_valid(identity)),
    transaction_id INTEGER,
    error_code TEXT,
    scenario TEXT,
    note TEXT
) STRICT""",
    "CREATE INDEX requests_fingerprint ON requests (fingerprint, id)",
    "CREATE INDEX requests_at ON requests (at)",
    # Small named values the machinery keeps across restarts (outbox cursor, seeding mark).
    """CREATE TABLE simulator_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT""",
)


@migrations(name="0003_scenarios_schedule_callbacks_requests")
def m0003_scenarios_schedule_callbacks_requests(db: Database) -> None:
    """Scenario rules, scheduled events, callbacks and deliveries, the request journal."""
    for statement in _SIMULATION:
        db.execute(statement)


def apply(db: Database) -> None:
    """Bring `db` up to the latest schema; a no-op when nothing is pending."""
    migrations.apply(db)


@migrations(name="0004_settings")
def m0004_settings(db: Database) -> None:
    """Named values a restart must find again (the virtual clock's time)."""
    db.execute("CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT")


# How many transactions each (SIREN, type, status, nature) has, and the same without the SIREN,
# kept by triggers in the writing transaction itself: a list's total is then a sum over a few
# counter rows instead of a count over rows that grow with the table. Nature 0 stands for none.
# Trigger steps: count the row as it now is; uncount it as it was.
_COUNT_NEW = """\
    INSERT INTO transaction_counts (siren, type, status, nature, n)
        VALUES (NEW.siren, NEW.type, NEW.status, ifnull(NEW.nature, 0), 1)
        ON CONFLICT (siren, type, status, nature) DO UPDATE SET n = n + 1;
    INSERT INTO transaction_totals (type, status, nature, n)
        VALUES (NEW.type, NEW.status, ifnull(NEW.nature, 0), 1)
        ON CONFLICT (type, status, nature) DO UPDATE SET n = n + 1;
"""
_UNCOUNT_OLD = """\
    UPDATE transaction_counts SET n = n - 1 WHERE siren = OLD.siren AND type = OLD.type
        AND status = OLD.status AND nature = ifnull(OLD.nature, 0);
    UPDATE transaction_totals SET n = n - 1 WHERE type = OLD.type AND status = OLD.status
        AND nature = ifnull(OLD.nature, 0);
"""

_TRANSACTION_COUNTS = (
    """CREATE TABLE transaction_counts (
    siren TEXT NOT NULL,
    type INTEGER NOT NULL,
    status INTEGER NOT NULL,
    nature INTEGER NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (siren, type, status, nature)
) STRICT, WITHOUT ROWID""",
    """CREATE TABLE transaction_totals (
    type INTEGER NOT NULL,
    status INTEGER NOT NULL,
    nature INTEGER NOT NULL,
    n INTEGER NOT NULL CHECK (n >= 0),
    PRIMARY KEY (type, status, nature)
) STRICT, WITHOUT ROWID""",
    f"""CREATE TRIGGER transactions_counted_insert AFTER INSERT ON transactions
BEGIN
{_COUNT_NEW}END""",
    f"""CREATE TRIGGER transactions_counted_delete AFTER DELETE ON transactions
BEGIN
{_UNCOUNT_OLD}END""",
    f"""CREATE TRIGGER transactions_counted_update AFTER UPDATE OF siren, type, status, nature
    ON transactions
    WHEN OLD.siren IS NOT NEW.siren OR OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status
        OR OLD.nature IS NOT NEW.nature
BEGIN
{_UNCOUNT_OLD}{_COUNT_NEW}END""",
    # Rows written before this migration (it runs inside the opening write transaction).
    """INSERT INTO transaction_counts (siren, type, status, nature, n)
    SELECT siren, type, status, ifnull(nature, 0), count(*) FROM transactions GROUP BY 1, 2, 3, 4""",
    """INSERT INTO transaction_totals (type, status, nature, n)
    SELECT type, status, nature, sum(n) FROM transaction_counts GROUP BY 1, 2, 3""",
    # A SIREN's page, and a SIREN's page in one status, newest first straight from an index
    # (the index on (siren, created_at) sorts by date, the one on status walks every SIREN).
    "CREATE INDEX transactions_siren_id ON transactions (siren, id)",
    "CREATE INDEX transactions_siren_status ON transactions (siren, status, id)",
    # The admin's days (dashboard "du"/"au"): the rows of that window, not a scan of them all.
    "CREATE INDEX transactions_created ON transactions (created_at)",
)


@migrations(name="0005_transaction_counts")
def m0005_transaction_counts(db: Database) -> None:
    """Counter tables for flat list totals (backfilled from the existing rows), and indexes
    for a SIREN's newest-first pages and for the admin's date windows."""
    for statement in _TRANSACTION_COUNTS:
        db.execute(statement)


_CERTIFICATE_BINDINGS = (
    # The certificate an agent account authenticates with (several accounts: a shared one) and
    # the SIREN its subject must name; serial and subject as the PKI issued them, when known.
    """CREATE TABLE agent_certificates (
    fingerprint TEXT PRIMARY KEY CHECK (length(fingerprint) = 64 AND fingerprint = lower(fingerprint)),
    siren TEXT NOT NULL CHECK (length(siren) = 9),
    serial TEXT,
    subject TEXT,
    enrolled_at TEXT NOT NULL
) STRICT""",
    # An agent is enrolled for a SIREN before the platform knows that collectivité's IDCL
    # (registered from its first envelope), so agent_sirens no longer references collectivites.
    """CREATE TABLE agent_sirens_0006 (
    agent_id INTEGER NOT NULL REFERENCES agents (id),
    siren TEXT NOT NULL CHECK (length(siren) = 9),
    PRIMARY KEY (agent_id, siren)
) STRICT, WITHOUT ROWID""",
    "INSERT INTO agent_sirens_0006 (agent_id, siren) SELECT agent_id, siren FROM agent_sirens",
    "DROP TABLE agent_sirens",
    "ALTER TABLE agent_sirens_0006 RENAME TO agent_sirens",
    "CREATE INDEX agent_sirens_siren ON agent_sirens (siren)",
)


@migrations(name="0006_agent_certificates")
def m0006_agent_certificates(db: Database) -> None:
    """Certificate bindings (the identity directory) in the store; agents' SIRENs unhooked
    from collectivites. Independent of 0005."""
    for statement in _CERTIFICATE_BINDINGS:
        db.execute(statement)


@migrations(name="0007_document_posted_names")
def m0007_document_posted_names(db: Database) -> None:
    """The name each document was uploaded under (S²LOW's `posted_filename`, the bordereau's
    "nom déposé") and the signature file's text posted with it (S²LOW's `sign`); NULL for
    documents that came inside an archive."""
    db.execute("ALTER TABLE documents ADD COLUMN posted_name TEXT")
    db.execute("ALTER TABLE documents ADD COLUMN posted_signature TEXT")


_CONVENTIONS = (
    # A collectivité's own platform profile; NULL: the deployment's (config `profile`).
    "ALTER TABLE collectivites ADD COLUMN profil TEXT CHECK (profil IN ('strict', 'lenient'))",
    # The conventions a collectivité signed with the préfecture to transmit through an operator.
    # Keyed by SIREN alone: a convention may be registered before the platform knows the
    # collectivité's IDCL (learnt then from its first envelope).
    """CREATE TABLE conventions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    siren TEXT NOT NULL CHECK (length(siren) = 9),
    date_signature TEXT NOT NULL CHECK (date(date_signature) = date_signature),
    operateur TEXT NOT NULL CHECK (length(operateur) = 3 AND operateur GLOB '[A-Z][A-Z][A-Z]'),
    matieres TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(matieres)),
    actes_budgetaires INTEGER NOT NULL DEFAULT 1 CHECK (actes_budgetaires IN (0, 1)),
    statut TEXT NOT NULL DEFAULT 'signee' CHECK (statut IN ('signee', 'resiliee')),
    date_resiliation TEXT CHECK (date_resiliation IS NULL
                                 OR date(date_resiliation) = date_resiliation),
    CHECK ((statut = 'resiliee') = (date_resiliation IS NOT NULL))
) STRICT""",
    "CREATE INDEX conventions_siren ON conventions (siren, id)",
)


_MESSAGE_CODE = "CHECK (code GLOB '[1-7]-[1-5]')"
_MESSAGE_CODE_OR_ANO = "CHECK (code GLOB '[1-7]-[1-5]' OR code = 'ANO')"


@migrations(name="0008_conventions")
def m0008_conventions(db: Database) -> None:
    """The conventions register (per SIREN: date signed, operator trigram, matières covered,
    budget acts, signed or terminated) and each collectivité's optional platform profile.

    Also lets a message be the platform's AnomalieEnveloppe (code `ANO`, which the CHECK of
    `messages.code` refused): a CHECK that accepts more changes no stored byte, so it is
    widened in place by SQLite's documented writable_schema procedure (schema_version bumped
    so every connection reloads the schema) rather than by copying every message."""
    for statement in _CONVENTIONS:
        db.execute(statement)
    conn = db.conn
    version = conn.execute("PRAGMA schema_version").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    try:
        changed = conn.execute(
            "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
            "WHERE type = 'table' AND name = 'messages' AND instr(sql, ?) > 0",
            [_MESSAGE_CODE, _MESSAGE_CODE_OR_ANO, _MESSAGE_CODE]).rowcount
        conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
    if changed != 1:
        raise RuntimeError("messages.code: the CHECK to widen was not found")


@migrations(name="0009_s2low_accounts")
def m0009_s2low_accounts(db: Database) -> None:
    """The `post` right (S²LOW's teletransmission right) given to every account that could
    submit: until now submitting included posting, and it still does for them."""
    db.execute("""UPDATE agents SET roles = json_insert(roles, '$[#]', 'post')
        WHERE EXISTS (SELECT 1 FROM json_each(agents.roles) WHERE value = 'submit')
        AND NOT EXISTS (SELECT 1 FROM json_each(agents.roles) WHERE value = 'post')""")


@migrations(name="0010_callback_fairness")
def m0010_callback_fairness(db: Database) -> None:
    """Each callback attempt's real (wall-clock) time beside its simulator-clock time: with a
    virtual clock the two differ, and the journal shows both. Pending deliveries indexed per
    registration in due order: the outbox reads a few due of each registration, whatever
    the backlog (per-SIREN fairness)."""
    db.execute("ALTER TABLE callback_attempts ADD COLUMN real_at TEXT")
    db.execute("CREATE INDEX callback_deliveries_pending ON callback_deliveries"
               " (callback_id, next_attempt_at, id) WHERE state = 'pending'")


_COUNTED_NEW = "NEW.type = 1 AND NEW.status NOT IN (-1, 0, 17, 18) AND NEW.nature IS NOT NULL"
_COUNTED_OLD = _COUNTED_NEW.replace("NEW.", "OLD.")
_PILOTAGE_COUNT_NEW = """\
    INSERT INTO pilotage_actes (siren, jour, nature, matiere, n)
        VALUES (NEW.siren, substr(NEW.created_at, 1, 10), NEW.nature,
                ifnull(substr(NEW.matiere, 1, 1), ''), 1)
        ON CONFLICT (siren, jour, nature, matiere) DO UPDATE SET n = n + 1;
"""
_PILOTAGE_UNCOUNT_OLD = """\
    UPDATE pilotage_actes SET n = n - 1 WHERE siren = OLD.siren
        AND jour = substr(OLD.created_at, 1, 10) AND nature = OLD.nature
        AND matiere = ifnull(substr(OLD.matiere, 1, 1), '');
"""

_PILOTAGE = (
    # What the préfecture's référent @CTES knows of a collectivité beyond its IDCL: its category
    # (for the NOTRe obligation), population and contact. One row per collectivités row.
    """CREATE TABLE pilotage_fiches (
    siren TEXT PRIMARY KEY CHECK (length(siren) = 9),
    categorie TEXT NOT NULL CHECK (categorie IN ('commune', 'epci_fp', 'epci', 'departement',
                                                 'region', 'etablissement_public')),
    population INTEGER CHECK (population IS NULL OR population >= 0),
    contact_nom TEXT NOT NULL DEFAULT '',
    contact_email TEXT NOT NULL DEFAULT ''
) STRICT""",
    # Acts the préfecture received on paper: a count per day, SIREN, nature and matière.
    """CREATE TABLE depots_papier (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date_depot TEXT NOT NULL CHECK (date(date_depot) = date_depot),
    siren TEXT NOT NULL CHECK (length(siren) = 9),
    nature INTEGER NOT NULL CHECK (nature BETWEEN 1 AND 6),
    matiere TEXT NOT NULL,
    nombre INTEGER NOT NULL CHECK (nombre > 0),
    created_at TEXT NOT NULL
) STRICT""",
    "CREATE INDEX depots_papier_siren ON depots_papier (siren, date_depot)",
    "CREATE INDEX depots_papier_date ON depots_papier (date_depot)",
    # Teletransmitted acts counted per SIREN, UTC day, nature and matière (first level), kept
    # by triggers in the writing transaction, so a report over a year reads a few thousand
    # counter rows, not every act. Counted: an act (type 1) not in error, cancelled, or still
    # waiting to be posted or signed (-1, 0, 17, 18).
    """CREATE TABLE pilotage_actes (
    siren TEXT NOT NULL,
    jour TEXT NOT NULL,
    nature INTEGER NOT NULL,
    matiere TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (siren, jour, nature, matiere)
) STRICT, WITHOUT ROWID""",
    "CREATE INDEX pilotage_actes_jour ON pilotage_actes (jour)",
    f"""CREATE TRIGGER pilotage_actes_insert AFTER INSERT ON transactions
    WHEN {_COUNTED_NEW}
BEGIN
{_PILOTAGE_COUNT_NEW}END""",
    f"""CREATE TRIGGER pilotage_actes_delete AFTER DELETE ON transactions
    WHEN {_COUNTED_OLD}
BEGIN
{_PILOTAGE_UNCOUNT_OLD}END""",
    f"""CREATE TRIGGER pilotage_actes_update AFTER UPDATE OF siren, type, status, nature,
    matiere, created_at ON transactions
BEGIN
    UPDATE pilotage_actes SET n = n - 1 WHERE {_COUNTED_OLD} AND siren = OLD.siren
        AND jour = substr(OLD.created_at, 1, 10) AND nature = OLD.nature
        AND matiere = ifnull(substr(OLD.matiere, 1, 1), '');
    INSERT INTO pilotage_actes (siren, jour, nature, matiere, n)
        SELECT NEW.siren, substr(NEW.created_at, 1, 10), NEW.nature,
               ifnull(substr(NEW.matiere, 1, 1), ''), 1 WHERE {_COUNTED_NEW}
        ON CONFLICT (siren, jour, nature, matiere) DO UPDATE SET n = n + 1;
END""",
    # Received → first acknowledgement (status 4) of each act, summed per SIREN and the act's
    # UTC day: the report's delay figures without a journal scan.
    """CREATE TABLE pilotage_delais (
    siren TEXT NOT NULL,
    jour TEXT NOT NULL,
    n INTEGER NOT NULL,
    total_s REAL NOT NULL,
    max_s REAL NOT NULL,
    PRIMARY KEY (siren, jour)
) STRICT, WITHOUT ROWID""",
    """CREATE TRIGGER pilotage_delais_insert AFTER INSERT ON journal
    WHEN NEW.to_status = 4 AND NOT EXISTS (SELECT 1 FROM journal j
        WHERE j.transaction_id = NEW.transaction_id AND j.to_status = 4 AND j.id <> NEW.id)
BEGIN
    INSERT INTO pilotage_delais (siren, jour, n, total_s, max_s)
        SELECT t.siren, substr(t.created_at, 1, 10), 1,
               (julianday(NEW.at) - julianday(t.created_at)) * 86400.0,
               (julianday(NEW.at) - julianday(t.created_at)) * 86400.0
        FROM transactions t WHERE t.id = NEW.transaction_id AND t.type = 1
        ON CONFLICT (siren, jour) DO UPDATE SET n = n + 1, total_s = total_s + excluded.total_s,
            max_s = max(max_s, excluded.max_s);
END""",
    # Rows written before this migration.
    f"""INSERT INTO pilotage_actes (siren, jour, nature, matiere, n)
    SELECT siren, substr(created_at, 1, 10), nature, ifnull(substr(matiere, 1, 1), ''), count(*)
    FROM transactions WHERE {_COUNTED_NEW.replace("NEW.", "")} GROUP BY 1, 2, 3, 4""",
    """INSERT INTO pilotage_delais (siren, jour, n, total_s, max_s)
    SELECT siren, jour, count(*), sum(d), max(d) FROM (
        SELECT t.siren AS siren, substr(t.created_at, 1, 10) AS jour,
               (julianday(min(j.at)) - julianday(t.created_at)) * 86400.0 AS d
        FROM transactions t JOIN journal j ON j.transaction_id = t.id AND j.to_status = 4
        WHERE t.type = 1 GROUP BY t.id) GROUP BY 1, 2""",
)


@migrations(name="0012_pilotage")
def m0012_pilotage(db: Database) -> None:
    """Collectivités' pilotage fiches (category, population, contact) and paper deposits."""
    for statement in _PILOTAGE:
        db.execute(statement)


@migrations(name="0013_small_blobs")
def m0013_small_blobs(db: Database) -> None:
    """Small blobs (messages, tokens, signatures, act XML) as rows, committed with the rows
    that name them instead of one fsynced file each (see `small_blobs`)."""
    db.execute("""CREATE TABLE small_blobs (
        sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        data BLOB NOT NULL
    ) STRICT""")
