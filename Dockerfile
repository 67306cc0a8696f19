# welfare-hub: the GraphQL hub. Multi-stage: wheels are built in the first stage; the final image has no
# compilers, runs as a non-root user and holds the purpose register and the schema contract it serves.
# Python as pyproject.toml's requires-python (a test keeps the two in step).
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip==25.3
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY linkage ./linkage
COPY resolvers ./resolvers
COPY subgraphs ./subgraphs
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11.11-slim-bookworm
LABEL org.opencontainers.image.title="welfare-hub" \
      org.opencontainers.image.description="Purpose-bound sharing of social-security data between UK public bodies"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WELFARE_HUB_ENV=production \
    WELFARE_HUB_HOST=0.0.0.0 \
    WELFARE_HUB_PORT=8000 \
    WELFARE_HUB_PURPOSES=/app/policy/purposes.toml \
    WELFARE_HUB_RATE_LIMITS=/app/policy/ratelimits.toml \
    WELFARE_HUB_DATA_DIR=/tmp/welfare-hub
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels welfare-hub==0.1.0 \
    && rm -rf /wheels \
    && groupadd --system --gid 10001 hub \
    && useradd --system --uid 10001 --gid hub --no-create-home --home-dir /nonexistent hub
WORKDIR /app
COPY policy ./policy
COPY schema.graphql ./schema.graphql
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["welfare-hub"]
CMD ["serve"]
