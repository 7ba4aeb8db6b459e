#!/bin/sh
# Provisions a FreeBSD head VM as a headgate target: packages, kTLS, TCP stacks, CAM iosched.
# Idempotent: safe to run on every `vagrant up --provision`.
set -eu

env ASSUME_ALWAYS_YES=yes pkg bootstrap -f >/dev/null
pkg install -y nginx fio iperf3 sudo

# Kernel TLS: unmapped mbufs first (kTLS needs them; enabling without them fails with ENXIO),
# then kTLS itself; ktls_ocf is the software crypto backend (a module on some branches).
sysrc -f /etc/sysctl.conf kern.ipc.mb_use_ext_pgs=1 kern.ipc.tls.enable=1 >/dev/null
sysctl kern.ipc.mb_use_ext_pgs=1 kern.ipc.tls.enable=1
if ! sysctl -N kern.ipc.tls.stats.ocf >/dev/null 2>&1; then
  sysrc -f /boot/loader.conf ktls_ocf_load=YES >/dev/null
  kldload -n ktls_ocf
fi

# Alternate TCP stacks (RACK, BBR need tcphpts, which they pull in).
for m in ${HEADGATE_TCP_STACKS:-tcp_rack tcp_bbr}; do
  sysrc -f /boot/loader.conf "${m}_load=YES" >/dev/null
  kldload -n "$m" || echo "provision: $m not available on this kernel" >&2
done

# CAM dynamic I/O scheduler: only present with options CAM_IOSCHED_DYNAMIC; the tunable is
# harmless otherwise, and headgate probes kern.cam.ada.0.iosched before using it.
sysrc -f /boot/loader.conf kern.cam.do_dynamic_iosched=1 >/dev/null

# The harness logs in as vagrant and uses sudo -n.
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /usr/local/etc/sudoers.d/headgate
chmod 0440 /usr/local/etc/sudoers.d/headgate

echo "provision: $(uname -rs): kTLS $(sysctl -n kern.ipc.tls.enable), stacks: $(sysctl -n net.inet.tcp.functions_available | awk 'NR>2{print $1}' | tr '\n' ' ')"
camcontrol devlist | grep -i ada || echo "provision: no ada(4) disk: CAM iosched variants will be skipped" >&2
