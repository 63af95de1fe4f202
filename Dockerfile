# The Boxoffice server image used by compose.yaml.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY common ./common
COPY tui ./tui
RUN pip install --no-cache-dir . && useradd --system boxoffice
USER boxoffice
EXPOSE 8080
CMD ["boxoffice", "serve", "--host", "0.0.0.0"]
