"""When to send a request again, and how long to wait first: a small strategy object.

The shells ask :meth:`RetryPolicy.delay_before_retry` after each failure and
sleep (``time.sleep`` or ``asyncio.sleep``) for the answer, or re-raise on None.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from alphacut.client.errors import AlphacutClientError, ApiError, NetworkError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter on 429, 503 and connection failures.

    - ``max_attempts`` counts the first try: 3 means at most two retries; 1 turns
      retrying off (as does passing ``retries=None`` to a client).
    - Backoff before retry *n* is ``base_delay * 2**(n-1)``, capped at ``max_delay``;
      with ``jitter`` a random value between half of it and all of it, so that
      many clients refused together do not come back together.
    - A ``Retry-After`` from the server wins over the backoff (plus up to
      ``base_delay`` of jitter). One longer than ``max_delay`` (a daily or monthly
      allowance that is used up answers an hour or more) is not waited for: the
      error is raised at once.
    - Other 4xx answers are never retried: sending the same request again cannot
      change them. Neither are timeouts after the upload began, since the server
      may be processing the image (and using a credit) already.
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True
    retry_statuses: frozenset[int] = frozenset({429, 503})

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def delay_before_retry(self, error: AlphacutClientError, attempt: int) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up and raise.

        ``attempt`` is the number of attempts made so far (1 after the first failure).
        """
        if attempt >= self.max_attempts or not self.retryable(error):
            return None
        retry_after = error.retry_after if isinstance(error, ApiError) else None
        if retry_after is None:
            return self.backoff(attempt)
        if retry_after > self.max_delay:
            return None
        spread = random.uniform(0, self.base_delay) if self.jitter else 0.0
        return retry_after + spread

    def retryable(self, error: AlphacutClientError) -> bool:
        if isinstance(error, ApiError):
            return error.status in self.retry_statuses
        return isinstance(error, NetworkError) and error.retryable

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling) if self.jitter else ceiling


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)
