# dlgrade's PrairieLearn grading image, written by `grade prairielearn build`.
# Holds Python, the grader and its dependencies only; the course (hidden tests, reference
# code) travels in the question's tests/ folder, which PrairieLearn copies to /grade/tests.
#   docker build -t YOUR-REGISTRY/dlgrade-ASSIGNMENT:latest .    (then push it)
# BASE: any image with bash and python3 >= 3.11 or apt (e.g. python:3.11-slim, ubuntu:24.04).
ARG BASE=python:3.11-slim
FROM ${BASE}
COPY . /opt/dlgrade-build
RUN bash /opt/dlgrade-build/setup.sh && rm -rf /opt/dlgrade-build /var/lib/apt/lists/*
