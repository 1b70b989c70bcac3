#!/usr/bin/env python3
"""Checks that the man pages' one-line displays survive a copy and paste.

mandoc fills a page to 78 columns and wraps a .Dl display that does not
fit, so a command copied from the rendered page breaks in two.  For each
.Dl line of each page, the display text must appear whole on one line of
`mandoc -Tascii` output.  Also refuses phrases that rendered wrongly
before (an .Ar next to the noun it names: "stations weather stations").
Prints each problem; exits 1 if there is any.

usage: scripts/mandisplay.py [srcdir]
"""
import glob
import re
import shutil
import subprocess
import sys

# Rendered phrases once found in the pages, never to come back.
BAD_PHRASES = ['stations weather stations']

# The few roff escapes the displays use, as they render.
ESCAPES = [('\\e', '\\'), ('\\(dq', '"'), ('\\&', ''), ('\\-', '-'),
           ('\\(aq', "'")]


def display_text(line):
    text = line[len('.Dl '):].strip()
    if re.search(r'(^|\s)(Fl|Ar|Cm|Ns|Ql|Pa|Li|Op)\s', ' ' + text):
        return None         # macros inside: not plain text to compare
    for esc, rep in ESCAPES:
        text = text.replace(esc, rep)
    return text


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else '.'
    if shutil.which('mandoc') is None:
        print('mandoc not found: scripts/mandisplay.py skipped')
        return 0
    bad = 0
    for page in sorted(glob.glob(f'{src}/man/*.[1-8]')):
        out = subprocess.run(['mandoc', '-Tascii', page],
                             capture_output=True, text=True).stdout
        rendered = re.sub(r'.\x08', '', out)
        lines = [ln.strip() for ln in rendered.splitlines()]
        flat = ' '.join(rendered.split())
        name = page[len(src) + 1:]
        for no, line in enumerate(open(page), 1):
            if not line.startswith('.Dl '):
                continue
            text = display_text(line)
            if text is not None and text not in lines:
                bad = 1
                print(f'{name}:{no}: display wraps in the rendered page '
                      f'(more than 78 columns): {text}')
        for phrase in BAD_PHRASES:
            if phrase in flat:
                bad = 1
                print(f'{name}: renders "{phrase}"')
    return bad


if __name__ == '__main__':
    sys.exit(main())
