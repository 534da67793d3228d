// Shared by the packed f32 GEMM / GEMV tests (SIMD builds only: they call kernels/cpu directly).
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm_f32.h"
#include "runtime/cpu_features.h"

namespace joule::test {

/// `count` floats uniform in [-1, 1) from a seeded mt19937.
inline std::vector<float> random_floats(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(count);
  for (float& x : v) x = d(rng);
  return v;
}

/// The f32 GEMM micro-kernels this CPU (and JOULE_ISA) can run; prints a SKIP line, tagged `tag`, for the others.
inline std::vector<const kernels::cpu::GemmUkernel*> runnable_ukernels(const char* tag) {
  std::vector<const kernels::cpu::GemmUkernel*> out;
  for (const kernels::cpu::GemmUkernel& uk : kernels::cpu::gemm_f32_ukernels()) {
    if (uk.isa <= max_isa()) out.push_back(&uk);
    else std::printf("[ %s ] SKIP %s: this CPU (or JOULE_ISA) lacks %s\n", tag, uk.name, std::string(isa_name(uk.isa)).c_str());
  }
  return out;
}

}  // namespace joule::test
