#!/usr/bin/env bash
# PrairieLearn's external-grader entrypoint (externalGradingOptions.entrypoint), run as root in
# the dlgrade image: grades /grade/student/*.ipynb with the course in /grade/tests/course and
# writes /grade/results/results.json (PrairieLearn's format). The notebook runs as an
# unprivileged uid and reaches neither /grade/tests nor /grade/results.
mkdir -p /grade/results
chown root:root /grade/results
chmod 0700 /grade/results
# Only what is not root-only yet: a mode change copies a file up on an overlay filesystem.
find /grade/tests /grade/student /grade/data -perm /go=rwx -exec chmod go= {} + 2>/dev/null
PY=/opt/dlgrade-grader/venv/bin/python
if [ ! -x "$PY" ]; then
    printf '%s\n' '{"gradable": false, "score": 0, "message": "dlgrade is not installed in this image", "format_errors": ["dlgrade is not installed in this image"]}' > /grade/results/results.json
    exit 0
fi
export DLGRADE_COURSE=/grade/tests/course
exec "$PY" -s -m grader.lms.prairielearn --student /grade/student --out /grade/results "$@"
