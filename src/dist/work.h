// A collective in flight (c10d's Work): the handle a communicator returns so the
// caller can overlap communication with computation and wait only when it needs
// the result.
#pragma once

namespace hardy {

class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the result tensor may be read (on the CPU; for CUDA tensors, until
  // work queued afterwards on the caller's current stream sees the result).
  virtual void wait() = 0;
  virtual bool completed() = 0;
};

}  // namespace hardy
