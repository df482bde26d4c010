"""Secrets at rest (privacy rule 12): platform tokens are encrypted with `RUTRADAR_SECRET_KEY`.

The key is one or more Fernet keys (cryptography's authenticated AES-128-CBC + HMAC-SHA256),
separated by commas. The first encrypts; every one of them decrypts, so a key is rotated by
putting the new one first, re-encrypting what is stored (`rutradar secrets rotate`), and then
dropping the old one (docs/privacy.md, "Secrets at rest").
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_VARIABLE = "RUTRADAR_SECRET_KEY"
NO_KEY = (
    f"{KEY_VARIABLE} is not set, and platform tokens are stored only encrypted with it: "
    "set it to a key from `rutradar secrets generate`."
)
# A Fernet token is base64url of a version byte (0x80) and a 64-bit timestamp whose high
# bytes are zero until the year 36812: it always starts like this. Slack tokens start with
# `xox`, webhook URLs with `https`, so a stored value says which it is.
_FERNET_PREFIX = "gAAAAA"


class SecretKeyError(ValueError):
    """The key is missing or unusable, or a stored secret does not decrypt with it."""


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def is_encrypted(value: str) -> bool:
    return value.startswith(_FERNET_PREFIX)


class SecretBox:
    """Encrypts and decrypts the secrets the database keeps, with `RUTRADAR_SECRET_KEY`."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise SecretKeyError(NO_KEY)
        fernets = []
        for number, key in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(key.encode("ascii")))
            except (ValueError, UnicodeEncodeError):
                raise SecretKeyError(
                    f"{KEY_VARIABLE}: key {number} is not a Fernet key (32 url-safe base64 "
                    "bytes); generate one with `rutradar secrets generate`."
                ) from None
        self._fernet = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_setting(cls, keys: str | None) -> SecretBox | None:
        return cls(keys) if keys and keys.strip() else None

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def decrypt(self, value: str) -> str:
        try:
            return self._fernet.decrypt(value.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise SecretKeyError(
                f"a stored token does not decrypt with any key in {KEY_VARIABLE}: was a key "
                "dropped before `rutradar secrets rotate` re-encrypted the tokens with the new one?"
            ) from None

    def rotate(self, value: str) -> str:
        """Re-encrypt with the first key; a token stored in clear (from before encryption
        at rest) is encrypted."""
        if not is_encrypted(value):
            return self.encrypt(value)
        try:
            return self._fernet.rotate(value.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SecretKeyError(
                f"a stored token does not decrypt with any key in {KEY_VARIABLE}: keep the "
                "old key in the list (after the new one) until the rotation has run."
            ) from None
