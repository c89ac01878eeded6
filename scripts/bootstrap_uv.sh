#!/usr/bin/env bash
# Make a `uv` binary available at .tools/bin/uv without sudo, on a machine that has only
# python3 (>= 3.11), make and git. The Makefile calls this once; later runs reuse .tools/bin/uv.
#
# Order of attempts (first that works wins):
#   1. `uv` already on PATH            -> symlink it (respect the developer's own install)
#   2. python3 -m venv + pip install uv -> the ordinary client, works wherever ensurepip exists
#   3. PyPI wheel, unpacked by stdlib Python -> Debian/Ubuntu without python3-venv have no
#      ensurepip, so neither step 2 nor `pip` work; the uv wheel is just a zip holding a static
#      binary, so we take the binary out of it. (No venv is needed for that: uv makes the
#      project's .venv itself, without the venv module.)
#
# Environment:
#   PYTHON=python3                 interpreter used for steps 2 and 3
#   TTCS_UV_VERSION=0.9.5          pin a uv version (default: latest on PyPI)
#   TTCS_UV_BOOTSTRAP=venv|wheel   skip the earlier steps (to test a fallback)
#
# Prints the absolute path of uv as the last line of stdout; progress goes to stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
PYTHON="${PYTHON:-python3}"
MODE="${TTCS_UV_BOOTSTRAP:-auto}"
VERSION="${TTCS_UV_VERSION:-}"

say() { echo "bootstrap_uv: $*" >&2; }

mkdir -p "$BIN"

if [ -x "$BIN/uv" ] && "$BIN/uv" --version >/dev/null 2>&1; then
    : # already bootstrapped
elif [ "$MODE" = auto ] && command -v uv >/dev/null 2>&1; then
    say "using uv from PATH: $(command -v uv)"
    ln -sf "$(command -v uv)" "$BIN/uv"
elif [ "$MODE" != wheel ] && "$PYTHON" -m venv "$TOOLS/venv" >/dev/null 2>&1 \
        && "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "uv${VERSION:+==$VERSION}" >&2; then
    say "installed uv with pip into $TOOLS/venv"
    ln -sf "../venv/bin/uv" "$BIN/uv"
else
    [ "$MODE" = wheel ] || say "python3 -m venv/pip unavailable (no python3-venv?); fetching the uv wheel from PyPI"
    rm -rf "$TOOLS/venv"   # a half-made venv (no ensurepip) is useless
    "$PYTHON" - "$BIN/uv" "$VERSION" <<'PY'
"""Download uv's manylinux wheel for this machine from PyPI and extract the uv binary."""
import hashlib, io, json, os, platform, sys, urllib.parse, urllib.request, zipfile

dest, version = sys.argv[1], sys.argv[2]
url = "https://pypi.org/pypi/uv/json"  # lists every release; pin with TTCS_UV_VERSION
with urllib.request.urlopen(url, timeout=60) as r:
    meta = json.load(r)
version = version or meta["info"]["version"]
arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
files = meta["releases"].get(version, [])
wheels = [f for f in files if f["filename"].endswith(".whl") and f"_{arch}" in f["filename"]]
# glibc builds first; musl builds are static and run anywhere as a last resort.
wheels.sort(key=lambda f: "musllinux" in f["filename"])
wheels = [f for f in wheels if "linux" in f["filename"]]
if not wheels:
    sys.exit(f"no Linux uv wheel for {arch} in uv {version}")
wheel = wheels[0]
print(f"bootstrap_uv: downloading {wheel['filename']}", file=sys.stderr)
# Mirrors may answer with relative file URLs; resolve them against the JSON API address.
with urllib.request.urlopen(urllib.parse.urljoin(url, wheel["url"]), timeout=300) as r:
    data = r.read()
if hashlib.sha256(data).hexdigest() != wheel["digests"]["sha256"]:
    sys.exit("sha256 mismatch for the uv wheel")
with zipfile.ZipFile(io.BytesIO(data)) as zf:
    member = next(n for n in zf.namelist() if n.endswith(".data/scripts/uv"))
    tmp = dest + ".tmp"
    with open(tmp, "wb") as out:
        out.write(zf.read(member))
os.chmod(tmp, 0o755)
os.replace(tmp, dest)
PY
fi

"$BIN/uv" --version >&2
say "uv is at $BIN/uv"
echo "$BIN/uv"
