import re

from tests.processes import BASE_DIR


def names_read_by_settings():
    source = (BASE_DIR / "config" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', source))


def names_documented():
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z_]+)=", text, flags=re.MULTILINE))


def test_every_variable_the_settings_read_is_documented_in_env_example():
    assert names_read_by_settings() - names_documented() == set()


def names_read_by_compose():
    """Variables docker-compose.yml itself reads (Flower's password)."""
    return set(re.findall(r"\$\{(\w+)", (BASE_DIR / "docker-compose.yml").read_text()))


def test_env_example_documents_no_variable_nobody_reads():
    unread = names_documented() - names_read_by_settings() - names_read_by_compose()
    assert unread == set()
