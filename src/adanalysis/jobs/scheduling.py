"""Who goes first: job priority and how many jobs one user may run at once."""

from __future__ import annotations

from dataclasses import dataclass

# Premium users' jobs start before others' when every runner is busy.
PREMIUM_PRIORITY = 10


@dataclass(frozen=True)
class SchedulingPolicy:
    """The rules an executor applies when it picks the next job.

    One active job per user and job type is the database's rule (a partial unique index);
    this policy adds a cap across job types, so no single user can take every runner.
    """

    premium_priority: int = PREMIUM_PRIORITY
    max_running_per_user: int = 1

    def priority_for(self, *, is_premium: bool) -> int:
        """The priority of a new job of a user."""
        return self.premium_priority if is_premium else 0
