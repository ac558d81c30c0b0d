"""The stacktune repository's examples (the dev-only distribution ``stacktune-examples``).

Each folder is one example; :mod:`stacktune_examples.plugin` registers their tasks for
``stacktune optimize <name>``.
"""
