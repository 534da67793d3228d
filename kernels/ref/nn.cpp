// Reference kernels for the nn family. The kernels live in one file per op group:
// conv.cpp, conv_transpose.cpp, pool.cpp, normalization.cpp and softmax.cpp.
#include "kernels/kernel_registry.h"

namespace joule::kernels {

void register_ref_conv(KernelRegistry& r);
void register_ref_conv_transpose(KernelRegistry& r);
void register_ref_pool(KernelRegistry& r);
void register_ref_normalization(KernelRegistry& r);
void register_ref_softmax(KernelRegistry& r);

void register_ref_nn(KernelRegistry& r) {
  register_ref_conv(r);
  register_ref_conv_transpose(r);
  register_ref_pool(r);
  register_ref_normalization(r);
  register_ref_softmax(r);
}

}  // namespace joule::kernels
