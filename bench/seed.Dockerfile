# Benchmark variant "seed": the two-stage recipe of the article the template
# started from (../shared/seed-article.txt), rebuilt step by step.
#
# Builder: the full python image installs the requirements under a separate
# prefix. Runtime: the slim image receives that prefix in /usr/local, a named
# non-root user, the application folder, and runs the uvicorn command line.
#
# Differences from the article, all needed to run it here and none changing
# what ends up in the image:
# * the two base images and the package index are build arguments (the
#   benchmark builds every variant on the same bases, from a local index);
# * the article serves `main:app`; this project has an app factory, so the
#   command is `uvicorn app.main:create_app --factory` with the same options.
ARG PYTHON_FULL_IMAGE=python:3.12
ARG PYTHON_IMAGE=python:3.12-slim

# ---------------------------------------------------------------- builder ---
FROM ${PYTHON_FULL_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
ARG PIP_INDEX_URL
RUN pip install --prefix=/install -r requirements.txt

# ---------------------------------------------------------------- runtime ---
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --gid 1001 appgroup && \
    useradd --uid 1001 --gid appgroup --shell /bin/bash --create-home appuser

WORKDIR /app
COPY --from=builder /install /usr/local
COPY --chown=appuser:appgroup . .
USER appuser

EXPOSE 8000
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
