#!/usr/bin/env python3
"""Deterministic generator of vdir test data for benchmarks.

    gen_items.py events DIR N [PREFIX]   one VEVENT per file, DIR/<PREFIX>-<i>.ics
    gen_items.py cards  DIR N [PREFIX]   one vCard 3.0 per file, DIR/<PREFIX>-<i>.vcf

The same arguments always produce the same bytes (no clock, no randomness), so runs of
scripts/bench are comparable across machines and commits. Items are realistic in size
(a description, a location, an alarm; several emails and a phone for cards).
"""
import os
import sys


def event(uid: str, i: int) -> str:
    day = 1 + (i // 24) % 28
    month = 1 + (i // (24 * 28)) % 12
    hour = i % 24
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//davsync bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20260101T000000Z",
        f"DTSTART:2026{month:02}{day:02}T{hour:02}0000Z",
        f"DTEND:2026{month:02}{day:02}T{hour:02}4500Z",
        f"SUMMARY:Benchmark event {i}",
        f"LOCATION:Room {i % 17}",
        f"DESCRIPTION:Generated event number {i} for the davsync benchmark\\, with",
        " a folded description line that is long enough to need folding.",
        "BEGIN:VALARM",
        "ACTION:DISPLAY",
        "DESCRIPTION:Reminder",
        "TRIGGER:-PT15M",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def card(uid: str, i: int) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"UID:{uid}",
        f"FN:Person{i} Example",
        f"N:Example;Person{i};;;",
        f"EMAIL;TYPE=INTERNET,HOME:person{i}@example.org",
        f"EMAIL;TYPE=INTERNET,WORK:p{i}@work.example.com",
        f"TEL;TYPE=CELL:+1-555-{i % 10000:04}",
        f"ORG:Company {i % 50}",
        "NOTE:Generated for the davsync benchmark.",
        "END:VCARD",
    ]
    return "\r\n".join(lines) + "\r\n"


def main() -> None:
    if len(sys.argv) not in (4, 5) or sys.argv[1] not in ("events", "cards"):
        sys.exit(__doc__)
    kind, folder, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    prefix = sys.argv[4] if len(sys.argv) == 5 else kind[:-1]
    os.makedirs(folder, exist_ok=True)
    make, ext = (event, ".ics") if kind == "events" else (card, ".vcf")
    for i in range(n):
        uid = f"{prefix}-{i}"
        with open(os.path.join(folder, uid + ext), "w", newline="") as f:
            f.write(make(uid, i))


if __name__ == "__main__":
    main()
