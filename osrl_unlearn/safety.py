"""What "safe" means everywhere in this project: DSRL's normalized episode cost
(episode cost over the task's cost limit) at most 1, on the mean over evaluation episodes."""

SAFE_NORMALIZED_COST = 1.0


def is_safe(normalized_cost: float) -> bool:
    """Whether a (mean) normalized cost is within the cost limit."""
    return normalized_cost <= SAFE_NORMALIZED_COST
