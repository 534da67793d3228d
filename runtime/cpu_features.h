// CPU feature detection (cpuid) and the ISA level kernels are chosen by.
#pragma once

#include <string_view>

namespace joule {

/// Instruction set levels, ordered: a kernel for level L runs on any CPU at level >= L.
enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Vnni = 3 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
  bool avxvnni = false;
};

/// Features of the CPU this process runs on (read once).
const CpuFeatures& cpu_features();
/// Highest level the CPU supports, lowered by JOULE_ISA=scalar|avx2|avx512|avx512vnni if set.
Isa max_isa();
std::string_view isa_name(Isa isa);
/// Parses "scalar", "avx2", "avx512", "avx512vnni"; returns false on anything else.
bool parse_isa(std::string_view s, Isa& out);

}  // namespace joule
