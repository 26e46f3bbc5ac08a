#!/usr/bin/env bash
# Installs the Debian 12 packages prism needs to build and test.
#
#   tools/deps.sh              build + test dependencies
#   tools/deps.sh --optional   also the bench-only peers (VkFFT, glslang)
#
# Quiet when everything is present. As root it runs apt-get itself; otherwise
# it prints the exact command to run and exits 1. Safe to run repeatedly.
set -euo pipefail

required=(
    cmake make gcc clang pkg-config
    libvulkan-dev libvulkan-volk-dev mesa-vulkan-drivers vulkan-validationlayers
    glslang-tools spirv-tools
    libcriterion-dev libclang-rt-14-dev
    zlib1g-dev libcjson-dev liblapacke-dev
    dataset-fashion-mnist
)
optional=(libvkfft-dev glslang-dev)

usage() {
    echo "usage: $0 [--optional]" >&2
    exit 2
}

want=("${required[@]}")
for arg in "$@"; do
    case "$arg" in
        --optional) want+=("${optional[@]}") ;;
        -h | --help) usage ;;
        *)
            echo "deps.sh: unknown argument '$arg'" >&2
            usage
            ;;
    esac
done

if ! command -v dpkg-query > /dev/null 2>&1; then
    echo "deps.sh: dpkg-query not found; this script supports Debian 12 (bookworm) and derivatives." >&2
    echo "deps.sh: install the equivalents of: ${want[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${want[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

install_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "deps.sh: run as root (or with sudo):" >&2
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive ${install_cmd[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${missing[*]}"
apt-get update
DEBIAN_FRONTEND=noninteractive "${install_cmd[@]}"

# Verify: a package that apt could not install must not pass silently.
still=()
for pkg in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2> /dev/null || true)
    [[ "$status" == "install ok installed" ]] || still+=("$pkg")
done
if [[ ${#still[@]} -gt 0 ]]; then
    echo "deps.sh: still missing after apt-get install: ${still[*]}" >&2
    exit 1
fi
