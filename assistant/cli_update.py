"""``assistant update [--date YYYY-MM-DD | --since YYYY-MM-DD | --days N] [--json]``: today's
Daily Papers (or those of other dates) fetched, de-duplicated and indexed."""

from __future__ import annotations

import argparse
import json
import sys

from .cli import EXTENSIONS, UserError, _settings, _store, command, count_arg


def extend(sub, common, llm_flags) -> None:  # noqa: ANN001, ARG001
    p = sub.add_parser("update", help="fetch the Hugging Face Daily Papers of recent dates and index what is new "
                       "(contacts ASSISTANT_DAILY_URL, default https://huggingface.co)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--date", help="one date, YYYY-MM-DD")
    when.add_argument("--since", help="every date from this one (YYYY-MM-DD) to today")
    when.add_argument("--days", type=count_arg(366), help="the last N days, today included (default: "
                      "ASSISTANT_UPDATE_DAYS)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    common(p)


EXTENSIONS.append(extend)


@command("update")
def cmd_update(args: argparse.Namespace) -> int:
    from .update import dates_for, run_update

    settings = _settings(args)
    try:
        dates = dates_for(args.date, args.since, args.days, default_days=settings.update.days)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if not args.json:
        print(f"fetching {len(dates)} date(s) from {settings.update.daily_url}", file=sys.stderr)
    summary = run_update(settings, _store(settings), dates, progress=not (args.quiet or args.json))
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        for result in summary.dates:
            if result.status == "failed":
                print(f"failed {result.error}", file=sys.stderr)
        print(summary.line())
    if summary.offline:
        print(f"offline: {summary.offline}; nothing was lost, run 'assistant update' again later", file=sys.stderr)
    return 1 if summary.count("failed", "not tried") else 0
