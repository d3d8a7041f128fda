#!/usr/bin/env bash
# Mailcow's own backup, run daily by a systemd timer, with an optional encrypted off-site copy (restic).
#
#   backup.sh install              write the settings, the restic credentials and the timer; safe to re-run
#   backup.sh run                  one backup (the timer's job): Mailcow's backup_and_restore.sh, the stack's
#                                  config export beside it, then the off-site copy; state in backup-last.json
#   backup.sh now                  run the backup service now, wait for it, print the state as JSON
#   backup.sh list                 the restore points and the last run, as JSON
#   backup.sh restore POINT PART…  restore parts (vmail crypt redis rspamd postfix mysql) of POINT by
#                                  answering upstream's interactive menus; prints the result as JSON
#
# install takes its settings as VAR=value prefixes: LOCATION, DELETE_DAYS, TIME (HH:MM), ENABLED (y|n),
# OFFSITE_REPOSITORY (restic's s3:… string, empty for none), KEEP_DAYS, HOST_NAME. The restic secrets come
# on stdin only (never a command line): RESTIC_PASSWORD=…, AWS_ACCESS_KEY_ID=…, AWS_SECRET_ACCESS_KEY=….
# ROOT prefixes every path (tests run against a scratch root); commands are taken from PATH.
set -euo pipefail

ROOT="${ROOT:-}"
COLDMAIL_DIR="$ROOT/opt/coldmail"
MAILCOW_DIR="$ROOT/opt/mailcow-dockerized"
UPSTREAM="$MAILCOW_DIR/helper-scripts/backup_and_restore.sh"
SETTINGS="$COLDMAIL_DIR/backup.env"
SECRETS="$COLDMAIL_DIR/secrets/restic.env"
STATE="$COLDMAIL_DIR/state/backup-last.json"
EXPORT_NAME="coldmail-stack.json"
EXPORT="$COLDMAIL_DIR/$EXPORT_NAME"
UNIT_DIR="$ROOT/etc/systemd/system"
SERVICE="coldmail-backup.service"
TIMER="coldmail-backup.timer"
# The archives backup_and_restore.sh writes per part (docs/mailcow-api.md §8); SQL is "mariadb" on disk.
PARTS=(vmail crypt redis rspamd postfix mysql)

log() { printf '[coldmail] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# read_env FILE: export every KEY=value line of FILE without evaluating it (values may hold any character).
read_env() {
  local line
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] && export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
  done <"$1"
}

load_settings() {
  [[ -r "$SETTINGS" ]] || die "backups are not installed on this server ($SETTINGS is missing): run \`pulumi up\`"
  read_env "$SETTINGS"
  : "${LOCATION:?}" "${DELETE_DAYS:?}"
  BACKUP_DIR="$ROOT$LOCATION"
}

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

do_install() {
  : "${LOCATION:?set LOCATION}" "${DELETE_DAYS:?set DELETE_DAYS}" "${TIME:?set TIME}"
  [[ "$LOCATION" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "LOCATION must be an absolute path, got $LOCATION"
  [[ "$DELETE_DAYS" =~ ^[0-9]+$ ]] || die "DELETE_DAYS must be a number, got $DELETE_DAYS"
  [[ "$TIME" =~ ^([01][0-9]|2[0-3]):[0-5][0-9]$ ]] || die "TIME must be HH:MM, got $TIME"
  local enabled="${ENABLED:-y}" repository="${OFFSITE_REPOSITORY:-}" keep_days="${KEEP_DAYS:-30}"
  local password="" key_id="" secret_key="" line tmp
  while IFS= read -r line || [[ -n "$line" ]]; do
    case "$line" in
      RESTIC_PASSWORD=*) password="${line#RESTIC_PASSWORD=}" ;;
      AWS_ACCESS_KEY_ID=*) key_id="${line#AWS_ACCESS_KEY_ID=}" ;;
      AWS_SECRET_ACCESS_KEY=*) secret_key="${line#AWS_SECRET_ACCESS_KEY=}" ;;
    esac
  done
  tmp="$(mktemp)"
  trap 'rm -f "$tmp"' RETURN

  mkdir -p "$COLDMAIL_DIR/state"
  printf 'LOCATION=%s\nDELETE_DAYS=%s\nOFFSITE=%s\nKEEP_DAYS=%s\nHOST_NAME=%s\n' \
    "$LOCATION" "$DELETE_DAYS" "$([[ -n "$repository" ]] && echo y || echo n)" "$keep_days" "${HOST_NAME:-}" >"$tmp"
  install_if_changed "$tmp" "$SETTINGS" 0644 >/dev/null
  if [[ -n "$repository" ]]; then
    [[ -n "$password" && -n "$key_id" && -n "$secret_key" ]] \
      || die "the off-site copy needs RESTIC_PASSWORD, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY on stdin"
    mkdir -p "${SECRETS%/*}"
    chmod 0700 "${SECRETS%/*}"
    (umask 077 && printf 'RESTIC_REPOSITORY=%s\nRESTIC_PASSWORD=%s\nAWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\n' \
      "$repository" "$password" "$key_id" "$secret_key" >"$tmp")
    install_if_changed "$tmp" "$SECRETS" 0600 >/dev/null
    if ! command -v restic >/dev/null 2>&1; then
      log "installing restic"
      apt-get -o DPkg::Lock::Timeout=600 update -qq
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq restic
    fi
  else
    rm -f "$SECRETS"
  fi
  # backup_and_restore.sh refuses a location that others cannot read and enter.
  mkdir -p "$ROOT$LOCATION"
  chmod 0755 "$ROOT$LOCATION"

  if [[ "$enabled" != y ]]; then
    systemctl disable --now "$TIMER" >/dev/null 2>&1 || true
    rm -f "$UNIT_DIR/$TIMER"
    log "daily backups are off"
    return 0
  fi
  local changed=""
  cat >"$tmp" <<'EOF'
# Managed by coldmail: Mailcow's backup_and_restore.sh, then the off-site copy (components/backups.py).
[Unit]
Description=coldmail: back up Mailcow
After=docker.service
Requires=docker.service

[Service]
Type=oneshot
ExecStart=/usr/bin/bash /opt/coldmail/backup.sh run
Nice=10
IOSchedulingClass=idle
EOF
  changed+="$(install_if_changed "$tmp" "$UNIT_DIR/$SERVICE" 0644)"
  cat >"$tmp" <<EOF
# Managed by coldmail: one backup a day; Persistent catches up a run missed while the server was off.
[Unit]
Description=coldmail: daily Mailcow backup

[Timer]
OnCalendar=*-*-* $TIME:00
Persistent=true

[Install]
WantedBy=timers.target
EOF
  changed+="$(install_if_changed "$tmp" "$UNIT_DIR/$TIMER" 0644)"
  if [[ -n "$changed" ]]; then
    systemctl daemon-reload
    systemctl enable "$TIMER"
    systemctl restart "$TIMER"
  elif ! systemctl is-active --quiet "$TIMER"; then
    systemctl enable --now "$TIMER"
  fi
  log "daily backup at $TIME into $LOCATION, kept $DELETE_DAYS days${repository:+, off-site copy kept $keep_days days}"
}

points() {
  local dir
  shopt -s nullglob
  for dir in "$BACKUP_DIR"/mailcow-*/; do
    dir="${dir%/}"
    printf '%s\n' "${dir##*/}"
  done
}

# parts_of DIR: the parts a restore point holds, one per line.
parts_of() {
  local part file
  for part in "${PARTS[@]}"; do
    file="$part"
    [[ "$part" == mysql ]] && file=mariadb
    if [[ -s "$1/backup_$file.tar.zst" || -s "$1/backup_$file.tar.gz" ]]; then
      echo "$part"
    fi
  done
}

write_state() {  # STATUS POINT MESSAGE OFFSITE STARTED
  local tmp
  mkdir -p "${STATE%/*}"
  tmp="$(mktemp "$STATE.XXXXXX")"
  jq -n --arg status "$1" --arg point "$2" --arg message "$3" --arg offsite "$4" --argjson started "$5" \
    --argjson finished "$(date +%s)" \
    '{status: $status, point: (if $point == "" then null else $point end), message: $message,
      offsite: $offsite, started_at: $started, finished_at: $finished}' >"$tmp"
  chmod 0644 "$tmp"
  mv "$tmp" "$STATE"
}

offsite_copy() {  # POINT_DIR
  [[ -r "$SECRETS" ]] || { log "off-site copy configured but $SECRETS is missing"; return 1; }
  (
    read_env "$SECRETS"
    if ! restic cat config >/dev/null 2>&1; then
      log "initialising the off-site repository"
      restic init >/dev/null
    fi
    restic backup --quiet --host "${HOST_NAME:-coldmail}" --tag coldmail "$1"
    # Each restore point is its own path: group by host and tag, or every snapshot would be its own
    # group and --keep-within would never drop one.
    restic forget --quiet --host "${HOST_NAME:-coldmail}" --tag coldmail --group-by host,tags \
      --keep-within "${KEEP_DAYS}d" --prune
  )
}

do_run() {
  load_settings
  local started before after point="" missing=() part present offsite=off
  started="$(date +%s)"
  mkdir -p "$BACKUP_DIR"
  chmod 0755 "$BACKUP_DIR"
  before="$(points)"
  log "backing up Mailcow into $LOCATION"
  # stdin from /dev/null: an unexpected prompt of the upstream script ends instead of waiting forever.
  (cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$BACKUP_DIR" "$UPSTREAM" backup all --delete-days "$DELETE_DAYS") \
    </dev/null >&2 || log "backup_and_restore.sh exited $?"
  after="$(points)"
  point="$(comm -13 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) | tail -n 1)"
  if [[ -z "$point" ]]; then
    write_state failed "" "backup_and_restore.sh created no restore point in $LOCATION" off "$started"
    die "backup_and_restore.sh created no restore point in $LOCATION"
  fi
  # Its exit code says nothing (it does not stop on errors): every part must have its archive.
  present="$(parts_of "$BACKUP_DIR/$point")"
  for part in "${PARTS[@]}"; do
    grep -qx "$part" <<<"$present" || missing+=("$part")
  done
  if [[ -s "$EXPORT" ]]; then
    install -m 0644 "$EXPORT" "$BACKUP_DIR/$point/$EXPORT_NAME"
  fi
  if ((${#missing[@]})); then
    write_state failed "$point" "no archive for: ${missing[*]}" off "$started"
    die "$point has no archive for: ${missing[*]}"
  fi
  if [[ "${OFFSITE:-n}" == y ]]; then
    if offsite_copy "$BACKUP_DIR/$point"; then
      offsite=ok
    else
      write_state failed "$point" "the local backup is complete; the off-site copy failed" failed "$started"
      die "$point is complete locally, but the off-site copy failed"
    fi
  fi
  write_state ok "$point" "backup complete" "$offsite" "$started"
  log "backup $point complete (off-site: $offsite)"
}

do_now() {
  load_settings
  local rc=0 before=""
  [[ -r "$STATE" ]] && before="$(cat "$STATE")"
  systemctl start "$SERVICE" || rc=$?
  # A run that died before recording itself must not be reported as the previous run.
  if [[ ! -r "$STATE" || "$(cat "$STATE")" == "$before" ]]; then
    die "the backup service ran but recorded no run (exit $rc): journalctl -u $SERVICE"
  fi
  cat "$STATE"
  return "$rc"
}

do_list() {
  load_settings
  local name dir list="[]" parts last=null
  while IFS= read -r name; do
    [[ -n "$name" ]] || continue
    dir="$BACKUP_DIR/$name"
    parts="$(parts_of "$dir" | jq -R . | jq -s -c .)"
    list="$(jq -c --arg name "$name" --argjson parts "$parts" --argjson mtime "$(stat -c %Y "$dir")" \
      --argjson size "$(du -sb "$dir" | cut -f1)" --argjson export "$([[ -s "$dir/$EXPORT_NAME" ]] && echo true || echo false)" \
      '. + [{name: $name, parts: $parts, created_at: $mtime, size_bytes: $size, config_export: $export}]' <<<"$list")"
  done < <(points)
  [[ -r "$STATE" ]] && last="$(cat "$STATE")"
  jq -n --arg location "$LOCATION" --argjson points "$list" --argjson last "$last" \
    --argjson delete_days "$DELETE_DAYS" --arg offsite "${OFFSITE:-n}" --argjson now "$(date +%s)" \
    '{location: $location, delete_days: $delete_days, offsite: ($offsite == "y"), now: $now,
      points: $points, last_run: $last}'
}

# The dataset label upstream's restore menu shows for a part (docs/mailcow-api.md §8).
menu_label() {
  case "$1" in
    vmail) echo "Mail directory (/var/vmail)" ;;
    crypt) echo "Crypt data" ;;
    redis) echo "Redis DB" ;;
    rspamd) echo "Rspamd data" ;;
    postfix) echo "Postfix data" ;;
    mysql) echo "SQL DB" ;;
  esac
}

# restore_part POINT PART: one run of upstream's interactive restore, answering its two menus.
# Its `read -p` prompts are not printed when stdin is not a terminal, so each answer is written
# when the menu it answers has been printed (a blank line ends each menu). stdin is then closed:
# the follow-up questions get end-of-file, which upstream takes as its default (no full resync after
# vmail; stop Mailcow and restore after mysql), and `docker run -i` during the restore cannot swallow
# an answer meant for a later question.
restore_part() {
  local point="$1" part="$2" label line stage=point seen="" choice="" rc=0 transcript
  label="$(menu_label "$part")"
  transcript="$(mktemp)"
  coproc UPSTREAM_RESTORE {
    cd "$MAILCOW_DIR" && MAILCOW_BACKUP_LOCATION="$BACKUP_DIR" exec "$UPSTREAM" restore 2>&1
  }
  local pid="$UPSTREAM_RESTORE_PID" from to out="${UPSTREAM_RESTORE[0]}" in="${UPSTREAM_RESTORE[1]}"
  # Work on copies: bash closes the coprocess' own descriptors when it exits, which would lose its last
  # lines. The originals are closed at once, so closing the copy really ends the coprocess' stdin.
  exec {from}<&"$out" {to}>&"$in"
  exec {out}<&- {in}>&-
  while IFS= read -r line <&"$from"; do
    printf '%s\n' "$line" | tee -a "$transcript" >&2
    [[ "$stage" == answered ]] && continue
    if [[ "$line" =~ ^\[\ ([0-9]+)\ \]\ -\ (.*)$ ]]; then
      seen=1
      local number="${BASH_REMATCH[1]}" entry="${BASH_REMATCH[2]}"
      if [[ "$stage" == point ]]; then
        entry="${entry%/}"
        [[ "${entry##*/}" == "$point" ]] && choice="$number"
      elif [[ "$entry" == "$label" || "$entry" == "$label ("* ]]; then
        choice="$number"
      fi
    elif [[ -z "$line" && -n "$seen" ]]; then
      if [[ -z "$choice" ]]; then
        kill "$pid" 2>/dev/null || true
        exec {to}>&- {from}<&-
        wait "$pid" 2>/dev/null || true
        rm -f "$transcript"
        [[ "$stage" == point ]] && die "backup_and_restore.sh does not offer restore point $point"
        die "restore point $point offers no restorable $part (see the menu above)"
      fi
      printf '%s\n' "$choice" >&"$to"
      if [[ "$stage" == point ]]; then
        stage=dataset
      else
        stage=answered
        exec {to}>&-
      fi
      seen="" choice=""
    fi
  done
  exec {from}<&-
  [[ "$stage" == answered ]] || exec {to}>&-
  wait "$pid" || rc=$?
  # Upstream goes on after a failed step; its own error lines are the only sign.
  if [[ "$stage" != answered ]] || ((rc != 0)) \
      || grep -qE 'Error: No backup file|skipping restore|Skipping rspamd|no subfolders|No datasets found' "$transcript"; then
    rm -f "$transcript"
    die "restoring $part from $point failed (exit $rc; see the output above)"
  fi
  rm -f "$transcript"
}

do_restore() {
  load_settings
  local point="${1:-}" part ordered=() available
  shift || true
  [[ "$point" =~ ^mailcow-[0-9]{4}(-[0-9]{2}){5}$ ]] || die "restore point must look like mailcow-YYYY-MM-DD-HH-MM-SS, got '$point'"
  [[ -d "$BACKUP_DIR/$point" ]] || die "no restore point $point in $LOCATION"
  (($#)) || die "name the parts to restore: ${PARTS[*]}"
  available="$(parts_of "$BACKUP_DIR/$point")"
  for part in "$@"; do
    [[ " ${PARTS[*]} " == *" $part "* ]] || die "unknown part '$part'; parts are: ${PARTS[*]}"
    grep -qx "$part" <<<"$available" || die "$point has no $part archive"
  done
  # mysql last: its restore stops and restarts the whole of Mailcow.
  for part in "${PARTS[@]}"; do
    [[ " $* " == *" $part "* ]] && ordered+=("$part")
  done
  for part in "${ordered[@]}"; do
    log "restoring $part from $point"
    restore_part "$point" "$part"
  done
  jq -n --arg point "$point" --args '{point: $point, restored: $ARGS.positional}' "${ordered[@]}"
}

case "${1:-}" in
  install) do_install ;;
  run) do_run ;;
  now) do_now ;;
  list) do_list ;;
  restore) shift; do_restore "$@" ;;
  *) die "usage: backup.sh install|run|now|list|restore POINT PART…" ;;
esac
