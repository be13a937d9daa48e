#!/usr/bin/env python3
"""Normalizes the reports recorded with PREFLIGHT_RECORD=DIR (see tests/it/common.rs) for what
changes between runs of the same code: ports, timings, temporary paths, dates, certificate ages,
retry counts, which image ran a registry's shared stages, fingerprints that include a port.

Usage: normalize-reports.py SRC_DIR DST_DIR
"""
import re,sys,os
subs=[
 (r'expired \d+ days ago','expired N days ago'),
 (r'/work/[a-z-]+/','/work/[TREE]/'),(r'registry\.preflight\.test:\d+','registry.preflight.test:[PORT]'),(r'time="[0-9.]+"','time="T"'),(r'  +',' '),
 (r',\n\s*"shared": true',''),(r'"(fingerprint|preflight/v1)": "[0-9a-f]+"','"\\1": "[FP]"'),(r'"elapsed_ms": [0-9.]+','"elapsed_ms": 0'),
 (r'127\.0\.0\.\d+:\d+','[ADDR]'),(r'localhost:\d+','localhost:[PORT]'),(r'\[::1\]:\d+','[::1]:[PORT]'),
 (r'"elapsed_ms": [0-9.]+','"elapsed_ms": 0'),(r'\d+(\.\d+)? ?ms\b','N ms'),(r'/tmp/(\.tmp|preflight-[a-z]+-)[A-Za-z0-9]+','[TMP]'),
 (r'\d{4}-\d\d-\d\dT[0-9:.]+Z?','[TIME]'),(r'\d{4}-\d\d-\d\d','[DATE]'),(r'"tries": \d+,?','"tries": N'),(r'\(\d+ tries\)','(N tries)'),
 (r'port \d+','port N'),(r'days_until_expiry": -?\d+','days_until_expiry": N'),(r'expires in -?\d+ days','expires in N days'),
 (r'[0-9.]+ s\b','N s'),(r'"remaining": \d+','"remaining": N'),(r'\d+ pulls left','N pulls left'),
]
def norm(t):
    for a,b in subs: t=re.sub(a,b,t)
    return t
src,dst=sys.argv[1],sys.argv[2]
os.makedirs(dst,exist_ok=True)
for f in os.listdir(src):
    open(os.path.join(dst,f),'w').write(norm(open(os.path.join(src,f),errors='replace').read()))
