"""The slow Hugging Face tokenizer's behaviour around a SentencePiece model, in plain Python.

transformers is not installed here, so this restates what PreTrainedTokenizer and Pangu's
PanguTokenizer do (written for this project from the documented behaviour, not copied):

encode: split the text on the added tokens (transformers' Trie.split: the first match to complete
        wins, extended to its longest), drop empty parts, encode every other part on its own with
        sp.encode(out_type=str), map each token to its id (added tokens first, else
        sp.piece_to_id), prepend <s> when add_bos_token (append eos when add_eos_token).
decode: ids -> tokens (added tokens by content, else sp.id_to_piece), skipping the ids of
        bos/eos/unk/pad/additional special tokens when skip_special_tokens; added tokens that are
        not special tokens, and special tokens, are written verbatim and end the current run of
        pieces, which is decoded with sp.decode on its own; parts joined with "".
"""

import json


class Trie:
    def __init__(self, words=()):
        self.data = {}
        for w in words:
            self.add(w)

    def add(self, word):
        if not word:
            return
        node = self.data
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = 1

    def split(self, text):
        states = {}  # start -> node, in start order (dicts keep insertion order)
        offsets = [0]
        skip = 0
        n = len(text)
        for current, ch in enumerate(text):
            if skip and current < skip:
                continue
            to_remove = set()
            reset = False
            for start, node in list(states.items()):
                if "" in node:
                    end = current
                    for lookstart, looknode in list(states.items()):
                        if lookstart > start:
                            break
                        if lookstart < start:
                            li = current + 1
                            end = current + 1
                        else:
                            li = current
                            end = current
                        nxt = text[li] if li < n else None
                        if "" in looknode:
                            start = lookstart
                            end = li
                            skip = li
                        while nxt is not None and nxt in looknode:
                            looknode = looknode[nxt]
                            li += 1
                            if "" in looknode:
                                start = lookstart
                                end = li
                                skip = li
                            if li == n:
                                break
                            nxt = text[li]
                    offsets.append(start)
                    offsets.append(end)
                    reset = True
                    break
                elif ch in node:
                    states[start] = node[ch]
                else:
                    to_remove.add(start)
            if reset:
                states = {}
            else:
                for s in to_remove:
                    del states[s]
            if current >= skip and ch in self.data:
                states[current] = self.data[ch]
        for start, node in states.items():
            if "" in node:
                offsets.append(start)
                offsets.append(n)
                break
        offsets.append(n)
        out = []
        start = 0
        for end in offsets:
            if start >= end:
                continue
            out.append(text[start:end])
            start = end
        return out


def _content(v):
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        return v.get("content")
    return None


class SlowTokenizer:
    def __init__(self, sp, config):
        self.sp = sp
        self.config = config
        self.add_bos = bool(config.get("add_bos_token", True))
        self.add_eos = bool(config.get("add_eos_token", False))
        self.added = {}  # content -> id
        self.added_by_id = {}
        for k, v in config.get("added_tokens_decoder", {}).items():
            self.added[v["content"]] = int(k)
            self.added_by_id[int(k)] = v["content"]
        specials = []
        for key in ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"):
            c = _content(config.get(key))
            if c is not None:
                specials.append(c)
        for t in config.get("additional_special_tokens", []) or []:
            specials.append(_content(t))
        for c in specials:
            if c not in self.added:
                raise ValueError("fixture configs list every special token in added_tokens_decoder")
        self.all_special = set(specials)
        self.all_special_ids = {self.added[c] for c in specials}
        self.legacy = set(self.added) - self.all_special
        self.trie = Trie(self.added)
        self.bos_id = self.added.get(_content(config.get("bos_token")))
        self.eos_id = self.added.get(_content(config.get("eos_token")))

    def tokenize(self, text):
        out = []
        for part in self.trie.split(text):
            if not part:
                continue
            if part in self.added:
                out.append(part)
            else:
                out.extend(self.sp.encode(part, out_type=str))
        return out

    def encode(self, text, add_special_tokens=True):
        ids = [self.added[t] if t in self.added else self.sp.piece_to_id(t) for t in self.tokenize(text)]
        if add_special_tokens:
            if self.add_bos:
                ids = [self.bos_id] + ids
            if self.add_eos:
                ids = ids + [self.eos_id]
        return ids

    def _pieces_to_string(self, tokens):
        out = ""
        cur = []
        for t in tokens:
            if t in self.all_special:
                if cur:
                    out += self.sp.decode(cur)
                    cur = []
                out += t
            else:
                cur.append(t)
        if cur:
            out += self.sp.decode(cur)
        return out

    def decode(self, ids, skip_special_tokens=False):
        tokens = []
        for i in ids:
            if skip_special_tokens and i in self.all_special_ids:
                continue
            tokens.append(self.added_by_id[i] if i in self.added_by_id else self.sp.id_to_piece(i))
        parts = []
        cur = []
        for t in tokens:
            if t in self.legacy:
                if cur:
                    s = self._pieces_to_string(cur)
                    if s:
                        parts.append(s)
                    cur = []
                parts.append(t)
            else:
                cur.append(t)
        if cur:
            parts.append(self._pieces_to_string(cur))
        return "".join(parts)


def pangu_style_config(sp, added_contents, chat_template, eos="[unused10]"):
    """A tokenizer_config.json shaped like Pangu's, with the ids these tokens have in `sp`."""
    dec = {}
    for c in added_contents:
        i = sp.piece_to_id(c)
        if sp.id_to_piece(i) != c:
            raise ValueError(f"{c!r} is not a piece of the model")
        dec[str(i)] = {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
    dec = dict(sorted(dec.items(), key=lambda kv: int(kv[0])))
    return {
        "add_bos_token": True,
        "add_eos_token": False,
        "add_prefix_space": True,
        "added_tokens_decoder": dec,
        "auto_map": {"AutoTokenizer": ["tokenization_openpangu.PanguTokenizer", None]},
        "bos_token": "<s>",
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "legacy": True,
        "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<unk>",
        "sp_model_kwargs": {},
        "spaces_between_special_tokens": False,
        "tokenizer_class": "PanguTokenizer",
        "unk_token": "<unk>",
        "use_default_system_prompt": False,
        "chat_template": chat_template,
    }


def load_real_chat_template(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)["chat_template"]
