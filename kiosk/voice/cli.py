"""``kiosk speak``: list, render and pre-render the spoken prompts (docs/voice.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from kiosk.errors import ConfigError

MEI_SDIST = "pyopenjtalk==0.4.1"     # ships the HTS voice "Mei" (CC BY 3.0, Nagoya Institute of Technology)
MEI_FILES = ("mei_normal.htsvoice", "LICENSE_mei_normal.htsvoice")


def register(sub) -> None:
    """Add this area's subcommands to the ``kiosk`` parser."""
    p = sub.add_parser("speak", help="spoken guidance: list, render or pre-render prompts")
    p.add_argument("--config", metavar="FILE", help="config file (voice.rate, voice.cache_dir, kiosk.languages)")
    p.add_argument("--list", action="store_true", help="list the prompt keys and their placeholders")
    p.add_argument("--lang", help="language of the prompt (a kiosk.LANGUAGES id: ja en zh ko vi ne pt_BR fil ja@easy)")
    p.add_argument("--key", help="prompt key, e.g. attract.place_card")
    p.add_argument("--value", action="append", default=[], metavar="NAME=COUNT",
                   help="a count the prompt takes, e.g. --value left=2 --value max=3")
    p.add_argument("--out", metavar="F.wav", help="where the rendered prompt goes")
    p.add_argument("--build-cache", action="store_true", help="pre-render every prompt into voice.cache_dir")
    p.add_argument("--dir", metavar="DIR", help="cache directory (default: voice.cache_dir)")
    p.add_argument("--sample", action="store_true", help="with --build-cache: one set of counts per key")
    p.add_argument("--rate", type=float, help="speaking rate (default: voice.rate)")
    p.add_argument("--fetch-voice", metavar="DIR", nargs="?", const="/var/lib/kiosk/voice",
                   help="install the Japanese HTS voice (Mei) from PyPI's pyopenjtalk source into DIR")
    p.set_defaults(func=cmd_speak)


def _config(args):
    from kiosk.config import load_config
    return load_config(args.config) if args.config else load_config()


def cmd_speak(args) -> int:
    from kiosk.voice.prompts import PROMPT_KEYS, PromptRefused, fields_of, prompt
    if args.list:
        for key in PROMPT_KEYS:
            names = fields_of(key)
            print(key + (f"  ({', '.join(names)})" if names else ""))
        return 0
    if args.fetch_voice:
        print(fetch_voice(Path(args.fetch_voice)))
        return 0
    cfg = _config(args)
    rate = args.rate or cfg.voice.rate
    from kiosk.voice.cache import PromptCache
    if args.build_cache:
        cache = PromptCache.for_config(cfg.voice, args.dir, rate)
        langs = [args.lang] if args.lang else cfg.kiosk.languages
        counts = cache.build(langs, full=not args.sample)
        print(json.dumps({"cache_dir": str(cache.dir), "rendered": counts}))
        return 0
    if not (args.lang and args.key and args.out):
        raise ConfigError("kiosk speak needs --list, --build-cache, or --lang, --key and --out", key="speak")
    try:
        values = {name: int(v) for name, v in (item.split("=", 1) for item in args.value)}
        p = prompt(args.key, **values)
    except (ValueError, PromptRefused) as exc:
        raise ConfigError(f"not a speakable prompt: {exc}", key="speak") from None
    with tempfile.TemporaryDirectory() as tmp:
        path = PromptCache.for_config(cfg.voice, tmp, rate).render(args.lang, p)
        shutil.copyfile(path, args.out)
    print(json.dumps({"out": args.out, "lang": args.lang, "key": args.key, "text": p.text(args.lang)},
                     ensure_ascii=False))
    return 0


def fetch_voice(dest: Path) -> Path:
    """Download pyopenjtalk's source with pip and keep only its HTS voice and licence."""
    dest.mkdir(parents=True, exist_ok=True)
    if (dest / MEI_FILES[0]).is_file():
        return dest / MEI_FILES[0]
    with tempfile.TemporaryDirectory(prefix="kiosk-voice-") as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "pyopenjtalk",
                        "-d", tmp, MEI_SDIST], check=True)
        sdist = next(Path(tmp).glob("pyopenjtalk-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if name in MEI_FILES and "/htsvoice/" in member.name and member.isfile():
                    data = tar.extractfile(member)
                    if data is not None:
                        (dest / name).write_bytes(data.read())
    if not (dest / MEI_FILES[0]).is_file():
        raise ConfigError("the pyopenjtalk source had no mei_normal.htsvoice", key="voice")
    return dest / MEI_FILES[0]
