//===- RotationFile.cpp - Reading learned rotations (SpinQuant) ----*- C++ -*-===//
// SPDX-License-Identifier: Apache-2.0
//===----------------------------------------------------------------------===//
//
// The three containers --spinquant="rotations=..." reads R1 and R2 from:
//
//  - a directory: DIR/R1.npy, DIR/R2.npy, read by lq_rt's .npy reader;
//  - FILE.npz (np.savez(FILE, R1=..., R2=...)): a ZIP archive whose members
//    R1.npy / R2.npy are .npy files. The central directory at the end of the
//    archive gives each member's local header offset (ZIP64 extra fields
//    and the ZIP64 end record are followed, as numpy writes every member
//    with force_zip64); members must be "stored" (method 0, what np.savez
//    writes) and their CRC-32 must match. Deflated members
//    (np.savez_compressed) are an error: zip stores raw deflate streams,
//    which llvm/Support/Compression.h (zlib-wrapped streams only) cannot
//    inflate;
//  - FILE.safetensors: an 8-byte little-endian header length N, N bytes of
//    JSON {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [b, e]},
//    "__metadata__": {...}} parsed with llvm::json, then the raw
//    little-endian data, each tensor at [8 + N + b, 8 + N + e).
//
// Only f32 and f64 tensors are decoded; every other dtype is named so the
// caller's error can say what it got. Every error names the file and the
// tensor.
//
//===----------------------------------------------------------------------===//

#include "passes/Quantize/RotationFile.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CRC.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <lq_rt/lq_rt.h>

#include <cstring>

using namespace llvm;

namespace mlir::lq {

namespace {

uint16_t u16(const char *p) { return support::endian::read16le(p); }
uint32_t u32(const char *p) { return support::endian::read32le(p); }
uint64_t u64(const char *p) { return support::endian::read64le(p); }

/// Bytes per element of lq's short dtype name, 0 when unknown.
int64_t elementSize(StringRef dtype) {
  return StringSwitch<int64_t>(dtype)
      .Cases({"f64", "i64", "u64"}, 8)
      .Cases({"f32", "i32", "u32"}, 4)
      .Cases({"f16", "bf16", "i16", "u16"}, 2)
      .Cases({"i8", "u8", "bool", "f8e4m3", "f8e5m2"}, 1)
      .Default(0);
}

/// Fills out.values from little-endian f32/f64 `data` (numel elements).
void decode(RotationTensor &out, const char *data, int64_t numel) {
  if (!out.isFloat())
    return;
  out.values.resize(numel);
  for (int64_t i = 0; i < numel; ++i) {
    if (out.dtype == "f64") {
      uint64_t bits = u64(data + 8 * i);
      std::memcpy(&out.values[i], &bits, 8);
    } else {
      uint32_t bits = u32(data + 4 * i);
      float f;
      std::memcpy(&f, &bits, 4);
      out.values[i] = f;
    }
  }
}

int64_t numelOf(ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Parses a .npy file held in memory. On failure returns false and says why.
bool parseNpy(StringRef bytes, RotationTensor &out, std::string &why) {
  if (bytes.size() < 10 || !bytes.starts_with("\x93NUMPY")) {
    why = "is not a .npy file (no \\x93NUMPY magic)";
    return false;
  }
  unsigned major = uint8_t(bytes[6]);
  size_t start, hlen;
  if (major == 1) {
    start = 10;
    hlen = u16(bytes.data() + 8);
  } else if ((major == 2 || major == 3) && bytes.size() >= 12) {
    start = 12;
    hlen = u32(bytes.data() + 8);
  } else {
    why = "has an unknown .npy version " + std::to_string(major);
    return false;
  }
  if (start + hlen > bytes.size()) {
    why = "has a truncated .npy header";
    return false;
  }
  StringRef header = bytes.substr(start, hlen);
  auto field = [&](StringRef key) -> StringRef {
    size_t at = header.find(("'" + key + "'").str());
    if (at == StringRef::npos)
      return {};
    StringRef rest = header.drop_front(at + key.size() + 2).ltrim();
    if (!rest.consume_front(":"))
      return {};
    return rest.ltrim();
  };
  StringRef descr = field("descr");
  if (!descr.consume_front("'")) {
    why = "has no 'descr' in its .npy header";
    return false;
  }
  descr = descr.take_until([](char c) { return c == '\''; });
  if (field("fortran_order").starts_with("True")) {
    why = "is stored in Fortran order (save a C-ordered array, e.g. "
          "np.ascontiguousarray)";
    return false;
  }
  StringRef shape = field("shape");
  if (!shape.consume_front("(")) {
    why = "has no 'shape' in its .npy header";
    return false;
  }
  shape = shape.take_until([](char c) { return c == ')'; });
  out.shape.clear();
  for (StringRef dim : llvm::split(shape, ',')) {
    dim = dim.trim();
    if (dim.empty())
      continue;
    int64_t d;
    if (dim.getAsInteger(10, d) || d < 0) {
      why = "has a bad .npy shape '(" + shape.str() + ")'";
      return false;
    }
    out.shape.push_back(d);
  }
  // '<f4' -> f32, '|b1' -> bool, ...; big-endian data is refused.
  char order = descr.empty() ? 0 : descr.front();
  StringRef code = descr.drop_front(1);
  if (order == '>' && code != "i1" && code != "u1" && code != "b1") {
    why = "holds big-endian data ('" + descr.str() + "')";
    return false;
  }
  out.dtype = StringSwitch<std::string>(code)
                  .Case("f8", "f64").Case("f4", "f32").Case("f2", "f16")
                  .Case("i8", "i64").Case("i4", "i32").Case("i2", "i16")
                  .Case("i1", "i8").Case("u8", "u64").Case("u4", "u32")
                  .Case("u2", "u16").Case("u1", "u8").Case("b1", "bool")
                  .Default(("'" + descr + "'").str());
  int64_t esize = elementSize(out.dtype);
  StringRef data = bytes.drop_front(start + hlen);
  int64_t numel = numelOf(out.shape);
  if (esize && uint64_t(numel) * uint64_t(esize) > data.size()) {
    why = "is truncated: " + std::to_string(numel) + " elements need " +
          std::to_string(numel * esize) + " bytes, it has " +
          std::to_string(data.size());
    return false;
  }
  decode(out, data.data(), numel);
  return true;
}

std::string holdsList(ArrayRef<std::string> names) {
  if (names.empty())
    return "no tensors";
  std::string s;
  for (const std::string &n : names)
    s += (s.empty() ? "" : ", ") + n;
  return s;
}

} // namespace

bool RotationFile::open(StringRef p, std::string &error) {
  path = p.str();
  if (p.ends_with(".npz"))
    kind = Npz;
  else if (p.ends_with(".safetensors"))
    kind = SafeTensors;
  else {
    kind = Directory; // DIR/NAME.npy, read in get()
    return true;
  }
  auto buf = MemoryBuffer::getFile(p, /*IsText=*/false,
                                   /*RequiresNullTerminator=*/false);
  if (!buf) {
    error = "cannot read " + path + ": " + buf.getError().message();
    return false;
  }
  buffer = std::move(*buf);
  const char *base = buffer->getBufferStart();
  const uint64_t size = buffer->getBufferSize();

  if (kind == SafeTensors) {
    if (size < 8) {
      error = path + " is not a safetensors file (shorter than its 8-byte "
                     "header length)";
      return false;
    }
    uint64_t n = u64(base);
    if (n > size - 8) {
      error = path + " is not a safetensors file (header length " +
              std::to_string(n) + " exceeds the file's " +
              std::to_string(size) + " bytes)";
      return false;
    }
    Expected<json::Value> header = json::parse(StringRef(base + 8, n));
    if (!header) {
      error = path + ": bad safetensors JSON header: " +
              toString(header.takeError());
      return false;
    }
    const json::Object *obj = header->getAsObject();
    if (!obj) {
      error = path + ": the safetensors header is not a JSON object";
      return false;
    }
    const uint64_t dataStart = 8 + n, dataSize = size - 8 - n;
    for (const auto &[key, value] : *obj) {
      if (key == "__metadata__")
        continue;
      std::string where = path + " (tensor '" + key.str() + "')";
      const json::Object *t = value.getAsObject();
      std::optional<StringRef> dtype = t ? t->getString("dtype") : std::nullopt;
      const json::Array *shape = t ? t->getArray("shape") : nullptr;
      const json::Array *offsets = t ? t->getArray("data_offsets") : nullptr;
      if (!dtype || !shape || !offsets || offsets->size() != 2) {
        error = where + ": needs \"dtype\", \"shape\" and \"data_offsets\" "
                        "[begin, end]";
        return false;
      }
      RotationTensor rt;
      rt.dtype = StringSwitch<std::string>(*dtype)
                     .Case("F64", "f64").Case("F32", "f32").Case("F16", "f16")
                     .Case("BF16", "bf16").Case("I64", "i64").Case("I32", "i32")
                     .Case("I16", "i16").Case("I8", "i8").Case("U8", "u8")
                     .Case("U16", "u16").Case("U32", "u32").Case("U64", "u64")
                     .Case("BOOL", "bool").Case("F8_E4M3", "f8e4m3")
                     .Case("F8_E5M2", "f8e5m2")
                     .Default(dtype->str());
      for (const json::Value &d : *shape) {
        std::optional<int64_t> v = d.getAsInteger();
        if (!v || *v < 0) {
          error = where + ": bad shape entry";
          return false;
        }
        rt.shape.push_back(*v);
      }
      std::optional<int64_t> b = (*offsets)[0].getAsInteger(),
                             e = (*offsets)[1].getAsInteger();
      if (!b || !e || *b < 0 || *e < *b || uint64_t(*e) > dataSize) {
        error = where + ": data_offsets lie outside the file's " +
                std::to_string(dataSize) + " data bytes";
        return false;
      }
      int64_t esize = elementSize(rt.dtype);
      int64_t numel = numelOf(rt.shape);
      if (esize && *e - *b != numel * esize) {
        error = where + ": data_offsets span " + std::to_string(*e - *b) +
                " bytes, its shape and dtype need " +
                std::to_string(numel * esize);
        return false;
      }
      decode(rt, base + dataStart + *b, numel);
      tensors[key.str()] = std::move(rt);
      names.push_back(key.str());
    }
    llvm::sort(names);
    return true;
  }

  // Npz: find the end of central directory record (22 bytes + a comment of
  // up to 64 KiB) from the end.
  auto bad = [&](const Twine &why) {
    error = (path + " is not a readable .npz (zip) archive: " + why).str();
    return false;
  };
  if (size < 22)
    return bad("too short");
  int64_t eocd = -1;
  for (int64_t at = int64_t(size) - 22;
       at >= 0 && at >= int64_t(size) - 22 - 65535; --at)
    if (u32(base + at) == 0x06054b50) {
      eocd = at;
      break;
    }
  if (eocd < 0)
    return bad("no end of central directory record");
  uint64_t entries = u16(base + eocd + 10);
  uint64_t cdOffset = u32(base + eocd + 16);
  if (cdOffset == 0xffffffffu || entries == 0xffff) {
    // ZIP64: the locator sits right before the end record.
    if (eocd < 20 || u32(base + eocd - 20) != 0x07064b50)
      return bad("ZIP64 fields without a ZIP64 locator");
    uint64_t z = u64(base + eocd - 20 + 8);
    if (z + 56 > size || u32(base + z) != 0x06064b50)
      return bad("bad ZIP64 end of central directory record");
    entries = u64(base + z + 32);
    cdOffset = u64(base + z + 48);
  }
  uint64_t at = cdOffset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (at + 46 > size || u32(base + at) != 0x02014b50)
      return bad("bad central directory entry " + Twine(i));
    Member m;
    m.method = u16(base + at + 10);
    m.crc = u32(base + at + 16);
    uint64_t csize = u32(base + at + 20), usize = u32(base + at + 24);
    uint16_t nlen = u16(base + at + 28), elen = u16(base + at + 30),
             clen = u16(base + at + 32);
    uint64_t local = u32(base + at + 42);
    if (at + 46 + nlen + elen + clen > size)
      return bad("truncated central directory");
    std::string name(base + at + 46, nlen);
    // ZIP64 extra field (id 1): the 0xffffffff fields, in this order.
    for (uint64_t x = at + 46 + nlen, xe = x + elen; x + 4 <= xe;) {
      uint16_t id = u16(base + x), len = u16(base + x + 2);
      if (id == 1) {
        uint64_t y = x + 4, ye = std::min<uint64_t>(y + len, xe);
        if (usize == 0xffffffffu && y + 8 <= ye)
          usize = u64(base + y), y += 8;
        if (csize == 0xffffffffu && y + 8 <= ye)
          csize = u64(base + y), y += 8;
        if (local == 0xffffffffu && y + 8 <= ye)
          local = u64(base + y), y += 8;
      }
      x += 4 + len;
    }
    at += 46 + nlen + elen + clen;
    if (local + 30 > size || u32(base + local) != 0x04034b50)
      return bad("bad local header of '" + name + "'");
    m.offset = local + 30 + u16(base + local + 26) + u16(base + local + 28);
    m.size = csize;
    if (m.offset + m.size > size)
      return bad("member '" + name + "' runs past the end");
    (void)usize;
    StringRef key(name);
    key.consume_back(".npy");
    members[key.str()] = m;
    names.push_back(key.str());
  }
  return true;
}

bool RotationFile::get(StringRef name, RotationTensor &out, std::string &label,
                       std::string &error) {
  if (kind == Directory) {
    label = (path + "/" + name + ".npy").str();
    lq_tensor_t t{};
    if (lq_npy_read(label.c_str(), &t) != LQ_RT_OK) {
      error = "cannot read " + label + ": " + lq_rt_last_error();
      return false;
    }
    out.dtype = lq_dtype_name(t.dtype);
    out.shape.assign(t.shape, t.shape + t.rank);
    int64_t numel = lq_tensor_numel(&t);
    out.values.clear();
    if (t.dtype == LQ_DTYPE_F64)
      out.values.assign(static_cast<const double *>(t.data),
                        static_cast<const double *>(t.data) + numel);
    else if (t.dtype == LQ_DTYPE_F32)
      out.values.assign(static_cast<const float *>(t.data),
                        static_cast<const float *>(t.data) + numel);
    lq_tensor_free(&t);
    return true;
  }
  label = (path + " (tensor '" + name + "')").str();
  auto missing = [&] {
    error = (path + " has no tensor '" + name + "' (it holds: " +
             holdsList(names) +
             "; name the rotations R1 [D, D] and R2 [layers, d, d] or [d, d])")
                .str();
    return false;
  };
  if (kind == SafeTensors) {
    auto it = tensors.find(name.str());
    if (it == tensors.end())
      return missing();
    out = it->second;
    return true;
  }
  auto it = members.find(name.str());
  if (it == members.end())
    return missing();
  const Member &m = it->second;
  if (m.method == 8) {
    error = label + " is deflate-compressed (np.savez_compressed); lq reads "
                    "stored members only: write the file with np.savez";
    return false;
  }
  if (m.method != 0) {
    error = label + " uses zip compression method " + std::to_string(m.method) +
            "; lq reads stored members only (np.savez)";
    return false;
  }
  StringRef bytes(buffer->getBufferStart() + m.offset, m.size);
  if (llvm::crc32(arrayRefFromStringRef(bytes)) != m.crc) {
    error = label + " fails its CRC-32 check (a corrupt archive)";
    return false;
  }
  std::string why;
  if (!parseNpy(bytes, out, why)) {
    error = label + " " + why;
    return false;
  }
  return true;
}

} // namespace mlir::lq
