# syntax=docker/dockerfile:1
# The gateway image: `docker build -t credit-gateway:0.1.0 .` (or buildah/podman build).
#
# Two stages: the builder turns the source into a wheel and installs it with its runtime dependencies
# (all published as wheels, so no compiler is needed) into a virtual environment; the final stage
# gets only that environment and the policies, and runs as an unprivileged user.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install /wheels/*.whl \
 && /opt/venv/bin/python -m pip uninstall --yes pip \
 && /opt/venv/bin/gateway --help > /dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="credit-gateway" \
      org.opencontainers.image.description="Privacy-preserving data-sharing gateway for public credit information"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric, unprivileged user: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin gateway
COPY --from=builder /opt/venv /opt/venv
# The policies are part of a release: the chart copies them to the OPA sidecar from here.
COPY --chown=root:root policies /app/policies
WORKDIR /app
USER 10001:10001
EXPOSE 8000 9464
ENTRYPOINT ["gateway"]
CMD ["serve", "--config", "/etc/credit-gateway/config/gateway.yaml", "--host", "0.0.0.0", "--port", "8000"]
