/**
 * icecube._egenerator: boost::python bindings of the frame -> flat array conversion.
 *
 *   FrameConverter(dom_string, dom_om, partial_exclusion=True, exclude_bright_doms=True,
 *                  bright_doms_threshold_fraction=0.4, bright_doms_threshold_charge=100.,
 *                  merge_pulses_time_threshold=-1.)
 *     .convert(frame, pulse_key, exclusion_keys) -> dict of numpy arrays
 *     .convert_objects(pulse_map, dom_lists, window_maps) -> dict of numpy arrays
 *     .num_doms
 *   flatten_pulse_map(pulse_map) -> dict(string, om, time_ns, charge_pe) of numpy arrays
 *   pulse_map_from_arrays(string, om, time_ns, charge_pe, width_ns=None) -> I3RecoPulseSeriesMap
 *
 * The dict keys are the field names of egenerator.icetray.exclusions.EventArrays.
 */
#include <egenerator/EventArrays.h>

#include <boost/python.hpp>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

namespace bp = boost::python;

namespace {

template <typename T>
struct NumpyType;
template <>
struct NumpyType<double> {
  static constexpr int value = NPY_FLOAT64;
};
template <>
struct NumpyType<int64_t> {
  static constexpr int value = NPY_INT64;
};
template <>
struct NumpyType<int32_t> {
  static constexpr int value = NPY_INT32;
};
template <>
struct NumpyType<uint8_t> {
  static constexpr int value = NPY_BOOL;
};

/// A new 1-d numpy array holding a copy of the vector (one memcpy).
template <typename T>
bp::object ToNumpy(const std::vector<T>& values) {
  npy_intp size = static_cast<npy_intp>(values.size());
  PyObject* array = PyArray_SimpleNew(1, &size, NumpyType<T>::value);
  if (!array) bp::throw_error_already_set();
  if (!values.empty()) {
    std::memcpy(PyArray_DATA(reinterpret_cast<PyArrayObject*>(array)), values.data(),
                values.size() * sizeof(T));
  }
  return bp::object(bp::handle<>(array));
}

bp::dict ToDict(const egenerator::EventArrays& arrays) {
  bp::dict out;
  out["pulse_time_ns"] = ToNumpy(arrays.pulse_time_ns);
  out["pulse_charge_pe"] = ToNumpy(arrays.pulse_charge_pe);
  out["pulse_dom"] = ToNumpy(arrays.pulse_dom);
  out["dom_charge_pe"] = ToNumpy(arrays.dom_charge_pe);
  out["dom_valid"] = ToNumpy(arrays.dom_valid);
  out["window_start_ns"] = ToNumpy(arrays.window_start_ns);
  out["window_stop_ns"] = ToNumpy(arrays.window_stop_ns);
  out["window_dom"] = ToNumpy(arrays.window_dom);
  out["bright_doms"] = ToNumpy(arrays.bright_doms);
  return out;
}

std::vector<int> IntVector(const bp::object& sequence, const char* name) {
  std::vector<int> out;
  const long n = bp::len(sequence);
  out.reserve(n);
  for (long i = 0; i < n; ++i) {
    bp::extract<long> value(sequence[i]);
    if (!value.check()) {
      throw std::invalid_argument(std::string("FrameConverter: ") + name + " entry " +
                                  std::to_string(i) + " is not an integer");
    }
    out.push_back(static_cast<int>(value()));
  }
  return out;
}

class FrameConverter {
 public:
  FrameConverter(const bp::object& dom_string, const bp::object& dom_om, bool partial_exclusion,
                 bool exclude_bright_doms, double bright_fraction, double bright_charge_pe,
                 double merge_threshold_ns)
      : index_(IntVector(dom_string, "dom_string"), IntVector(dom_om, "dom_om")) {
    settings_.partial_exclusion = partial_exclusion;
    settings_.exclude_bright_doms = exclude_bright_doms;
    settings_.bright_doms_threshold_fraction = bright_fraction;
    settings_.bright_doms_threshold_charge_pe = bright_charge_pe;
    settings_.merge_pulses_time_threshold_ns = merge_threshold_ns;
  }

  bp::dict Convert(const I3Frame& frame, const std::string& pulse_key,
                   const bp::object& exclusion_keys) const {
    std::vector<std::string> keys;
    const long n = bp::len(exclusion_keys);
    for (long i = 0; i < n; ++i) keys.push_back(bp::extract<std::string>(exclusion_keys[i]));
    return ToDict(egenerator::ConvertFrame(frame, pulse_key, keys, index_, settings_));
  }

  bp::dict ConvertObjects(const I3RecoPulseSeriesMap& pulses, const bp::object& dom_lists,
                          const bp::object& window_maps) const {
    std::vector<const I3VectorOMKey*> lists;
    std::vector<const I3TimeWindowSeriesMap*> maps;
    for (long i = 0; i < bp::len(dom_lists); ++i) {
      lists.push_back(&bp::extract<const I3VectorOMKey&>(dom_lists[i])());
    }
    for (long i = 0; i < bp::len(window_maps); ++i) {
      maps.push_back(&bp::extract<const I3TimeWindowSeriesMap&>(window_maps[i])());
    }
    return ToDict(egenerator::ApplyExclusions(pulses, lists, maps, index_, settings_));
  }

  size_t NumDoms() const { return index_.size(); }

 private:
  egenerator::DomIndex index_;
  egenerator::ExclusionSettings settings_;
};

bp::dict FlattenPulseMap(const I3RecoPulseSeriesMap& pulses) {
  std::vector<int32_t> string, om;
  std::vector<double> time, charge;
  egenerator::FlattenPulseMap(pulses, string, om, time, charge);
  bp::dict out;
  out["string"] = ToNumpy(string);
  out["om"] = ToNumpy(om);
  out["time_ns"] = ToNumpy(time);
  out["charge_pe"] = ToNumpy(charge);
  return out;
}

/// A contiguous 1-d array of type T converted from any array-like (a new reference).
template <typename T>
bp::object AsContiguous(const bp::object& values, const char* name) {
  PyObject* array =
      PyArray_FROM_OTF(values.ptr(), NumpyType<T>::value, NPY_ARRAY_IN_ARRAY | NPY_ARRAY_FORCECAST);
  if (!array) bp::throw_error_already_set();
  bp::object owner{bp::handle<>(array)};
  if (PyArray_NDIM(reinterpret_cast<PyArrayObject*>(array)) != 1) {
    throw std::invalid_argument(std::string("pulse_map_from_arrays: '") + name +
                                "' must be 1-d");
  }
  return owner;
}

template <typename T>
const T* DataOf(const bp::object& array) {
  return static_cast<const T*>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(array.ptr())));
}

npy_intp SizeOf(const bp::object& array) {
  return PyArray_SIZE(reinterpret_cast<PyArrayObject*>(array.ptr()));
}

/// Pulses in the given order are appended to the series of their DOM (pmt 0).
I3RecoPulseSeriesMapPtr PulseMapFromArrays(const bp::object& string, const bp::object& om,
                                           const bp::object& time_ns,
                                           const bp::object& charge_pe,
                                           const bp::object& width_ns) {
  bp::object s = AsContiguous<int64_t>(string, "string");
  bp::object o = AsContiguous<int64_t>(om, "om");
  bp::object t = AsContiguous<double>(time_ns, "time_ns");
  bp::object q = AsContiguous<double>(charge_pe, "charge_pe");
  const npy_intp n = SizeOf(s);
  const bool has_width = !width_ns.is_none();
  bp::object w = has_width ? AsContiguous<double>(width_ns, "width_ns") : bp::object();
  if (SizeOf(o) != n || SizeOf(t) != n || SizeOf(q) != n || (has_width && SizeOf(w) != n)) {
    throw std::invalid_argument("pulse_map_from_arrays: columns differ in length");
  }
  const int64_t* sp = DataOf<int64_t>(s);
  const int64_t* op = DataOf<int64_t>(o);
  const double* tp = DataOf<double>(t);
  const double* qp = DataOf<double>(q);
  const double* wp = has_width ? DataOf<double>(w) : nullptr;
  I3RecoPulseSeriesMapPtr map(new I3RecoPulseSeriesMap);
  I3RecoPulseSeries* series = nullptr;
  OMKey current;
  for (npy_intp i = 0; i < n; ++i) {
    if (op[i] < 0) throw std::invalid_argument("pulse_map_from_arrays: negative om");
    const OMKey key(static_cast<int>(sp[i]), static_cast<unsigned>(op[i]));
    if (series == nullptr || !(key == current)) {
      series = &(*map)[key];
      current = key;
    }
    I3RecoPulse pulse;
    pulse.SetTime(tp[i]);
    pulse.SetCharge(static_cast<float>(qp[i]));
    pulse.SetWidth(wp ? static_cast<float>(wp[i]) : 0.0f);
    series->push_back(pulse);
  }
  return map;
}

void ImportNumpy() {
  if (_import_array() < 0) bp::throw_error_already_set();
}

}  // namespace

BOOST_PYTHON_MODULE(_egenerator) {
  ImportNumpy();
  bp::import("icecube.icetray");
  bp::import("icecube.dataclasses");

  bp::class_<FrameConverter>(
      "FrameConverter",
      "Pulses and exclusions of a frame -> flat numpy arrays on a fixed DOM table.",
      bp::init<bp::object, bp::object, bool, bool, double, double, double>(
          (bp::arg("dom_string"), bp::arg("dom_om"), bp::arg("partial_exclusion") = true,
           bp::arg("exclude_bright_doms") = true,
           bp::arg("bright_doms_threshold_fraction") = 0.4,
           bp::arg("bright_doms_threshold_charge") = 100.0,
           bp::arg("merge_pulses_time_threshold") = -1.0)))
      .def("convert", &FrameConverter::Convert,
           (bp::arg("frame"), bp::arg("pulse_key"), bp::arg("exclusion_keys")),
           "Convert one frame; missing exclusion keys are skipped.")
      .def("convert_objects", &FrameConverter::ConvertObjects,
           (bp::arg("pulse_map"), bp::arg("dom_lists"), bp::arg("window_maps")),
           "Convert an I3RecoPulseSeriesMap with lists of I3VectorOMKey and "
           "I3TimeWindowSeriesMap objects.")
      .add_property("num_doms", &FrameConverter::NumDoms);

  bp::def("flatten_pulse_map", &FlattenPulseMap, bp::arg("pulse_map"),
          "Flat (string, om, time_ns, charge_pe) numpy arrays of a pulse map, in map order.");
  bp::def("pulse_map_from_arrays", &PulseMapFromArrays,
          (bp::arg("string"), bp::arg("om"), bp::arg("time_ns"), bp::arg("charge_pe"),
           bp::arg("width_ns") = bp::object()),
          "An I3RecoPulseSeriesMap from flat pulse arrays; pulses are appended to their DOM's "
          "series in the given order.");
}
