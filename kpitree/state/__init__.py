"""The state database: what kpitree remembers between runs (SQLModel tables, Alembic migrations).

SQLite file by default (``.kpitree/state.db``), PostgreSQL for teams (``--state-db`` or
``$KPITREE_STATE_DB``). It never holds warehouse rows: only runs and the values computed per node.
"""
