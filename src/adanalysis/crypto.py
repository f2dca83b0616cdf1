"""Encryption at rest for third-party tokens, and the masks shown in their place."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    """Fernet encryption with a key derived from the service's SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        digest = hashlib.sha256(b"adanalysis-token-encryption:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        """Ciphertext of plaintext."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        """Plaintext, or None when the key changed and it can no longer be read."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None


def mask_secret(secret: str) -> str:
    """The first 7 characters then '...', fewer for short secrets so most stays hidden.

    Always printable: a character that is not printable ASCII shows as '?'.
    """
    shown = min(7, len(secret) // 3)
    head = "".join(c if c.isascii() and c.isprintable() else "?" for c in secret[:shown])
    return f"{head}..."
