"""Every `coldmail …` example of the README runs as written (the Pulumi CLI stood in by the recording fake)."""

import os
import re
import shlex

from tests.cli.clikit import run_cli
from tests.cli.test_cli_credentials_status import fake as with_outputs

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYFORTESTS you@laptop"


GROUPS = ("stack", "domain", "mailbox", "server", "credentials", "reports", "dmarc", "backup", "suppression",
          "warmup", "agent")
#: The commands that need nothing but the Pulumi CLI, which the recording fake stands in for here; the others
#: reach servers (SSH, IMAP, DNS, SMTP) and are run by their own suites.
RUN_HERE = {"stack init", "plan", "preview", "up", "destroy", "refresh", "status", "domain add", "domain remove",
            "domain move", "mailbox add", "mailbox remove", "server add", "server remove", "credentials export"}


def command_of(words: list[str]) -> str:
    return " ".join(words[1:3]) if words[1] in GROUPS else words[1]


def readme_examples() -> list[str]:
    """Every `coldmail …` command line of the README; a bare command name in the prose is not one."""
    text = open(README, encoding="utf-8").read()
    inline = re.findall(r"`(coldmail [^`]+)`", text)
    in_blocks = [line.split("#")[0].strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)
                 for line in block.splitlines() if line.strip().startswith("coldmail ")]
    return [e for e in in_blocks + inline if len(shlex.split(e)) > 1 + len(command_of(shlex.split(e)).split())]


def test_the_readme_has_an_example_of_every_command():
    assert {command_of(shlex.split(e)) for e in readme_examples()} >= {
        "stack init", "plan", "preview", "up", "destroy", "refresh", "status", "domain add", "domain remove",
        "mailbox add", "mailbox remove", "server add", "server remove", "credentials export"}


def test_every_readme_example_runs_as_written_in_order(project, tmp_path):
    fake = with_outputs()
    fake.changes = {"same": 40}  # a converged stack, so `preview --expect-no-changes` has nothing to report
    for k, example in enumerate(e for e in readme_examples() if command_of(shlex.split(e)) in RUN_HERE
                                and "--keep-data" not in e):
        home = tmp_path / f"home{k}"
        home.mkdir()
        # What the shell would do before coldmail sees the line.
        line = example.replace('"$(cat ~/.ssh/id_ed25519.pub)"', shlex.quote(PUBLIC_KEY)).replace("~/", f"{home}/")
        r = run_cli(shlex.split(line)[1:], project, fake)
        assert r.code == 0, f"{example}\n{r.stdout}\n{r.stderr}"


def test_every_other_readme_example_is_a_complete_command_line_for_a_stack():
    from coldmail.cli import build_parser

    parser = build_parser()
    for example in readme_examples():
        words = shlex.split(example.replace('"$(cat ~/.ssh/id_ed25519.pub)"', shlex.quote(PUBLIC_KEY)))
        args = parser.parse_args(words[1:])  # a usage error raises, naming the example's problem
        assert args.stack or command_of(words) == "stack init", f"{example}: no --stack"
