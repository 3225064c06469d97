from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.problems import ProblemError, install_problem_handlers


class BoothCreate(BaseModel):
    booth_id: str
    members: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/units/{unit_id}")
    def unit(unit_id: str):
        raise ProblemError(404, "unknown-unit", "Unknown unit", f"no unit {unit_id}")

    @app.post("/booths")
    def booths(body: BoothCreate):
        return body

    return app


def test_a_raised_problem_is_rfc9457_json():
    response = TestClient(make_app()).get("/units/IN-ZZ")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://sangathan.example/problems/unknown-unit",
        "title": "Unknown unit",
        "status": 404,
        "detail": "no unit IN-ZZ",
        "instance": "/units/IN-ZZ",
    }


def test_invalid_body_names_each_field_without_echoing_values():
    response = TestClient(make_app()).post(
        "/booths", json={"booth_id": "B1", "members": "+91 98123 45678"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["members"]
    assert "98123 45678" not in response.text


def test_a_405_names_the_methods_the_path_answers():
    response = TestClient(make_app()).delete("/booths")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["allow"] == "POST"


def _documented_app() -> FastAPI:

    from shared.auth.http import Credentials
    from shared.problems import install_problem_docs, problems

    app = FastAPI()
    install_problem_handlers(app)
    install_problem_docs(app)

    @app.post("/booths/{booth_id}", responses=problems(404, 503, kinds={404: "unknown-booth"}))
    def booth(booth_id: str, body: BoothCreate, credentials: Credentials):
        return body

    @app.get("/open")
    def open_route():
        return {}

    return app


def test_the_openapi_document_describes_every_problem_a_route_answers():
    document = TestClient(_documented_app()).get("/openapi.json").json()
    answers = document["paths"]["/booths/{booth_id}"]["post"]["responses"]
    assert sorted(answers) == ["200", "400", "401", "403", "404", "413", "422", "503"]
    for status in ("401", "403", "404", "422", "503"):
        assert list(answers[status]["content"]) == ["application/problem+json"], status
    assert "unknown-booth" in answers["404"]["description"]
    assert (
        "Retry-After" in answers["503"]["headers"]
        and "WWW-Authenticate" in answers["401"]["headers"]
    )
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert sorted(document["paths"]["/open"]["get"]["responses"]) == [
        "200"
    ]  # no input, no token: none


def test_a_405_names_every_method_of_every_route_on_the_path():
    app = make_app()

    @app.get("/booths")
    def list_booths():
        return []

    response = TestClient(app).delete("/booths")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_a_client_leaving_mid_upload_is_logged_as_such_not_as_an_unhandled_error(caplog):
    import asyncio

    from fastapi import Request

    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/upload")
    async def upload(request: Request):
        async for _ in request.stream():
            pass
        return {}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/upload",
        "raw_path": b"/upload",
        "query_string": b"",
        "headers": [(b"content-length", b"1000")],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
    }
    events = iter(
        [
            {"type": "http.request", "body": b"x" * 10, "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent = []

    async def receive():
        return next(events)

    async def send(message):
        sent.append(message)

    with caplog.at_level("INFO"):
        asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert "unhandled error" not in caplog.text
    assert "client left before its request was read" in caplog.text


def test_a_route_own_answer_of_a_status_keeps_it_and_gains_the_problem_the_platform_sends():
    """The simulator answers a refusal in its provider's own shape with 400, while a body it
    cannot parse is a 400 problem: the document must name both media types (Schemathesis ST105)."""
    from shared.problems import install_problem_docs

    app = FastAPI()
    install_problem_handlers(app)
    install_problem_docs(app)
    refusal = {"type": "object", "properties": {"error": {"type": "object"}}}

    @app.post(
        "/messages",
        responses={
            400: {"description": "Refused", "content": {"application/json": {"schema": refusal}}}
        },
    )
    def send(body: BoothCreate):
        return body

    document = TestClient(app).get("/openapi.json").json()
    answer = document["paths"]["/messages"]["post"]["responses"]["400"]
    assert answer["description"] == "Refused"
    assert answer["content"]["application/json"]["schema"] == refusal
    assert answer["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    unparseable = TestClient(app).post(
        "/messages", content=b"\xff{", headers={"content-type": "application/json"}
    )
    assert unparseable.status_code == 400
    assert unparseable.headers["content-type"] == "application/problem+json"
