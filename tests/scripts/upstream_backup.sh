#!/usr/bin/env bash
# Stand-in for Mailcow's helper-scripts/backup_and_restore.sh, built from docs/mailcow-api.md §8:
# the same menus, prompt texts, answer handling and files. It records its command line in $FAKE/calls
# and every prompt with the answer it got (or <EOF>) in $FAKE/answers, one "prompt<TAB>answer" a line.
# Where the real script would loop forever on end-of-file it exits 99 instead, so a test fails, not hangs.
printf 'backup_and_restore.sh %s MAILCOW_BACKUP_LOCATION=%s\n' "$*" "${MAILCOW_BACKUP_LOCATION:-}" >>"$FAKE/calls"
BACKUP_LOCATION="${MAILCOW_BACKUP_LOCATION:-}"
ARCH="${FAKE_ARCH:-x86_64}"

ask() {  # VAR PROMPT: like `read -p`, which prints nothing when stdin is not a terminal
  local reply
  if IFS= read -r -p "$2" reply; then
    printf '%s\t%s\n' "$2" "$reply" >>"$FAKE/answers"
  else
    printf '%s\t<EOF>\n' "$2" >>"$FAKE/answers"
    reply=""
  fi
  printf -v "$1" '%s' "$reply"
}

[[ -n "$BACKUP_LOCATION" ]] || { ask BACKUP_LOCATION "Backup location (absolute path, starting with /): "; exit 99; }
if [[ "$1" == backup ]] && [[ -z $(stat -Lc %a "$BACKUP_LOCATION" | grep -oE '[0-9][0-9][5-7]') ]]; then
  echo "$BACKUP_LOCATION is not write-able for others, that's required for a backup."
  exit 1
fi
echo "Using ${BACKUP_LOCATION} as backup/restore location."
echo

if [[ "$1" == backup ]]; then
  shift
  DATE="$(date +%Y-%m-%d-%H-%M-%S)"
  dir="$BACKUP_LOCATION/mailcow-$DATE"
  mkdir -p "$dir"
  chmod 755 "$dir"
  echo "DBROOT=fake-db-root-for-tests" >"$dir/mailcow.conf"
  touch "$dir/.$ARCH"
  while (($#)); do
    case "$1" in
      vmail|crypt|redis|rspamd|postfix|mysql|all)
        for part in vmail crypt redis rspamd postfix mariadb; do
          want="$part"; [[ "$part" == mariadb ]] && want=mysql
          [[ "$1" == all || "$1" == "$want" ]] || continue
          [[ -e "$FAKE/fail-part-$want" ]] && continue
          echo "archive of $part" >"$dir/backup_$part.tar.zst"
        done ;;
      --delete-days)
        shift
        find "$BACKUP_LOCATION"/mailcow-* -maxdepth 0 -mmin +$(($1 * 60 * 24)) -exec rm -rf {} \; ;;
    esac
    shift
  done
  exit 0
fi

restore() {
  local location="$1"
  shift
  echo
  echo "Stopping watchdog-mailcow..."
  docker stop "$(docker ps -qf name=watchdog-mailcow)"
  echo
  case "$1" in
    vmail|crypt|redis|postfix)
      if [[ ! -f "$location/backup_$1.tar.zst" ]]; then
        echo -e "\e[31mError: No backup file found for $1 (searched for .tar.zst and .tar.gz)\e[0m"
      else
        docker run -i --name mailcow-backup --rm -v "$location:/backup:z" fake-backup-image \
          /bin/tar -Pxvf "/backup/backup_$1.tar.zst"
      fi
      if [[ "$1" == vmail ]]; then
        echo "docker exec $(docker ps -qf name=dovecot-mailcow) doveadm force-resync -A '*'"
        echo
        ask FORCE_RESYNC "Force a resync now? [y|N] "
        if [[ ${FORCE_RESYNC,,} =~ ^(yes|y)$ ]]; then
          docker exec "$(docker ps -qf name=dovecot-mailcow)" doveadm force-resync -A '*'
        else
          echo "OK, skipped."
        fi
      fi ;;
    rspamd)
      docker run -i --name mailcow-backup --rm -v "$location:/backup:z" fake-backup-image \
        /bin/tar -Pxvf /backup/backup_rspamd.tar.zst ;;
    mysql)
      ask MYSQL_STOP_MAILCOW "mailcow will be stopped and the currently active mailcow.conf will be modified to use the DB parameters found in ${location}/mailcow.conf - do you want to proceed? [Y|n] "
      if [[ ${MYSQL_STOP_MAILCOW,,} =~ ^(no|n|N)$ ]]; then
        echo "OK, skipped."
      else
        echo "Stopping mailcow..."
        docker compose down
        docker run --name mailcow-backup --rm -v "$location:/backup:z" fake-mariadb-image \
          /bin/tar -Pxvf /backup/backup_mariadb.tar.zst
        echo "Starting mailcow..."
        docker compose up -d
      fi ;;
  esac
  echo
  echo "Starting watchdog-mailcow..."
  docker start "$(docker ps -aqf name=watchdog-mailcow)"
}

if [[ "$1" == restore ]]; then
  i=1
  declare -A FOLDER_SELECTION
  if [[ $(find "$BACKUP_LOCATION"/mailcow-* -maxdepth 1 -type d 2>/dev/null | wc -l) -lt 1 ]]; then
    echo "Selected backup location has no subfolders"
    exit 1
  fi
  for folder in $(ls -d "$BACKUP_LOCATION"/mailcow-*/); do
    echo "[ ${i} ] - ${folder}"
    FOLDER_SELECTION[${i}]="${folder}"
    ((i++))
  done
  echo
  input_sel=0
  while [[ ${input_sel} -lt 1 || ${input_sel} -gt ${i} ]]; do
    ask input_sel "Select a restore point: "
    [[ -n "$input_sel" ]] || exit 99
  done
  RESTORE_POINT="${FOLDER_SELECTION[${input_sel}]}"
  i=1
  echo
  declare -A FILE_SELECTION
  echo "[ 0 ] - all"
  for file in $(ls -f "$RESTORE_POINT"); do
    if [[ ${file} =~ vmail ]]; then
      echo "[ ${i} ] - Mail directory (/var/vmail)"; FILE_SELECTION[${i}]="vmail"; ((i++))
    elif [[ ${file} =~ crypt ]]; then
      echo "[ ${i} ] - Crypt data"; FILE_SELECTION[${i}]="crypt"; ((i++))
    elif [[ ${file} =~ redis ]]; then
      echo "[ ${i} ] - Redis DB"; FILE_SELECTION[${i}]="redis"; ((i++))
    elif [[ ${file} =~ rspamd ]]; then
      marker="$(find "$RESTORE_POINT" \( -name '*x86*' -o -name '*aarch*' \) -exec basename {} \; | sed 's/^\.//')"
      if [[ "$ARCH" != "$marker" ]]; then
        echo -e "\e[31m[ NaN ] - Rspamd data (incompatible Arch, cannot restore it)\e[0m"
      else
        echo "[ ${i} ] - Rspamd data"; FILE_SELECTION[${i}]="rspamd"; ((i++))
      fi
    elif [[ ${file} =~ postfix ]]; then
      echo "[ ${i} ] - Postfix data"; FILE_SELECTION[${i}]="postfix"; ((i++))
    elif [[ ${file} =~ mysql ]] || [[ ${file} =~ mariadb ]]; then
      echo "[ ${i} ] - SQL DB"; FILE_SELECTION[${i}]="mysql"; ((i++))
    fi
  done
  echo
  input_sel=-1
  while [[ ${input_sel} -lt 0 || ${input_sel} -gt ${i} ]]; do
    ask input_sel "Select a dataset to restore: "
    [[ -n "$input_sel" ]] || exit 99
  done
  echo "Restoring ${FILE_SELECTION[${input_sel}]} from ${RESTORE_POINT}..."
  printf 'restored %s from %s\n' "${FILE_SELECTION[${input_sel}]}" "${RESTORE_POINT}" >>"$FAKE/restored"
  restore "${RESTORE_POINT}" "${FILE_SELECTION[${input_sel}]}"
fi
