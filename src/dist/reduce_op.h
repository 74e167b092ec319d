// The element-wise reductions a collective can apply.
#pragma once

namespace hardy {

enum class ReduceOp { Sum, Max, Min };

}  // namespace hardy
