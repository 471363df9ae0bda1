# faceedit web app: docker build -t faceedit . && docker run --rm -p 7860:7860 -v faceedit-weights:/data faceedit
# GAN weights downloaded at start into the volume: add -e FACEEDIT_MODELS=sliders,random (presets: `faceedit weights presets`)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HOME=/data/hf \
    FACEEDIT_WEIGHTS_DIR=/data/weights \
    FACEEDIT_MODELS=

# MediaPipe's native code needs these shared libraries on a slim base.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 curl \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 app \
    && mkdir -p /data && chown app:app /data
WORKDIR /home/app/faceedit

# Requirements first, so code changes do not reinstall torch.  CPU wheels of torch keep the image small;
# build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu124 for CUDA.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
COPY requirements.txt ./
COPY scripts/install.sh scripts/
RUN PIP_EXTRA_INDEX_URL="$TORCH_INDEX" bash scripts/install.sh --system

COPY --chown=app:app . .
USER app

VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${GRADIO_SERVER_PORT}/" >/dev/null || exit 1

CMD ["python", "app.py"]
