// Thin RAII layer over the HDF5 C API with hardy::Error messages.
//
// The HDF5 library prints its own error stack to stderr by default; we switch that
// off (silence_hdf5_errors) and instead fold the innermost HDF5 message into one
// line that also names the file and the object we were touching.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hardy::h5 {

// Disables HDF5's automatic error printing for this process (idempotent).
void silence_hdf5_errors();

// The innermost message of the current HDF5 error stack ("" when empty).
std::string last_hdf5_error();

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Opens an existing file read-only. Throws with a message that distinguishes a
// missing file, a non-HDF5 file and a truncated/corrupt one.
Handle open_file_readonly(const std::string& path);

bool has_dataset(hid_t file, const std::string& name);
bool has_attribute(hid_t obj, const std::string& name);

Handle open_dataset(hid_t file, const std::string& name, const std::string& path);

// Shape of a dataset (one entry per dimension).
std::vector<std::int64_t> dataset_shape(hid_t dataset);

// HDF5 type class of a dataset's elements (H5T_INTEGER, H5T_FLOAT, ...).
H5T_class_t dataset_type_class(hid_t dataset);
std::string type_class_name(H5T_class_t cls);

// Reads rows [begin, begin+count) of a 1-D or 2-D dataset into `out`, converting to
// `mem_type` (e.g. H5T_NATIVE_FLOAT). `out` must hold count*row_elements values.
void read_rows(hid_t dataset, hid_t mem_type, std::int64_t begin, std::int64_t count,
               void* out, const std::string& what);

// Reads a whole 1-D dataset.
template <typename T>
std::vector<T> read_vector(hid_t dataset, hid_t mem_type, const std::string& what);

// Scalar / string attributes on an object. Missing attribute -> std::nullopt;
// wrong type -> hardy::Error naming `what`.
std::optional<std::int64_t> read_int_attribute(hid_t obj, const std::string& name,
                                               const std::string& what);
std::optional<std::string> read_string_attribute(hid_t obj, const std::string& name,
                                                 const std::string& what);
void write_int_attribute(hid_t obj, const std::string& name, std::int32_t value);
// A scalar floating-point (or integer) attribute, read as double; nullopt when absent.
std::optional<double> read_double_attribute(hid_t obj, const std::string& name, const std::string& what);
void write_double_attribute(hid_t obj, const std::string& name, double value);
void write_string_attribute(hid_t obj, const std::string& name, const std::string& value);

// Throws hardy::Error("<what>: <innermost HDF5 message>") when status < 0.
void check(herr_t status, const std::string& what);
hid_t check_id(hid_t id, const std::string& what);

}  // namespace hardy::h5
