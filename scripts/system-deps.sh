#!/usr/bin/env bash
# Install the Debian packages that museforge's tests and demo need, if they are missing.
# Runs apt-get only when something is missing; needs root (or sudo) in that case.
set -euo pipefail

PACKAGES=(
  postgresql          # the store's tests run against a real PostgreSQL server on loopback
  fluidsynth          # renders melodies to WAV
  timgm6mb-soundfont  # a small General MIDI SoundFont (5 MB) for FluidSynth
  g++                 # compiles llama.cpp, the story model's runtime (make story-runtime)
  cmake
  chromium            # the studio's browser tests (Playwright drives it; nothing is downloaded)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "museforge: please install these packages with your system's package manager: ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "museforge: run as root, or install: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "museforge: installing Debian packages: ${missing[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
