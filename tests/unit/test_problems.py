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
        "type": "https://sangathan.example/problems/unknown-unit", "title": "Unknown unit",
        "status": 404, "detail": "no unit IN-ZZ", "instance": "/units/IN-ZZ",
    }


def test_invalid_body_names_each_field_without_echoing_values():
    response = TestClient(make_app()).post("/booths", json={"booth_id": "B1", "members": "+91 98123 45678"})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert [e["field"] for e in body["errors"]] == ["members"]
    assert "98123 45678" not in response.text
