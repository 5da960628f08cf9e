"""What a server is allowed to do: its bounds and its token, fixed when the app is built."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..limits import MAX_JSON_BYTES, MAX_SERVE_BATCH, MAX_SERVE_BATCH_WAIT_MS, MAX_SERVE_QUEUE, MAX_UPLOAD_BYTES


@dataclass(frozen=True)
class ServeSettings:
    """`token`: the bearer token every endpoint but /health needs (None: no auth; the server
    binds 127.0.0.1 by default, so only this machine reaches it). `max_batch`: clone requests
    (speech, /v1/clone) generated together in one `clone_batch` call; `batch_wait_ms`: how long
    the first of them waits for others (0: only those already queued join it). `queue_size`:
    requests that may wait behind those generating; one more is refused with 503 rather than
    queued. `batch_size`: pieces generated together per forward pass (of one request's long text,
    or of a batch's requests)."""

    token: str | None = None
    queue_size: int = 8
    batch_size: int = 8
    max_batch: int = 8
    batch_wait_ms: float = 5.0
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_json_bytes: int = MAX_JSON_BYTES
    retry_after_seconds: int = 1  # the least a 503 asks a client to wait (more when requests run long)
    model_name: str = "maskvox"  # what /health reports; the speech endpoint accepts any `model`

    def __post_init__(self):
        if not 0 <= self.queue_size <= MAX_SERVE_QUEUE:
            raise UserError(f"--queue-size must be from 0 to {MAX_SERVE_QUEUE}, got {self.queue_size}")
        for flag, value in (("--batch-size", self.batch_size), ("--max-batch", self.max_batch)):
            if not 1 <= value <= MAX_SERVE_BATCH:
                raise UserError(f"{flag} must be from 1 to {MAX_SERVE_BATCH}, got {value}")
        if not 0 <= self.batch_wait_ms <= MAX_SERVE_BATCH_WAIT_MS:
            raise UserError(f"--batch-wait-ms must be from 0 to {MAX_SERVE_BATCH_WAIT_MS}, got {self.batch_wait_ms}")
        if self.token is not None and (not self.token.strip() or any(c.isspace() for c in self.token)):
            raise UserError("the token must be non-empty and hold no spaces")
