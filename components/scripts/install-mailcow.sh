#!/usr/bin/env bash
# Install, configure or update Mailcow; safe to run any number of times.
#
# Settings come as VAR=value prefixes (sshd's AcceptEnv refuses other environment variables):
#   MAILCOW_HOSTNAME, MAILCOW_TZ, MAILCOW_VERSION (a release tag), SKIP_CLAMD (y|n), ENABLE_IPV6 (y|n),
#   API_ALLOW_FROM (comma-separated IPs/CIDRs).
# Secrets come on stdin only, so they never reach a command line, `ps` or Pulumi's state in clear:
#   API_KEY=<key>
#   ADMIN_PASSWORD=<password>
# ROOT prefixes every path written (tests run against a scratch root); commands are taken from PATH.
set -euo pipefail

ROOT="${ROOT:-}"
MAILCOW_REPO="${MAILCOW_REPO:-https://github.com/mailcow/mailcow-dockerized}"
MAILCOW_DIR="$ROOT/opt/mailcow-dockerized"
STATE_DIR="$ROOT/opt/coldmail/state"
SKIP_CLAMD="${SKIP_CLAMD:-n}"
ENABLE_IPV6="${ENABLE_IPV6:-y}"
API_ALLOW_FROM="${API_ALLOW_FROM:-172.22.1.1,127.0.0.1}"
WAIT_TRIES="${WAIT_TRIES:-180}"
WAIT_SLEEP="${WAIT_SLEEP:-10}"
: "${MAILCOW_HOSTNAME:?set MAILCOW_HOSTNAME}" "${MAILCOW_TZ:?set MAILCOW_TZ}" "${MAILCOW_VERSION:?set MAILCOW_VERSION}"

log() { printf '[coldmail] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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
  for tool in git jq curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" ca-certificates
  fi
}

docker_ok() {
  local version
  version="$(docker version --format '{{.Server.Version}}' 2>/dev/null)" || return 1
  [[ "${version%%.*}" =~ ^[0-9]+$ ]] && ((${version%%.*} >= 24)) || return 1
  docker compose version >/dev/null 2>&1
}

seed_daemon_json() {
  # generate_config.sh restarts Docker to enable IPv6 unless daemon.json already has it: seed it
  # before Docker first starts, so nothing restarts Docker under running containers.
  local file="$ROOT/etc/docker/daemon.json"
  [[ "$ENABLE_IPV6" == y && ! -e "$file" ]] || return 0
  mkdir -p "${file%/*}"
  printf '%s\n' '{"ipv6": true, "fixed-cidr-v6": "fd00:dead:beef:c0::/80", "ip6tables": true, "experimental": true}' >"$file"
  echo restart >"$STATE_DIR/docker-needs-restart"
}

install_docker() {
  seed_daemon_json
  if docker_ok; then
    if [[ -e "$STATE_DIR/docker-needs-restart" && ! -e "$STATE_DIR/installed" ]]; then
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
  mkdir -p "$ROOT/etc/apt/keyrings"
  curl -fsSL "https://download.docker.com/linux/$id/gpg" -o "$ROOT/etc/apt/keyrings/docker.asc"
  chmod 0644 "$ROOT/etc/apt/keyrings/docker.asc"
  printf 'deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/%s %s stable\n' \
    "$id" "$codename" >"$ROOT/etc/apt/sources.list.d/docker.list"
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    docker-ce docker-ce-cli containerd.io docker-buildx-plugin docker-compose-plugin
  systemctl enable --now docker
  rm -f "$STATE_DIR/docker-needs-restart"
  docker_ok || die "Docker >= 24 with the compose plugin is still missing after the install"
}

clone_mailcow() {
  [[ -d "$MAILCOW_DIR/.git" ]] && return 0
  log "cloning mailcow-dockerized $MAILCOW_VERSION"
  # Clone beside the target and move it in, so a dead clone never looks like a finished one.
  rm -rf "$MAILCOW_DIR.partial"
  git clone --quiet --branch "$MAILCOW_VERSION" "$MAILCOW_REPO" "$MAILCOW_DIR.partial"
  # generate_config.sh checks out MAILCOW_BRANCH (master): a local master at the pinned tag keeps the pin,
  # and update.sh later finds the branch it expects.
  git -C "$MAILCOW_DIR.partial" checkout --quiet -B master
  mv "$MAILCOW_DIR.partial" "$MAILCOW_DIR"
  echo "$MAILCOW_VERSION" >"$STATE_DIR/version"
}

generate_config() {
  local conf="$MAILCOW_DIR/mailcow.conf"
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
  touch "$STATE_DIR/generated"
}

# set_conf KEY VALUE: replace KEY=… in place or append it; prints "changed" when the file changed.
set_conf() {
  local conf="$MAILCOW_DIR/mailcow.conf" key="$1" value="$2" tmp
  if grep -qxF -- "$key=$value" "$conf"; then
    return 0
  fi
  tmp="$(mktemp "$conf.XXXXXX")"
  KEY="$key" VALUE="$value" awk 'BEGIN { k = ENVIRON["KEY"]; v = ENVIRON["VALUE"]; done = 0 }
    index($0, k "=") == 1 { if (!done) { print k "=" v; done = 1 }; next }
    { print }
    END { if (!done) print k "=" v }' "$conf" >"$tmp"
  chmod 0600 "$tmp"
  mv "$tmp" "$conf"
  echo changed
}

configure() {
  local changed=""
  changed+="$(set_conf DOCKER_COMPOSE_VERSION native)"
  changed+="$(set_conf API_KEY "$API_KEY")"
  changed+="$(set_conf API_ALLOW_FROM "$API_ALLOW_FROM")"
  chmod 0600 "$MAILCOW_DIR/mailcow.conf"
  if [[ -n "$changed" ]]; then
    touch "$STATE_DIR/conf-changed"
  fi
}

start_mailcow() {
  if [[ -e "$STATE_DIR/installed" && ! -e "$STATE_DIR/conf-changed" ]]; then
    return 0
  fi
  if [[ ! -e "$STATE_DIR/installed" ]]; then
    log "pulling images"
    (cd "$MAILCOW_DIR" && docker compose pull --quiet) >>"$STATE_DIR/compose.log" 2>&1 || die "docker compose pull failed"
  fi
  log "starting Mailcow"
  # Also recreates php-fpm after an API key change: it loads API_KEY into the database at start.
  (cd "$MAILCOW_DIR" && docker compose up -d --quiet-pull) >>"$STATE_DIR/compose.log" 2>&1 \
    || die "docker compose up failed, see $STATE_DIR/compose.log"
  rm -f "$STATE_DIR/conf-changed"
}

update_mailcow() {
  [[ -e "$STATE_DIR/installed" ]] || return 0
  local current
  current="$(cat "$STATE_DIR/version" 2>/dev/null || true)"
  [[ "$current" != "$MAILCOW_VERSION" ]] || return 0
  log "updating Mailcow from ${current:-unknown} to $MAILCOW_VERSION"
  git -C "$MAILCOW_DIR" fetch --quiet --tags origin
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    (cd "$MAILCOW_DIR" && ./update.sh --force --skip-ping-check) >>"$STATE_DIR/update.log" 2>&1 || rc=$?
    # Exit 2 means update.sh refreshed its own modules and must be run again.
    [[ $rc -eq 2 ]] || break
    log "update.sh asked to be run again (attempt $attempt)"
  done
  [[ $rc -eq 0 ]] || die "update.sh failed with exit $rc, see $STATE_DIR/update.log"
  echo "$MAILCOW_VERSION" >"$STATE_DIR/version"
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

set_admin_password() {
  local fingerprint hash
  fingerprint="$(printf '%s' "$ADMIN_PASSWORD" | sha256sum | cut -d' ' -f1)"
  if [[ "$(cat "$STATE_DIR/admin-password.sha256" 2>/dev/null || true)" == "$fingerprint" ]]; then
    return 0
  fi
  log "replacing the default admin password"
  # Hash inside php-fpm and update inside mysql, both reading stdin: the password and the database
  # credentials never appear in a host command line.
  hash="$(cd "$MAILCOW_DIR" && printf '%s\n' "$ADMIN_PASSWORD" | docker compose exec -T php-fpm-mailcow \
    php -r 'echo password_hash(rtrim(fgets(STDIN), "\n"), PASSWORD_BCRYPT);')"
  [[ "$hash" =~ ^\$2y\$[0-9]{2}\$[./A-Za-z0-9]{53}$ ]] || die "php-fpm returned no bcrypt hash"
  printf "UPDATE admin SET password='{BLF-CRYPT}%s' WHERE username='admin';\n" "$hash" \
    | (cd "$MAILCOW_DIR" && docker compose exec -T mysql-mailcow \
      sh -c 'MYSQL_PWD="$MYSQL_PASSWORD" exec mysql -u"$MYSQL_USER" "$MYSQL_DATABASE"')
  (umask 077 && printf '%s\n' "$fingerprint" >"$STATE_DIR/admin-password.sha256")
}

install_packages
install_docker
clone_mailcow
generate_config
configure
update_mailcow
start_mailcow
wait_ready
touch "$STATE_DIR/installed"
set_admin_password
log "Mailcow $MAILCOW_VERSION is running on $MAILCOW_HOSTNAME"
