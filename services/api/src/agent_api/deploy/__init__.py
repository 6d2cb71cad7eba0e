"""How a release of the API reaches an environment: the rollout hook and the smoke check.

They run in the deploy workflow after ``db.promote`` (``uv run invoke api.rollout`` and
``api.smoke``), and the same way from a person's shell. They use only the standard library, so
they add nothing to the API's image.
"""
