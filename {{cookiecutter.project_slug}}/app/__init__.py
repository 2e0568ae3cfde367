"""{{ cookiecutter.project_slug }}: the service package.

Kept free of imports on purpose: `python -m app.healthcheck` runs every few
seconds inside the container and must not pay for importing FastAPI.
"""

__version__ = "0.1.0"
