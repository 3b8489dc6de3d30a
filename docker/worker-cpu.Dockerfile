# Inference worker on CPU (the demo profile): `python -m inference_workers serve --engine transformers`
# launches `transformers serve` in the same container; `python -m inference_workers tiny-model`
# builds the tiny demo models. One Python 3.11 environment holds both the engine
# (requirements/engine-cpu.txt) and the worker's dependencies from requirements/base.txt (not Django,
# which needs 3.12 and which the worker does not import): inference_workers runs on 3.11.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

WORKDIR /app

COPY requirements/base.txt requirements/engine-cpu.txt requirements/

# torch from the PyTorch CPU index first (PyPI's Linux wheel pulls GBs of CUDA libraries), at the
# version engine-cpu.txt pins; then the rest, with torch already satisfied.
RUN set -eu; \
    torch_pin="$(grep -E '^torch==' requirements/engine-cpu.txt | sed 's/[ #].*//')"; \
    pip install --index-url https://download.pytorch.org/whl/cpu "$torch_pin"; \
    grep -iE '^(fastapi|uvicorn|httpx|prometheus-client|pydantic|nvidia-ml-py|PyYAML)[=[]' \
        requirements/base.txt > /tmp/worker-requirements.txt; \
    test "$(wc -l < /tmp/worker-requirements.txt)" -eq 7; \
    pip install -r requirements/engine-cpu.txt -r /tmp/worker-requirements.txt; \
    python -c 'import torch; assert not torch.version.cuda, torch.__version__'; \
    command -v transformers

COPY inference_workers/ inference_workers/
COPY fixtures/ fixtures/

RUN useradd --create-home --uid 1000 arena \
    && mkdir -p /models \
    && chown arena:arena /models
USER arena

EXPOSE 8000
CMD ["python", "-m", "inference_workers", "serve", "--help"]
