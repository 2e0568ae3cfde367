"""Example resource: shows request and response models. Replace it with your own."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

router = APIRouter(prefix="/greetings", tags=["greetings"])


class GreetingRequest(BaseModel):
    """What a client sends."""

    name: str = Field(min_length=1, max_length=100)


class Greeting(BaseModel):
    """What the service answers."""

    message: str


@router.get("/{name}")
async def greet(name: str) -> Greeting:
    """Greet someone named in the path."""
    return Greeting(message=f"Hello, {name}!")


@router.post("")
async def create_greeting(request: GreetingRequest) -> Greeting:
    """Greet someone named in a JSON body (validated by the model)."""
    return Greeting(message=f"Hello, {request.name}!")
