"""What a server is allowed to do: its bounds and its token, fixed when the app is built."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..limits import MAX_JSON_BYTES, MAX_SERVE_QUEUE, MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class ServeSettings:
    """`token`: the bearer token every endpoint but /health needs (None: no auth; the server
    binds 127.0.0.1 by default, so only this machine reaches it). `queue_size`: requests that
    may wait behind the one generating; one more is refused with 503 rather than queued.
    `batch_size`: pieces of one request's text generated together."""

    token: str | None = None
    queue_size: int = 8
    batch_size: int = 8
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_json_bytes: int = MAX_JSON_BYTES
    retry_after_seconds: int = 1  # the least a 503 asks a client to wait (more when requests run long)
    model_name: str = "maskvox"  # what /health reports; the speech endpoint accepts any `model`

    def __post_init__(self):
        if not 0 <= self.queue_size <= MAX_SERVE_QUEUE:
            raise UserError(f"--queue-size must be from 0 to {MAX_SERVE_QUEUE}, got {self.queue_size}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.token is not None and (not self.token.strip() or any(c.isspace() for c in self.token)):
            raise UserError("the token must be non-empty and hold no spaces")
