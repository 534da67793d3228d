// cpuid-based feature detection; OS support for AVX/AVX-512 state is checked with xgetbv.
#include "runtime/cpu_features.h"

#include <cstdint>
#include <cstdlib>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace joule {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool osxsave = (c >> 27) & 1;
  f.fma = (c >> 12) & 1;
  f.f16c = (c >> 29) & 1;
  uint64_t xcr0 = 0;
  if (osxsave) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
  bool avx_os = (xcr0 & 0x6) == 0x6;
  bool avx512_os = (xcr0 & 0xe6) == 0xe6;
  if (__get_cpuid_max(0, nullptr) >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = avx_os && ((b >> 5) & 1);
    f.avx512f = avx512_os && ((b >> 16) & 1);
    f.avx512dq = avx512_os && ((b >> 17) & 1);
    f.avx512bw = avx512_os && ((b >> 30) & 1);
    f.avx512vl = avx512_os && ((b >> 31) & 1);
    f.avx512vnni = avx512_os && ((c >> 11) & 1);
    __cpuid_count(7, 1, a, b, c, d);
    f.avxvnni = avx_os && ((a >> 4) & 1);
  }
  if (!avx_os) f.fma = f.f16c = false;
#endif
  return f;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

Isa max_isa() {
  const CpuFeatures& f = cpu_features();
  Isa hw = Isa::kScalar;
  if (f.avx2 && f.fma) hw = Isa::kAvx2;
  if (hw == Isa::kAvx2 && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq) hw = Isa::kAvx512;
  if (hw == Isa::kAvx512 && f.avx512vnni) hw = Isa::kAvx512Vnni;
  if (const char* env = std::getenv("JOULE_ISA")) {
    Isa forced;
    if (parse_isa(env, forced) && forced < hw) return forced;
  }
  return hw;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512vnni";
  }
  return "scalar";
}

bool parse_isa(std::string_view s, Isa& out) {
  if (s == "scalar") out = Isa::kScalar;
  else if (s == "avx2") out = Isa::kAvx2;
  else if (s == "avx512") out = Isa::kAvx512;
  else if (s == "avx512vnni") out = Isa::kAvx512Vnni;
  else return false;
  return true;
}

}  // namespace joule
