"""Side-by-side benchmark of our sync server against the official one (issue 10)."""
