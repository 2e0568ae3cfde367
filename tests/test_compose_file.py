"""The rendered compose.yaml, read as data: the order of the postgres services,
a role name PostgreSQL accepts for any slug, and the same hardening for the
one-shot migrations as for the service. (The Docker tier runs the file for
real: tests/docker_tier/test_compose.py.)"""

import pytest
import yaml

HARDENING = {
    "read_only": True,
    "tmpfs": ["/tmp"],
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
}


def compose_file(bake, answers: dict) -> dict:
    result = bake(answers)
    assert result.exit_code == 0, result.exception
    return yaml.safe_load((result.project_path / "compose.yaml").read_text())


@pytest.mark.parametrize("slug", ["my_service", "pg_service"])
def test_postgres_compose_migrates_before_the_service_starts(bake, slug):
    services = compose_file(bake, {"database": "postgres", "project_slug": slug})["services"]
    db, migrate, app, dev = (services[name] for name in ("db", "migrate", "app", "dev"))
    url_variable = f"{slug.upper()}_DATABASE_URL"

    assert migrate["command"] == ["python", "-m", "app.migrate"]
    assert migrate["image"] == app["image"]
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for service in (app, dev):
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        # The same database as the migration; the service adds its limits.
        assert service["environment"][url_variable] == migrate["environment"][url_variable]
    assert HARDENING.items() <= migrate.items()
    assert HARDENING.items() <= app.items()
    # PostgreSQL refuses roles that begin with pg_: the role is not the slug.
    role = db["environment"]["POSTGRES_USER"]
    assert role == "app"
    assert db["healthcheck"]["test"] == ["CMD", "pg_isready", "--username", role]
    assert migrate["environment"][url_variable].startswith(f"postgresql://{role}:")
    assert migrate["environment"][url_variable].endswith(f"@db:5432/{slug}")


def test_env_file_is_optional_in_every_service(bake):
    """`required: false` is why the file needs Compose 2.24 or newer, as it says."""
    for answers in ({}, {"database": "postgres"}):
        result = bake(answers)
        text = (result.project_path / "compose.yaml").read_text()
        services = yaml.safe_load(text)["services"]

        assert "Docker Compose (2.24 or newer" in text
        for name, service in services.items():
            if name != "db":
                assert service["env_file"] == [{"path": ".env", "required": False}], name
