#!/usr/bin/env python3
"""Checks that each option letter means one thing across the programs.

tools/options.txt gives every letter one meaning, its long option(s),
the programs that take it and a pattern its description must match.
For every program this runs PROG --help, takes each line that starts
with a short option ("  -x, --long ARG  description") and checks it
against the table: the program is listed for the letter, the long
option (when the line names one) is the letter's, and the description
matches the letter's pattern.  Each program listed for a letter must
print it, and the letters of the program's getopt string must be those
of its --help.  Prints each difference; exits 1 if there is any.

usage: scripts/letters.py builddir [srcdir]
"""
import re
import subprocess
import sys

PROGRAMS = {
    'logtail': ('tools/logtail', ['tools/logtail.c']),
    'logput': ('tools/logput', ['tools/logput.c']),
    'logctl': ('tools/logctl', ['tools/logctl.c']),
    'sensorgen': ('tools/sensorgen', ['tools/sensorgen.c']),
    'logalerts': ('tools/logalerts', ['tools/logalerts.c']),
    'logetl': ('tools/logetl', ['tools/logetl.c']),
    'logbench': ('tools/logbench', ['tools/logbench.c']),
    'sensordash': ('tools/sensordash', ['tools/sensordash.c']),
    'logd': ('logd/logd', ['logd/main.c']),
}
LINE = re.compile(r'^ {1,8}-([A-Za-z0-9])(?:, --([a-z][a-z-]*))?(.*)$')


def read_table(path):
    table, bad = {}, []
    for n, line in enumerate(open(path), 1):
        if not line.strip() or line.startswith('#'):
            continue
        f = [x.strip() for x in line.split(' | ')]
        if len(f) < 5 or not re.fullmatch(r'-[A-Za-z0-9]', f[0]):
            bad.append(f'{path}:{n}: not "-x | long | programs | '
                       f'pattern | meaning"')
            continue
        letter = f[0][1]
        if letter in table:
            bad.append(f'{path}:{n}: -{letter} has a second meaning')
            continue
        table[letter] = {'longs': set(f[1].split()) - {'-'},
                         'progs': set(f[2].split()),
                         'pattern': re.compile(f[3], re.I),
                         'meaning': ' | '.join(f[4:])}
    return table, bad


def getopt_letters(paths):
    letters = set()
    for p in paths:
        for m in re.finditer(r'getopt(?:_long)?\(\s*argc,\s*argv,\s*'
                             r'"([^"]*)"', open(p).read()):
            letters.update(c for c in m.group(1) if c.isalnum())
    return letters


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    build = sys.argv[1]
    src = sys.argv[2] if len(sys.argv) > 2 else '.'
    table, bad = read_table(f'{src}/tools/options.txt')
    for letter, t in table.items():
        for p in t['progs'] - set(PROGRAMS):
            bad.append(f'options.txt: -{letter}: no program {p}')
    for prog, (binary, sources) in PROGRAMS.items():
        out = subprocess.run([f'{build}/{binary}', '--help'],
                             capture_output=True, text=True).stdout
        seen = set()
        for line in out.splitlines():
            m = LINE.match(line)
            if not m:
                continue
            letter, long, rest = m.groups()
            seen.add(letter)
            t = table.get(letter)
            where = f'{prog}: -{letter}'
            if t is None:
                bad.append(f'{where}: a letter tools/options.txt lacks')
                continue
            if prog not in t['progs']:
                bad.append(f'{where} ({rest.strip()}): options.txt gives '
                           f'-{letter} to {" ".join(sorted(t["progs"]))} '
                           f'only, meaning {t["meaning"]}')
            if long and long not in t['longs']:
                bad.append(f'{where}, --{long}: the long option of '
                           f'-{letter} is ' +
                           (' or '.join('--' + x for x in
                                        sorted(t['longs'])) or 'none'))
            if not t['pattern'].search(rest):
                bad.append(f'{where} ({rest.strip()}): not '
                           f'"{t["meaning"]}" (no /{t["pattern"].pattern}/)')
        for letter, t in sorted(table.items()):
            if prog in t['progs'] and letter not in seen:
                bad.append(f'{prog}: --help has no line for -{letter}')
        code = getopt_letters(f'{src}/{s}' for s in sources)
        for letter in sorted(code - seen):
            bad.append(f'{prog}: getopt takes -{letter}, --help omits it')
        for letter in sorted(seen - code):
            bad.append(f'{prog}: --help shows -{letter}, getopt lacks it')
    for b in bad:
        print(b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
