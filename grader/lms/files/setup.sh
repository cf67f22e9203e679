#!/usr/bin/env bash
# dlgrade's installer for a grading image (Gradescope: /autograder/source/setup.sh, run once at
# image build; PrairieLearn: run by the image's Dockerfile). Run as root.
#
# 1. Python >= 3.11: the first of python3.13/3.12/3.11/python3 that is new enough; else (Ubuntu
#    22.04, whose python3 is 3.10) `apt-get install python3.11 python3.11-venv` from Ubuntu's
#    archive. An offline bundle (wheels/) needs exactly the Python its wheels were made for.
# 2. a venv at /opt/dlgrade-grader/venv with the dependencies: from PyPI (torch's CPU build from
#    download.pytorch.org), or offline from wheels/ (pip --no-index: no network at all).
# 3. the grader package copied into the venv, readable by root only.
# 4. bubblewrap where apt can install it (without it the worker runs as an unprivileged uid,
#    "not isolated"), and the unprivileged user `student`.
# 5. this folder (course files, hidden tests, reference code) made readable by root only.
#
# `bash setup.sh --which-python` stops after step 1 and prints the interpreter it chose.
set -euo pipefail
umask 022  # the venv must be readable by the worker's uid (except the grader package, below)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX=/opt/dlgrade-grader
VENV="$PREFIX/venv"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
say() { echo "dlgrade setup: $*"; }

apt_install() {  # best effort: an image build without network goes on without these
    command -v apt-get >/dev/null 2>&1 || return 1
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1 && return 0
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}

WANT=""
[ -f "$HERE/wheels/PYTHON" ] && WANT="$(tr -d '[:space:]' < "$HERE/wheels/PYTHON")"

find_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        if [ -n "$WANT" ]; then
            "$py" -c "import sys; sys.exit('%d.%d' % sys.version_info[:2] != '$WANT')" 2>/dev/null || continue
        else
            "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || continue
        fi
        command -v "$py"
        return 0
    done
    return 1
}

PY="$(find_python || true)"
if [ -z "$PY" ]; then
    v="${WANT:-3.11}"
    say "no Python ${WANT:->= 3.11} here; apt-get install python$v python$v-venv"
    apt_install "python$v" "python$v-venv" || true
    PY="$(find_python || true)"
fi
if [ -z "$PY" ]; then
    echo "error: dlgrade needs Python ${WANT:->= 3.11}; install python${WANT:-3.11} (on Ubuntu 22.04: apt-get install python3.11 python3.11-venv) and run setup.sh again" >&2
    exit 1
fi
if [ "${1:-}" = "--which-python" ]; then
    echo "$PY"
    exit 0
fi
say "Python $("$PY" -c 'import sys; print(sys.version.split()[0])') at $PY"

mkdir -p "$PREFIX"
PIP=("$VENV/bin/python" -m pip)
CFG="$VENV/pyvenv.cfg"
system_site() { sed -i "s/^include-system-site-packages = .*/include-system-site-packages = $1/" "$CFG"; }
SYSTEM_SITE=""
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version)' 2>/dev/null)" = "$("$PY" -c 'import sys; print(sys.version)')" ]; then
    # An earlier install (an image built FROM one of ours): pip keeps what is already satisfied.
    if "${PIP[@]}" --version >/dev/null 2>&1; then
        SYSTEM_SITE=0
    else
        system_site true
        if "${PIP[@]}" --version >/dev/null 2>&1; then SYSTEM_SITE=1; else system_site false; fi
    fi
    [ -n "$SYSTEM_SITE" ] && say "reusing $VENV"
fi
if [ -z "$SYSTEM_SITE" ]; then
    rm -rf "$VENV"
    if "$PY" -m venv "$VENV" >/dev/null 2>&1 && "${PIP[@]}" --version >/dev/null 2>&1; then
        SYSTEM_SITE=0
    else
        # No ensurepip (Debian without python3-venv): the system's pip installs into the venv,
        # which sees the system's site-packages only while installing.
        rm -rf "$VENV"
        "$PY" -m venv --without-pip --system-site-packages "$VENV"
        SYSTEM_SITE=1
    fi
fi
if [ -d "$HERE/wheels" ]; then
    say "installing the dependencies from wheels/ (offline)"
    "${PIP[@]}" install -q --no-cache-dir --no-compile --no-index --find-links "$HERE/wheels" -r "$HERE/requirements.txt"
else
    say "installing the dependencies from PyPI"
    "${PIP[@]}" install -q --no-cache-dir --no-compile --index-url https://download.pytorch.org/whl/cpu \
        --extra-index-url https://pypi.org/simple -r "$HERE/requirements.txt"
fi
[ "$SYSTEM_SITE" = 1 ] && system_site false
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -rf "$SITE/grader"
cp -r "$HERE/grader" "$SITE/grader"
chown -R root:root "$SITE/grader"
chmod -R go= "$SITE/grader"
# Importing what grading uses byte-compiles just that (pip's --no-compile skips the rest of
# torch's thousands of files, which would double the install time).
"$VENV/bin/python" -s -c 'import grader.judge.pipeline, grader.judge.pytest_plugin, grader.feedback, grader.lms.gradescope, grader.lms.prairielearn, grader.judge.remote, grader.judge.torch_remote, grader.course.testing, torch, numpy, sklearn.datasets; print("dlgrade setup: grader", grader.__version__, "torch", torch.__version__)'

if command -v bwrap >/dev/null 2>&1 || apt_install bubblewrap; then
    say "bubblewrap: $(bwrap --version 2>/dev/null || echo installed)"
else
    say "bubblewrap could not be installed: notebooks will run as an unprivileged uid, not isolated"
fi
if ! id student >/dev/null 2>&1; then
    if command -v useradd >/dev/null 2>&1; then
        useradd --uid 61000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin student 2>/dev/null || true
    elif command -v adduser >/dev/null 2>&1; then
        adduser --disabled-password --gecos "" --uid 61000 --no-create-home student >/dev/null 2>&1 || true
    fi
fi
# The wheels are installed: drop them (260 MB less in the image, and nothing for a later
# chmod to copy up). Then the course is root's alone. Only what needs it is changed: on an
# overlay filesystem, changing a file's mode copies the whole file up into the new layer.
rm -rf "$HERE/wheels"
find "$HERE" \( ! -user root -o -perm /go=rwx \) -exec chown root:root {} + -exec chmod go= {} +
say "done"
