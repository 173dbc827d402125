"""The kiosk's journal upload: systemd-journal-upload over HTTPS with a client certificate.

``[logging] upload_url`` (https://logs-01.city.lan:19532), ``upload_key`` /
``upload_cert`` (this kiosk's client key and certificate) and ``upload_ca``
(the CA that signed the log host) in kiosk.toml.  install.sh runs this file
with the system python3 (stdlib only, like timesync.py) to fill
deploy/journal-upload/50-kiosk.conf.in and the service drop-in below.

systemd-journal-upload.service runs as a DynamicUser, which cannot read the
kiosk's key files, so the drop-in hands them over with ``LoadCredential=``
and the upload config names the credential paths.  The receiving side is the
journal_remote Ansible role: nginx verifies the client certificate
(``ssl_verify_client on``) in front of journal-remote, which Debian 12 builds
without the GnuTLS support it would need to do that itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

CREDENTIALS = Path("/run/credentials/systemd-journal-upload.service")
NAMES = {"key": "upload_key", "cert": "upload_cert", "ca": "upload_ca"}


class UploadConfigError(ValueError):
    """The [logging] upload settings cannot give an authenticated upload."""


def settings(logging: dict) -> dict[str, str] | None:
    """The checked upload settings, or None when ``upload_url`` is empty (no upload)."""
    url = str(logging.get("upload_url", "") or "")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UploadConfigError(f"upload_url must be https://host:port (client certificates), not {url!r}")
    out = {"url": url}
    for short, key in NAMES.items():
        value = str(logging.get(key, "") or "")
        if not value.startswith("/"):
            raise UploadConfigError(f"[logging] {key} must be an absolute path to a PEM file")
        out[short] = value
    return out


def upload_conf(config: dict[str, str], template: str, credentials: Path = CREDENTIALS) -> str:
    """journal-upload.conf.d/50-kiosk.conf from the template, pointing at the credentials."""
    return (template.replace("@URL@", config["url"]).replace("@KEY@", str(credentials / "key"))
            .replace("@CERT@", str(credentials / "cert")).replace("@CA@", str(credentials / "ca")))


def service_dropin(config: dict[str, str]) -> str:
    """systemd-journal-upload.service.d/50-kiosk-credentials.conf: root reads the files at start."""
    lines = ["# Written by deploy/install.sh (kiosk/appliance/journalupload.py).", "[Service]"]
    lines += [f"LoadCredential={name}:{config[name]}" for name in NAMES]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """python3 journalupload.py kiosk.toml TEMPLATE conf|dropin: print the file, nothing (no upload), or exit 1."""
    import tomllib
    try:
        config_path, template_path, what = argv
    except ValueError:
        print("usage: journalupload.py kiosk.toml TEMPLATE conf|dropin", file=sys.stderr)
        return 2
    try:
        with open(config_path, "rb") as f:
            data = tomllib.load(f)
        config = settings(data.get("logging", {}) if isinstance(data.get("logging"), dict) else {})
    except FileNotFoundError:
        return 0
    except (OSError, tomllib.TOMLDecodeError, UploadConfigError) as exc:
        print(f"journal upload: {exc}", file=sys.stderr)
        return 1
    if config is None:
        return 0
    if what == "conf":
        sys.stdout.write(upload_conf(config, Path(template_path).read_text()))
    else:
        sys.stdout.write(service_dropin(config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
