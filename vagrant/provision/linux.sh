#!/bin/sh
# Provisions a Debian VM as a headgate target: the packages the suites need, kTLS and netem modules.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends nginx-light fio iperf3 iproute2 procps openssl sudo
for m in tls sch_netem; do
  modprobe "$m" || echo "provision: module $m not available" >&2
  echo "$m" > "/etc/modules-load.d/headgate-$m.conf"
done
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/headgate
chmod 0440 /etc/sudoers.d/headgate
echo "provision: $(uname -rs), tls_stat: $(test -r /proc/net/tls_stat && echo yes || echo no)"
