# Inference worker on CPU (the demo profile): `python -m inference_workers serve --engine transformers`
# launches `transformers serve` in the same container; `python -m devtools tiny-model` builds the tiny
# demo models (so this image, unlike the GPU one, carries devtools/). One Python 3.11 environment holds
# both the engine (requirements/engine-cpu.txt) and the worker (requirements/worker.txt; not the web's
# requirements/base.txt: Django needs 3.12, and the worker does not import it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1

WORKDIR /app

COPY requirements/worker.txt requirements/engine-cpu.txt requirements/

# torch from the PyTorch CPU index first (PyPI's Linux wheel pulls GBs of CUDA libraries), at the
# version engine-cpu.txt pins; then the rest, with torch already satisfied.
RUN set -eu; \
    torch_pin="$(grep -E '^torch==' requirements/engine-cpu.txt | sed 's/[ #].*//')"; \
    pip install --index-url https://download.pytorch.org/whl/cpu "$torch_pin"; \
    pip install -r requirements/engine-cpu.txt -r requirements/worker.txt; \
    python -c 'import torch; assert not torch.version.cuda, torch.__version__'; \
    command -v transformers

COPY inference_workers/ inference_workers/
COPY devtools/ devtools/
COPY fixtures/ fixtures/

RUN useradd --create-home --uid 1000 arena \
    && mkdir -p /models \
    && chown arena:arena /models
USER arena

EXPOSE 8000
CMD ["python", "-m", "inference_workers", "serve", "--help"]
