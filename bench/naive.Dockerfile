# Benchmark variant "naive": what a first Dockerfile for a Python service often
# looks like. One stage on the full python image (compilers, headers and all),
# dependencies installed with plain pip (its download cache stays in the layer),
# the whole folder copied in, and the server running as root.
#
# Adaptations for the benchmark, none of which changes the image's content:
# the base image and the package index are build arguments, so every variant
# builds on the same base and installs the same files from the local index.
ARG PYTHON_FULL_IMAGE=python:3.12
FROM ${PYTHON_FULL_IMAGE}

WORKDIR /app

# Requirements before the code, the one habit even naive files usually have.
COPY requirements.txt .
ARG PIP_INDEX_URL
RUN pip install -r requirements.txt

# No .dockerignore in this variant: everything in the folder lands in the image.
COPY . .

EXPOSE 8000
CMD ["uvicorn", "app.main:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
