#!/usr/bin/env bash
# The servers' SSH key in an ssh-agent for the rest of a CI job (docs/security.md §6).
#
#   ssh_agent.sh        start an agent on a socket in $RUNNER_TEMP, add the key from $COLDMAIL_SSH_PRIVATE_KEY
#                       and export SSH_AUTH_SOCK/SSH_AGENT_PID to the job's later steps ($GITHUB_ENV)
#   ssh_agent.sh stop   end that agent (run it with `if: always()`: a self-hosted runner outlives the job)
#
# pulumi-docker reaches each server's Docker as ssh://root@<server> through the local ssh client, which takes
# the key from the agent. The key goes from the environment secret to the agent through a pipe: never a
# command line or a file. Without the secret nothing starts (stacks with coldmail:checks.agent false).
set -euo pipefail

case "${1:-start}" in
  start)
    if [[ -z "${COLDMAIL_SSH_PRIVATE_KEY:-}" ]]; then
      echo "::notice::COLDMAIL_SSH_PRIVATE_KEY is not set in this environment: no ssh-agent. The on-server agent" \
        "needs it (or set coldmail:checks.agent to false)."
      exit 0
    fi
    eval "$(ssh-agent -s -a "${RUNNER_TEMP:?}/ssh-agent.sock")" >/dev/null
    printf '%s\n' "$COLDMAIL_SSH_PRIVATE_KEY" | ssh-add -q -
    printf 'SSH_AUTH_SOCK=%s\nSSH_AGENT_PID=%s\n' "$SSH_AUTH_SOCK" "$SSH_AGENT_PID" >>"${GITHUB_ENV:?}"
    ;;
  stop)
    if [[ -n "${SSH_AGENT_PID:-}" ]]; then
      ssh-agent -k >/dev/null
    fi
    ;;
  *)
    echo "usage: ssh_agent.sh [start|stop]" >&2
    exit 2
    ;;
esac
