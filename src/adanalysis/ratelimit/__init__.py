"""Counting attempts per key in a short window, in the database or in Redis."""
