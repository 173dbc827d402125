"""``kiosk sim …``: the simulated card over real links (filled in by the readers issue)."""


def register(sub) -> None:
    """Add the sim subcommands."""
