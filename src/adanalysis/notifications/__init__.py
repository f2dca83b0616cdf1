"""Notifications when a job ends: email and signed webhooks."""
