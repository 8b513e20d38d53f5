#!/usr/bin/env python3
"""Checks the tokenizer `pangu convert` embeds in a GGUF file against llama.cpp (run by hand).

1. Runs llama.cpp's own convert_hf_to_gguf.py --vocab-only on the checkpoint directory (through a
   small shim: a stand-in `transformers` module whose AutoConfig fails, so the converter reads
   config.json as it does for remote-code models, and placeholders for torch dtypes an older
   torch lacks; only the vocabulary is exported, no tensor is touched).
2. Reads both files with gguf-py's GGUFReader and compares every tokenizer.* key (type and value).
3. Tokenizes the strings of a tokenizer fixture (expected.json: the slow HF tokenizer's ids) and
   the rendered chats with `pangu tokenize --model OURS.gguf` and with llama.cpp's llama-tokenize on
   both files, and counts agreements.

usage: PYTHONPATH=$LLAMA_CPP/gguf-py /usr/bin/python3 tools/gguf/check_tokenizer.py \
           --hf HF_DIR --gguf OURS.gguf --llama-cpp $LLAMA_CPP [--strings expected.json]
Build this project first (npm run build) and llama-tokenize
(cmake --build $LLAMA_CPP/build --target llama-tokenize).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from gguf import GGUFReader  # gguf-py from the llama.cpp checkout (PYTHONPATH)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SHIM = r'''
import os, runpy, sys, types
import torch
for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64"):
    if not hasattr(torch, name):
        setattr(torch, name, object())
tr = types.ModuleType("transformers")
class AutoConfig:
    @staticmethod
    def from_pretrained(*a, **k):
        raise RuntimeError("no transformers here: the converter reads config.json")
tr.AutoConfig = AutoConfig
sys.modules["transformers"] = tr
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
'''


def llama_cpp_vocab(llama_cpp, hf, out):
    with tempfile.TemporaryDirectory() as d:
        shim = os.path.join(d, 'shim.py')
        with open(shim, 'w') as f:
            f.write(SHIM)
        env = dict(os.environ, PYTHONPATH=os.path.join(llama_cpp, 'gguf-py'))
        r = subprocess.run([sys.executable, shim, os.path.join(llama_cpp, 'convert_hf_to_gguf.py'), hf,
                            '--outfile', out, '--vocab-only'], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f'convert_hf_to_gguf.py failed:\n{r.stderr[-3000:]}')


def field_value(field):
    """(type names, python value) of a GGUFReader field."""
    types = [t.name for t in field.types]
    if types[0] == 'ARRAY':
        if types[1] == 'STRING':
            return types, [bytes(field.parts[i]).decode('utf-8') for i in field.data]
        return types, [field.parts[i].tolist()[0] for i in field.data]
    if types[0] == 'STRING':
        return types, bytes(field.parts[field.data[0]]).decode('utf-8')
    return types, field.parts[field.data[0]].tolist()[0]


def tokenizer_fields(path):
    r = GGUFReader(path)
    return {k: field_value(f) for k, f in r.fields.items() if k.startswith('tokenizer.') or k.startswith('pangu.tokenizer.')}


def llama_tokenize(llama_cpp, model, text):
    with tempfile.NamedTemporaryFile('wb', suffix='.txt', delete=False) as f:
        f.write(text.encode('utf-8'))
        name = f.name
    try:
        r = subprocess.run([os.path.join(llama_cpp, 'build', 'bin', 'llama-tokenize'), '-m', model, '-f', name,
                            '--ids', '--no-escape', '--log-disable'], capture_output=True, text=True)
    finally:
        os.unlink(name)
    if r.returncode != 0:
        return f'error: {r.stderr.strip()[-200:]}'
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--hf', required=True)
    ap.add_argument('--gguf', required=True)
    ap.add_argument('--llama-cpp', required=True)
    ap.add_argument('--strings', default=os.path.join(REPO, 'test/fixtures/tokenizer/bpe/expected.json'))
    args = ap.parse_args()

    ref = os.path.join(tempfile.mkdtemp(), 'llama-cpp-vocab.gguf')
    llama_cpp_vocab(args.llama_cpp, args.hf, ref)
    ours, theirs = tokenizer_fields(args.gguf), tokenizer_fields(ref)
    print(f'== tokenizer keys: ours {len(ours)}, llama.cpp convert_hf_to_gguf.py {len(theirs)}')
    for k in sorted(set(ours) | set(theirs)):
        if k not in theirs:
            print(f'  only ours:       {k} = {str(ours[k][1])[:60]}')
        elif k not in ours:
            print(f'  only llama.cpp:  {k} = {str(theirs[k][1])[:60]}')
        elif ours[k] != theirs[k]:
            print(f'  DIFFERENT:       {k}: ours {ours[k][0]} {str(ours[k][1])[:60]} / llama.cpp {theirs[k][0]} {str(theirs[k][1])[:60]}')
        else:
            n = f'{len(ours[k][1])} entries' if isinstance(ours[k][1], list) else repr(ours[k][1])[:40]
            print(f'  same:            {k} ({"/".join(ours[k][0])}, {n})')

    exp = json.load(open(args.strings, encoding='utf-8'))
    texts = [c['text'] for c in exp['cases']] + [c['rendered'] for c in exp['chat']]
    hf = [c['hf_ids'] for c in exp['cases']] + [c['hf_ids'] for c in exp['chat']]
    def pangu_tokenize(model):
        r = subprocess.run(['node', os.path.join(REPO, 'bin', 'pangu.js'), 'tokenize', '--model', model, '--jsonl'],
                           input=''.join(json.dumps(t) + '\n' for t in texts), capture_output=True, text=True, check=True)
        return [json.loads(line) for line in r.stdout.splitlines()]
    pangu, pangu_dir = pangu_tokenize(args.gguf), pangu_tokenize(args.hf)
    assert len(pangu) == len(texts) == len(pangu_dir)
    counts = {'pangu(gguf) = pangu(dir)': 0, 'pangu(gguf) = llama.cpp(our gguf)': 0,
              'llama.cpp(our gguf) = llama.cpp(its gguf)': 0, 'pangu(dir) = slow HF ids of --strings': 0}
    diffs = []
    for text, h, p, d in zip(texts, hf, pangu, pangu_dir):
        a = llama_tokenize(args.llama_cpp, args.gguf, text)
        b = llama_tokenize(args.llama_cpp, ref, text)
        counts['pangu(gguf) = pangu(dir)'] += p == d
        counts['pangu(gguf) = llama.cpp(our gguf)'] += p == a
        counts['llama.cpp(our gguf) = llama.cpp(its gguf)'] += a == b
        counts['pangu(dir) = slow HF ids of --strings'] += d == h  # meaningful when --strings is this tokenizer's fixture
        if p != a or p != d or a != b:
            diffs.append((text, p, a))
    print(f'== {len(texts)} strings ({len(exp["cases"])} test strings + {len(exp["chat"])} rendered chats)')
    for k, v in counts.items():
        print(f'  {k}: {v} / {len(texts)}')
    for text, p, a in diffs[:10]:
        print(f'  differs: {json.dumps(text)[:70]}\n    pangu-ts  {p}\n    llama.cpp {a}')
    return 0 if not diffs else 1


if __name__ == '__main__':
    sys.exit(main())
