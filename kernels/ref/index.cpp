// Reference kernels for the index family.
#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

void register_ref_index(KernelRegistry& r) { (void)r; }

}  // namespace joule::kernels
