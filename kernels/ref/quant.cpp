// Reference kernels for the quant family.
#include "kernels/kernel_registry.h"
#include "runtime/ir/dtype_dispatch.h"
#include "runtime/ops/infer_helpers.h"

namespace joule::kernels {

void register_ref_quant(KernelRegistry& r) { (void)r; }

}  // namespace joule::kernels
