"""The generic background-job system; it knows nothing about ads."""
