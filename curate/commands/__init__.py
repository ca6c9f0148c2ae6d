"""CLI verbs, grouped by area. Each module defines `register(app)` and keeps no logic."""
