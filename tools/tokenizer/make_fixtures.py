#!/usr/bin/env python3
"""Builds the tokenizer fixtures under test/fixtures/tokenizer/.

Needs Debian's python3-sentencepiece and python3-jinja2 (`apt-get install -y python3-sentencepiece
python3-jinja2`); run it with the system interpreter: /usr/bin/python3 tools/tokenizer/make_fixtures.py
The output is deterministic (same bytes on every run with sentencepiece 0.1.97).

Writes, for each of two models trained here on text written for this project (corpus.py):
  bpe/      BPE, byte_fallback, identity normalization (as Pangu's), Pangu-like user-defined
            symbols ([unused0]..[unused17], <|User|>:, <|Bot|>:), <unk>/<s>/</s> at 0/1/2
  unigram/  unigram, nmt_nfkc normalization, no byte fallback
each with tokenizer.model, a tokenizer_config.json in Pangu's format (the real chat template) and
expected.json: SentencePiece's ids, pieces and decodes for a varied test set, the slow HF
tokenizer's ids and decodes (hf_reference.py), and decodes of random id sequences.
"""

import io
import json
import os
import random
import sys

try:
    import sentencepiece as spm
except ImportError:  # the pyenv python has no sentencepiece; Debian's python3 does
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from corpus import corpus_lines  # noqa: E402
from hf_reference import SlowTokenizer, pangu_style_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "test", "fixtures", "tokenizer")

# The chat template of openPangu-Embedded-7B's tokenizer_config.json.
PANGU_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '[unused9]系统：[unused10]' }}{% endif %}{% if message['role'] == 'system' %}"
    "{{ '[unused9]系统：' + message['content'] + '[unused10]' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{'[unused9]助手：' + message['content'] + '[unused10]'}}{% endif %}"
    "{% if message['role'] == 'tool' %}{{'[unused9]工具：' + message['content'] + '[unused10]'}}{% endif %}"
    "{% if message['role'] == 'function' %}{{'[unused9]方法：' + message['content'] + '[unused10]'}}{% endif %}"
    "{% if message['role'] == 'user' %}{{'[unused9]用户：' + message['content'] + '[unused10]'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '[unused9]助手：' }}{% endif %}"
)

UNUSED = [f"[unused{i}]" for i in range(18)]
PANGU_USER_DEFINED = ["<|User|>:", "<|Bot|>:"] + UNUSED
ADDED = ["<unk>", "<s>", "</s>"] + PANGU_USER_DEFINED

TEST_STRINGS = [
    "",
    " ",
    "   ",
    "\n",
    "\t",
    "Hello world",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "trailing space ",
    "  two leading and two trailing  ",
    "multiple   spaces    between     words",
    "tabs\tbetween\twords\t\tand\t\t\tmore",
    "line one\nline two\n\nline four\r\nwindows line",
    "\n\n\nstarts with newlines",
    "ends with newlines\n\n",
    " \t \n mixed \n\t whitespace \t\n ",
    "今天天气很好，我们一起去公园散步吧。",
    "人工智能正在改变我们的生活方式，模型需要数据。",
    "饕餮龘靐齉爩",
    "私は毎朝コーヒーを飲みながら新聞を読みます。",
    "カタカナ　ひらがな　漢字",
    "Сегодня хорошая погода, пойдём гулять в парк.",
    "Ёжик в тумане",
    "الطقس جميل اليوم، هيا نذهب إلى الحديقة.",
    "مرحبا بالعالم 123",
    "Ça va très bien, merci ! À bientôt.",
    "Größe Straße Übung",
    "오늘 날씨가 정말 좋네요.",
    "नमस्ते दुनिया",
    "ฝนตกหนักเมื่อคืนนี้",
    "Great job! 🎉🎉",
    "👨‍👩‍👧‍👦 family, 👩🏽‍💻 coder, 🏳️‍🌈 flag",
    "👍🏻👍🏼👍🏽👍🏾👍🏿",
    "🇨🇳🇯🇵🇺🇸 flags",
    "❤️‍🔥 heart on fire",
    "🦀🦕🧬🪐",
    "def add(a, b):\n    return a + b\n",
    "for (let i = 0; i < n; i++) {\n  total += values[i];\n}",
    "    indented four\n        indented eight\n\t\ttabbed",
    "const url = `https://example.com/api?q=${query}&page=2`;",
    "{\"key\": \"value\", \"list\": [1, 2, 3]}",
    "x=1;y=2;z=x+y*3/4-5%6",
    "1234567890 3.14159 -42 1e-9 0xDEADBEEF",
    "Version 2.3.1 released on 2024-05-17 at 09:30:00Z",
    "[unused9]系统：你是一个助手。[unused10]",
    "[unused9]用户：你好[unused10][unused9]助手：",
    "[unused16]思考过程[unused17]最终答案[unused10]",
    "hello[unused9]world",
    "hello [unused9] world",
    "[unused9][unused10][unused9]",
    "<s>begin and end</s>",
    "a<unk>b",
    "<|User|>: hi <|Bot|>: hello",
    "[unused1][unused10][unused1 ][unused100]",
    "[unused",
    "not special: [UNUSED9] <S> </ s>",
    "text ending with a marker[unused17]",
    "  [unused9]  spaced special  [unused10]  ",
    "antidisestablishmentarianism" * 3,
    "supercalifragilisticexpialidocious " * 4,
    "a" * 300,
    "ab" * 200,
    "中" * 120,
    "😀" * 50,
    "x" + " " * 40 + "y",
    "Zero\u200bwidth\u200cjoiners\u200d",
    "ﬁnancial ﬂow ① ② ³ ½ Ⅻ ㍿",
    "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３",
    "Å vs Å (composed vs decomposed)",
    "control\x01chars\x7fhere",
    "nul\x00inside",
    "\u3000ideographic space\u3000",
    "non\u00a0breaking\u00a0space",
    "mixed 中文 English 日本語 русский عربي 🎉 code()",
    "Thinking step by step, we first list the facts and then decide. /no_think",
    "What is 2+2? /auto_think",
    "\ufffd replacement char",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟙𝟚𝟛",
    "Ǆǅǆ ǈ ǋ ﬃ ﬄ",
    "ﾊﾝｶｸｶﾀｶﾅ",
    "▁already▁has▁the▁mark",
]


CHAT_CASES = [
    {"messages": [{"role": "user", "content": "你好"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "你好"}], "add_generation_prompt": False},
    {
        "messages": [
            {"role": "system", "content": "你是一个乐于助人的助手。"},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "[unused16]Add them.[unused17]4"},
            {"role": "user", "content": "And 3+3? /no_think"},
        ],
        "add_generation_prompt": True,
    },
    {
        "messages": [
            {"role": "user", "content": "call a tool /auto_think"},
            {"role": "assistant", "content": "calling"},
            {"role": "tool", "content": "{\"temp\": 21}"},
            {"role": "function", "content": "ok"},
        ],
        "add_generation_prompt": True,
    },
    {"messages": [{"role": "system", "content": ""}], "add_generation_prompt": True},
    {"messages": [], "add_generation_prompt": True},
]


def render_chat(template, case, config):
    """apply_chat_template(tokenize=False) as transformers does it: a sandboxed Jinja2 environment
    with trim_blocks and lstrip_blocks, the special tokens passed as variables."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    t = env.from_string(template)
    return t.render(
        messages=case["messages"],
        add_generation_prompt=case["add_generation_prompt"],
        bos_token=config["bos_token"],
        eos_token=config["eos_token"],
        unk_token=config["unk_token"],
        pad_token=config["pad_token"],
    )


def train(lines, **kwargs):
    f = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=f, minloglevel=2, **kwargs)
    return f.getvalue()


def bpe_kwargs(vocab_size):
    return dict(
        model_type="bpe",
        vocab_size=vocab_size,
        byte_fallback=True,
        user_defined_symbols=PANGU_USER_DEFINED,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        split_digits=True,
        allow_whitespace_only_pieces=True,
        character_coverage=0.9995,
        max_sentence_length=100000,
        num_threads=2,
    )


def unigram_kwargs(vocab_size):
    return dict(
        model_type="unigram",
        vocab_size=vocab_size,
        user_defined_symbols=PANGU_USER_DEFINED,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        normalization_rule_name="nmt_nfkc",
        character_coverage=0.995,
        max_sentence_length=100000,
        num_threads=2,
    )


def random_id_sequences(sp, rng, count):
    """Id sequences to decode: random pieces, byte pieces (whole and broken UTF-8), specials."""
    n = sp.get_piece_size()
    byte_ids = [i for i in range(n) if sp.is_byte(i)]
    seqs = []
    for k in range(count):
        length = rng.randint(0, 24)
        seq = []
        for _ in range(length):
            r = rng.random()
            if byte_ids and r < 0.35:
                seq.append(rng.choice(byte_ids))
            elif r < 0.45:
                seq.append(rng.randint(0, 20))
            else:
                seq.append(rng.randrange(n))
        seqs.append(seq)
    if byte_ids:
        b = lambda x: sp.piece_to_id("<0x%02X>" % x)  # noqa: E731
        seqs += [
            [b(0xE4), b(0xBD), b(0xA0)],  # 你
            [b(0xE4), b(0xBD)],  # truncated
            [b(0xE4), b(0xBD), sp.piece_to_id("▁a")],
            [b(0xF0), b(0x9F), b(0x98), b(0x80), b(0xF0), b(0x9F)],
            [b(0xC0), b(0x80), b(0xED), b(0xA0), b(0x80)],  # overlong and surrogate
            [b(0x80), b(0xBF), b(0xFF), b(0x41)],
            [b(0x20), b(0x41)],
            [sp.piece_to_id("▁"), sp.piece_to_id("▁"), b(0x41)],
        ]
    return seqs


def expected_for(sp, slow, strings, rng):
    cases = []
    for s in strings:
        ids = sp.encode(s)
        cases.append(
            {
                "text": s,
                "sp_ids": ids,
                "sp_pieces": sp.encode(s, out_type=str),
                "sp_decode": sp.decode(ids),
                "sp_roundtrip": sp.decode(ids) == s,
                "normalized": sp.normalize(s) if hasattr(sp, "normalize") else None,
                "hf_ids": slow.encode(s),
                "hf_ids_no_special": slow.encode(s, add_special_tokens=False),
                "hf_decode": slow.decode(slow.encode(s)),
                "hf_decode_skip": slow.decode(slow.encode(s), skip_special_tokens=True),
            }
        )
    decodes = []
    for seq in random_id_sequences(sp, rng, 150):
        decodes.append(
            {
                "ids": seq,
                "sp_decode": sp.decode(seq),
                "hf_decode": slow.decode(seq),
                "hf_decode_skip": slow.decode(seq, skip_special_tokens=True),
            }
        )
    return {"cases": cases, "decodes": decodes}


def write_model(name, model_bytes, strings, seed):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.model"), "wb") as f:
        f.write(model_bytes)
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    config = pangu_style_config(sp, ADDED, PANGU_CHAT_TEMPLATE)
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)
        f.write("\n")
    slow = SlowTokenizer(sp, config)
    exp = expected_for(sp, slow, strings, random.Random(seed))
    exp["chat"] = []
    for case in CHAT_CASES:
        text = render_chat(PANGU_CHAT_TEMPLATE, case, config)
        exp["chat"].append(dict(case, rendered=text, hf_ids=slow.encode(text), hf_ids_no_special=slow.encode(text, add_special_tokens=False)))
    exp["model"] = {
        "pieces": sp.get_piece_size(),
        "sentencepiece_version": spm.__version__,
        "bos_id": sp.bos_id(),
        "eos_id": sp.eos_id(),
        "unk_id": sp.unk_id(),
        "eos_token_id": config and int([k for k, v in config["added_tokens_decoder"].items() if v["content"] == "[unused10]"][0]),
    }
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{name}: {sp.get_piece_size()} pieces, {len(model_bytes)} bytes, {len(exp['cases'])} cases, {len(exp['decodes'])} decodes")


def write_checkpoint_tokenizer(model_dir, model_bytes):
    """A tokenizer for a test checkpoint (vocab 512), so that `pangu run` works end to end on it."""
    sp = spm.SentencePieceProcessor(model_proto=model_bytes)
    with open(os.path.join(model_dir, "tokenizer.model"), "wb") as f:
        f.write(model_bytes)
    with open(os.path.join(model_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(pangu_style_config(sp, ADDED, PANGU_CHAT_TEMPLATE), f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"{model_dir}: {sp.get_piece_size()} pieces, {len(model_bytes)} bytes")


def main():
    spm.set_random_generator_seed(1234)
    lines = corpus_lines(seed=1, variant="fixture")
    write_model("bpe", train(lines, **bpe_kwargs(3000)), TEST_STRINGS, seed=11)
    write_model("unigram", train(lines, **unigram_kwargs(2000)), TEST_STRINGS, seed=12)
    # 512 ids leave no room for the multilingual characters: English lines only, the rest byte-fallback.
    small = train([l for l in lines if l.isascii()], **bpe_kwargs(512))
    for name in ("moe-tiny", "embedded-tiny"):
        write_checkpoint_tokenizer(os.path.join(ROOT, "test", "fixtures", "models", name), small)


if __name__ == "__main__":
    main()
