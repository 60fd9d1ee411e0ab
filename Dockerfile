# MiMo-Audio Studio web UI on a CUDA machine.
#
#   docker build -t mimo-audio-studio .
#   docker run --gpus all -p 7860:7860 -v hf-cache:/data/hf mimo-audio-studio
#
# The official weights (~35 GB) download into /data/hf on first start; mount a volume there
# to keep them. Without a GPU the container still serves the UI on CPU (slow with real weights).
#
# flash-attn is optional: --build-arg FLASH_ATTN=1 installs it. Building it from source needs
# the CUDA compiler, so pair it with a devel image, e.g.
#   --build-arg CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG FLASH_ATTN=0
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HOME=/data/hf \
    MIMO_TINY_DIR=/data/tiny \
    PATH=/opt/venv/bin:$PATH

# python + venv; ffmpeg lets gradio stream audio while it is generated; libsndfile reads audio
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev ffmpeg libsndfile1 \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

WORKDIR /app
COPY requirements.txt requirements-flash.txt ./
# On Linux x86_64 the torch wheel from PyPI is the CUDA build.
RUN pip install --upgrade pip && pip install -r requirements.txt \
 && if [ "$FLASH_ATTN" = "1" ]; then pip install --no-build-isolation -r requirements-flash.txt; fi

COPY . .

EXPOSE 7860
VOLUME ["/data"]
CMD ["python", "run_mimo_audio.py", "--server-name", "0.0.0.0", "--port", "7860"]
