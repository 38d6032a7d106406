"""DDL of the synth-ai tracing_v3 SQLite schema, per writer generation.

The trace writer creates new DBs with the 0.2.10 statements, exactly as synth-ai 0.2.10's libsql
manager does, so real synth-ai readers accept what we write. The older and newer generations exist
so tests can build every flavour our reader must tolerate (see shared/reference/trace_db.md §2):
they are generated from the same column lists, changed only where the versions differ.
"""

from __future__ import annotations

from enum import StrEnum


class Flavour(StrEnum):
    """Writer generations whose files differ in columns or tables."""

    V0_2_3 = "0.2.3"  # SQLAlchemy; no call_records, no reward tables
    V0_2_6 = "0.2.5-0.2.6"  # SQLAlchemy; reward tables without reward_metadata
    V0_2_8 = "0.2.7-0.2.9"  # SQLAlchemy + WAL; final column set
    V0_2_10 = "0.2.10-0.3.5"  # libsql, hand-written DDL
    V0_3_6 = "0.3.6-0.4.6"  # total_reward FLOAT, outcome_rewards.annotation
    V0_4_7 = "0.4.7+"  # objective_key on both reward tables

    @property
    def libsql(self) -> bool:
        return self in (Flavour.V0_2_10, Flavour.V0_3_6, Flavour.V0_4_7)


_V0_2_10_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS experiments (
        experiment_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        description TEXT,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        configuration TEXT,
        metadata TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS systems (
        system_id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        system_type VARCHAR,
        description TEXT,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        metadata TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS system_versions (
        version_id VARCHAR PRIMARY KEY,
        system_id VARCHAR NOT NULL,
        version_number VARCHAR NOT NULL,
        commit_hash VARCHAR,
        created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
        configuration TEXT,
        metadata TEXT,
        FOREIGN KEY(system_id) REFERENCES systems(system_id),
        UNIQUE(system_id, version_number)
    )""",
    """CREATE TABLE IF NOT EXISTS experimental_systems (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment_id VARCHAR NOT NULL,
        system_id VARCHAR NOT NULL,
        version_id VARCHAR NOT NULL,
        FOREIGN KEY(experiment_id) REFERENCES experiments(experiment_id),
        FOREIGN KEY(system_id) REFERENCES systems(system_id),
        FOREIGN KEY(version_id) REFERENCES system_versions(version_id)
    )""",
    """CREATE TABLE IF NOT EXISTS session_traces (
        session_id VARCHAR PRIMARY KEY,
        created_at DATETIME NOT NULL,
        num_timesteps INTEGER NOT NULL,
        num_events INTEGER NOT NULL,
        num_messages INTEGER NOT NULL,
        metadata TEXT,
        experiment_id VARCHAR,
        embedding VECTOR,
        FOREIGN KEY(experiment_id) REFERENCES experiments(experiment_id)
    )""",
    """CREATE TABLE IF NOT EXISTS session_timesteps (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id VARCHAR NOT NULL,
        step_id VARCHAR NOT NULL,
        step_index INTEGER NOT NULL,
        turn_number INTEGER,
        started_at DATETIME,
        completed_at DATETIME,
        num_events INTEGER,
        num_messages INTEGER,
        step_metadata TEXT,
        UNIQUE(session_id, step_id),
        FOREIGN KEY(session_id) REFERENCES session_traces(session_id)
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id VARCHAR NOT NULL,
        timestep_id INTEGER,
        event_type VARCHAR NOT NULL,
        system_instance_id VARCHAR,
        event_time FLOAT,
        message_time INTEGER,
        created_at DATETIME,
        model_name VARCHAR,
        provider VARCHAR,
        input_tokens INTEGER,
        output_tokens INTEGER,
        total_tokens INTEGER,
        cost_usd INTEGER,
        latency_ms INTEGER,
        span_id VARCHAR,
        trace_id VARCHAR,
        call_records TEXT,
        reward FLOAT,
        terminated BOOLEAN,
        truncated BOOLEAN,
        system_state_before TEXT,
        system_state_after TEXT,
        metadata TEXT,
        event_metadata TEXT,
        embedding VECTOR,
        CHECK (event_type IN ('cais', 'environment', 'runtime')),
        FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
        FOREIGN KEY(timestep_id) REFERENCES session_timesteps(id)
    )""",
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id VARCHAR NOT NULL,
        timestep_id INTEGER,
        message_type VARCHAR NOT NULL,
        content TEXT NOT NULL,
        timestamp DATETIME,
        event_time FLOAT,
        message_time INTEGER,
        metadata TEXT,
        embedding VECTOR,
        CHECK (message_type IN ('user', 'assistant', 'system', 'tool_use', 'tool_result')),
        FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
        FOREIGN KEY(timestep_id) REFERENCES session_timesteps(id)
    )""",
    """CREATE TABLE IF NOT EXISTS outcome_rewards (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id VARCHAR NOT NULL,
        total_reward INTEGER NOT NULL,
        achievements_count INTEGER NOT NULL,
        total_steps INTEGER NOT NULL,
        created_at DATETIME NOT NULL,
        reward_metadata TEXT,
        FOREIGN KEY(session_id) REFERENCES session_traces(session_id)
    )""",
    """CREATE TABLE IF NOT EXISTS event_rewards (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL,
        session_id VARCHAR NOT NULL,
        message_id INTEGER,
        turn_number INTEGER,
        reward_value FLOAT NOT NULL,
        reward_type VARCHAR,
        "key" VARCHAR,
        annotation TEXT,
        source VARCHAR,
        created_at DATETIME NOT NULL,
        FOREIGN KEY(event_id) REFERENCES events(id),
        FOREIGN KEY(session_id) REFERENCES session_traces(session_id),
        FOREIGN KEY(message_id) REFERENCES messages(id)
    )""",
)

_V0_2_10_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS idx_session_created ON session_traces (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_session_experiment ON session_traces (experiment_id)",
    "CREATE INDEX IF NOT EXISTS idx_timestep_session_step ON session_timesteps (session_id, step_id)",
    "CREATE INDEX IF NOT EXISTS idx_timestep_turn ON session_timesteps (turn_number)",
    "CREATE INDEX IF NOT EXISTS idx_event_session_step ON events (session_id, timestep_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_type ON events (event_type)",
    "CREATE INDEX IF NOT EXISTS idx_event_created ON events (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_event_model ON events (model_name)",
    "CREATE INDEX IF NOT EXISTS idx_event_trace ON events (trace_id)",
    "CREATE INDEX IF NOT EXISTS idx_message_session_step ON messages (session_id, timestep_id)",
    "CREATE INDEX IF NOT EXISTS idx_message_type ON messages (message_type)",
    "CREATE INDEX IF NOT EXISTS idx_message_timestamp ON messages (timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_experiment_created ON experiments (created_at)",
    "CREATE INDEX IF NOT EXISTS idx_experiment_name ON experiments (name)",
    "CREATE INDEX IF NOT EXISTS idx_system_name ON systems (name)",
    "CREATE INDEX IF NOT EXISTS idx_system_type ON systems (system_type)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_system_version ON system_versions (system_id, version_number)",
    "CREATE INDEX IF NOT EXISTS idx_version_system ON system_versions (system_id)",
    "CREATE INDEX IF NOT EXISTS idx_version_created ON system_versions (created_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS uq_experiment_system ON experimental_systems (experiment_id, system_id)",
    "CREATE INDEX IF NOT EXISTS idx_experimental_system ON experimental_systems (experiment_id, system_id)",
    "CREATE INDEX IF NOT EXISTS idx_outcome_rewards_session ON outcome_rewards (session_id)",
    "CREATE INDEX IF NOT EXISTS idx_outcome_rewards_total ON outcome_rewards (total_reward)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_session ON event_rewards (session_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_event ON event_rewards (event_id)",
    "CREATE INDEX IF NOT EXISTS idx_event_rewards_type ON event_rewards (reward_type)",
    'CREATE INDEX IF NOT EXISTS idx_event_rewards_key ON event_rewards ("key")',
)

# The three analytics views every synth-ai writer of this generation creates (same columns).
_VIEWS: tuple[str, ...] = (
    """CREATE VIEW IF NOT EXISTS model_usage_stats AS
        SELECT model_name, provider, COUNT(*) as usage_count,
            SUM(input_tokens) as total_input_tokens, SUM(output_tokens) as total_output_tokens,
            SUM(total_tokens) as total_tokens, SUM(cost_usd) / 100.0 as total_cost_usd,
            AVG(latency_ms) as avg_latency_ms, MIN(created_at) as first_used, MAX(created_at) as last_used
        FROM events
        WHERE event_type = 'cais' AND model_name IS NOT NULL
        GROUP BY model_name, provider""",
    """CREATE VIEW IF NOT EXISTS session_summary AS
        SELECT s.session_id, s.created_at, s.num_timesteps, s.num_events, s.num_messages,
            e.experiment_id, e.name as experiment_name,
            COUNT(DISTINCT ev.model_name) as unique_models_used,
            SUM(CASE WHEN ev.event_type = 'cais' THEN ev.cost_usd ELSE 0 END) / 100.0 as total_cost_usd
        FROM session_traces s
        LEFT JOIN experiments e ON s.experiment_id = e.experiment_id
        LEFT JOIN events ev ON s.session_id = ev.session_id
        GROUP BY s.session_id""",
    """CREATE VIEW IF NOT EXISTS experiment_overview AS
        SELECT e.experiment_id, e.name, e.description, e.created_at,
            COUNT(DISTINCT s.session_id) as session_count, SUM(s.num_events) as total_events,
            SUM(s.num_messages) as total_messages, AVG(s.num_timesteps) as avg_timesteps_per_session
        FROM experiments e
        LEFT JOIN session_traces s ON e.experiment_id = s.experiment_id
        GROUP BY e.experiment_id""",
)


def _sqlalchemy_style(ddl: str) -> str:
    """0.2.7-0.2.9 text: no AUTOINCREMENT, named CHECKs, no SQL defaults, table-level UNIQUE name."""
    ddl = ddl.replace("id INTEGER PRIMARY KEY AUTOINCREMENT", "id INTEGER NOT NULL PRIMARY KEY")
    ddl = ddl.replace(" DEFAULT CURRENT_TIMESTAMP", "")
    ddl = ddl.replace("CHECK (event_type IN", "CONSTRAINT check_event_type CHECK (event_type IN").replace(
        "CHECK (message_type IN", "CONSTRAINT check_message_type CHECK (message_type IN"
    )
    return ddl.replace("UNIQUE(session_id, step_id)", "CONSTRAINT uq_session_step UNIQUE (session_id, step_id)")


def _drop_column(ddl: str, column_line: str) -> str:
    return "\n".join(line for line in ddl.splitlines() if line.strip() != column_line)


def schema_statements(flavour: Flavour = Flavour.V0_2_10) -> list[str]:
    """All statements that create an empty DB of ``flavour``, in execution order."""
    tables = list(_V0_2_10_TABLES)
    indexes = list(_V0_2_10_INDEXES)
    if not flavour.libsql:
        tables = [_sqlalchemy_style(t) for t in tables]
    if flavour in (Flavour.V0_2_3, Flavour.V0_2_6):
        tables = [_drop_column(t, "reward_metadata TEXT,") for t in tables]
    if flavour is Flavour.V0_2_3:
        tables = [_drop_column(t, "call_records TEXT,") for t in tables]
        tables = [t for t in tables if "outcome_rewards (" not in t and "event_rewards (" not in t]
        indexes = [i for i in indexes if "_rewards" not in i]
    if flavour in (Flavour.V0_3_6, Flavour.V0_4_7):
        tables = [
            t.replace("total_reward INTEGER NOT NULL", "total_reward FLOAT NOT NULL").replace(
                "reward_metadata TEXT,", "reward_metadata TEXT,\n        annotation TEXT,"
            )
            for t in tables
        ]
    if flavour is Flavour.V0_4_7:
        objective = "objective_key TEXT NOT NULL DEFAULT 'reward',"
        tables = [
            t.replace("created_at DATETIME NOT NULL,\n", f"created_at DATETIME NOT NULL,\n        {objective}\n")
            if ("outcome_rewards (" in t or "event_rewards (" in t)
            else t
            for t in tables
        ]
        indexes += [
            "CREATE INDEX IF NOT EXISTS idx_outcome_rewards_session_objective "
            "ON outcome_rewards (session_id, objective_key)",
            "CREATE INDEX IF NOT EXISTS idx_event_rewards_session_event_objective "
            "ON event_rewards (session_id, event_id, objective_key)",
        ]
    return [*tables, *indexes, *_VIEWS]
