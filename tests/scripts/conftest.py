"""A scratch root and stand-in commands for running the remote scripts on this machine.

PATH holds only the stand-ins plus links to the plain tools the scripts use (coreutils, awk, sed, jq…),
so the real docker, postfix or systemctl of this machine can never be reached. Every stand-in appends
its command line to ``calls``; after ``record_argv()`` every plain tool appends its argv to ``argv`` as
well (what `ps` shows of it). What the stand-ins pretend to have installed or started lives in ``fake/``.

The stand-in Docker keeps a small model of Mailcow: the first ``compose up`` makes php-fpm's init_db
insert the default admin (``admin-row`` holds DEFAULT, then the hash once the UPDATE landed), and every
``compose up`` appends to ``exposure`` what the web ports were bound to and what the admin row held, so a
test can prove the default password was never reachable from outside.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "components" / "scripts"
TOOLS = ("bash", "sh", "env", "cat", "cp", "mv", "rm", "mkdir", "chmod", "cmp", "grep", "awk", "sed", "cut",
         "sha256sum", "mktemp", "install", "tr", "head", "tail", "touch", "ls", "basename", "dirname", "jq",
         "openssl", "date", "sort", "od", "wc", "readlink", "ln", "stat")
#: Interpreters stay plain links: the wrappers run on them.
UNWRAPPED = ("bash", "sh", "env")
#: Docker's release key fingerprint, as gpg prints it for the genuine download.docker.com key.
DOCKER_FPR = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
#: Release tags the stand-in git knows, with the commits they point at.
TAGS = {"2026-07a": "489db905122d20487e29c9a8438b311c403442ab", "2026-09": "0000000000000000000000000000000000002609"}

_LOG = 'printf "%s" "${0##*/}" >>"$FAKE/calls"; for a in "$@"; do printf " %s" "$a" >>"$FAKE/calls"; done; echo >>"$FAKE/calls"\n'

STANDINS: dict[str, str] = {
    "apt-get": _LOG + r'''
case " $* " in *" docker-ce "*) cp "$FAKE/lib/docker" "$FAKE/bin/docker" ;; esac
case " $* " in *" postfix "*) cp "$FAKE/lib/postfix" "$FAKE/bin/postfix" ;; esac
exit 0
''',
    "curl": r'''cfg=""; if [[ " $* " == *" --config - "* ]]; then cfg="$(cat)"; printf '%s\n' "$cfg" >"$FAKE/curl-config"; fi
''' + _LOG + r'''
out=""; prev=""; for a in "$@"; do [[ "$prev" == -o ]] && out="$a"; prev="$a"; done
if [[ -n "$out" ]]; then
  if [[ -e "$FAKE/evil-docker-key" ]]; then echo "evil key" >"$out"; else echo "fake key" >"$out"; fi
  exit 0
fi
[[ -e "$FAKE/up" ]] || exit 7
[[ "$cfg" == *"X-API-Key: $(cat "$FAKE/expected-key")"* ]] || { echo '{"type":"error","msg":"authentication failed"}'; exit 22; }
stuck="$(cat "$FAKE/stuck" 2>/dev/null || true)"
sep="{"; for c in nginx-mailcow postfix-mailcow php-fpm-mailcow sogo-mailcow; do
  state=running; [[ "$c" == "$stuck" ]] && state=restarting
  printf '%s"%s":{"type":"info","state":"%s"}' "$sep" "$c" "$state"; sep=","
done; echo "}"
''',
    "git": _LOG + r'''
dir=.; if [[ "$1" == -C ]]; then dir="$2"; shift 2; fi
tag_commit() { awk -v t="$1" '$1 == t { print $2 }' "$FAKE/tags"; }
case "$1" in
  clone)
    dest="${@: -1}"; tag=""; prev=""; for a in "$@"; do [[ "$prev" == --branch ]] && tag="$a"; prev="$a"; done
    mkdir -p "$dest/.git" "$dest/data/conf/nginx"
    cp "$FAKE/lib/generate_config.sh" "$FAKE/lib/update.sh" "$dest/"; chmod +x "$dest"/*.sh
    ln -s mailcow.conf "$dest/.env"
    tag_commit "$tag" >"$dest/.git/HEAD-commit" ;;
  rev-parse)
    if [[ "$2" == HEAD ]]; then cat "$dir/.git/HEAD-commit"; exit 0; fi
    ref="${4#refs/tags/}"; sha="$(tag_commit "${ref%^\{commit\}}")"
    [[ -n "$sha" ]] || exit 1
    echo "$sha" ;;
  checkout) echo "${@: -1}" >"$dir/.git/HEAD-commit" ;;
esac
exit 0
''',
    "systemctl": _LOG + r'''
unit="${@: -1}"
case "$1" in
  is-active) [[ -e "$FAKE/active-$unit" ]] ;;
  restart) touch "$FAKE/active-$unit" ;;
  enable) [[ "$2" == --now ]] && touch "$FAKE/active-$unit"; exit 0 ;;
  *) exit 0 ;;
esac
''',
    "debconf-set-selections": 'cat >>"$FAKE/debconf"\n' + _LOG,
    "netplan": _LOG + r'''
grep -oE '[0-9.]+/32' "$ROOT/etc/netplan/60-floating-ip.yaml" 2>/dev/null | sed 's#/32##' >"$FAKE/live" || : >"$FAKE/live"
''',
    "ifup": _LOG + r'''
alias="$1"
awk -v a="$alias" '$1=="iface" {cur=$2} $1=="address" && cur==a {print $2}' "$ROOT/etc/network/interfaces.d/60-floating-ip.cfg" >>"$FAKE/live"
''',
    "ifdown": _LOG + r'''
: >"$FAKE/live"
''',
    "ip": _LOG + r'''
n=2; while read -r a; do [[ -n "$a" ]] && echo "$n: eth0    inet $a/32 scope global eth0:1"; n=$((n+1)); done <"$FAKE/live" 2>/dev/null
exit 0
''',
    "sleep": "exit 0\n",
    "gpg": _LOG + r'''
fpr="''' + DOCKER_FPR + r'''"
grep -q evil "${@: -1}" && fpr=0123456789ABCDEF0123456789ABCDEF01234567
echo "pub:-:4096:1:${fpr: -16}:1487788586:::-:::scESA::::::23::0:"
echo "fpr:::::::::$fpr:"
echo "sub:-:4096:1:7EA0A9C3F273FCD8:1487792064:::-:::s::::::23:"
echo "fpr:::::::::D3306A018370199E527AE7997EA0A9C3F273FCD8:"
''',
    # DOCKER-USER as a file of rules: -C checks one, -I inserts one.
    "iptables": _LOG + r'''
op="$1"; shift
if [[ "$op" == -I ]]; then chain="$1"; shift 2; set -- "$chain" "$@"; fi
case "$op" in
  -C) grep -qxF -- "$*" "$FAKE/iptables" 2>/dev/null ;;
  -I) echo "$*" >>"$FAKE/iptables" ;;
  *) exit 2 ;;
esac
''',
}

LIB: dict[str, str] = {
    "docker": _LOG + r'''
conf() { awk -v k="$1" 'index($0, k "=") == 1 { v = substr($0, length(k) + 2) } END { print v }' mailcow.conf; }
case "$1 $2" in
  "version --format") echo 27.3.1 ;;
  "compose version") echo "Docker Compose version v2.29.7" ;;
  "compose pull") ;;
  "compose up")
    if [[ -e "$FAKE/fail-up-once" ]]; then rm "$FAKE/fail-up-once"; echo "container start failed" >&2; exit 1; fi
    touch "$FAKE/up"
    [[ -e "$FAKE/admin-row" || -e "$FAKE/late-init-db" ]] || echo DEFAULT >"$FAKE/admin-row"
    cp mailcow.conf "$FAKE/conf-at-up"
    echo "HTTPS_BIND=$(conf HTTPS_BIND) HTTP_BIND=$(conf HTTP_BIND) admin=$(cat "$FAKE/admin-row" 2>/dev/null || echo none)" >>"$FAKE/exposure" ;;
  "compose exec")
    if [[ "$4" == php-fpm-mailcow ]]; then
      if [[ -e "$FAKE/stuck-php-fpm" ]]; then echo "Error response from daemon: container is restarting" >&2; exit 1; fi
      cat >"$FAKE/php-stdin"; printf '%s' '$2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'
    else
      sql="$(cat)"; printf '%s\n' "$sql" >>"$FAKE/mysql-stdin"
      if [[ -e "$FAKE/kill-during-mysql" ]]; then
        rm "$FAKE/kill-during-mysql"
        # The whole script dies here: every process running install-mailcow.sh (the script and its subshells).
        p=$PPID; victims=()
        while [[ "$p" -gt 1 ]]; do
          tr '\0' ' ' <"/proc/$p/cmdline" | grep -q install-mailcow.sh && victims+=("$p")
          p="$(awk '{ print $4 }' "/proc/$p/stat")"
        done
        kill -KILL "${victims[@]}"; exit 137
      fi
      hash="$(grep -o "^UPDATE admin SET password='[^']*'" <<<"$sql" | cut -d"'" -f2)"
      if [[ -e "$FAKE/admin-row" ]]; then
        echo "$hash" >"$FAKE/admin-row"; echo 1
      else
        echo 0; echo DEFAULT >"$FAKE/admin-row"  # init_db inserts the default admin just after
      fi
    fi ;;
  "compose restart") ;;
  "image inspect")
    ref="${@: -1}"; printf '%s@sha256:%s\n' "${ref%:*}" "$(printf '%s' "$ref" | sha256sum | cut -d' ' -f1)" ;;
  *) ;;
esac
''',
    "postfix": _LOG,
    "generate_config.sh": r'''#!/usr/bin/env bash
printf 'generate_config.sh MAILCOW_HOSTNAME=%s MAILCOW_TZ=%s MAILCOW_BRANCH=%s SKIP_CLAMD=%s FORCE=%s\n' \
  "$MAILCOW_HOSTNAME" "$MAILCOW_TZ" "$MAILCOW_BRANCH" "$SKIP_CLAMD" "$FORCE" >>"$FAKE/calls"
echo "MAILCOW_HOSTNAME=$MAILCOW_HOSTNAME" >mailcow.conf
if [[ -e "$FAKE/fail-generate-once" ]]; then rm "$FAKE/fail-generate-once"; exit 1; fi
cat >>mailcow.conf <<EOF
MAILCOW_PASS_SCHEME=BLF-CRYPT
DBNAME=mailcow
DBUSER=mailcow
DBPASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
DBROOT=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
REDISPASS=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
HTTP_PORT=80
HTTP_BIND=
HTTPS_PORT=443
HTTPS_BIND=
HTTP_REDIRECT=y
SMTP_PORT=25
SMTPS_PORT=465
SUBMISSION_PORT=587
IMAP_PORT=143
IMAPS_PORT=993
POP_PORT=110
POPS_PORT=995
SIEVE_PORT=4190
DOVEADM_PORT=127.0.0.1:19991
SQL_PORT=127.0.0.1:13306
REDIS_PORT=127.0.0.1:7654
TZ=$MAILCOW_TZ
SKIP_CLAMD=$SKIP_CLAMD
DOCKER_COMPOSE_VERSION=
IPV4_NETWORK=172.22.1
#API_KEY=
#API_KEY_READ_ONLY=
#API_ALLOW_FROM=172.22.1.1,127.0.0.1
ENABLE_IPV6=$(cat "$FAKE/host-ipv6" 2>/dev/null || echo true)
DISABLE_NETFILTER_ISOLATION_RULE=n
EOF
chmod 0644 mailcow.conf
''',
    "update.sh": r'''#!/usr/bin/env bash
echo "update.sh $*" >>"$FAKE/calls"
exit 0
''',
}


@dataclass
class Sandbox:
    root: Path
    fake: Path
    env: dict[str, str] = field(default_factory=dict)

    def _lines(self, name: str) -> list[str]:
        p = self.fake / name
        return p.read_text().splitlines() if p.exists() else []

    @property
    def calls(self) -> list[str]:
        return self._lines("calls")

    @property
    def argv(self) -> list[str]:
        """The command line of every plain tool the scripts ran."""
        return self._lines("argv")

    def record_argv(self) -> None:
        """Put a wrapper that logs its argv in front of every plain tool but the interpreters."""
        tools, sh = self.fake / "tools", shutil.which("sh")
        for tool in TOOLS:
            if tool in UNWRAPPED:
                continue
            real = (tools / tool).resolve()
            (tools / tool).unlink()
            (tools / tool).write_text(f'#!{sh}\nprintf "%s\\n" "{tool} $*" >>"$FAKE/argv"\nexec {real} "$@"\n')
            (tools / tool).chmod(0o755)

    def reset_calls(self) -> None:
        (self.fake / "calls").write_text("")

    def run(self, script: str, env: dict[str, str] | None = None, stdin: str = "",
            check: bool = True, args: tuple[str, ...] | list[str] = ()) -> subprocess.CompletedProcess:
        full = dict(self.env, **(env or {}))
        proc = subprocess.run(["bash", str(SCRIPTS / script), *args], input=stdin, env=full, capture_output=True,
                              text=True, timeout=60, cwd=self.root)
        if check:
            assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stderr}"
        return proc

    def snapshot(self) -> dict[str, tuple[bytes, int]]:
        """Content and mode of every regular file under the scratch root."""
        out = {}
        for p in sorted(self.root.rglob("*")):
            if p.is_file() and not p.is_symlink():
                out[str(p.relative_to(self.root))] = (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        return out


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    root, fake = tmp_path / "root", tmp_path / "fake"
    bin_dir, lib, tools = fake / "bin", fake / "lib", fake / "tools"
    for d in (root / "etc", bin_dir, lib, tools):
        d.mkdir(parents=True)
    (root / "etc" / "os-release").write_text('ID=debian\nVERSION_CODENAME=bookworm\n')
    (root / "etc" / "apt" / "sources.list.d").mkdir(parents=True)
    (fake / "tags").write_text("".join(f"{t} {c}\n" for t, c in TAGS.items()))
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real, f"{tool} is needed by the script tests"
        (tools / tool).symlink_to(real)
    for name, body in STANDINS.items():
        (bin_dir / name).write_text("#!/usr/bin/env bash\n" + body)
        (bin_dir / name).chmod(0o755)
    for name, body in LIB.items():
        (lib / name).write_text(body if body.startswith("#!") else "#!/usr/bin/env bash\n" + body)
        (lib / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:{tools}", "ROOT": str(root), "FAKE": str(fake), "HOME": str(tmp_path),
           "LC_ALL": "C"}
    return Sandbox(root=root, fake=fake, env=env)
