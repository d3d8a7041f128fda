#!/usr/bin/env bash
# Install, configure or update Mailcow; safe to run any number of times.
#
# Settings come as VAR=value prefixes (sshd's AcceptEnv refuses other environment variables):
#   MAILCOW_HOSTNAME, MAILCOW_TZ, MAILCOW_VERSION (a release tag), MAILCOW_COMMIT (the commit the tag must
#   resolve to), SKIP_CLAMD (y|n), ENABLE_IPV6 (y|n), API_ALLOW_FROM (comma-separated IPs/CIDRs),
#   MAILCOW_BINDS ("SMTP_PORT=0.0.0.0:25 … HTTPS_BIND=0.0.0.0": the public port bindings),
#   PINNED_IMAGES ("<compose service>=<image>[@sha256:…] …"), ADMIN_UI_ALLOW (comma-separated addresses and
#   CIDRs that may open /admin, the host's own included; empty for no allow-list).
# Secrets come on stdin only, so they never reach a command line, `ps` or Pulumi's state in clear:
#   API_KEY=<key>
#   ADMIN_PASSWORD=<password>
# ROOT prefixes every path written (tests run against a scratch root); commands are taken from PATH.
# docs/security.md says why each step is here.
set -euo pipefail

ROOT="${ROOT:-}"
MAILCOW_REPO="${MAILCOW_REPO:-https://github.com/mailcow/mailcow-dockerized}"
MAILCOW_DIR="$ROOT/opt/mailcow-dockerized"
STATE_DIR="$ROOT/opt/coldmail/state"
SKIP_CLAMD="${SKIP_CLAMD:-n}"
ENABLE_IPV6="${ENABLE_IPV6:-y}"
API_ALLOW_FROM="${API_ALLOW_FROM:-172.22.1.1,127.0.0.1}"
PINNED_IMAGES="${PINNED_IMAGES:-}"
ADMIN_UI_ALLOW="${ADMIN_UI_ALLOW:-}"
WAIT_TRIES="${WAIT_TRIES:-180}"
WAIT_SLEEP="${WAIT_SLEEP:-10}"
: "${MAILCOW_HOSTNAME:?set MAILCOW_HOSTNAME}" "${MAILCOW_TZ:?set MAILCOW_TZ}" "${MAILCOW_VERSION:?set MAILCOW_VERSION}"
: "${MAILCOW_COMMIT:?set MAILCOW_COMMIT}" "${MAILCOW_BINDS:?set MAILCOW_BINDS}"
# Docker's release signing key, as published on docs.docker.com (docs/security.md §4).
DOCKER_KEY_FINGERPRINT=9DC858229FC7DD38854AE2D88D81803C0EBFCD88
# Containers must not read the cloud metadata service: it serves user_data, which holds the host key.
METADATA_RULE=(DOCKER-USER -d 169.254.169.254/32 -j DROP)
METADATA_UNIT="$ROOT/etc/systemd/system/coldmail-block-metadata.service"
# The web ports stay here until the default admin password is gone (docs/security.md §3).
LOOPBACK=127.0.0.1

log() { printf '[coldmail] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Everything below lands in mailcow.conf, a compose file or a root command: refuse what is not plain.
[[ "$MAILCOW_HOSTNAME" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "MAILCOW_HOSTNAME is not a host name"
[[ "$MAILCOW_TZ" =~ ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$ ]] || die "MAILCOW_TZ is not a time zone name"
[[ "$MAILCOW_VERSION" =~ ^[0-9]{4}-[0-9]{2}[a-z]?$ ]] || die "MAILCOW_VERSION is not a Mailcow release tag"
[[ "$MAILCOW_COMMIT" =~ ^[0-9a-f]{40}$ ]] || die "MAILCOW_COMMIT is not a full commit id"
[[ "$SKIP_CLAMD" =~ ^[yn]$ && "$ENABLE_IPV6" =~ ^[yn]$ ]] || die "SKIP_CLAMD and ENABLE_IPV6 must be y or n"
[[ "$API_ALLOW_FROM" =~ ^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$ ]] || die "API_ALLOW_FROM is not a list of networks"
[[ -z "$ADMIN_UI_ALLOW" || "$ADMIN_UI_ALLOW" =~ ^[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*$ ]] \
  || die "ADMIN_UI_ALLOW is not a list of networks"
read -r -a binds <<<"$MAILCOW_BINDS"
for bind in "${binds[@]}"; do
  [[ "$bind" =~ ^(SMTP|SMTPS|SUBMISSION|IMAP|IMAPS|POP|POPS|SIEVE)_PORT=((0\.0\.0\.0|127\.0\.0\.1):)?[0-9]{1,5}$ \
    || "$bind" =~ ^HTTPS?_BIND=(0\.0\.0\.0)?$ ]] || die "MAILCOW_BINDS entry $bind is not a port binding"
done
read -r -a pinned <<<"$PINNED_IMAGES"
for pin in "${pinned[@]}"; do
  [[ "$pin" =~ ^[a-z0-9-]+=[a-z0-9._/-]+:[A-Za-z0-9._-]+(@sha256:[0-9a-f]{64})?$ ]] \
    || die "PINNED_IMAGES entry $pin is not <service>=<image>:<tag>[@sha256:<digest>]"
done
if [[ "$ENABLE_IPV6" == y ]]; then MAILCOW_IPV6=true; else MAILCOW_IPV6=false; fi

API_KEY=""
ADMIN_PASSWORD=""
while IFS= read -r line || [[ -n "$line" ]]; do
  case "$line" in
    API_KEY=*) API_KEY="${line#API_KEY=}" ;;
    ADMIN_PASSWORD=*) ADMIN_PASSWORD="${line#ADMIN_PASSWORD=}" ;;
  esac
done
# Mailcow strips every other character from X-API-Key, so any other key could never authenticate.
[[ "$API_KEY" =~ ^[A-Za-z0-9-]{16,255}$ ]] || die "stdin must carry API_KEY=<16-255 chars of A-Z a-z 0-9 ->"
[[ -n "$ADMIN_PASSWORD" ]] || die "stdin must carry ADMIN_PASSWORD=<password>"

mkdir -p "$STATE_DIR"
chmod 0700 "$STATE_DIR"

install_packages() {
  local missing=()
  for tool in git jq curl openssl gpg; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]/gpg/gnupg}" ca-certificates
  fi
}

docker_ok() {
  local version
  version="$(docker version --format '{{.Server.Version}}' 2>/dev/null)" || return 1
  [[ "${version%%.*}" =~ ^[0-9]+$ ]] && ((${version%%.*} >= 24)) || return 1
  docker compose version >/dev/null 2>&1
}

# write_if_changed FILE MODE: stdin becomes FILE when it differs; prints "changed" then.
write_if_changed() {
  local file="$1" mode="$2" tmp
  mkdir -p "${file%/*}"
  tmp="$(mktemp "${file%/*}/.coldmail.XXXXXX")"
  cat >"$tmp"
  if [[ -e "$file" ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 0
  fi
  chmod "$mode" "$tmp"
  mv "$tmp" "$file"
  echo changed
}

configure_docker_daemon() {
  # No userland proxy: it forwards IPv6 clients to IPv4-only containers as the bridge gateway, an address
  # Postfix trusts (mynetworks) and the API allows. With IPv6 on, ip6tables NATs v6 clients keeping their
  # source address. Written before Docker first starts, so generate_config.sh never restarts Docker.
  local file="$ROOT/etc/docker/daemon.json" current='{}' want changed
  if [[ -s "$file" ]]; then
    current="$(cat "$file")"
  fi
  if [[ "$ENABLE_IPV6" == y ]]; then
    want='. + {"userland-proxy": false, "ipv6": true, "fixed-cidr-v6": "fd00:dead:beef:c0::/80", "ip6tables": true, "experimental": true}'
  else
    want='. + {"userland-proxy": false, "ipv6": false} | del(.["fixed-cidr-v6"])'
  fi
  current="$(jq "$want" <<<"$current" 2>/dev/null)" || die "$file is not a JSON object; fix it by hand"
  changed="$(printf '%s\n' "$current" | write_if_changed "$file" 0644)"
  if [[ -n "$changed" ]]; then
    echo restart >"$STATE_DIR/docker-needs-restart"
  fi
}

install_docker_key() {
  local id="$1" key home fingerprint
  key="$(mktemp)"
  home="$(mktemp -d)"
  curl -fsSL "https://download.docker.com/linux/$id/gpg" -o "$key"
  # Exactly one primary key, and it is Docker's: anything else in the file is never trusted by apt.
  fingerprint="$(GNUPGHOME="$home" gpg --batch --with-colons --show-keys "$key" \
    | awk -F: '$1 == "pub" { keys++; want = 1; next } $1 == "fpr" && want { fpr = $10; want = 0 }
               END { if (keys == 1) print fpr }')"
  rm -rf "$home"
  if [[ "$fingerprint" != "$DOCKER_KEY_FINGERPRINT" ]]; then
    rm -f "$key"
    die "the key at download.docker.com has fingerprint '${fingerprint:-none}', not Docker's $DOCKER_KEY_FINGERPRINT"
  fi
  mkdir -p "$ROOT/etc/apt/keyrings"
  install -m 0644 "$key" "$ROOT/etc/apt/keyrings/docker.asc"
  rm -f "$key"
}

install_docker() {
  if docker_ok; then
    if [[ -e "$STATE_DIR/docker-needs-restart" ]]; then
      log "restarting Docker for its new daemon.json"
      systemctl restart docker
    fi
    rm -f "$STATE_DIR/docker-needs-restart"
    return 0
  fi
  log "installing Docker from download.docker.com (the distributions' packages are older than 24)"
  local id codename
  # shellcheck disable=SC1091
  id="$(. "$ROOT/etc/os-release" && echo "$ID")"
  # shellcheck disable=SC1091
  codename="$(. "$ROOT/etc/os-release" && echo "$VERSION_CODENAME")"
  install_docker_key "$id"
  printf 'deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/%s %s stable\n' \
    "$id" "$codename" >"$ROOT/etc/apt/sources.list.d/docker.list"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
  systemctl enable --now docker
  rm -f "$STATE_DIR/docker-needs-restart"
  docker_ok || die "Docker >= 24 with the compose plugin is still missing after the install"
}

block_metadata() {
  # Docker keeps DOCKER-USER across its restarts but not across reboots; the unit re-adds the rule
  # whenever Docker (re)starts, and the check below adds it now.
  local changed
  changed="$(printf '%s\n' \
    "# Managed by coldmail: containers may not reach the cloud metadata service (it serves user_data)." \
    "[Unit]" "Description=coldmail: block the metadata service for containers" \
    "After=docker.service" "PartOf=docker.service" "" \
    "[Service]" "Type=oneshot" "RemainAfterExit=yes" \
    "ExecStart=/bin/sh -c 'iptables -C ${METADATA_RULE[*]} 2>/dev/null || iptables -I ${METADATA_RULE[0]} 1 ${METADATA_RULE[*]:1}'" \
    "" "[Install]" "WantedBy=docker.service" | write_if_changed "$METADATA_UNIT" 0644)"
  if [[ -n "$changed" ]]; then
    systemctl daemon-reload
    systemctl enable coldmail-block-metadata.service
  fi
  if ! iptables -C "${METADATA_RULE[@]}" 2>/dev/null; then
    log "blocking 169.254.169.254 for containers"
    iptables -I "${METADATA_RULE[0]}" 1 "${METADATA_RULE[@]:1}"
  fi
}

# checkout_pinned DIR: the release tag must resolve to MAILCOW_COMMIT; that commit is checked out as the
# local master, the branch generate_config.sh checks out.
checkout_pinned() {
  local dir="$1" resolved
  resolved="$(git -C "$dir" rev-parse --verify --quiet "refs/tags/$MAILCOW_VERSION^{commit}")" \
    || die "mailcow-dockerized has no tag $MAILCOW_VERSION"
  [[ "$resolved" == "$MAILCOW_COMMIT" ]] \
    || die "tag $MAILCOW_VERSION resolves to $resolved, not the pinned $MAILCOW_COMMIT: refusing to run it"
  git -C "$dir" checkout --quiet -B master "$MAILCOW_COMMIT"
}

clone_mailcow() {
  [[ -d "$MAILCOW_DIR/.git" ]] && return 0
  log "cloning mailcow-dockerized $MAILCOW_VERSION ($MAILCOW_COMMIT)"
  # Clone beside the target and move it in, so a dead clone never looks like a finished one.
  rm -rf "$MAILCOW_DIR.partial"
  git clone --quiet --branch "$MAILCOW_VERSION" "$MAILCOW_REPO" "$MAILCOW_DIR.partial"
  checkout_pinned "$MAILCOW_DIR.partial"
  mv "$MAILCOW_DIR.partial" "$MAILCOW_DIR"
  echo "$MAILCOW_VERSION $MAILCOW_COMMIT" >"$STATE_DIR/version"
}

conf_value() {
  awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2); exit }' "$MAILCOW_DIR/mailcow.conf"
}

generate_config() {
  local conf="$MAILCOW_DIR/mailcow.conf" detected
  # mailcow.conf holds every database and Redis password: never regenerate a finished one.
  if [[ -e "$STATE_DIR/generated" && -e "$conf" ]]; then
    return 0
  fi
  rm -f "$conf"
  log "generating mailcow.conf"
  (cd "$MAILCOW_DIR" && MAILCOW_HOSTNAME="$MAILCOW_HOSTNAME" MAILCOW_TZ="$MAILCOW_TZ" MAILCOW_BRANCH=master \
    SKIP_CLAMD="$SKIP_CLAMD" FORCE=y ./generate_config.sh) >>"$STATE_DIR/generate.log" 2>&1 \
    || die "generate_config.sh failed, see $STATE_DIR/generate.log"
  [[ -s "$conf" ]] || die "generate_config.sh wrote no mailcow.conf"
  chmod 0600 "$conf"
  [[ "$(git -C "$MAILCOW_DIR" rev-parse HEAD)" == "$MAILCOW_COMMIT" ]] \
    || die "generate_config.sh left a checkout other than $MAILCOW_COMMIT"
  # Mailcow probes the host for IPv6. Where it disagrees with the stack, the host's IPv6 is not what DNS
  # will advertise: fail rather than run half-configured (docs/security.md §2).
  detected="$(conf_value ENABLE_IPV6)"
  [[ "$detected" == "$MAILCOW_IPV6" ]] || die "Mailcow found ENABLE_IPV6=${detected:-unset} on this host, but" \
    "servers[].ipv6 asks for $MAILCOW_IPV6: fix the host's IPv6 (or the config) and run again"
  touch "$STATE_DIR/generated"
}

# set_conf KEY VALUE: replace KEY=… in place or append it; prints "changed" when the file changed.
# Key and value reach awk through its environment: the API key never appears in a command line.
set_conf() {
  local conf="$MAILCOW_DIR/mailcow.conf"
  KEY="$1" VALUE="$2" awk 'BEGIN { k = ENVIRON["KEY"]; v = ENVIRON["VALUE"]; done = 0 }
    index($0, k "=") == 1 { if (!done) { print k "=" v; done = 1 }; next }
    { print }
    END { if (!done) print k "=" v }' "$conf" | write_if_changed "$conf" 0600
}

admin_password_set() { [[ -s "$STATE_DIR/admin-password.sha256" ]]; }

# web_bind KEY: the public binding of HTTP_BIND/HTTPS_BIND once our admin password is in, loopback before.
web_bind() {
  local bind
  if ! admin_password_set; then
    echo "$LOOPBACK"
    return 0
  fi
  for bind in "${binds[@]}"; do
    [[ "${bind%%=*}" == "$1" ]] && echo "${bind#*=}" && return 0
  done
  echo ""
}

configure() {
  local changed="" bind key ipv6
  changed+="$(set_conf DOCKER_COMPOSE_VERSION native)"
  changed+="$(set_conf API_KEY "$API_KEY")"
  changed+="$(set_conf API_ALLOW_FROM "$API_ALLOW_FROM")"
  ipv6="$(set_conf ENABLE_IPV6 "$MAILCOW_IPV6")"
  if [[ -n "$ipv6" && -e "$STATE_DIR/installed" ]]; then
    # Docker cannot switch IPv6 on an existing network: Mailcow's network has to be recreated.
    touch "$STATE_DIR/network-changed"
  fi
  changed+="$ipv6"
  # Port 80 only redirects to HTTPS and answers ACME: no login page is ever served on it.
  changed+="$(set_conf HTTP_REDIRECT y)"
  for bind in "${binds[@]}"; do
    if [[ "${bind%%=*}" == *_PORT ]]; then
      changed+="$(set_conf "${bind%%=*}" "${bind#*=}")"
    fi
  done
  for key in HTTP_BIND HTTPS_BIND; do
    changed+="$(set_conf "$key" "$(web_bind "$key")")"
  done
  chmod 0600 "$MAILCOW_DIR/mailcow.conf"
  if [[ -n "$changed" ]]; then
    touch "$STATE_DIR/conf-changed"
  fi
}

# pinned_ref SERVICE=IMAGE: the image with the digest given, or the one pulled first for that tag.
pinned_ref() {
  local ref="${1#*=}" recorded
  if [[ "$ref" != *@sha256:* && -e "$STATE_DIR/image-digests" ]]; then
    recorded="$(awk -v r="$ref" '$1 == r { print $2; exit }' "$STATE_DIR/image-digests")"
    [[ -z "$recorded" ]] || ref="$ref@$recorded"
  fi
  echo "$ref"
}

write_overrides() {
  local changed="" pin allow nginx="$MAILCOW_DIR/data/conf/nginx" nets override="$MAILCOW_DIR/docker-compose.override.yml"
  # Mailcow leaves these images on moving tags; compose merges this file over its own (git-ignored there).
  if ((${#pinned[@]})); then
    changed+="$({
      printf '# Managed by coldmail: images Mailcow leaves unpinned (docs/security.md §4).\nservices:\n'
      for pin in "${pinned[@]}"; do
        printf '  %s:\n    image: %s\n' "${pin%%=*}" "$(pinned_ref "$pin")"
      done
    } | write_if_changed "$override" 0644)"
  elif [[ -e "$override" ]]; then
    rm -f "$override"
    changed=changed
  fi
  [[ -z "$changed" ]] || OVERRIDE_CHANGED=1
  # /admin allow-list: a geo map at http level, checked in every server block (nginx reads conf.d/*.conf
  # and site.*.custom there; both are git-ignored in Mailcow's checkout).
  allow=""
  if [[ -n "$ADMIN_UI_ALLOW" ]]; then
    IFS=, read -r -a nets <<<"$ADMIN_UI_ALLOW"
    allow="$({
      cat <<'EOF'
# Managed by coldmail: who may open /admin (servers[].adminUiCidrs).
geo $coldmail_admin_allowed {
    default 0;
EOF
      printf '    %s 1;\n' "${nets[@]}"
      cat <<'EOF'
}
map "$coldmail_admin_allowed:$uri" $coldmail_admin_denied {
    default 0;
    "~^0:/admin" 1;
}
EOF
    } | write_if_changed "$nginx/coldmail-admin-allow.conf" 0644)"
    allow+="$(write_if_changed "$nginx/site.coldmail-admin.custom" 0644 <<'EOF'
# Managed by coldmail: see coldmail-admin-allow.conf.
if ($coldmail_admin_denied) {
    return 403;
}
EOF
)"
  elif [[ -e "$nginx/coldmail-admin-allow.conf" || -e "$nginx/site.coldmail-admin.custom" ]]; then
    rm -f "$nginx/coldmail-admin-allow.conf" "$nginx/site.coldmail-admin.custom"
    allow=changed
  fi
  [[ -z "$allow" ]] || NGINX_CHANGED=1
}

# record_digests: pin every image that came without a digest to the one just pulled.
record_digests() {
  local pin ref repo digest
  for pin in "${pinned[@]}"; do
    ref="${pin#*=}"
    # A digest given, or one kept from an earlier pull: never replaced by what the tag points at now.
    [[ "$(pinned_ref "$pin")" != *@sha256:* ]] || continue
    repo="${ref%:*}"
    digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" \
      | awk -F@ -v r="$repo" '$1 == r || $1 == "docker.io/" r || $1 == "docker.io/library/" r { print $2; exit }')"
    [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "docker reports no digest for $ref"
    echo "$ref $digest" >>"$STATE_DIR/image-digests"
  done
}

compose() { (cd "$MAILCOW_DIR" && docker compose "$@"); }

pull_images() {
  log "pulling images"
  compose pull --quiet >>"$STATE_DIR/compose.log" 2>&1 || die "docker compose pull failed"
  record_digests
  write_overrides
  OVERRIDE_CHANGED=""
  touch "$STATE_DIR/conf-changed"
}

update_mailcow() {
  [[ -e "$STATE_DIR/installed" ]] || return 0
  local current
  current="$(cat "$STATE_DIR/version" 2>/dev/null || true)"
  [[ "$current" != "$MAILCOW_VERSION $MAILCOW_COMMIT" ]] || return 0
  # Never Mailcow's update.sh: it runs itself and its modules from origin/master as root.
  log "updating Mailcow from ${current:-unknown} to $MAILCOW_VERSION ($MAILCOW_COMMIT)"
  git -C "$MAILCOW_DIR" fetch --quiet origin "refs/tags/$MAILCOW_VERSION:refs/tags/$MAILCOW_VERSION" \
    || die "could not fetch tag $MAILCOW_VERSION (a local tag of that name that points elsewhere is never overwritten)"
  checkout_pinned "$MAILCOW_DIR"
  pull_images
  echo "$MAILCOW_VERSION $MAILCOW_COMMIT" >"$STATE_DIR/version"
}

start_mailcow() {
  if [[ ! -e "$STATE_DIR/installed" || -n "${OVERRIDE_CHANGED:-}" ]]; then
    pull_images
  fi
  if [[ ! -e "$STATE_DIR/conf-changed" ]]; then
    [[ -z "${NGINX_CHANGED:-}" ]] || compose restart nginx-mailcow >>"$STATE_DIR/compose.log" 2>&1
    return 0
  fi
  if [[ -e "$STATE_DIR/network-changed" ]]; then
    log "recreating Mailcow's network for ENABLE_IPV6=$MAILCOW_IPV6"
    compose down >>"$STATE_DIR/compose.log" 2>&1 || die "docker compose down failed, see $STATE_DIR/compose.log"
    rm -f "$STATE_DIR/network-changed"
  fi
  log "starting Mailcow"
  # Also recreates php-fpm after an API key change: it loads API_KEY into the database at start.
  compose up -d --quiet-pull --remove-orphans >>"$STATE_DIR/compose.log" 2>&1 \
    || die "docker compose up failed, see $STATE_DIR/compose.log"
  rm -f "$STATE_DIR/conf-changed"
  [[ -z "${NGINX_CHANGED:-}" ]] || compose restart nginx-mailcow >>"$STATE_DIR/compose.log" 2>&1
}

api_get() {
  # The key goes to curl on stdin (--config -), never in its arguments.
  printf 'header = "X-API-Key: %s"\n' "$API_KEY" | curl --config - -fsS -k --max-time 20 \
    --resolve "$MAILCOW_HOSTNAME:443:127.0.0.1" "https://$MAILCOW_HOSTNAME/api/v1/$1"
}

wait_ready() {
  local i body
  for ((i = 1; i <= WAIT_TRIES; i++)); do
    if body="$(api_get get/status/containers 2>/dev/null)" \
      && jq -e 'type == "object" and length > 0 and all(.[]; .state == "running")' >/dev/null 2>&1 <<<"$body"; then
      return 0
    fi
    sleep "$WAIT_SLEEP"
  done
  die "Mailcow's API never reported every container running (get/status/containers)"
}

# try_admin_password: one attempt; true once the admin row holds our hash (php-fpm's init_db inserts
# the default admin only at its first start, so an early UPDATE can find no row to change).
try_admin_password() {
  local hash found
  # Hash inside php-fpm and update inside mysql, both reading stdin: the password and the database
  # credentials never appear in a host command line.
  hash="$(printf '%s\n' "$ADMIN_PASSWORD" | compose exec -T php-fpm-mailcow \
    php -r 'echo password_hash(rtrim(fgets(STDIN), "\n"), PASSWORD_BCRYPT);' 2>>"$STATE_DIR/compose.log")" || return 1
  [[ "$hash" =~ ^\$2y\$[0-9]{2}\$[./A-Za-z0-9]{53}$ ]] || return 1
  # shellcheck disable=SC2016 # the variables are mysql-mailcow's own, expanded inside the container
  found="$(printf "UPDATE admin SET password='{BLF-CRYPT}%s' WHERE username='admin';\nSELECT COUNT(*) FROM admin WHERE username='admin' AND password='{BLF-CRYPT}%s';\n" \
    "$hash" "$hash" | compose exec -T mysql-mailcow \
    sh -c 'MYSQL_PWD="$MYSQL_PASSWORD" exec mysql -N -B -u"$MYSQL_USER" "$MYSQL_DATABASE"' 2>>"$STATE_DIR/compose.log")" \
    || return 1
  [[ "$found" == 1 ]]
}

set_admin_password() {
  local fingerprint i
  fingerprint="$(printf '%s' "$ADMIN_PASSWORD" | sha256sum | cut -d' ' -f1)"
  if [[ "$(cat "$STATE_DIR/admin-password.sha256" 2>/dev/null || true)" == "$fingerprint" ]]; then
    return 0
  fi
  log "replacing the default admin password"
  for ((i = 1; i <= WAIT_TRIES; i++)); do
    if try_admin_password; then
      (umask 077 && printf '%s\n' "$fingerprint" >"$STATE_DIR/admin-password.sha256")
      return 0
    fi
    sleep "$WAIT_SLEEP"
  done
  die "php-fpm and mysql never took the admin password; Mailcow's web ports stay on $LOOPBACK"
}

# publish_web: with our password in, move HTTP/HTTPS from loopback to their public binding.
publish_web() {
  local changed="" key
  for key in HTTP_BIND HTTPS_BIND; do
    changed+="$(set_conf "$key" "$(web_bind "$key")")"
  done
  [[ -n "$changed" ]] || return 0
  log "opening Mailcow's web ports"
  compose up -d --quiet-pull >>"$STATE_DIR/compose.log" 2>&1 || die "docker compose up failed, see $STATE_DIR/compose.log"
  # ACME's HTTP check failed while port 80 was on loopback, and it retries only after 30 minutes.
  compose restart acme-mailcow >>"$STATE_DIR/compose.log" 2>&1
}

install_packages
configure_docker_daemon
install_docker
block_metadata
clone_mailcow
generate_config
configure
write_overrides
update_mailcow
start_mailcow
set_admin_password
publish_web
wait_ready
touch "$STATE_DIR/installed"
log "Mailcow $MAILCOW_VERSION is running on $MAILCOW_HOSTNAME"
