// The shape bookkeeping every variable-size collective needs (allgatherv,
// alltoallv): a tensor is rows × a fixed row shape of one dtype, and every rank
// must agree on the row shape and dtype, or rows would be silently scrambled. One
// small record per rank carries the row count together with the shape check, so
// the check costs no collective of its own. Shared by the MPI and NCCL backends.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace hardy {

// Elements per row of `t` (the product of its trailing dims); `t` needs dim >= 1.
std::int64_t elements_per_row(const torch::Tensor& t, const char* what);

// {rows, elements per row, dtype} of `t` as the three int64 a rank contributes.
std::vector<std::int64_t> row_record(const torch::Tensor& t, std::int64_t rows, const char* what);

// `records`: the ranks' row_record()s concatenated in rank order (3 × P values).
// Throws, naming both ranks, if any rank's row shape or dtype differs from rank 0's;
// returns the row count of each rank.
std::vector<std::int64_t> agreed_row_counts(const std::vector<std::int64_t>& records,
                                            const char* what);

// An uninitialised tensor shaped like `like` but with `rows` rows.
torch::Tensor empty_rows_like(const torch::Tensor& like, std::int64_t rows);

// MPI counts are ints: throws for a count at or above 2^31.
int checked_int_count(std::int64_t n, const char* what);

}  // namespace hardy
