"""Config text for tests that must not load the shipped models (the defaults load three)."""

NO_MODELS = "detectors = []\n[likeness]\nenabled = false\n"
"""Goes first in a test's config.toml: no detectors, no face model."""
