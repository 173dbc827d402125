"""Technician commands: ``kiosk status``, ``kiosk diag``, ``kiosk config``.

They run over SSH next to the live kiosk, so they only read: the kiosk's state
file, sysfs, pcscd (shared), the journal and the config.  See docs/operations.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kiosk.appliance import diag, status
from kiosk.config import as_dict, config_path, load_config

HIDDEN = argparse.SUPPRESS


def register(sub) -> None:
    st = sub.add_parser("status", help="service, reader, printer, LEDs, config, power and last errors")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.add_argument("--config", metavar="FILE", help="config file (default: $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    st.add_argument("--sysroot", default="/", help=HIDDEN)
    st.set_defaults(func=cmd_status)

    dg = sub.add_parser("diag", help="collect a redacted diagnostics bundle")
    dg.add_argument("--bundle", metavar="OUT.tar.gz", required=True, help="where to write the bundle")
    dg.add_argument("--config", metavar="FILE", help="config file (default: $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
    dg.add_argument("--sysroot", default="/", help=HIDDEN)
    dg.set_defaults(func=cmd_diag)

    cf = sub.add_parser("config", help="check or show the configuration")
    cf_sub = cf.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    for name, func, text in (("check", cmd_config_check, "validate; names the bad key and accepted values"),
                             ("show", cmd_config_show, "the effective configuration (defaults filled in)")):
        p = cf_sub.add_parser(name, help=text)
        p.add_argument("--config", metavar="FILE", help="config file (default: $KIOSK_CONFIG or /etc/kiosk/kiosk.toml)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=func)


def cmd_status(args) -> int:
    report = status.gather(args.config, Path(args.sysroot))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(status.render(report))
    return 0 if report["ok"] else 1


def cmd_diag(args) -> int:
    names = diag.build_bundle(args.bundle, args.config, Path(args.sysroot))
    print(f"wrote {args.bundle} ({len(names)} files, redacted)")
    return 0


def cmd_config_check(args) -> int:
    path = config_path(args.config)
    cfg = load_config(args.config)          # ConfigError -> exit 40 naming every bad key (and accepted values)
    note = "" if cfg.path else " (no file: defaults in use)"
    if args.json:
        print(json.dumps({"config": {"path": str(path), "valid": True, "exists": cfg.path is not None}}))
    else:
        print(f"{path}: OK{note}")
    return 0


def cmd_config_show(args) -> int:
    cfg = load_config(args.config)
    data = as_dict(cfg)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    for section, values in data.items():
        _print_table(section, values)
    return 0


def _print_table(name: str, values: dict) -> None:
    scalars = {k: v for k, v in values.items() if not isinstance(v, dict)}
    if scalars:
        print(f"[{name}]")
        for key, value in scalars.items():
            print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        print()
    for key, value in values.items():
        if isinstance(value, dict):
            _print_table(f"{name}.{key}", value)

