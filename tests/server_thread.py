"""A socket server run on a daemon thread for the length of a `with` block (fake Hub, fake Docker)."""
from __future__ import annotations

import threading


class ServerThread:
    """Subclasses set `self.server` before calling `start_thread()` in their __init__."""

    server = None

    def start_thread(self, poll_interval: float = 0.5) -> None:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": poll_interval},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
