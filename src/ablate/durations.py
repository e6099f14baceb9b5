"""Durations as people read them in logs and listings: 4m05s, 2h13m, 1d03h."""


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds >= 86400:
        return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
