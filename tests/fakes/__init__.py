"""Local fakes of outside services for the tests (Google: tests/fakes/google)."""
