#include "data/hdf5.h"

#include "core/error.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>

namespace hardy::h5 {

void silence_hdf5_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

namespace {
herr_t take_innermost(unsigned n, const H5E_error2_t* err, void* client) {
  // The walk starts at the innermost frame (H5E_WALK_DOWNWARD from the API call is
  // outermost-first, so we ask for upward); keep the first message we see.
  auto* out = static_cast<std::string*>(client);
  if (out->empty() && err->desc) *out = err->desc;
  return 0;
}
}  // namespace

std::string last_hdf5_error() {
  std::string msg;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_innermost, &msg);
  H5Eclear2(H5E_DEFAULT);
  return msg;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = H5I_INVALID_HID;
}

void check(herr_t status, const std::string& what) {
  if (status >= 0) return;
  auto detail = last_hdf5_error();
  HARDY_THROW_MSG("{}: {}", what, detail.empty() ? "HDF5 call failed" : detail);
}

hid_t check_id(hid_t id, const std::string& what) {
  check(id < 0 ? -1 : 0, what);
  return id;
}

Handle open_file_readonly(const std::string& path) {
  silence_hdf5_errors();
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec))
    HARDY_THROW_MSG("corpus file '{}' does not exist (check data.corpus or --corpus)", path);
  if (fs::is_directory(path, ec))
    HARDY_THROW_MSG("corpus path '{}' is a directory, expected an HDF5 file", path);
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) HARDY_THROW_MSG("cannot read corpus file '{}' (permissions?)", path);
  }
  auto size = fs::file_size(path, ec);
  htri_t is_h5 = H5Fis_hdf5(path.c_str());
  if (is_h5 <= 0) {
    H5Eclear2(H5E_DEFAULT);
    HARDY_THROW_MSG(
        "'{}' ({} bytes) is not an HDF5 file: no HDF5 signature found. Write corpora with "
        "`hardy_dist synth` or tools/convert_features.py",
        path, size);
  }
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) {
    auto detail = last_hdf5_error();
    HARDY_THROW_MSG(
        "cannot open HDF5 file '{}' ({} bytes): {}. The file is probably truncated or "
        "corrupt (an interrupted copy or write?); re-create or re-copy it",
        path, size, detail.empty() ? "unknown HDF5 error" : detail);
  }
  return Handle(id);
}

bool has_dataset(hid_t file, const std::string& name) {
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  if (H5Oget_info_by_name3(file, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
#else
  if (H5Oget_info_by_name2(file, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
#endif
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  return info.type == H5O_TYPE_DATASET;
}

bool has_attribute(hid_t obj, const std::string& name) {
  htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

Handle open_dataset(hid_t file, const std::string& name, const std::string& path) {
  HARDY_THROW_IF_NOT_MSG(has_dataset(file, name),
                         "corpus '{}' has no dataset '{}' (see docs/corpus-format.md)", path,
                         name);
  return Handle(check_id(H5Dopen2(file, name.c_str(), H5P_DEFAULT),
                         fmt::format("opening dataset '{}' in '{}'", name, path)));
}

std::vector<std::int64_t> dataset_shape(hid_t dataset) {
  Handle space(check_id(H5Dget_space(dataset), "reading dataset shape"));
  int rank = H5Sget_simple_extent_ndims(space.get());
  check(rank, "reading dataset rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "reading dataset dims");
  return std::vector<std::int64_t>(dims.begin(), dims.end());
}

H5T_class_t dataset_type_class(hid_t dataset) {
  Handle type(check_id(H5Dget_type(dataset), "reading dataset type"));
  return H5Tget_class(type.get());
}

std::string type_class_name(H5T_class_t cls) {
  switch (cls) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "float";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    default: return "other";
  }
}

void read_rows(hid_t dataset, hid_t mem_type, std::int64_t begin, std::int64_t count,
               void* out, const std::string& what) {
  if (count <= 0) return;
  Handle file_space(check_id(H5Dget_space(dataset), what));
  int rank = H5Sget_simple_extent_ndims(file_space.get());
  check(rank, what);
  HARDY_THROW_IF_NOT_MSG(rank == 1 || rank == 2, "{}: expected a 1-D or 2-D dataset, got {}-D",
                         what, rank);
  hsize_t dims[2] = {0, 1};
  check(H5Sget_simple_extent_dims(file_space.get(), dims, nullptr), what);
  HARDY_THROW_IF_NOT_MSG(begin >= 0 && static_cast<hsize_t>(begin + count) <= dims[0],
                         "{}: rows [{}, {}) outside the dataset's {} rows", what, begin,
                         begin + count, dims[0]);
  hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
  hsize_t block[2] = {static_cast<hsize_t>(count), rank == 2 ? dims[1] : 1};
  check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, block, nullptr),
        what);
  Handle mem_space(check_id(H5Screate_simple(rank, block, nullptr), what));
  check(H5Dread(dataset, mem_type, mem_space.get(), file_space.get(), H5P_DEFAULT, out),
        fmt::format("{}: reading rows [{}, {})", what, begin, begin + count));
}

template <typename T>
std::vector<T> read_vector(hid_t dataset, hid_t mem_type, const std::string& what) {
  auto shape = dataset_shape(dataset);
  HARDY_THROW_IF_NOT_MSG(shape.size() == 1, "{}: expected a 1-D dataset, got {}-D", what,
                         shape.size());
  std::vector<T> out(static_cast<size_t>(shape[0]));
  read_rows(dataset, mem_type, 0, shape[0], out.data(), what);
  return out;
}

template std::vector<std::int8_t> read_vector(hid_t, hid_t, const std::string&);
template std::vector<std::int32_t> read_vector(hid_t, hid_t, const std::string&);
template std::vector<std::int64_t> read_vector(hid_t, hid_t, const std::string&);
template std::vector<float> read_vector(hid_t, hid_t, const std::string&);

std::optional<std::int64_t> read_int_attribute(hid_t obj, const std::string& name,
                                               const std::string& what) {
  if (!has_attribute(obj, name)) return std::nullopt;
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), what));
  Handle type(check_id(H5Aget_type(attr.get()), what));
  HARDY_THROW_IF_NOT_MSG(H5Tget_class(type.get()) == H5T_INTEGER,
                         "{}: attribute '{}' must be an integer, found a {}", what, name,
                         type_class_name(H5Tget_class(type.get())));
  Handle space(check_id(H5Aget_space(attr.get()), what));
  HARDY_THROW_IF_NOT_MSG(H5Sget_simple_extent_npoints(space.get()) == 1,
                         "{}: attribute '{}' must be a scalar", what, name);
  std::int64_t value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), what);
  return value;
}

std::optional<std::string> read_string_attribute(hid_t obj, const std::string& name,
                                                 const std::string& what) {
  if (!has_attribute(obj, name)) return std::nullopt;
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), what));
  Handle type(check_id(H5Aget_type(attr.get()), what));
  HARDY_THROW_IF_NOT_MSG(H5Tget_class(type.get()) == H5T_STRING,
                         "{}: attribute '{}' must be a string, found a {}", what, name,
                         type_class_name(H5Tget_class(type.get())));
  Handle space(check_id(H5Aget_space(attr.get()), what));
  HARDY_THROW_IF_NOT_MSG(H5Sget_simple_extent_npoints(space.get()) == 1,
                         "{}: attribute '{}' must be a scalar string", what, name);
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(check_id(H5Tcopy(H5T_C_S1), what));
    check(H5Tset_size(mem.get(), H5T_VARIABLE), what);
    check(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), what);
    char* raw = nullptr;
    check(H5Aread(attr.get(), mem.get(), &raw), what);
    std::string value = raw ? raw : "";
    H5free_memory(raw);
    return value;
  }
  size_t size = H5Tget_size(type.get());
  std::string buffer(size, '\0');
  Handle mem(check_id(H5Tcopy(H5T_C_S1), what));
  check(H5Tset_size(mem.get(), size), what);
  check(H5Tset_strpad(mem.get(), H5T_STR_NULLPAD), what);
  check(H5Aread(attr.get(), mem.get(), buffer.data()), what);
  buffer.resize(std::strlen(buffer.c_str()));
  return buffer;
}

void write_int_attribute(hid_t obj, const std::string& name, std::int32_t value) {
  Handle space(check_id(H5Screate(H5S_SCALAR), "creating attribute space"));
  Handle attr(check_id(
      H5Acreate2(obj, name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_INT32, &value), "writing attribute " + name);
}

std::optional<double> read_double_attribute(hid_t obj, const std::string& name, const std::string& what) {
  if (!has_attribute(obj, name)) return std::nullopt;
  Handle attr(check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), what));
  Handle type(check_id(H5Aget_type(attr.get()), what));
  const auto cls = H5Tget_class(type.get());
  HARDY_THROW_IF_NOT_MSG(cls == H5T_FLOAT || cls == H5T_INTEGER,
                         "{}: attribute '{}' must be a number, found a {}", what, name, type_class_name(cls));
  Handle space(check_id(H5Aget_space(attr.get()), what));
  HARDY_THROW_IF_NOT_MSG(H5Sget_simple_extent_npoints(space.get()) == 1,
                         "{}: attribute '{}' must be a scalar", what, name);
  double value = 0;
  check(H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value), what);
  return value;
}

void write_double_attribute(hid_t obj, const std::string& name, double value) {
  Handle space(check_id(H5Screate(H5S_SCALAR), "creating attribute space"));
  Handle attr(check_id(
      H5Acreate2(obj, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "creating attribute " + name));
  check(H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value), "writing attribute " + name);
}

void write_string_attribute(hid_t obj, const std::string& name, const std::string& value) {
  Handle space(check_id(H5Screate(H5S_SCALAR), "creating attribute space"));
  Handle type(check_id(H5Tcopy(H5T_C_S1), "creating string type"));
  check(H5Tset_size(type.get(), std::max<size_t>(1, value.size())), "sizing string type");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "string padding");
  Handle attr(check_id(
      H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
      "creating attribute " + name));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  check(H5Awrite(attr.get(), type.get(), padded.data()), "writing attribute " + name);
}

}  // namespace hardy::h5
