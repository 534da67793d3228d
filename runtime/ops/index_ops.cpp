// Op definitions (arity, shape and type inference) for the index family.
#include "runtime/ops/infer_helpers.h"
#include "runtime/ops/op_registry.h"

namespace joule::ops {

void register_index_ops(OpRegistry& r) { (void)r; }

}  // namespace joule::ops
