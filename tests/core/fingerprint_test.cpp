// Stable content fingerprints.
#include "core/fingerprint.h"

#include <gtest/gtest.h>

namespace hardy {
namespace {

TEST(Fingerprint, IsFnv1a64AsHex) {
  // FNV-1a: h = 0xcbf29ce484222325; per byte h = (h ^ byte) * 0x100000001b3 mod 2^64.
  EXPECT_EQ(fingerprint(""), "cbf29ce484222325");
  EXPECT_EQ(fingerprint("hardy"), "a6291c6945788a1f");
  EXPECT_NE(fingerprint("hardy"), fingerprint("hardz"));
}

}  // namespace
}  // namespace hardy
