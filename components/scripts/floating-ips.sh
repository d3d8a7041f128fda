#!/usr/bin/env bash
# Configure the server's floating IPv4s inside the OS, persistently; safe to run any number of times.
#
# Hetzner routes a floating IP to the server but does not add it to an interface, and `ip addr add`
# is lost at reboot. Ubuntu gets a netplan file, Debian an ifupdown file.
# Settings (VAR=value prefixes): FLOATING_IPS="203.0.113.10 203.0.113.11" (in sending-IP order),
# IFACE (default eth0), METHOD (netplan|ifupdown; default from /etc/os-release).
# ROOT prefixes every path written (tests run against a scratch root); commands are taken from PATH.
set -euo pipefail

ROOT="${ROOT:-}"
IFACE="${IFACE:-eth0}"
FLOATING_IPS="${FLOATING_IPS:-}"
NETPLAN_FILE="$ROOT/etc/netplan/60-floating-ip.yaml"
IFUPDOWN_FILE="$ROOT/etc/network/interfaces.d/60-floating-ip.cfg"

log() { printf '[coldmail] %s\n' "$*" >&2; }

read -r -a ips <<<"$FLOATING_IPS"
for ip in "${ips[@]}"; do
  [[ "$ip" =~ ^([0-9]{1,3}\.){3}[0-9]{1,3}$ ]] || { log "ERROR: $ip is not an IPv4 address"; exit 1; }
done

if [[ -z "${METHOD:-}" ]]; then
  # shellcheck disable=SC1091
  os_id="$(. "$ROOT/etc/os-release" && echo "$ID")"
  if [[ "$os_id" == ubuntu ]]; then METHOD=netplan; else METHOD=ifupdown; fi
fi

# write_if_changed FILE MODE: stdin becomes FILE when it differs; prints "changed" then.
write_if_changed() {
  local file="$1" mode="$2" tmp
  mkdir -p "${file%/*}"
  tmp="$(mktemp "${file%/*}/.coldmail.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [[ -e "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    # The mode alone may be off: netplan warns about world-readable files.
    chmod "$mode" "$file"
    return 0
  fi
  mv "$tmp" "$file"
  echo changed
}

# Addresses that are configured on IFACE right now (a run after a crash must still bring them up).
missing_live() {
  local live ip
  live="$(ip -o -4 addr show dev "$IFACE" 2>/dev/null || true)"
  for ip in "${ips[@]}"; do
    grep -qF " $ip/32 " <<<"$live " || { echo "$ip"; return 0; }
  done
}

if [[ "$METHOD" == netplan ]]; then
  if ((${#ips[@]} == 0)); then
    if [[ -e "$NETPLAN_FILE" ]]; then
      rm -f "$NETPLAN_FILE"
      netplan apply
    fi
    exit 0
  fi
  changed="$({
    printf '# Managed by coldmail: floating IPs of this server (Hetzner does not configure them).\n'
    printf 'network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    %s:\n      addresses:\n' "$IFACE"
    for ip in "${ips[@]}"; do printf '        - %s/32\n' "$ip"; done
  } | write_if_changed "$NETPLAN_FILE" 0600)"
  if [[ -n "$changed" || -n "$(missing_live)" ]]; then
    log "applying netplan for ${ips[*]}"
    netplan apply
  fi
  exit 0
fi

# ifupdown: one alias per address, eth0:1 … eth0:N.
old_aliases=()
if [[ -e "$IFUPDOWN_FILE" ]]; then
  read -r -a old_aliases <<<"$(awk '$1 == "auto" { printf "%s ", $2 }' "$IFUPDOWN_FILE")"
fi
if ! grep -qE '^\s*source(-directory)?\s+(/etc/network/interfaces\.d(/\*)?)\s*$' "$ROOT/etc/network/interfaces" 2>/dev/null; then
  mkdir -p "$ROOT/etc/network"
  printf '\nsource /etc/network/interfaces.d/*\n' >>"$ROOT/etc/network/interfaces"
fi
changed="$({
  printf '# Managed by coldmail: floating IPs of this server (Hetzner does not configure them).\n'
  n=0
  for ip in "${ips[@]}"; do
    n=$((n + 1))
    printf 'auto %s:%d\niface %s:%d inet static\n    address %s\n    netmask 32\n\n' "$IFACE" "$n" "$IFACE" "$n" "$ip"
  done
} | write_if_changed "$IFUPDOWN_FILE" 0644)"
if [[ -n "$changed" ]]; then
  # A full networking restart could cut this SSH session: cycle only the aliases.
  for alias in "${old_aliases[@]}"; do
    ifdown --force "$alias" >/dev/null 2>&1 || true
  done
fi
if [[ -n "$changed" || -n "$(missing_live)" ]]; then
  log "bringing up ${ips[*]}"
  for ((n = 1; n <= ${#ips[@]}; n++)); do
    ifup "$IFACE:$n"
  done
fi
