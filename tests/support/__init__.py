"""What the tests share, one module per purpose: ``paths`` (the project root), ``ports`` (a free
loopback port), ``databases`` (throwaway databases and their URLs), ``inspection`` (reading a
database's state), ``revisions`` (copies of the history and revisions written into them),
``cli`` (running the tasks and what a command did), ``api`` (API users and error bodies),
``api_server`` (a real uvicorn), ``own_server`` (a PostgreSQL of the test's own), ``world`` and
``reliability`` (the hostile-input and fault suites), ``workflows`` (the GitHub workflows as
data) and ``workflow_runner`` (which plays their jobs here).
Fixtures are in ``tests.fixtures``; nothing imports a conftest."""
