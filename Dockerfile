FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY idp ./idp
COPY templates ./templates
COPY static ./static
COPY examples ./examples
RUN pip install --no-cache-dir -e . && useradd --create-home idp && mkdir -p /data && chown idp /data
USER idp
ENV IDP_INSTANCE_PATH=/data
EXPOSE 5000
CMD ["sh", "-c", "idp db upgrade && exec gunicorn --workers 2 --bind 127.0.0.1:5000 'idp.wsgi:app'"]
