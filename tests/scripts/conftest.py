"""A scratch root and stand-in commands for running the remote scripts on this machine.

PATH holds only the stand-ins plus links to the plain tools the scripts use (coreutils, awk, sed, jq…),
so the real docker, postfix or systemctl of this machine can never be reached. Every stand-in appends
its command line to ``calls``; what they pretend to have installed or started lives in ``fake/``.
"""

from __future__ import annotations

import os
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
if [[ -n "$out" ]]; then echo "fake key" >"$out"; exit 0; fi
[[ -e "$FAKE/up" ]] || exit 7
[[ "$cfg" == *"X-API-Key: $(cat "$FAKE/expected-key")"* ]] || { echo '{"type":"error","msg":"authentication failed"}'; exit 22; }
echo '{"nginx-mailcow":{"type":"info","state":"running"},"postfix-mailcow":{"type":"info","state":"running"},"php-fpm-mailcow":{"type":"info","state":"running"}}'
''',
    "git": _LOG + r'''
if [[ "$1" == clone ]]; then
  dest="${@: -1}"; mkdir -p "$dest/.git"
  cp "$FAKE/lib/generate_config.sh" "$FAKE/lib/update.sh" "$dest/"; chmod +x "$dest"/*.sh
  ln -s mailcow.conf "$dest/.env"
fi
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
}

LIB: dict[str, str] = {
    "docker": _LOG + r'''
case "$1 $2" in
  "version --format") echo 27.3.1 ;;
  "compose version") echo "Docker Compose version v2.29.7" ;;
  "compose pull") ;;
  "compose up")
    if [[ -e "$FAKE/fail-up-once" ]]; then rm "$FAKE/fail-up-once"; echo "container start failed" >&2; exit 1; fi
    touch "$FAKE/up" ;;
  "compose exec")
    if [[ "$4" == php-fpm-mailcow ]]; then
      cat >"$FAKE/php-stdin"; printf '%s' '$2y$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0'
    else
      cat >>"$FAKE/mysql-stdin"
    fi ;;
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
TZ=$MAILCOW_TZ
SKIP_CLAMD=$SKIP_CLAMD
DOCKER_COMPOSE_VERSION=
IPV4_NETWORK=172.22.1
#API_KEY=
#API_KEY_READ_ONLY=
#API_ALLOW_FROM=172.22.1.1,127.0.0.1
EOF
chmod 0644 mailcow.conf
''',
    "update.sh": r'''#!/usr/bin/env bash
echo "update.sh $*" >>"$FAKE/calls"
if [[ -e "$FAKE/update-exit2-once" ]]; then rm "$FAKE/update-exit2-once"; exit 2; fi
exit 0
''',
}


@dataclass
class Sandbox:
    root: Path
    fake: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def calls(self) -> list[str]:
        p = self.fake / "calls"
        return p.read_text().splitlines() if p.exists() else []

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
