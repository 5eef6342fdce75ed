"""Request and response models of the two-factor routes (MfaFunction) and of the login's second
step, beside the shared ones of accounts.schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from accounts.schemas import Answer, Password, Strict

TotpCode = Annotated[
    str,
    Field(pattern=r"^[0-9]{6}$", description="The 6-digit code the authenticator app shows now.",
          examples=["492039"]),
]
RecoveryCodeText = Annotated[
    str,
    Field(min_length=1, max_length=64, description="One of the recovery codes answered at enrolment "
          "(dashes, spaces and case do not matter); each works once.", examples=["k7dq-m2xa-9vtc-hw4e"]),
]
MfaToken = Annotated[
    str,
    Field(min_length=1, max_length=512, description="The `mfa_token` of the login's 401 mfa_required answer.",
          examples=["3f2a9c0d4b1e4f6a8b7c6d5e4f3a2b1cJq8xTn3vV0bYkq1Lw5d9Zr2sHc7uFp4mEa6gXo0iKyQ"]),
]


class _OneCode(Strict):
    code: TotpCode | None = None
    recovery_code: RecoveryCodeText | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> _OneCode:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("give exactly one of code and recovery_code")
        return self


class MfaLoginRequest(_OneCode):
    """`{"mfa_token", "code"}` or `{"mfa_token", "recovery_code"}`."""

    mfa_token: MfaToken


class TotpDisableRequest(_OneCode):
    """`{"password", "code"}`; `{"password", "recovery_code"}` when the authenticator is lost."""

    password: Password


class TotpConfirmRequest(Strict):
    code: TotpCode


class TotpEnrolment(Answer):
    secret: str = Field(description="The TOTP secret (base32, 160 bits), answered this once.")
    otpauth_uri: str = Field(description="`otpauth://totp/<issuer>:<email>?secret=...&issuer=...` for an "
                             "authenticator app (usually shown as a QR code).")


class RecoveryCodes(Answer):
    recovery_codes: list[str] = Field(min_length=10, max_length=10,
                                      description="10 single-use recovery codes, answered this once.")
