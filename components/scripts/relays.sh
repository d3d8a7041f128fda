#!/usr/bin/env bash
# Install and run one host Postfix relay instance per floating IP; safe to run any number of times.
#
# The configuration files are rendered by components/relay.py and copied to
# $SOURCE/relay<N>/{main.cf,master.cf}; this script installs Postfix, puts the files in place,
# (re)starts only the instances whose files changed and removes instances that are no longer wanted.
# Settings (VAR=value prefixes): RELAYS="1 2 3" (the sending-IP indexes), SOURCE (default
# /opt/coldmail/relays). ROOT prefixes every path written; commands are taken from PATH.
set -euo pipefail

ROOT="${ROOT:-}"
RELAYS="${RELAYS:-}"
SOURCE="${SOURCE:-$ROOT/opt/coldmail/relays}"
UNIT="$ROOT/etc/systemd/system/coldmail-relay@.service"

log() { printf '[coldmail] %s\n' "$*" >&2; }

read -r -a wanted <<<"$RELAYS"
for n in "${wanted[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { log "ERROR: relay index $n is not a positive number"; exit 1; }
  for f in main.cf master.cf; do
    [[ -s "$SOURCE/relay$n/$f" ]] || { log "ERROR: $SOURCE/relay$n/$f is missing"; exit 1; }
  done
done

if ! command -v postfix >/dev/null 2>&1; then
  log "installing Postfix"
  # "No configuration": Debian's default instance would otherwise listen on :25, which is Mailcow's.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq postfix ca-certificates
fi
if [[ ! -e "$ROOT/opt/coldmail/state/default-postfix-off" ]]; then
  # Only the relay instances may run; the packaged units must never start a default instance.
  systemctl disable --now postfix.service >/dev/null 2>&1 || true
  systemctl mask postfix.service postfix@-.service
  mkdir -p "$ROOT/opt/coldmail/state"
  touch "$ROOT/opt/coldmail/state/default-postfix-off"
fi

# install_if_changed SRC DEST MODE: prints "changed" when DEST was (re)written.
# Each script is copied and checked against its SCRIPT_SHA256 alone, so it carries this helper itself.
install_if_changed() {
  if [[ -e "$2" ]] && cmp -s "$1" "$2"; then
    return 0
  fi
  mkdir -p "${2%/*}"
  install -m "$3" "$1" "$2.coldmail-new"
  mv "$2.coldmail-new" "$2"
  echo changed
}

unit_tmp="$(mktemp)"
trap 'rm -f "$unit_tmp"' EXIT
cat >"$unit_tmp" <<'EOF'
# Managed by coldmail: one Postfix relay per floating IP (components/relay.py).
[Unit]
Description=coldmail sending relay %i
# The relay listens on Mailcow's bridge gateway, which exists once Docker has started Mailcow.
After=network-online.target docker.service
Wants=network-online.target

[Service]
Type=simple
ExecStartPre=/usr/sbin/postfix -c /etc/postfix-relay%i check
ExecStart=/usr/sbin/postfix -c /etc/postfix-relay%i start-fg
ExecReload=/usr/sbin/postfix -c /etc/postfix-relay%i reload
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
if [[ -n "$(install_if_changed "$unit_tmp" "$UNIT" 0644)" ]]; then
  systemctl daemon-reload
fi

for n in "${wanted[@]}"; do
  name="relay$n"
  changed=""
  for f in main.cf master.cf; do
    changed+="$(install_if_changed "$SOURCE/$name/$f" "$ROOT/etc/postfix-$name/$f" 0644)"
  done
  # Queue and data live outside the config directory: `postfix check` rejects non-root files in it.
  mkdir -p "$ROOT/var/spool/postfix-$name" "$ROOT/var/lib/postfix-$name"
  if [[ -n "$changed" ]]; then
    log "relay $n: configuration changed"
    postfix -c "$ROOT/etc/postfix-$name" check
    systemctl enable "coldmail-relay@$n.service"
    systemctl restart "coldmail-relay@$n.service"
  elif ! systemctl is-active --quiet "coldmail-relay@$n.service"; then
    systemctl enable --now "coldmail-relay@$n.service"
  fi
done

# Instances of floating IPs that were removed from the stack.
shopt -s nullglob
for dir in "$ROOT"/etc/postfix-relay*; do
  n="${dir##*/postfix-relay}"
  [[ " ${wanted[*]} " == *" $n "* ]] && continue
  log "relay $n: removing"
  systemctl disable --now "coldmail-relay@$n.service" || true
  rm -rf "$dir"
done
