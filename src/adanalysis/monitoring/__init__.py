"""Health and job metrics."""
