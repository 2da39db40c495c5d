"""
The environment docker-compose.yml gives the app services, checked against
config/settings.py and .env.example.
"""

from urllib.parse import urlsplit

import pytest

from tests.config.compose import documented_variables, interpolate
from tests.processes import BASE_DIR

# Environment


def test_app_environment_sets_only_variables_the_settings_read(app_env):
    documented = documented_variables()
    settings_source = (BASE_DIR / "config" / "settings.py").read_text()
    assert set(app_env) <= documented
    for name in app_env:
        assert f'"{name}"' in settings_source, f"config/settings.py never reads {name}"


def test_app_environment_is_production_mode_over_plain_http(app_env):
    assert app_env["DEBUG"] == "False"
    assert app_env["HTTPS"] == "False"
    assert {"localhost", "127.0.0.1", "web"} <= set(app_env["ALLOWED_HOSTS"].split(","))


def test_secret_key_is_taken_from_the_shell_with_a_marked_placeholder(services):
    raw = services["web"]["environment"]["SECRET_KEY"]
    assert raw.startswith("${SECRET_KEY:-")
    placeholder = interpolate(raw)
    assert "placeholder" in placeholder
    # Django's own marker for an insecure key: `check --deploy` refuses it.
    assert placeholder.startswith("django-insecure-")


def test_database_url_reaches_the_db_service_with_its_credentials(app_env, services):
    url = urlsplit(app_env["DATABASE_URL"])
    db = services["db"]["environment"]
    assert url.scheme == "postgres"
    assert (url.hostname, url.port) == ("db", 5432)
    assert (url.username, url.password) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert url.path == f"/{db['POSTGRES_DB']}"


def test_redis_url_reaches_the_redis_service(app_env):
    url = urlsplit(app_env["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


def test_email_url_reaches_mailpit_smtp(app_env):
    url = urlsplit(app_env["EMAIL_URL"])
    assert (url.scheme, url.hostname, url.port) == ("smtp", "mailpit", 1025)


@pytest.mark.parametrize("name", ["web", "worker"])
def test_web_and_worker_share_the_media_volume_at_media_root(services, app_env, name):
    # The worker writes thumbnails and reports that web serves.
    assert f"media:{app_env['MEDIA_ROOT']}" in services[name]["volumes"]
