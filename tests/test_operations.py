import logging

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from telemed.app import create_app
from telemed.config import Settings
from telemed.schema import current_revision, head_revision, load_models
from tests.conftest import both_databases


@both_databases
def test_migrations_build_exactly_the_models(context, settings):
    load_models()
    with context.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), SQLModel.metadata)
    assert diff == []
    assert current_revision(context.db.engine) == head_revision(settings.database_url)


async def test_healthz_and_metrics(client, login):
    headers = await login("doc-a")
    await client.get("/api/detainees", headers=headers)
    health = await client.get("/healthz")
    assert (await health.json()) == {"status": "ok", "database": True}
    metrics = await (await client.get("/metrics")).text()
    assert 'telemed_http_requests_total{method="GET",route="/api/detainees",status="200"} 1.0' in metrics
    assert 'telemed_logins_total{outcome="ok"}' in metrics


async def test_healthz_reports_an_unreachable_database(aiohttp_client, tmp_path):
    # A PostgreSQL URL where nothing listens: the app starts, and says the database is down.
    settings = Settings(database_url="postgresql://nobody@127.0.0.1:9/none", data_dir=tmp_path,
                        secret_key="test-secret-key-0123456789")
    client = await aiohttp_client(create_app(settings))
    response = await client.get("/healthz")
    assert response.status == 503 and (await response.json())["database"] is False


async def test_access_log_is_json_with_request_id_and_no_health_data(client, login, caplog):
    headers = await login("doc-a")
    caplog.set_level(logging.INFO, logger="telemed.access")
    response = await client.get("/api/detainees?q=王小明", headers={**headers, "X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    line = next(r for r in caplog.records if r.name == "telemed.access" and getattr(r, "route", "") == "/api/detainees")
    assert line.request_id == "req-123" and line.user == "doc-a" and line.status == 200
    from telemed.logs import JsonFormatter

    formatted = JsonFormatter().format(line)
    assert '"request_id":"req-123"' in formatted
    assert "王小明" not in formatted and "q=" not in formatted


async def test_security_headers(client, world):
    response = await client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
