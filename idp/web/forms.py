"""The hosted pages' forms. Flask-WTF adds and checks a CSRF token on every one of them."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Regexp,
)

from idp.accounts.operation_windows import MAX_SECONDS, MIN_SECONDS
from idp.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from idp.accounts.users import ROLE_NAME
from idp.web.sessions import next_key

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def without_controls(value: str | None) -> str | None:
    """A typed email never holds a control character; dropped so none is echoed back."""
    return _CONTROLS.sub("", value) if isinstance(value, str) else value


#: The ``next`` hidden field: a waiting request's key or an account page (``sessions.next_key``).
NEXT = {"filters": [next_key]}
EMAIL = Regexp(r"^[^@\s]+@[^@\s]+$", message="Enter an email address like name@example.com.")
NEW_PASSWORD = [
    DataRequired(message="Choose a password."),
    Length(MIN_LENGTH, MAX_LENGTH, message=f"Use at least {MIN_LENGTH} characters."),
]


class SignInForm(FlaskForm):
    email = EmailField(
        "Email",
        [DataRequired(message="Enter your email."), Length(max=320)],
        filters=[without_controls],
    )
    password = PasswordField("Password", [DataRequired(message="Enter your password.")])
    next = HiddenField(**NEXT)


class RegisterForm(FlaskForm):
    name = StringField("Name", [Length(max=200)])
    email = EmailField(
        "Email", [DataRequired(message="Enter your email."), EMAIL], filters=[without_controls]
    )
    password = PasswordField("Password", NEW_PASSWORD)
    next = HiddenField(**NEXT)


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email", [DataRequired(message="Enter your email."), EMAIL], filters=[without_controls]
    )


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", NEW_PASSWORD)
    confirm = PasswordField(
        "Repeat new password", [EqualTo("password", message="The passwords do not match.")]
    )


class ProfileForm(FlaskForm):
    name = StringField("Name", [Length(max=200)])


class ChangeEmailForm(FlaskForm):
    email = EmailField(
        "New email",
        [DataRequired(message="Enter the new email."), EMAIL],
        filters=[without_controls],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", [DataRequired(message="Enter your current password.")]
    )
    password = PasswordField("New password", NEW_PASSWORD)
    confirm = PasswordField(
        "Repeat new password", [EqualTo("password", message="The passwords do not match.")]
    )


class ConfirmForm(FlaskForm):
    """An empty form: a button whose only content is the CSRF token."""


class CodeForm(FlaskForm):
    """A one-time code answering one challenge."""

    code = StringField(
        "Code", [DataRequired(message="Enter the code."), Length(max=32, message="Too long.")]
    )
    challenge = HiddenField()
    next = HiddenField(**NEXT)
    remember = BooleanField("Remember this browser")


class ResendForm(FlaskForm):
    """ "Send a new code": a button, and the waiting request to come back to."""

    next = HiddenField(**NEXT)


class EnrollTotpForm(FlaskForm):
    name = StringField(
        "Name for this authenticator",
        [DataRequired(message="Give it a name."), Length(max=100, message="At most 100.")],
    )
    code = StringField("Code from the app", [DataRequired(message="Enter the 6-digit code.")])
    challenge = HiddenField()


class RenameForm(FlaskForm):
    name = StringField("New name", [DataRequired(message="Enter a name."), Length(max=100)])


class RolesForm(FlaskForm):
    """The admin console's "set roles": the boxes ticked replace the user's roles (the choices,
    every existing role, are set by the page; an unknown value is refused)."""

    roles = SelectMultipleField("Roles", choices=[], validate_choice=True)


class ResetFactorsForm(FlaskForm):
    """The console's "revoke all sign-in methods": only with the box ticked."""

    confirm = BooleanField(
        "Yes, remove every sign-in method of this user",
        [DataRequired(message="Tick the box to confirm.")],
    )


class DisableForm(FlaskForm):
    """The console's "disable account", with an optional reason the next admin reads."""

    reason = StringField("Reason (optional)", [Length(max=500)], filters=[without_controls])


class OverrideForm(FlaskForm):
    """The console's per-user MFA override: kind, last day (UTC) and a reason (audited)."""

    kind = RadioField(
        "Override",
        choices=[("require", "Require MFA"), ("exempt", "Exempt from MFA")],
        validators=[DataRequired(message="Choose require or exempt.")],
    )
    until = DateField("Until (UTC, through that day)", [DataRequired(message="Give a date.")])
    reason = StringField(
        "Reason",
        [DataRequired(message="Give a reason: it goes into the audit log."), Length(max=500)],
        filters=[without_controls],
    )


class PolicyForm(FlaskForm):
    """The console's MFA policy of a role or of the default. ``previewed`` carries the digest of
    the values last previewed: Save applies only values whose effect the admin has seen."""

    mode = RadioField(
        "Two-step verification",
        choices=[
            ("off", "Off: not asked by this policy"),
            ("recommended", "Recommended: offered at sign-in, may be declined"),
            ("required", "Required: asked at every sign-in, added at the next one"),
        ],
        validators=[DataRequired(message="Choose a mode.")],
    )
    factors = SelectMultipleField("Allowed methods", choices=[], validate_choice=True)
    remember_device = BooleanField("A remembered browser may skip the second factor")
    factor_max_age = IntegerField(
        "Ask the second factor again after (seconds; 0: only at sign-in)",
        [InputRequired(message="Give a number."), NumberRange(min=0, max=10**8)],
    )
    grace_signins = IntegerField(
        "Sign-ins a member may postpone adding a method",
        [InputRequired(message="Give a number."), NumberRange(min=0, max=1000)],
    )
    grace_days = IntegerField(
        "Days a member may postpone adding a method",
        [InputRequired(message="Give a number."), NumberRange(min=0, max=3650)],
    )
    require_attested_passkeys = BooleanField(
        "Only attested passkeys of allowed authenticator models count as hardware keys"
    )
    previewed = HiddenField()


class WindowForm(FlaskForm):
    """One sensitive operation's window. The console shows one per operation, each made with
    ``prefix=<operation>`` so that their field names and ids stay distinct on the page."""

    seconds = IntegerField(
        "Window in seconds",
        [
            InputRequired(message="Give a number of seconds."),
            NumberRange(
                min=MIN_SECONDS,
                max=MAX_SECONDS,
                message=f"Give between {MIN_SECONDS} and {MAX_SECONDS} seconds (24 hours).",
            ),
        ],
    )


class RoleCreateForm(FlaskForm):
    """The console's "new role"; the name rule is ``idp roles create``'s (``users.ROLE_NAME``)."""

    name = StringField(
        "Name",
        [
            DataRequired(message="Give the role a name."),
            Regexp(
                ROLE_NAME,
                message="Use 1 to 64 letters, digits or the signs _ . : - and start with a "
                "letter or digit.",
            ),
        ],
    )
    description = StringField(
        "Description (optional)", [Length(max=255)], filters=[without_controls]
    )


class ClientSettingsForm(FlaskForm):
    """The console's client settings, registration and edit alike. URIs one per line; what
    each value may be is checked by ``idp.oauth2.registration`` (its ``ValueError`` is shown)."""

    name = StringField(
        "Name", [DataRequired(message="Give the client a name."), Length(max=200)],
        filters=[without_controls],
    )  # fmt: skip
    redirect_uris = TextAreaField("Redirect URIs (one per line, compared exactly)")
    post_logout_redirect_uris = TextAreaField("Post-logout redirect URIs (one per line)")
    grant_types = SelectMultipleField(
        "Grant types",
        choices=[
            ("authorization_code", "Authorization code (sign-in)"),
            ("refresh_token", "Refresh token"),
            ("client_credentials", "Client credentials (machine client)"),
        ],
        validate_choice=True,
    )
    first_party = BooleanField("First-party: skip the consent screen")
    minimum_acr = StringField("Minimum acr (empty: none)", [Length(max=200)])
    allow_no_pkce = BooleanField("Allow requests without PKCE (confidential clients only)")


class ClientCreateForm(ClientSettingsForm):
    """The console's "new client": public (no secret, PKCE) or confidential (a secret)."""

    kind = RadioField(
        "Client type",
        choices=[
            ("confidential", "Confidential: a server that keeps a secret"),
            ("public", "Public: a browser or native app, no secret"),
        ],
        default="confidential",
        validators=[DataRequired(message="Choose a client type.")],
    )


class ClientEditForm(ClientSettingsForm):
    """The console's client page: the settings ``registration.update`` may change here."""

    default_acr_values = StringField(
        "Default acr values (space-separated, preferred first)", [Length(max=1000)]
    )
    backchannel_logout_uri = StringField(
        "Back-channel logout URI (empty: none)", [Length(max=2000)]
    )
