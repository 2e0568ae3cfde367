"""The example resource."""

from fastapi.testclient import TestClient


def test_greet_by_path(client: TestClient) -> None:
    response = client.get("/api/v1/greetings/Ada")

    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Ada!"}


def test_greet_by_body(client: TestClient) -> None:
    response = client.post("/api/v1/greetings", json={"name": "Grace"})

    assert response.status_code == 200
    assert response.json() == {"message": "Hello, Grace!"}


def test_empty_name_is_rejected(client: TestClient) -> None:
    response = client.post("/api/v1/greetings", json={"name": ""})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]
