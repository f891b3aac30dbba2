//===- quant-tokenize.cpp - Text to token ids (.npy) ---------------*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// quant-tokenize TOKENIZER.model TEXT -o IDS.npy
//
// Encodes every line of TEXT with SentencePiece (no BOS), appends EOS after
// each line (the protocol quant-eval and --calibrate use) and writes the
// concatenation as int64 [T]. A separate process because Debian's
// libsentencepiece carries its own protobuf 3.14 runtime, which aborts when
// loaded next to the libprotobuf 3.21 the ONNX importer uses.
//
//===----------------------------------------------------------------------===//

#include "lq_rt/lq_rt.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

int main(int argc, char **argv) {
  std::string model, text, out;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-o" && i + 1 < argc)
      out = argv[++i];
    else if (model.empty())
      model = a;
    else if (text.empty())
      text = a;
    else {
      std::fprintf(stderr, "usage: quant-tokenize TOKENIZER TEXT -o IDS.npy\n");
      return 1;
    }
  }
  if (model.empty() || text.empty() || out.empty()) {
    std::fprintf(stderr, "usage: quant-tokenize TOKENIZER TEXT -o IDS.npy\n");
    return 1;
  }
  sentencepiece::SentencePieceProcessor sp;
  auto status = sp.Load(model);
  if (!status.ok()) {
    std::fprintf(stderr, "quant-tokenize: error: cannot load tokenizer '%s': %s\n",
                 model.c_str(), status.ToString().c_str());
    return 1;
  }
  std::ifstream in(text);
  if (!in) {
    std::fprintf(stderr, "quant-tokenize: error: cannot read '%s'\n", text.c_str());
    return 1;
  }
  std::vector<int64_t> ids;
  int eos = sp.eos_id() >= 0 ? sp.eos_id() : 2;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<int> piece;
    sp.Encode(line, &piece);
    ids.insert(ids.end(), piece.begin(), piece.end());
    ids.push_back(eos);
  }
  lq_tensor_t t = {LQ_DTYPE_I64, 1, {int64_t(ids.size())}, ids.data()};
  if (lq_npy_write(out.c_str(), &t) != LQ_RT_OK) {
    std::fprintf(stderr, "quant-tokenize: error: %s\n", lq_rt_last_error());
    return 1;
  }
  return 0;
}
