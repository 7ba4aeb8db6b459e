#!/usr/bin/env bash
# Installs everything headgate needs on a fresh Debian machine (run as root): the server under
# test, the reference load generator, Java for Allure, Chromium for the browser checks, and the
# npm dependencies. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# g++, make and python3: better-sqlite3 (the history store) compiles against Debian's Node headers
# when no prebuilt binary can be fetched.
packages=(nginx-light wrk chromium openjdk-17-jre-headless procps iproute2 util-linux util-linux-extra coreutils ca-certificates openssl fio iperf3 g++ make python3)
# Lab targets: the system OpenSSH client (ssh targets) and server (sshd in netns labs), QEMU and
# busybox (qemu targets boot Debian's kernel), Vagrant (its Vagrantfile is validated), Groovy (the
# Jenkinsfile in ci/jenkins is parse-checked: no Jenkins linter runs without Jenkins), btrfs-progs
# (the block-device tests build a two-device btrfs that --block-device must refuse). Installed
# without recommends: Vagrant would otherwise pull in a whole libvirt/VirtualBox stack.
lab_packages=(openssh-client openssh-server qemu-system-x86 busybox-static vagrant groovy btrfs-progs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Whether an sshd was serving this machine before we installed anything: on a lab box reached
# over ssh, stopping it would lock the operator out. Only an sshd that Debian started because
# this script just installed openssh-server is stopped below.
sshd_was_running=0
if pgrep -x sshd >/dev/null 2>&1; then sshd_was_running=1; fi
missing_lab=()
for p in "${lab_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing_lab+=("$p")
done
if [ "${#missing_lab[@]}" -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
  echo "installing lab packages: ${missing_lab[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing_lab[@]}" >/dev/null
elif [ "${#missing_lab[@]}" -gt 0 ]; then
  missing+=("${missing_lab[@]}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "headgate: missing system packages: ${missing[*]}; run this script as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 3
  fi
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian starts its own nginx on port 80 after install; headgate runs private instances and
# needs none of it.
if command -v service >/dev/null 2>&1 && pgrep -x nginx >/dev/null 2>&1 && [ -f /run/nginx.pid ]; then
  service nginx stop >/dev/null 2>&1 || true
fi
# Likewise the system sshd that the install above started: lab sshds run in namespaces the
# harness creates. One that was running before is left alone.
if [ "$sshd_was_running" -eq 0 ] && command -v service >/dev/null 2>&1 && [ -f /run/sshd.pid ]; then
  service ssh stop >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
