"""Start-up validation of settings that need no server: refused values name their variable."""

from __future__ import annotations

import base64

import pytest

from idp import config

KEY = "k1:" + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")


def production(tmp_path, **changes) -> dict:
    return {
        "ENV": "production", "ISSUER": "https://id.example", "SECRET_KEY": "s" * 40,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}", "ENCRYPTION_KEY": KEY,
        "INSTANCE_PATH": str(tmp_path), **changes,
    }  # fmt: skip


def test_a_sound_production_configuration_loads(tmp_path):
    assert config.load(production(tmp_path))["WEBAUTHN_ORIGINS"] == ["https://id.example"]


@pytest.mark.parametrize(
    ("changes", "variable"),
    [
        pytest.param({"WEBAUTHN_ORIGINS": "http://id.example"}, "IDP_WEBAUTHN_ORIGINS",
                     id="http_passkey_origin_in_production"),
        pytest.param({"STEPUP_WINDOWS": "launch_rockets=5"}, "IDP_STEPUP_WINDOWS",
                     id="unknown_sensitive_operation"),
        pytest.param({"STEPUP_WINDOWS": "change_password=-5"}, "IDP_STEPUP_WINDOWS",
                     id="negative_window"),
        pytest.param({"ACR_LEVELS": "{not json"}, "IDP_ACR_LEVELS", id="bad_acr_levels"),
        pytest.param({"ACR_ALIASES": '{"9": "urn:nowhere"}'}, "IDP_ACR_ALIASES",
                     id="alias_to_an_unknown_level"),
        pytest.param({"ELEVATION_LIFETIME": "0"}, "IDP_ELEVATION_LIFETIME",
                     id="no_elevation_lifetime"),
        pytest.param({"RECOVERY_LINK_TTL": "0"}, "IDP_RECOVERY_LINK_TTL",
                     id="no_recovery_link_lifetime"),
        pytest.param({"RECOVERY_SINGLE_APPROVER": "maybe"}, "IDP_RECOVERY_SINGLE_APPROVER",
                     id="recovery_single_approver_not_a_boolean"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_variable(tmp_path, changes, variable):
    with pytest.raises(config.ConfigError) as refused:
        config.load(production(tmp_path, **changes))
    assert variable in str(refused.value)
