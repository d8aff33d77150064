# One image: `confab serve`. Models come inside PyPI packages, so the image needs no network at run time.
FROM python:3.11-slim

# Optional: a PyPI-compatible index holding PyTorch's CPU build (see the README); empty = PyPI's torch.
ARG TORCH_INDEX_URL=""

WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY audio ./audio
COPY agent ./agent
COPY memory ./memory
RUN pip install --no-cache-dir ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0 \
 && pip install --no-cache-dir .

ENV CONFAB_HOST=0.0.0.0 CONFAB_DATA_DIR=/data HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
VOLUME /data
EXPOSE 8765
CMD ["confab", "serve"]
