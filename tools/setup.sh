#!/usr/bin/env bash
# Install what Lua OS needs from Debian packages. Idempotent: installs only what
# is missing, so the quick-start commands can call it every time.
set -euo pipefail

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# Packages for the host simulator, the tests and the firmware cross build;
# clang and its sanitizer/libFuzzer runtime for the fuzz suite.
PKGS=(
  build-essential cmake pkg-config dpkg-dev
  libreadline-dev
  lua5.4 lua-busted lua-check
  gcc-multilib qemu-user
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi
  qemu-system-arm python3
  clang libclang-rt-14-dev
  libslirp-dev libvdeplug-dev vde2 dnsmasq-base iproute2 iptables iperf iputils-ping
  libmbedtls-dev openssl ca-certificates mosquitto mosquitto-clients curl apache2-utils
  libsdl2-dev libsdl2-ttf-dev fonts-dejavu-core libpng-dev xvfb xdotool x11-utils
  libftdi1-dev
)
[ "${LUAOS_SETUP_EXTRA:-}" ] && PKGS+=(${LUAOS_SETUP_EXTRA})

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Third-party sources (Lua, later lwIP/mbedTLS) come from Debian source packages,
# so apt needs a deb-src entry mirroring the binary one.
SRC_LIST=/etc/apt/sources.list.d/luaos-deb-src.sources
need_update=0
if [ ! -f "$SRC_LIST" ]; then
  tmp=$(mktemp)
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$tmp"
  else
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | sed 's/^deb /deb-src /' > "$tmp"
    SRC_LIST=/etc/apt/sources.list.d/luaos-deb-src.list
  fi
  $SUDO install -m 0644 "$tmp" "$SRC_LIST"
  rm -f "$tmp"
  need_update=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $need_update -eq 1 ]; then
  echo "setup: installing ${missing[*]:-(source index only)}"
  $SUDO apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
