#!/usr/bin/python3
"""pd-llama-6m (PyTorch checkpoint) -> GGUF (F32), for llama.cpp as a benchmark peer.

    /usr/bin/python3 bench/llamacpp/convert_pd_llama.py CHECKPOINT_DIR GGUF_PY_DIR OUT.gguf

CHECKPOINT_DIR holds checkpoint.pt (state dict + config) and tokenizer.model
(models/pd-llama-6m or ../shared/models/pd-llama-6m); GGUF_PY_DIR is llama.cpp's own
gguf-py (build-llamacpp/llama.cpp/gguf-py, from the llama.cpp source node-llama-cpp
3.21.1 ships): its GGUFWriter writes the file, so the format is llama.cpp's, not ours.

What the conversion does, as llama.cpp's convert_hf_to_gguf.py does for a Hugging Face
Llama (conversion/llama.py):
  * tensor names: embed -> token_embd, layers.i.{attn_norm, q/k/v/o_proj, ffn_norm,
    gate/up/down_proj} -> blk.i.{attn_norm, attn_q/k/v, attn_output, ffn_norm,
    ffn_gate/up/down}, norm -> output_norm. The embedding is tied, so no output.weight:
    llama.cpp then uses token_embd for the lm_head too.
  * Q/K rows permuted. The checkpoint rotates by halves (HF "rotate_half": pairs
    (j, j + hd/2)); llama.cpp's LLAMA arch applies "normal" RoPE to adjacent pairs
    (2j, 2j + 1). Permuting each head's output rows of W_q and W_k, row r = a*hd/2 + j
    (a in {0, 1}) -> row 2j + a, makes q·k identical (both sides permuted the same way,
    V and the attention output untouched): LlamaModel.permute, with n_head_kv heads for K.
  * Tokenizer: "llama" (SentencePiece) with pieces, scores and types read straight from
    tokenizer.model's protobuf (ModelProto.pieces = field 1: piece 1, score 2, type 3;
    SentencePiece's type numbers equal GGUF's token types). /usr/bin/python3 has no
    sentencepiece module, so the few wire-format fields are decoded here (checked
    against tokenizer.vocab when it is present). BOS 1, EOS 2, UNK 0 from the trainer
    spec; add_space_prefix from the normalizer spec's add_dummy_prefix.
Everything is written in float32 (F32); llama-quantize makes Q8_0 and Q4_0 from it.
"""
import os
import struct
import sys

import numpy as np
import torch

src, gguf_py, out = sys.argv[1:4]
sys.path.insert(0, gguf_py)
import gguf  # noqa: E402


# --- SentencePiece model protobuf (wire format) ------------------------------------------
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return v, i


def fields(b):
    """(field number, wire type, value) of one message; value bytes for length-delimited."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f'tokenizer.model: wire type {wt} at byte {i}')
        yield f, wt, v


model = open(os.path.join(src, 'tokenizer.model'), 'rb').read()
tokens, scores, types = [], [], []
trainer, normalizer = {}, {}
for f, wt, v in fields(model):
    if f == 1:  # SentencePiece
        piece, score, typ = b'', 0.0, 1  # type defaults to NORMAL
        for g, _, w in fields(v):
            if g == 1:
                piece = bytes(w)
            elif g == 2:
                score = struct.unpack('<f', w)[0]
            elif g == 3:
                typ = w
        tokens.append(piece)
        scores.append(score)
        types.append(typ)
    elif f == 2:
        trainer = {g: w for g, _, w in fields(v)}
    elif f == 3:
        normalizer = {g: w for g, _, w in fields(v)}

vocab_txt = os.path.join(src, 'tokenizer.vocab')
if os.path.exists(vocab_txt):
    for i, line in enumerate(open(vocab_txt, encoding='utf-8')):
        p, s = line.rstrip('\n').rsplit('\t', 1)
        assert p.encode() == tokens[i] and abs(float(s) - scores[i]) < 1e-4, (i, p, s, tokens[i], scores[i])

# --- Checkpoint ------------------------------------------------------------------------
ck = torch.load(os.path.join(src, 'checkpoint.pt'), map_location='cpu')
cfg, sd = ck['cfg'], ck['model']
cfg = cfg if isinstance(cfg, dict) else vars(cfg)
dim, L, H, KVH = cfg['dim'], cfg['n_layers'], cfg['n_heads'], cfg['n_kv_heads']
hd = dim // H
assert len(tokens) == cfg['vocab'], (len(tokens), cfg['vocab'])
assert torch.equal(sd['embed.weight'], sd['lm_head.weight']), 'expected tied embeddings'


def permute(w, n_head):  # convert_hf_to_gguf LlamaModel.permute
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


w = gguf.GGUFWriter(out, 'llama')
w.add_name('pd-llama-6m')
w.add_context_length(cfg['max_seq'])
w.add_embedding_length(dim)
w.add_block_count(L)
w.add_feed_forward_length(cfg['hidden'])
w.add_head_count(H)
w.add_head_count_kv(KVH)
w.add_rope_dimension_count(hd)
w.add_rope_freq_base(float(cfg['theta']))
w.add_layer_norm_rms_eps(float(cfg['eps']))
w.add_vocab_size(cfg['vocab'])
w.add_file_type(gguf.LlamaFileType.ALL_F32)

w.add_tokenizer_model('llama')
w.add_tokenizer_pre('default')
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_unk_token_id(trainer.get(40, 0))
w.add_bos_token_id(trainer.get(41, 1))
w.add_eos_token_id(trainer.get(42, 2))
w.add_add_bos_token(False)  # the model was trained and is evaluated without BOS
w.add_add_eos_token(False)
w.add_add_space_prefix(bool(normalizer.get(3, 1)))


def t(name, x):
    w.add_tensor(name, np.ascontiguousarray(x.detach().float().numpy()))


t('token_embd.weight', sd['embed.weight'])
for i in range(L):
    p = f'layers.{i}.'
    b = f'blk.{i}.'
    t(b + 'attn_norm.weight', sd[p + 'attn_norm.weight'])
    t(b + 'attn_q.weight', permute(sd[p + 'q_proj.weight'], H))
    t(b + 'attn_k.weight', permute(sd[p + 'k_proj.weight'], KVH))
    t(b + 'attn_v.weight', sd[p + 'v_proj.weight'])
    t(b + 'attn_output.weight', sd[p + 'o_proj.weight'])
    t(b + 'ffn_norm.weight', sd[p + 'ffn_norm.weight'])
    t(b + 'ffn_gate.weight', sd[p + 'gate_proj.weight'])
    t(b + 'ffn_up.weight', sd[p + 'up_proj.weight'])
    t(b + 'ffn_down.weight', sd[p + 'down_proj.weight'])
t('output_norm.weight', sd['norm.weight'])

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
n = sum(v.numel() for k, v in sd.items() if k != 'lm_head.weight')
print(f'wrote {out}: {len(tokens)} tokens, {n:,} parameters (tied embedding once), F32')
