"""The migration toolkit: what Alembic lacks for moving a schema safely from dev to prod.

Modules: ``graph`` (the revision graph, read fast), ``target`` (one environment's database),
``ledger``, ``lock``, ``runner`` (apply under lock, timeouts and ledger), ``status``, ``plan``,
``verify``/``drift``, ``promote``/``manifest``, ``lint``.
"""
