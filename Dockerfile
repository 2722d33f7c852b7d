# Moesaic: one image for the API, the worker, the console and (built with a CUDA torch) the engine.
#   docker build -t moesaic .                                     # CPU torch (the default)
#   docker build -t moesaic:gpu --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    MOESAIC_HOME=/data

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. torch comes from the PyTorch index
# (CPU wheels by default: no CUDA libraries in the image); everything else pinned in requirements.txt.
COPY requirements.txt ./
RUN TORCH_VERSION="$(grep -E '^torch==' requirements.txt | cut -d= -f3)" \
 && pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}" \
 && pip install -r requirements.txt --extra-index-url "${TORCH_INDEX_URL}"

# The project itself, without dependencies. Editable, so the CLI finds ui/ and the apps' seed data
# next to the code (`moesaic ui`, `moesaic seed` resolve paths from the repository root, /app).
COPY . .
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 1000 moesaic \
 && mkdir -p /data && chown moesaic /data
USER moesaic

EXPOSE 8000 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
CMD ["moesaic", "serve", "--host", "0.0.0.0", "--port", "8000"]
