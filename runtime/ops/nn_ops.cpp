// Op definitions (arity, shape and type inference) for the nn family.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

void register_nn_ops(OpRegistry& r) { (void)r; }

}  // namespace joule::ops
