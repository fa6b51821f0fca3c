"""Who is calling: login through a portal to a per-user avatar (work in progress)."""
