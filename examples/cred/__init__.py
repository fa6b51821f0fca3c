"""A small bank over pbtyped: login (SCRAM-SHA-256), per-user avatars, and TLS."""
