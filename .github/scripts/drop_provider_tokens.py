"""Remove the Hetzner and Cloudflare tokens from a checked-out stack file (CI only, never committed).

Provider tokens set with `pulumi config set --secret` win over HCLOUD_TOKEN / CLOUDFLARE_API_TOKEN, so a
preview would otherwise use the production tokens it decrypts from the stack config instead of the
read-only ones its environment hands it.

Usage: python .github/scripts/drop_provider_tokens.py Pulumi.<stack>.yaml
"""

import sys

import yaml

TOKENS = ("hcloud:token", "cloudflare:apiToken")


def main(path: str) -> None:
    with open(path, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    config = doc.get("config") or {}
    for key in TOKENS:
        config.pop(key, None)
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False, allow_unicode=True)


if __name__ == "__main__":
    main(sys.argv[1])
