// Reference kernels for the resize_pad family: Pad (kernels/ref/pad.cpp) and Resize / Upsample
// (kernels/ref/resize.cpp).
#include "kernels/kernel_registry.h"

namespace joule::kernels {

void register_ref_pad(KernelRegistry& r);
void register_ref_resize(KernelRegistry& r);

void register_ref_resize_pad(KernelRegistry& r) {
  register_ref_pad(r);
  register_ref_resize(r);
}

}  // namespace joule::kernels
