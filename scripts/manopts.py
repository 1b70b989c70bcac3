#!/usr/bin/env python3
"""Checks that each program's man page and its getopt agree.

For every program, the short options of its getopt()/getopt_long()
string and the long options of its struct option table are compared
with the Fl macros of its man page: the options list (.It Fl ...) and
the SYNOPSIS (an option the page calls an old spelling need not be in
the SYNOPSIS).  Prints each difference; exits 1 if there is any.

usage: scripts/manopts.py [srcdir]
"""
import re
import sys

PROGRAMS = {
    'logtail': ('tools/logtail.c', 'man/logtail.1'),
    'logput': ('tools/logput.c', 'man/logput.1'),
    'logctl': ('tools/logctl.c', 'man/logctl.1'),
    'sensorgen': ('tools/sensorgen.c', 'man/sensorgen.1'),
    'logalerts': ('tools/logalerts.c', 'man/logalerts.1'),
    'logetl': ('tools/logetl.c', 'man/logetl.1'),
    'logbench': ('tools/logbench.c', 'man/logbench.1'),
    'sensordash': ('tools/sensordash.c', 'man/sensordash.1'),
    'logd': ('logd/main.c', 'man/logd.8'),
}
# mdoc macros that may follow Fl and are not option letters
MACROS = {'Ns', 'Ar', 'Op', 'Oc', 'Oo', 'Cm', 'Pq', 'Ql', 'No', 'Ta', 'Ic',
          'Li', 'Dq', 'Sy', 'Ev', 'Pa', 'Xr'}


def code_options(text):
    shorts, longs = set(), set()
    for m in re.finditer(r'getopt(?:_long)?\(\s*argc,\s*argv,\s*"([^"]*)"',
                         text):
        shorts.update(ch for ch in m.group(1).lstrip('+') if ch != ':')
    for m in re.finditer(r'\{\s*"([a-z][a-z-]*)",\s*'
                         r'(?:no|required|optional)_argument', text):
        longs.add(m.group(1))
    return shorts, longs


def old_spellings(text):
    """Short options whose .It item calls them an old spelling: they
    need not be in the SYNOPSIS."""
    old, item = set(), None
    for line in text.splitlines():
        if line.startswith('.It Fl '):
            name = line.split()[2].rstrip(',')
            item = name if re.fullmatch(r'[A-Za-z]', name) else None
        elif line.startswith(('.It', '.El', '.Sh')):
            item = None
        elif item is not None and 'old spelling' in line:
            old.add(item)
    return old


def man_options(text):
    body_s, body_l, syn_s, syn_l = set(), set(), set(), set()
    in_syn = False
    for line in text.splitlines():
        if line.startswith('.Sh'):
            in_syn = 'SYNOPSIS' in line
        if not line.startswith('.'):
            continue
        toks = line[1:].replace('|', ' ').split()
        i = 0
        while i < len(toks):
            if toks[i] == 'Fl' and i >= 3 and toks[i - 3] == 'Xr':
                i += 2      # another page's option: .Xr logtail 1 Fl s
                continue
            if toks[i] == 'Fl' and i + 1 < len(toks):
                if toks[i + 1] == 'Fl' and i + 2 < len(toks):
                    (syn_l if in_syn else body_l).add(toks[i + 2].rstrip(','))
                    i += 3
                    continue
                name = toks[i + 1].rstrip(',')
                if re.fullmatch(r'[A-Za-z]+', name) and name not in MACROS:
                    (syn_s if in_syn else body_s).update(name)
                i += 2
                continue
            i += 1
    return body_s, body_l, syn_s, syn_l


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else '.'
    bad = 0
    for prog, (code, man) in PROGRAMS.items():
        shorts, longs = code_options(open(f'{src}/{code}').read())
        page = open(f'{src}/{man}').read()
        body_s, body_l, syn_s, syn_l = man_options(page)
        syn_s |= old_spellings(page) & body_s
        checks = (
            ('getopt option not described in the page', shorts - body_s),
            ('page describes an option getopt lacks', body_s - shorts),
            ('getopt option not in the SYNOPSIS', shorts - syn_s),
            ('SYNOPSIS option getopt lacks', syn_s - shorts),
            ('long option not in the page', longs - body_l - syn_l),
            ('page names a long option the code lacks',
             (body_l | syn_l) - longs),
        )
        for what, diff in checks:
            if diff:
                bad = 1
                print(f'{prog}: {what}: ' +
                      ' '.join(('--' if len(o) > 1 else '-') + o
                               for o in sorted(diff)))
    return bad


if __name__ == '__main__':
    sys.exit(main())
