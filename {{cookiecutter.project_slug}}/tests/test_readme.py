"""The README's example request answers exactly as the README says."""

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

README = Path(__file__).resolve().parent.parent / "README.md"
# A line such as: curl http://127.0.0.1:8000/api/v1/greetings/Ada    # {"message": ...}
EXAMPLE = re.compile(r"^curl http://127\.0\.0\.1:\d+(/\S*)\s+# (\{.*\})$", re.MULTILINE)


def test_readme_example_answers_as_documented(client: TestClient) -> None:
    example = EXAMPLE.search(README.read_text(encoding="utf-8"))
    assert example, "README.md has no `curl <url>    # <answer>` example line"
    path, documented = example.groups()

    response = client.get(path)

    assert response.status_code == 200
    assert response.json() == json.loads(documented)
