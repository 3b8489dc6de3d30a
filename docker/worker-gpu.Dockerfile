# Inference worker on GPUs: `python -m inference_workers serve --engine vllm ...` launches
# `vllm serve` in the same container and meters the GPUs it uses through NVML.
# Based on the vLLM image of the version pinned in requirements/gpu.txt: torch and CUDA come with it
# and are not reinstalled; only the worker's own dependencies (requirements/worker.txt) are added.
# No devtools/ here: production workers serve real models, never the tiny demo ones.
ARG VLLM_IMAGE=vllm/vllm-openai:v0.33.0
FROM ${VLLM_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1

WORKDIR /app

COPY requirements/worker.txt requirements/gpu.txt requirements/

# The worker's dependencies (requirements/worker.txt: not Django, not the web's), resolved together
# with the image's vLLM (requirements/gpu.txt, already installed, so pip keeps it and its torch): a pin
# that vLLM does not accept fails the build here, not at run time.
RUN set -eu; \
    vllm_pin="$(sed -n 's/^vllm==\([^ #]*\).*/\1/p' requirements/gpu.txt)"; \
    vllm_here="$(python3 -c 'import importlib.metadata as m; print(m.version("vllm"))')"; \
    if [ "$vllm_pin" != "$vllm_here" ]; then \
        echo "the base image has vLLM $vllm_here, requirements/gpu.txt pins $vllm_pin" >&2; exit 1; \
    fi; \
    python3 -m pip install -r requirements/worker.txt -r requirements/gpu.txt; \
    python3 -c 'import fastapi, httpx, prometheus_client, pydantic, pynvml, uvicorn, vllm, yaml'; \
    command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python

COPY inference_workers/ inference_workers/
COPY fixtures/ fixtures/

EXPOSE 8000
# The image's own entrypoint is `vllm serve`: the worker launches it itself.
ENTRYPOINT []
CMD ["python", "-m", "inference_workers", "serve", "--help"]
