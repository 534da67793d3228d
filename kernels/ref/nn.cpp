// Reference kernels for the nn family.
#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

void register_ref_nn(KernelRegistry& r) { (void)r; }

}  // namespace joule::kernels
